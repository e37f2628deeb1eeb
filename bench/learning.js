#!/usr/bin/env node
'use strict'
// Background learning, measured: `node bench/learning.js [--slots N] [--seconds S] [--duty P]`
// (--duty: learnDutyPercent for every background-learned slab here; 0, the default, leaves the
// library's default).
//
// 1. Creation: `await Slayer.create({ slots, strategy: 'steer', placement: 'background' })`
//    against mapping and pre-faulting the same memory (`strategy: 'direct'`, two copies, copies
//    64 B apart: no placement, no calibration), same run, one after the other.
// 2. Hot coverage: reads spread over a hot set of 1% of the slab, first a contiguous range, then
//    1% of its frames chosen at random (each on a fresh slab); the share of reads landing on
//    learned, steerable frames (info().learning.hotCoverage) every 2 s, with frames learned and
//    the learner's share of a core, at the default duty (or --duty).
// 3. The learner's cost to the requester: cold copy-0 reads of a separate direct slab, timed inside
//    Rust (as the bench's native-direct arm), in rounds that alternate "no learner" and "a 1 GiB
//    background-learned slab learning" (created for the round, and timed once its learner has
//    learned its first frames, closed after it); p50 and p99 of each round pairwise, with the
//    learner's share of a core and the frames it learned while the reads were timed.
// Prints the machine it ran on; timing lives here, not in the tests.

const os = require('node:os')
const { Slayer } = require('..')
const { integers } = require('./cli')
const { indexStream, nativeOf } = require('./arms')

const { slots: SLOTS, seconds: SECONDS, duty: DUTY } = integers(process.argv.slice(2), { slots: 1 << 27, seconds: 30, duty: 0 })
/** The options of every background-learned slab here. */
const BACKGROUND = { strategy: 'steer', placement: 'background', ...(DUTY > 0 ? { learnDutyPercent: DUTY } : {}) }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function timed(options) {
  const t = process.hrtime.bigint()
  const s = await Slayer.create(options)
  return { s, ms: Number(process.hrtime.bigint() - t) / 1e6 }
}

async function coverage(label, pick) {
  const { s, ms } = await timed({ slots: SLOTS, ...BACKGROUND })
  const curve = []
  const t0 = Date.now()
  s.info() // starts the coverage window
  let k = 0
  while (Date.now() - t0 < SECONDS * 1000) {
    // Read the hot set for a while, then let the event loop (and the learner) breathe.
    const until = Date.now() + 200
    while (Date.now() < until) for (let j = 0; j < 1000; j++) s.readF64(pick(k++))
    await sleep(0)
    if (Date.now() - t0 >= (curve.length + 1) * 2000) {
      const l = s.info().learning
      curve.push(`${((Date.now() - t0) / 1000).toFixed(0)} s ${l.hotCoverage === null ? '-' : (100 * l.hotCoverage).toFixed(0)}% (${l.framesLearned} frames, ${(100 * l.cpuShare).toFixed(0)}% cpu)`)
    }
  }
  s.close()
  console.log(`${label} (created in ${ms.toFixed(0)} ms): ${curve.join('; ')}`)
}

