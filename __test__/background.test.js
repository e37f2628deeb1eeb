'use strict'
// A steered slab that serves at once and learns its frames in the background
// (`placement: 'background'`). Behaviour only: it is created without placing anything up front,
// every read returns the written value while frames are being learned, info().learning has its
// shape and its counts only grow, closing stops the learning thread, and bad combinations are
// refused. Whether this machine's DRAM shows a structure to learn is the hardware's business: where
// it does not (or loads cannot be timed), creation is refused with a placement error that says
// why, and the tests that need a slab say so and skip.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Slayer } = require('..')
const { threadsNamedSettled } = require('./threads')

// The learning thread's name (crates/engine/src/steer/learner.rs).
const LEARNER = 'uslayer-learn'

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** A background-learned slab, or null (and the reason) where this machine refuses one. */
async function backgroundSlab(t, slots) {
  try {
    return await Slayer.create({ slots, strategy: 'steer', placement: 'background', hugePages: 'off' })
  } catch (e) {
    assert.ok(['ERR_ULTRASLAYER_PLACEMENT', 'ERR_ULTRASLAYER_UNSUPPORTED'].includes(e.code), `${e.code}: ${e.message}`)
    assert.match(e.message, /./)
    t.skip(`this machine refused a background-learned slab: ${e.message.split('\n')[0]}`)
    return null
  }
}

test('a background-learned slab serves at once, every read right while its frames are learned', async (t) => {
  const s = await backgroundSlab(t, 1 << 20)
  if (!s) return
  // Settled: a new thread takes its name from inside itself, a moment after it starts.
  assert.equal(threadsNamedSettled(LEARNER, 1), 1, 'one learning thread')
  try {
    const info = s.info()
    assert.equal(info.strategy, 'steer')
    assert.match(info.strategyReason, /learned which copy stalls where/)
    assert.equal(info.placement.hugePages.layout, 'background')
    const l0 = info.learning
    for (const k of ['framesTotal', 'framesLearned', 'framesUnsteerable', 'linesTimed', 'audits', 'auditsRequested', 'relearnings', 'auditCompared', 'auditFlipped', 'elapsedMs', 'cpuMs', 'cpuShare', 'duty', 'framesPerSecond']) {
      assert.equal(typeof l0[k], 'number', k)
      assert.ok(l0[k] >= 0, k)
    }
    assert.equal(typeof l0.done, 'boolean')
    assert.ok(l0.framesTotal >= ((1 << 20) * 8 * 2) / 4096, `${l0.framesTotal} frames for 16 MiB`)
    assert.ok(l0.framesLearned <= l0.framesTotal && l0.framesUnsteerable <= l0.framesLearned)
    assert.ok(l0.duty > 0 && l0.duty <= 1)
    // Values written before and during learning read back, whichever copy each read takes.
    const n = 1 << 20
    for (let i = 0; i < n; i += 61) s.writeF64(i, i * 0.5)
    let last = l0.framesLearned
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < n; i += 61) assert.equal(s.readF64(i), i * 0.5)
      s.writeU64(7, BigInt(round))
      assert.equal(s.readU64(7), BigInt(round))
      await sleep(50)
      const l = s.info().learning
      assert.ok(l.framesLearned >= last, 'learned frames only grow')
      assert.ok(l.hotCoverage === null || (l.hotCoverage >= 0 && l.hotCoverage <= 1))
      last = l.framesLearned
    }
    // The bench's interleaved timing also splits the reads of learned frames out (both sides).
    const { nativeOf } = require('../bench/arms')
    const idx = Uint32Array.from({ length: 2000 }, (_, k) => (k * 2654435761) % n)
    const parts = nativeOf(s)._benchNativeInterleaved(idx, true, 0).map((r) => r.latency)
    assert.equal(parts.length, 4, 'copy 0, the slab, and both over learned frames')
    assert.equal(parts[0].count + parts[1].count, idx.length)
    assert.ok(parts[2].count <= parts[0].count && parts[3].count <= parts[1].count)
  } finally {
    s.close()
  }
  assert.equal(threadsNamedSettled(LEARNER, 0), 0, 'closing stopped the learning thread')
})

