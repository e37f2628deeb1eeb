'use strict'
// The benchmark's arms: how each one is timed. JS arms are timed end to end in JS with a raw TSC
// clock (the value is back in JS when the second stamp is taken); native arms are timed in Rust.
// Every arm records into an HDR histogram (Rust hdrhistogram) in chunks; nothing is sorted here.

const { Slayer, _internal } = require('..')

const { native, nativeOf, readF64Copy0Of } = _internal
const CHUNK = 16384

/** The clock: `tick()` writes the TSC into `now[0]`. */
function makeClock() {
  const buf = new ArrayBuffer(8)
  const now = new Float64Array(buf)
  const tick = native._clock(buf)
  return { tick, now }
}

const clock = makeClock()

/** A native histogram summary ({ latency, buckets }) as one flat object: percentiles and buckets. */
function flat({ latency, buckets }) {
  return { ...latency, buckets }
}

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
  return flat(native._histogramSummary(h))
}

/**
 * Times reads in JS, one per index: `reads[k % reads.length](i)` for the k-th index, so with
 * several reads they are interleaved read by read and see the same machine at the same moments
 * (on a VM whose noise moves by tens of percent between seconds, arms run one after the other can
 * differ by more than what they compare). `flush(i)` runs before each read when cold; `gapTicks`
 * spaces reads by a pseudo-random 0..gapTicks spin (random arrivals). One summary per read.
 *
 * Every arm first makes WARMUP_JS_READS reads through the same loop, untimed: a service reads a
 * slab for hours, so the figures are of code V8 has optimised and of a steered slab's tracker that
 * has resynchronised after the idle spell since calibration (a process's first 100 000 steered
 * reads from JS came out 1.1-1.4x copy 0 at p99 on host A, 2026-12-07, the later ones 0.94-1.03x).
 * `afterWarmup()` runs between the passes (e.g. to reset a slab's stats).
 */
function timeJsEach(indices, { reads, flush, cold, gapTicks, onProgress, afterWarmup }) {
  // The warm-up pass: the first WARMUP_JS_READS indices through the same loop, nothing kept.
  timePass(indices.subarray(0, Math.min(WARMUP_JS_READS, indices.length)), { reads, flush, cold, gapTicks, keep: false })
  if (afterWarmup) afterWarmup()
  return timePass(indices, { reads, flush, cold, gapTicks, onProgress, keep: true })
}

/** One pass of `timeJsEach`'s loop; `keep` false times nothing into histograms (the warm-up). */
function timePass(indices, { reads, flush, cold, gapTicks, onProgress, keep }) {
  const { tick, now } = clock
  const m = reads.length
  const hs = reads.map(() => native._histogramNew())
  const ticks = reads.map(() => new Float64Array(CHUNK))
  const n = reads.map(() => 0)
  let sink = 0
  let rng = 0x2545f491
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]
    const b = k % m
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
    sink += reads[b](i)
    tick()
    ticks[b][n[b]++] = now[0] - t0
    if (n[b] === CHUNK) {
      if (keep) native._histogramRecordTicks(hs[b], ticks[b], n[b], 0)
      n[b] = 0
      if (onProgress) onProgress(k / indices.length)
    }
  }
  if (keep) hs.forEach((h, b) => native._histogramRecordTicks(h, ticks[b], n[b], 0))
  return { summaries: keep ? hs.map((h) => flat(native._histogramSummary(h))) : [], sink }
}

/** Untimed reads each JS arm makes first (see `timeJsEach`). */
const WARMUP_JS_READS = 100_000
/** Untimed reads each native steer arm makes first: its tracker resynchronises after the idle. */
const WARMUP_NATIVE_READS = 20_000

/** Times `read(i)` for every index in JS (see `timeJsEach`). */
function timeJs(indices, { read, ...rest }) {
  const r = timeJsEach(indices, { reads: [read], ...rest })
  return { summary: r.summaries[0], sink: r.sink }
}