async function main() {
  const bytes = SLOTS * 8 * 2
  console.log(`background learning: ${os.cpus().length} CPUs (${os.cpus()[0].model}), Node ${process.version}, learner duty ${DUTY > 0 ? `${DUTY}%` : 'default'}, ${SLOTS} slots (${(bytes / 2 ** 30).toFixed(2)} GiB in both copies), load ${os.loadavg()[0].toFixed(1)}`)
  // The VM's first touch of this much memory is slow (the host backs it then): a warm-up slab
  // first, then plain and background-learned creations alternating, three of each.
  ;(await timed({ slots: SLOTS, strategy: 'direct', placement: 'offset', channelOffset: 64 })).s.close()
  const plain = []
  const bg = []
  let info = null
  for (let r = 0; r < 3; r++) {
    const p = await timed({ slots: SLOTS, strategy: 'direct', placement: 'offset', channelOffset: 64 })
    p.s.close()
    plain.push(p.ms)
    const b = await timed({ slots: SLOTS, ...BACKGROUND })
    info = b.s.info()
    b.s.close()
    bg.push(b.ms)
  }
  const range = (a) => `${Math.min(...a).toFixed(0)}–${Math.max(...a).toFixed(0)} ms`
  const ratios = bg.map((b, k) => b / plain[k])
  console.log(`creation: background-learned ${range(bg)}, mapping and pre-faulting alone ${range(plain)} (pairwise ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}x); ${info.learning.framesTotal} frames, period ${info.placement.hugePages.periodSource}`)
  const hot = Math.floor(SLOTS / 100)
  await coverage('hot set: 1% of slots, contiguous', (k) => (k * 2654435761) % hot)
  // 1% of the frames at random: each frame holds 256 slots' copy 0 (copies 64 B apart).
  const frames = Math.floor(SLOTS / 256)
  const chosen = Array.from({ length: Math.max(1, Math.floor(frames / 100)) }, (_, j) => (j * 2654435761) % frames)
  await coverage('hot set: 1% of frames at random', (k) => chosen[k % chosen.length] * 256 + ((k * 40503) & 255))
}

/** Waits (up to `ms`) until `slab`'s learner has learned `frames` frames: past its structure
 * sample and into its duty cycle, so that reads timed next run beside the learning itself. */
async function untilLearning(slab, frames, ms) {
  const t0 = Date.now()
  while (Date.now() - t0 < ms && slab.info().learning.framesLearned < frames) await sleep(20)
}

async function learnerCost() {
  const slots = 1 << 25 // 256 MiB a copy: reads that miss every cache
  const d = await Slayer.create({ slots, strategy: 'direct', placement: 'offset', channelOffset: 64 })
  for (let i = 0; i < slots; i += 4096) d.writeF64(i, i)
  // 400 000 reads at up to 1 µs apart: ~0.3 s a measurement, longer than one duty cycle of the
  // learner (a batch of ~50 ms timing, then three times that paused at 25%), so each "learning"
  // measurement spans its busy and idle parts alike.
  const indices = indexStream(400_000, slots)
  const time = () => nativeOf(d)._benchNative('direct', indices, true, 1000).latency
  time() // warm-up
  const rows = []
  for (let r = 0; r < 5; r++) {
    const off = time()
    const bg = await Slayer.create({ slots: 1 << 27, ...BACKGROUND })
    await untilLearning(bg, 256, 5000)
    const before = bg.info().learning
    const on = time()
    const after = bg.info().learning
    bg.close()
    // The learner's share of a core while `on` was timed (its figures move once a batch).
    const cpu = after.elapsedMs > before.elapsedMs ? (after.cpuMs - before.cpuMs) / (after.elapsedMs - before.elapsedMs) : NaN
    rows.push({ p50: on.p50 / off.p50, p99: on.p99 / off.p99, off, on, cpu, frames: after.framesLearned - before.framesLearned })
  }
  d.close()
  const range = (k) => `${Math.min(...rows.map((r) => r[k])).toFixed(2)}–${Math.max(...rows.map((r) => r[k])).toFixed(2)}x`
  console.log(
    `learner's cost to copy-0 reads (cold, native, ${indices.length / 1000}k a round, 5 rounds): learning / not learning p50 ${range('p50')}, p99 ${range('p99')} ` +
      `(rounds: ${rows.map((r) => `${r.off.p50}/${r.off.p99} -> ${r.on.p50}/${r.on.p99} ns, learner ${(100 * r.cpu).toFixed(0)}% cpu, ${r.frames} frames`).join('; ')})`,
  )
}

main().then(learnerCost).catch((e) => {
  console.error(`learning: ${e.message}`)
  process.exit(1)
})