test('learnDutyPercent sets the learning thread\'s share of a core, setLearnDutyPercent changes it, bad values are refused', async (t) => {
  // Shape only: the duty asked for is the duty reported, never how fast frames are learned.
  const s = await (async () => {
    try {
      return await Slayer.create({ slots: 1 << 20, strategy: 'steer', placement: 'background', hugePages: 'off', learnDutyPercent: 5 })
    } catch (e) {
      assert.ok(['ERR_ULTRASLAYER_PLACEMENT', 'ERR_ULTRASLAYER_UNSUPPORTED'].includes(e.code), `${e.code}: ${e.message}`)
      return null
    }
  })()
  if (!s) return t.skip('this machine refused a background-learned slab')
  try {
    assert.equal(s.info().learning.duty, 0.05)
    if (!s.info().learning.done) {
      assert.equal(s.setLearnDutyPercent(100), true)
      assert.equal(s.info().learning.duty, 1)
      assert.equal(s.setLearnDutyPercent(25), true)
      assert.equal(s.info().learning.duty, 0.25)
    }
    for (const bad of ['5', 5.5, NaN, null, undefined, 5n]) {
      assert.throws(() => s.setLearnDutyPercent(bad), (e) => e instanceof TypeError && e.code === 'ERR_ULTRASLAYER_BAD_ARGUMENT', String(bad))
    }
    for (const bad of [0, -1, 101, 2 ** 40]) {
      assert.throws(() => s.setLearnDutyPercent(bad), (e) => e instanceof RangeError && /1 to 100/.test(e.message), String(bad))
    }
    assert.ok([0.25].includes(s.info().learning.duty) || s.info().learning.done, 'a refused value changes nothing')
  } finally {
    s.close()
  }
  // Nothing learned in the background: false, nothing to change.
  const d = new Slayer({ slots: 64, strategy: 'direct', hugePages: 'off' })
  assert.equal(d.setLearnDutyPercent(50), false)
  d.close()
  assert.throws(() => new Slayer({ slots: 64, learnDutyPercent: 0 }), RangeError)
  assert.throws(() => new Slayer({ slots: 64, learnDutyPercent: 101 }), RangeError)
  assert.throws(() => new Slayer({ slots: 64, learnDutyPercent: 0.5 }), TypeError)
  assert.throws(() => new Slayer({ slots: 64, learnDutyPercent: '50' }), TypeError)
})

test("placement 'background' is for steered slabs of two copies", () => {
  assert.throws(() => new Slayer({ slots: 16, strategy: 'hedge', placement: 'background' }), (e) => e instanceof RangeError && /needs strategy: 'steer' and 2 replicas/.test(e.message))
  assert.throws(() => new Slayer({ slots: 16, strategy: 'steer', replicas: 3, placement: 'background' }), RangeError)
  assert.throws(() => new Slayer({ slots: 16, placement: 'background' }), RangeError)
  assert.throws(() => new Slayer({ slots: 16, strategy: 'steer', placement: 'background', channelOffset: 128 }), RangeError)
})

test('bench --scenario learning follows a background-learned slab and writes its curve as JSON and SVG (shape only, never speed)', (t) => {
  const fs = require('node:fs')
  const os = require('node:os')
  const path = require('node:path')
  const { spawnSync } = require('node:child_process')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-learning-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const [json, svg] = ['json', 'svg'].map((x) => path.join(dir, `curve.${x}`))
  const args = ['--scenario', 'learning', '--slots', '65536', '--seconds', '2', '--step-s', '1', '--samples', '500', '--json', json, '--svg', svg]
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bench', 'run.js'), ...args], { encoding: 'utf8', timeout: 120_000 })
  // Whether this machine's DRAM offers a split to learn is the hardware's: any refusal of the
  // placement (it says why) skips; anything else fails.
  if (r.status !== 0 && /refresh-group placement failed|learning in the background needs|needs x86_64|fewer than two refresh groups|too few sampled lines|no address bit splits/.test(r.stderr)) return t.skip(`this machine refused a background-learned slab: ${r.stderr.trim()}`)
  assert.equal(r.status, 0, r.stderr)
  const res = JSON.parse(fs.readFileSync(json, 'utf8'))
  assert.equal(res.scenario, 'learning')
  assert.ok(res.rows.length >= 1 && res.rows.length <= 2, `${res.rows.length} rows`)
  for (const row of res.rows) {
    assert.ok(row.learned >= 0 && row.learned <= 1 && row.steerable <= row.learned)
    for (const k of ['copy0', 'steered']) assert.ok(row[k].p50 > 0 && row[k].p50 <= row[k].p99 && row[k].p99 <= row[k].p999, JSON.stringify(row))
    assert.equal(row.p99Ratio, row.steered.p99 / row.copy0.p99)
  }
  assert.match(fs.readFileSync(svg, 'utf8'), /^<svg[^>]*>[\s\S]*p99 steered \/ copy 0[\s\S]*<\/svg>$/)
  assert.match(r.stdout, /^ +s +learned +steerable/m)
  const bad = spawnSync(process.execPath, [path.join(__dirname, '..', 'bench', 'run.js'), '--scenario', 'nope'], { encoding: 'utf8' })
  assert.equal(bad.status, 2)
  assert.match(bad.stderr, /unknown scenario nope \(decision, learning\)/)
})