/** Times `s.readF64` end to end in JS, flushing the slot's copies first when the run is cold. */
function timeSlayer(s, ctx, afterWarmup) {
  const n = nativeOf(s)
  return timeJs(ctx.indices, { read: (i) => s.readF64(i), flush: (i) => n._flush(i), cold: ctx.cold, gapTicks: ctx.gapTicks, onProgress: ctx.onProgress, afterWarmup })
}

/** Times reads inside Rust: 'direct' (copy 0), 'hedged' (running threads) or 'engine' (the strategy). */
function timeNative(s, kind, ctx) {
  return { summary: flat(nativeOf(s)._benchNative(kind, ctx.indices, ctx.cold, ctx.gapNs)) }
}

/** Runs `measure` with the slab's replica threads started, and stops them after. */
function withThreads(s, measure) {
  s.start()
  try {
    return measure()
  } finally {
    s.stop()
  }
}

// The tracker's counters in stats().steer run from the slab's creation (resetStats leaves them).
const STEER_COUNTS = ['reads', 'slowReads', 'outliers', 'steeredReads', 'steeredSlow', 'exploredReads', 'exploredSlow', 'sampledSteeredReads', 'sampledSteeredSlow', 'sampledExploredReads', 'sampledExploredSlow', 'sampledQuietReads', 'sampledQuietSlow', 'notHelping', 'reacquisitions', 'resyncs', 'calibrations', 'driftSteps', 'periodUpdates', 'residentSpells', 'residentReads']

/** The tracker's report `after`, its counters counted from `before` (what one arm's reads did). */
function steerSince(before, after) {
  if (!before || !after) return after
  const d = { ...after }
  for (const k of STEER_COUNTS) if (typeof after[k] === 'number' && typeof before[k] === 'number') d[k] = after[k] - before[k]
  return d
}

/** The slow share of a steer arm's sampled steered reads (SteerStats.sampled*), as text. */
function sampledShare(st) {
  return st.sampledSteeredReads ? `${((100 * st.sampledSteeredSlow) / st.sampledSteeredReads).toFixed(2)}% of ${st.sampledSteeredReads}` : 'none'
}

/**
 * An interval for the mean of a Poisson count `k` at two-sided level `z` (Wilson–Hilferty; within
 * a few percent of the exact interval from k = 1 on; at k = 0, [0, the exact upper bound]).
 */
function poissonBounds(k, z) {
  if (k === 0) return [0, -Math.log(1 - normalCdf(z))]
  const lo = k * (1 - 1 / (9 * k) - z / (3 * Math.sqrt(k))) ** 3
  const k1 = k + 1
  const hi = k1 * (1 - 1 / (9 * k1) + z / (3 * Math.sqrt(k1))) ** 3
  return [lo, hi]
}

/** The standard normal distribution function (Abramowitz–Stegun 26.2.17, error under 1e-7). */
function normalCdf(z) {
  const t = 1 / (1 + 0.2316419 * Math.abs(z))
  const poly = t * (0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))))
  const upper = (Math.exp((-z * z) / 2) / Math.sqrt(2 * Math.PI)) * poly
  return z >= 0 ? 1 - upper : upper
}

/** A 95% interval for the mean of a Poisson count `k`. */
function poisson95(k) {
  return poissonBounds(k, 1.96)
}

/** Slow quiet exploring reads the floor measured while serving needs before an arm is held to it. */
const FLOOR_SLOW_ENOUGH = 10

/**
 * A steer arm's sampled slow share held against what the model predicts, as text and figures:
 * - against calibration's prediction (`expectedSteeredShare`), with a 95% interval over the
 *   sample's slow count, so a reader sees whether the sample can tell 1.3x from 3x;
 * - against the share to expect now: the floor measured while serving (the arm's sampled
 *   exploring reads in a quiet bin of their copy) plus the stall excess calibration learned over
 *   its own floor. The floor moves between minutes on real hosts while the stall windows stay,
 *   so this is the prediction the arm can be held to. Its interval takes both slow counts at
 *   97.5% each (Bonferroni), so it covers at least 95%. Under `FLOOR_SLOW_ENOUGH` slow quiet
 *   reads (a 200 000-read arm holds ~400 quiet reads, a few slow) it says the floor is unknown.
 * `null` ratio fields where nothing was sampled or nothing predicted.
 */
