#!/usr/bin/env node
'use strict'
// Background learning, measured: `node bench/learning.js [--slots N] [--seconds S]`.
//
// 1. Creation: `await Slayer.create({ slots, strategy: 'steer', placement: 'background' })`
//    against mapping and pre-faulting the same memory (`strategy: 'direct'`, two copies, copies
//    64 B apart: no placement, no calibration), same run, one after the other.
// 2. Hot coverage: reads spread over a hot set of 1% of the slab, first a contiguous range, then
//    1% of its frames chosen at random (each on a fresh slab); the share of reads landing on
//    learned, steerable frames (info().learning.hotCoverage) every 2 s, with frames learned and
//    the learner's share of a core, at the default duty.
// Prints the machine it ran on; timing lives here, not in the tests.

const os = require('node:os')
const { Slayer } = require('..')
const { integers } = require('./cli')

const { slots: SLOTS, seconds: SECONDS } = integers(process.argv.slice(2), { slots: 1 << 27, seconds: 30 })
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function timed(options) {
  const t = process.hrtime.bigint()
  const s = await Slayer.create(options)
  return { s, ms: Number(process.hrtime.bigint() - t) / 1e6 }
}

async function coverage(label, pick) {
  const { s, ms } = await timed({ slots: SLOTS, strategy: 'steer', placement: 'background' })
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
  console.log(`background learning: ${os.cpus().length} CPUs (${os.cpus()[0].model}), Node ${process.version}, ${SLOTS} slots (${(bytes / 2 ** 30).toFixed(2)} GiB in both copies), load ${os.loadavg()[0].toFixed(1)}`)
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
    const b = await timed({ slots: SLOTS, strategy: 'steer', placement: 'background' })
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

main().catch((e) => {
  console.error(`learning: ${e.message}`)
  process.exit(1)
})
