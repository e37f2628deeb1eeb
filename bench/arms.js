'use strict'
// The benchmark's arms: how each one is timed. JS arms are timed end to end in JS with a raw TSC
// clock (the value is back in JS when the second stamp is taken); native arms are timed in Rust.
// Every arm records into an HDR histogram (Rust hdrhistogram) in chunks; nothing is sorted here.

const { Slayer, _internal } = require('..')

const { native, nativeOf } = _internal
const CHUNK = 16384

/** The clock: `tick()` writes the TSC into `now[0]`. */
function makeClock() {
  const buf = new ArrayBuffer(8)
  const now = new Float64Array(buf)
  const tick = native._clock(buf)
  return { tick, now }
}

const clock = makeClock()

/** xorshift32 stream of `n` slot indices below `slots`, the same for every arm of a run. */
function indexStream(n, slots, seed = 0x9e3779b9) {
  const out = new Uint32Array(n)
  let x = seed >>> 0 || 1
  for (let k = 0; k < n; k++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[k] = x % slots
  }
  return out
}

/** Clock overhead in ticks: back-to-back stamps (median of many), and its histogram. */
function clockOverhead(samples = 20000) {
  const { tick, now } = clock
  const ticks = new Float64Array(samples)
  for (let k = 0; k < samples; k++) {
    tick()
    const t0 = now[0]
    tick()
    ticks[k] = now[0] - t0
  }
  const h = native._histogramNew()
  native._histogramRecordTicks(h, ticks, samples, 0)
  return native._histogramSummary(h)
}

/**
 * Times `read(i)` for every index in JS. `flush(i)` runs before each read when cold; `gapTicks`
 * spaces reads by a pseudo-random 0..gapTicks spin (random arrivals).
 */
function timeJs(indices, { read, flush, cold, gapTicks, onProgress }) {
  const { tick, now } = clock
  const h = native._histogramNew()
  const ticks = new Float64Array(CHUNK)
  let n = 0
  let sink = 0
  let rng = 0x2545f491
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]
    if (cold) flush(i)
    if (gapTicks > 0) {
      rng ^= rng << 13
      rng >>>= 0
      rng ^= rng >>> 17
      rng ^= rng << 5
      rng >>>= 0
      tick()
      const until = now[0] + (rng % gapTicks)
      do tick()
      while (now[0] < until)
    }
    tick()
    const t0 = now[0]
    sink += read(i)
    tick()
    ticks[n++] = now[0] - t0
    if (n === CHUNK) {
      native._histogramRecordTicks(h, ticks, n, 0)
      n = 0
      if (onProgress) onProgress(k / indices.length)
    }
  }
  native._histogramRecordTicks(h, ticks, n, 0)
  return { summary: native._histogramSummary(h), sink }
}

/** The arms, by name. Each takes the run context and returns { summary, extra? }. */
const ARMS = {
  'js-array': {
    level: 'js',
    describe: 'a plain Float64Array of the same size read from JS (what you would use instead)',
    run(ctx) {
      const a = ctx.jsArray()
      return timeJs(ctx.indices, {
        read: (i) => a[i],
        flush: (i) => native._flushF64Array(a, i),
        cold: ctx.cold,
        gapTicks: ctx.gapTicks,
        onProgress: ctx.onProgress,
      })
    },
  },
  direct: {
    level: 'js',
    describe: 'readF64 with replica threads stopped: one copy, no hedge (the baseline)',
    run(ctx) {
      const s = ctx.slab()
      const n = nativeOf(s)
      s.stop()
      return timeJs(ctx.indices, { read: (i) => s.readF64(i), flush: (i) => n._flush(i), cold: ctx.cold, gapTicks: ctx.gapTicks, onProgress: ctx.onProgress })
    },
  },
  hedged: {
    level: 'js',
    describe: 'readF64 answered by the replica threads, timed from the JS call until the value is back in JS',
    run(ctx) {
      const s = ctx.slab()
      const n = nativeOf(s)
      s.start()
      s.resetStats()
      const r = timeJs(ctx.indices, { read: (i) => s.readF64(i), flush: (i) => n._flush(i), cold: ctx.cold, gapTicks: ctx.gapTicks, onProgress: ctx.onProgress })
      r.extra = { readStats: s.stats() }
      s.stop()
      return r
    },
  },
  'same-group': {
    level: 'js',
    describe: 'hedged, but with copies placed where their refresh stalls coincide (control: a gain here is not refresh independence)',
    run(ctx) {
      const s = ctx.controlSlab()
      const n = nativeOf(s)
      s.start()
      const r = timeJs(ctx.indices, { read: (i) => s.readF64(i), flush: (i) => n._flush(i), cold: ctx.cold, gapTicks: ctx.gapTicks, onProgress: ctx.onProgress })
      s.stop()
      return r
    },
  },
  'native-direct': {
    level: 'native',
    describe: 'replica 0 read and timed inside Rust (no JS, no threads)',
    run(ctx) {
      const s = ctx.slab()
      s.stop()
      return { summary: nativeOf(s)._benchNative('direct', ctx.indices, ctx.cold, ctx.gapNs) }
    },
  },
  'native-hedged': {
    level: 'native',
    describe: 'the hedged read timed inside Rust (hand-off included, JS excluded)',
    run(ctx) {
      const s = ctx.slab()
      s.start()
      const r = { summary: nativeOf(s)._benchNative('hedged', ctx.indices, ctx.cold, ctx.gapNs) }
      s.stop()
      return r
    },
  },
  'native-same-group': {
    level: 'native',
    describe: 'native-hedged on the same-group control slab',
    run(ctx) {
      const s = ctx.controlSlab()
      s.start()
      const r = { summary: nativeOf(s)._benchNative('hedged', ctx.indices, ctx.cold, ctx.gapNs) }
      s.stop()
      return r
    },
  },
  steer: {
    level: 'js',
    describe: "strategy 'steer': the calling thread predicts which copy is not refreshing and reads only that one (no extra core), timed end to end in JS",
    run(ctx) {
      const s = ctx.steerSlab()
      s.resetStats()
      const r = timeJs(ctx.indices, { read: (i) => s.readF64(i), flush: (i) => nativeOf(s)._flush(i), cold: ctx.cold, gapTicks: ctx.gapTicks, onProgress: ctx.onProgress })
      r.extra = { steer: s.stats().steer }
      return r
    },
  },
  'native-steer': {
    level: 'native',
    describe: 'steering timed inside Rust (JS excluded)',
    run(ctx) {
      const s = ctx.steerSlab()
      s.resetStats()
      const r = { summary: nativeOf(s)._benchNative('engine', ctx.indices, ctx.cold, ctx.gapNs) }
      r.extra = { steer: s.stats().steer }
      return r
    },
  },
  'independent-pairs': {
    level: 'native',
    upperBound: true,
    describe:
      "each replica read and timed on its own core, paired afterwards by timestamp, minimum taken (the original C++ benchmark's method): an UPPER BOUND on what hedging could give, not a latency anyone received",
    run(ctx) {
      const s = ctx.slab()
      s.stop()
      const p = nativeOf(s)._benchPairs(ctx.indices, ctx.cold, ctx.gapNs, ctx.pairWindowNs)
      return { summary: p.minOfPair, extra: { pairedShare: p.pairedShare, perReplica: p.perReplica.map(({ buckets, ...rest }) => rest) } }
    },
  },
}

module.exports = { ARMS, indexStream, clockOverhead, timeJs, clock, Slayer, native, nativeOf }