function sampledVsPredicted(st) {
  const n = st.sampledSteeredReads || 0
  const k = st.sampledSteeredSlow || 0
  const p = st.expectedSteeredShare || 0
  let text = `slow steered reads ${sampledShare(st)} measured (1 read in 32) against ${(p * 100).toFixed(2)}% predicted at calibration`
  const out = { text, ratio: null, lo: null, hi: null, now: null }
  if (n === 0) return out
  if (p > 0) {
    const [a, b] = poisson95(k).map((x) => x / (n * p))
    Object.assign(out, { ratio: k / (n * p), lo: a, hi: b })
    text += `: ${out.ratio.toFixed(1)}× (95%: ${a.toFixed(1)}–${b.toFixed(1)}×, ${k} slow)`
  }
  const qn = st.sampledQuietReads || 0
  const qk = st.sampledQuietSlow || 0
  const excess = st.stallExcessShare || 0
  if (qn > 0 && qk < FLOOR_SLOW_ENOUGH) {
    out.now = { ratio: null, lo: null, hi: null, quietReads: qn, quietSlow: qk }
    text += `; floor while serving: ${qk} slow of ${qn} quiet exploring reads, too few to hold the arm against (${FLOOR_SLOW_ENOUGH} needed: a longer run, --samples)`
  } else if (qn > 0) {
    const floor = qk / qn
    const expected = floor + excess
    const z = 2.241
    const [k1lo, k1hi] = poissonBounds(k, z)
    const [k2lo, k2hi] = poissonBounds(qk, z)
    const lo = k1lo / n / (k2hi / qn + excess)
    const hi = k1hi / n / Math.max(k2lo / qn + excess, 1e-12)
    out.now = { ratio: k / n / expected, lo, hi, floor, excess, expected, quietReads: qn, quietSlow: qk }
    const hiText = Number.isFinite(hi) && hi < 1e6 ? `${hi.toFixed(1)}×` : '∞'
    text += `; against ${(expected * 100).toFixed(2)}% expected now (floor measured while serving ${(floor * 100).toFixed(2)}%, ${qk} slow of ${qn} quiet exploring reads, + ${(excess * 100).toFixed(2)}% stall excess): ${out.now.ratio.toFixed(1)}× (95%: ${lo.toFixed(1)}–${hiText})`
  }
  out.text = text
  return out
}

/** Steering against copy 0 of the same slab, interleaved, end to end in JS. */
function steerPairJs(ctx) {
  const s = ctx.steerSlab()
  const n = nativeOf(s)
  let before = null
  const p = timeJsEach(ctx.steerIndices, {
    reads: [readF64Copy0Of(s), (i) => s.readF64(i)],
    flush: (i) => n._flush(i),
    cold: ctx.cold,
    gapTicks: ctx.gapTicks,
    onProgress: ctx.onProgress,
    afterWarmup: () => {
      s.resetStats()
      before = s.stats().steer
    },
  })
  const [direct, steered] = p.summaries
  return { summary: steered, extra: { steer: steerSince(before, s.stats().steer) }, also: { 'steer-direct': { summary: direct } } }
}

/** The same, timed inside Rust. */
function steerPairNative(ctx) {
  const s = ctx.steerSlab()
  nativeOf(s)._benchNativeInterleaved(ctx.steerIndices.subarray(0, Math.min(WARMUP_NATIVE_READS, ctx.steerIndices.length)), ctx.cold, ctx.gapNs)
  s.resetStats()
  const before = s.stats().steer
  const [direct, steered, ...learned] = nativeOf(s)._benchNativeInterleaved(ctx.steerIndices, ctx.cold, ctx.gapNs)
  const extra = { steer: steerSince(before, s.stats().steer) }
  // A slab learned in the background: the same pair over the reads whose frame was learned.
  if (learned.length) extra.learnedFrames = { direct: learned[0].latency, steered: learned[1].latency }
  return { summary: flat(steered), extra, also: { 'native-steer-direct': { summary: flat(direct) } } }
}

/** The independent-pairs method on slab `s` (threads stopped): each copy read on its own core. */
function independentPairs(s, ctx) {
  s.stop()
  const p = nativeOf(s)._benchPairs(ctx.indices, ctx.cold, ctx.gapNs, ctx.pairWindowNs)
  return { summary: flat(p.minOfPair), extra: { pairedShare: p.pairedShare, perReplica: p.perReplica.map((r) => r.latency) } }
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
      s.stop()
      return timeSlayer(s, ctx)
    },
  },
  hedged: {
    level: 'js',
    describe: 'readF64 answered by the replica threads, timed from the JS call until the value is back in JS',
    run(ctx) {
      const s = ctx.slab()
      return withThreads(s, () => {
        const r = timeSlayer(s, ctx, () => s.resetStats())
        r.extra = { readStats: s.stats() }
        return r
      })
    },
  },
  'same-group': {
    level: 'js',
    describe: 'hedged, but with copies placed where their refresh stalls coincide (control: a gain here is not refresh independence)',
    run: (ctx) => withThreads(ctx.controlSlab(), () => timeSlayer(ctx.controlSlab(), ctx)),
  },
  'native-direct': {
    level: 'native',
    describe: 'replica 0 read and timed inside Rust (no JS, no threads)',
    run(ctx) {
      const s = ctx.slab()
      s.stop()
      return timeNative(s, 'direct', ctx)
    },
  },
  'native-hedged': {
    level: 'native',
    describe: 'the hedged read timed inside Rust (hand-off included, JS excluded)',
    run: (ctx) => withThreads(ctx.slab(), () => timeNative(ctx.slab(), 'hedged', ctx)),
  },
  'native-same-group': {
    level: 'native',
    describe: 'native-hedged on the same-group control slab',
    run: (ctx) => withThreads(ctx.controlSlab(), () => timeNative(ctx.controlSlab(), 'hedged', ctx)),
  },
  steer: {
    level: 'js',
    baseline: 'steer-direct',
    describe:
      "strategy 'steer': the calling thread predicts which copy is not refreshing and reads only that one (no extra core), timed end to end in JS; interleaved read by read with steer-direct",
    alsoDescribe: {
      'steer-direct': 'copy 0 of the steer slab read directly through the same raw call (same pages, same index stream, interleaved with steer): its baseline',
    },
    run: steerPairJs,
  },
  'native-steer': {
    level: 'native',
    baseline: 'native-steer-direct',
    describe: 'steering timed inside Rust (JS excluded), interleaved with native-steer-direct',
    alsoDescribe: { 'native-steer-direct': 'copy 0 of the steer slab read directly in Rust, interleaved with native-steer: its baseline' },
    run: steerPairNative,
  },
  'independent-pairs': {
    level: 'native',
    upperBound: true,
    describe:
      "each replica read and timed on its own core, paired afterwards by timestamp, minimum taken (the original C++ benchmark's method): an UPPER BOUND on what hedging could give, not a latency anyone received",
    run: (ctx) => independentPairs(ctx.slab(), ctx),
  },
  'independent-pairs-same-group': {
    level: 'native',
    upperBound: true,
    describe:
      'independent-pairs on the same-group control slab (copies whose stalls coincide): what a minimum of two noisy reads gives without refresh independence; the gap to independent-pairs is the part of that bound refresh explains',
    run: (ctx) => independentPairs(ctx.controlSlab(), ctx),
  },
}

module.exports = { WARMUP_JS_READS, WARMUP_NATIVE_READS, ARMS, steerSince, sampledVsPredicted, indexStream, clockOverhead, timeJs, timeJsEach, clock, Slayer, native, nativeOf, readF64Copy0Of }
