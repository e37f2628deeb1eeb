'use strict'
// Every consumer falls back: a refused placement by refresh group leaves a slab working on an
// offset with the reason in info(), and the benchmark and its decision scenario go on, print the
// reason and a verdict, and say in --json which arm ran on what. The refusal is forced with
// `placementBudgetMs: 0` (bench: --placement-budget-ms 0), which the library refuses before it
// times anything: nothing here depends on what this machine's DRAM does, and nothing is timed.

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { Slayer, Records } = require('..')
const fallback = require('../bench/fallback')

const run = path.join(__dirname, '..', 'bench', 'run.js')
// No recorded `probe groups` result: the offsets are the documented defaults, whatever this
// machine's cache holds.
const env = { ...process.env, XDG_CACHE_HOME: fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-fallback-cache-')) }
after(() => fs.rmSync(env.XDG_CACHE_HOME, { recursive: true, force: true }))
const REASON = /refresh-group placement failed: placementBudgetMs is 0, which leaves no time to time a single line/

/** Asserts `info` says its copies fell back from `from` to `offset` bytes apart, with the reason. */
function assertFellBack(info, from, offset) {
  assert.equal(info.placement.kind, 'offset')
  assert.equal(info.channelOffset, offset)
  assert.equal(info.placement.hugePages ?? null, null, 'nothing placed')
  const f = info.placement.fallback
  assert.ok(f, 'info().placement.fallback is set')
  assert.deepEqual({ from: f.from, to: f.to, channelOffset: f.channelOffset }, { from, to: 'offset', channelOffset: offset })
  assert.match(f.reason, REASON)
  assert.match(f.reason, /use placement: 'offset'/, 'the reason says what to do')
  assert.equal(info.placement.note, `copies ${offset} B apart: ${f.reason}`)
}

test("placement 'auto' refused: a steered slab reads back every written value on copies 64 B apart, and info() says why", () => {
  const slots = 20_000
  const s = new Slayer({ slots, strategy: 'steer', placementBudgetMs: 0 })
  try {
    assertFellBack(s.info(), 'huge-pages', 64)
    assert.equal(s.info().strategy, 'steer', 'steering still runs, on the offset')
    for (let k = 0; k < slots; k++) s.writeU64(k, BigInt(k) * 7n + 3n)
    for (let k = 0; k < slots; k++) assert.equal(s.readU64(k), BigInt(k) * 7n + 3n)
    const idx = Uint32Array.from({ length: 512 }, (_, k) => (k * 37) % slots)
    const out = new BigUint64Array(idx.length)
    s.readManyU64(idx, out)
    out.forEach((v, k) => assert.equal(v, BigInt(idx[k]) * 7n + 3n))
  } finally {
    s.close()
  }
})

test("placement 'auto' refused: a hedged slab of 2 MiB per replica and steered records go on the offset too", () => {
  const h = new Slayer({ slots: 1 << 18, strategy: 'hedge', start: false, placementBudgetMs: 0 })
  try {
    assertFellBack(h.info(), 'huge-pages', 256)
    for (let k = 0; k < 1 << 18; k += 97) h.writeF64(k, k / 3)
    for (let k = 0; k < 1 << 18; k += 97) assert.equal(h.readF64(k), k / 3)
  } finally {
    h.close()
  }
  const fields = { bid: 'f64', ask: 'f64', qty: 'u64' }
  const r = new Records({ count: 4096, fields, strategy: 'steer', placementBudgetMs: 0 })
  try {
    assertFellBack(r.info(), 'huge-pages', 64)
    for (let k = 0; k < 4096; k++) r.write(k, { bid: k + 0.25, ask: k + 0.5, qty: BigInt(k) })
    for (let k = 0; k < 4096; k++) assert.deepEqual(r.read(k), { bid: k + 0.25, ask: k + 0.5, qty: BigInt(k) })
  } finally {
    r.close()
  }
})

test('an explicit placement that is refused still throws, with the reason and what to do', () => {
  for (const placement of ['huge-pages', 'refresh-groups']) {
    assert.throws(
      () => new Slayer({ slots: 4096, strategy: 'steer', placement, placementBudgetMs: 0 }),
      (e) => e.code === 'ERR_ULTRASLAYER_PLACEMENT' && REASON.test(e.message) && /use placement: 'offset'/.test(e.message),
      placement,
    )
  }
  // A slab that got what it asked for reports no fallback.
  const s = new Slayer({ slots: 64, strategy: 'steer', channelOffset: 128 })
  assert.equal(s.info().placement.fallback, undefined)
  s.close()
})

test("the bench's slab builder: an explicit placement refused is rebuilt on an offset and recorded; a refusal it cannot take back leaves the arms out", async () => {
  const arms = ['steer', 'native-steer']
  // Real slabs: the library refuses 'huge-pages' with no budget; the builder rebuilds on 'offset'.
  const b = await fallback.build((o) => Slayer.create(o), { slots: 4096, strategy: 'steer', placement: 'huge-pages', placementBudgetMs: 0 }, { slab: 'steer slab', arms })
  try {
    assert.equal(b.skipped, null)
    assert.equal(b.obj.info().placement.kind, 'offset')
    assert.equal(b.obj.info().channelOffset, 64, "the library's offset for a steered slab")
    assert.deepEqual({ ...b.fallback, reason: undefined }, { slab: 'steer slab', arms, from: 'huge-pages', to: 'offset', channelOffset: 64, reason: undefined, by: 'bench' })
    assert.match(b.fallback.reason, REASON)
  } finally {
    b.obj.close()
  }
  // 'auto': the library falls back itself, and the builder records what info() says.
  const a = await fallback.build((o) => new Slayer(o), { slots: 4096, strategy: 'steer', placementBudgetMs: 0 }, { slab: 'steer slab', arms })
  assert.equal(a.fallback.by, 'library')
  assert.equal(a.fallback.channelOffset, 64)
  a.obj.close()
  // Steering refused by calibration (a clock too coarse to steer by throws ERR_ULTRASLAYER_UNSUPPORTED
  // even on an offset; this machine's clock does not, so the refusal is a stand-in error): no slab,
  // the arms left out with the reason — never a thrown error that ends the run.
  const coarse = Object.assign(new Error('steering needs at least 128 clock ticks per refresh period'), { code: 'ERR_ULTRASLAYER_UNSUPPORTED' })
  const c = await fallback.build(() => { throw coarse }, { slots: 4096, strategy: 'steer', placement: 'offset' }, { slab: 'steer slab', arms })
  assert.deepEqual(c, { obj: null, fallback: null, skipped: { slab: 'steer slab', arms, reason: coarse.message } })
  // Any other error is a real one and is thrown.
  const other = Object.assign(new Error('no huge pages'), { code: 'ERR_ULTRASLAYER_HUGE_PAGES' })
  await assert.rejects(() => fallback.build(() => { throw other }, { placement: 'huge-pages' }, { slab: 'steer slab', arms }), other)
  const lines = fallback.fallbackLines([{ slab: 'steer slab', arms, from: 'huge-pages', to: 'offset', channelOffset: 64, reason: 'why', by: 'bench' }], [c.skipped])
  assert.match(lines[0], /^FALLBACK steer slab \(arms steer, native-steer\): placement 'huge-pages' refused, so the bench rebuilt it on an offset: copies 64 B apart, NOT placed by refresh group — why$/)
  assert.match(lines[1], /^SKIPPED steer slab \(arms steer, native-steer left out\): steering needs/)
})

test("the bench header words the library's advice as bench flags, slab by slab", () => {
  const reason = "refresh-group placement failed: placementBudgetMs is 0, which leaves no time to time a single line, so no copy can be placed by refresh group; give it time (placementBudgetMs, default 3000 ms) or use placement: 'offset'"
  const line = (slab) => fallback.fallbackLines([{ slab, arms: ['a'], from: 'huge-pages', to: 'offset', channelOffset: 64, reason, by: 'library' }], [])[0]
  assert.match(line('steer slab'), /placementBudgetMs is 0, .* give it time \(--steer-budget-ms N\) or pass --steer-offset B$/)
  assert.match(line('hedged slab'), /give it time \(--placement-budget-ms N\) or pass --channel-offset B$/)
  assert.match(line('steered records'), /give it time \(--steer-budget-ms N\) or pass --steer-placement offset$/)
  // No bench flag puts the hedged records on an offset: the header says what the bench did instead.
  assert.match(line('hedged records'), /give it time \(--placement-budget-ms N\) or let it fall back to an offset, as here$/)
  assert.match(fallback.inBenchTerms('raise placementBudgetMs, ask for fewer slots, or use placement: \'offset\'', 'steer slab'), /^raise --steer-budget-ms N, ask for fewer slots, or pass --steer-offset B$/)
  // Every flag named is one the bench takes.
  const usage = require('node:child_process').spawnSync(process.execPath, [run, '--help'], { encoding: 'utf8' }).stdout
  const decision = require('node:child_process').spawnSync(process.execPath, [run, '--scenario', 'decision', '--help'], { encoding: 'utf8' }).stdout
  for (const slab of ['steer slab', 'hedged slab', 'steered records', 'hedged records', 'record-slots slab']) {
    for (const flag of line(slab).match(/--[a-z-]+/g)) assert.ok(usage.includes(flag) || decision.includes(flag), `${slab}: ${flag}`)
  }
})

/** Runs the bench with `args` and --json; returns { r, result }. */
function bench(args) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-fallback-'))
  const json = path.join(dir, 'r.json')
  try {
    const r = spawnSync(process.execPath, [run, ...args, '--no-binding-cost', '--json', json], { encoding: 'utf8', timeout: 120_000, env })
    assert.equal(r.status, 0, `exit ${r.status}, signal ${r.signal}\n${r.stderr}\n${r.stdout}`)
    return { r, result: JSON.parse(fs.readFileSync(json, 'utf8')) }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const SHORT = ['--quick', '--samples', '1000', '--conditions', 'quiet', '--access', 'cold', '--pace', 'random']

for (const steerPlacement of ['huge-pages', 'auto']) {
  test(`bench --scenario decision with every placement refused (--steer-placement ${steerPlacement}) finishes, prints the reason and a verdict`, () => {
    const { r, result } = bench(['--scenario', 'decision', ...SHORT, '--records', '4096', '--placement-budget-ms', '0', '--steer-placement', steerPlacement])
    const by = steerPlacement === 'auto' ? 'library' : 'bench'
    const f = result.fallbacks.find((x) => x.slab === 'steered records')
    assert.ok(f, 'the steered store fell back')
    assert.deepEqual({ arms: f.arms, from: f.from, to: f.to, channelOffset: f.channelOffset, by: f.by }, { arms: ['record-steer', 'native-record-steer'], from: 'huge-pages', to: 'offset', channelOffset: 64, by })
    assert.match(f.reason, REASON)
    assert.deepEqual(result.skipped, [])
    assert.equal(result.infos.steer.placement.kind, 'offset')
    assert.equal(result.infos.steer.channelOffset, 64)
    // Every arm ran, and the fallen-back ones are labelled so in the JSON and the table.
    const run = result.runs[0]
    for (const a of ['record-js-array', 'record-slots', 'record-direct', 'record-direct-native', 'record-steer', 'record-hedged', 'native-record-direct', 'native-record-steer', 'native-record-hedged']) assert.equal(run.arms[a].summary.count, 1000, a)
    for (const a of ['record-steer', 'native-record-steer']) assert.deepEqual({ ...run.arms[a].fallback, reason: undefined }, { slab: 'steered records', from: 'huge-pages', to: 'offset', channelOffset: 64, reason: undefined, by })
    for (const a of ['record-js-array', 'record-direct']) assert.equal(run.arms[a].fallback, undefined, `${a} needs no placement`)
    for (const x of result.fallbacks) for (const a of x.arms) assert.ok(run.arms[a].fallback, `${a} is labelled`)
    assert.match(r.stdout, /^FALLBACK steered records \(arms record-steer, native-record-steer\): .*copies 64 B apart, NOT placed by refresh group — refresh-group placement failed: placementBudgetMs is 0/m)
    assert.match(r.stdout, /^FALLBACK steered records .* or pass --steer-placement offset$/m)
    assert.doesNotMatch(r.stdout, /placement: 'offset'/, 'the header advises bench flags, not library options')
    assert.match(r.stdout, /steered records: copies 64 B apart \(FALLBACK: placement by refresh group refused/)
    assert.match(r.stdout, /^record-steer † /m)
    assert.match(r.stdout, /^† fell back: .*record-steer ran on copies 64 B apart/m)
    // …and the verdict still prints, saying what the steered figures are of.
    assert.match(r.stdout, /=== verdict/)
    assert.match(r.stdout, /^fallback: record-steer, native-record-steer ran on copies 64 B apart, not placed by refresh group/m)
    assert.equal(result.verdict.runs.length, 1)
    assert.ok(result.verdict.fallbacks.some((x) => x.slab === 'steered records'))
  })
}

test('bench with every placement refused: the steer and hedged arms run on the offsets they got, the header and JSON say so, and the verdict prints', () => {
  const arms = 'direct,hedged,native-direct,native-hedged,steer,native-steer,independent-pairs'
  for (const steerPlacement of ['huge-pages', 'auto']) {
    const { r, result } = bench([...SHORT, '--slots', String(1 << 18), '--spin', 'hybrid', '--arms', arms, '--placement-budget-ms', '0', '--steer-placement', steerPlacement])
    const steer = result.fallbacks.find((x) => x.slab === 'steer slab')
    assert.deepEqual({ ...steer, reason: undefined }, { slab: 'steer slab', arms: ['steer', 'native-steer'], from: 'huge-pages', to: 'offset', channelOffset: 64, reason: undefined, by: steerPlacement === 'auto' ? 'library' : 'bench' })
    assert.match(steer.reason, REASON)
    // The hedged slab (2 MiB per replica, placement 'auto') fell back in the library.
    const hedged = result.fallbacks.find((x) => x.slab === 'hedged slab')
    assert.deepEqual({ ...hedged, reason: undefined }, { slab: 'hedged slab', arms: ['hedged', 'native-hedged', 'independent-pairs'], from: 'huge-pages', to: 'offset', channelOffset: 256, reason: undefined, by: 'library' })
    assert.equal(result.slabInfo.placement.fallback.channelOffset, 256)
    assert.equal(result.steerInfo.placement.kind, 'offset')
    const run = result.runs[0]
    for (const a of [...arms.split(','), 'steer-direct', 'native-steer-direct']) {
      assert.ok(run.arms[a], `${a} ran`)
      // independent-pairs may pair nothing when two threads share a core (its share paired says so).
      if (a !== 'independent-pairs') assert.ok(run.arms[a].summary.count > 0, `${a} measured reads`)
    }
    for (const a of ['steer', 'native-steer']) assert.equal(run.arms[a].fallback.channelOffset, 64, a)
    for (const a of ['hedged', 'native-hedged', 'independent-pairs']) assert.equal(run.arms[a].fallback.channelOffset, 256, a)
    for (const a of ['direct', 'native-direct', 'steer-direct', 'native-steer-direct']) assert.equal(run.arms[a].fallback, undefined, a)
    assert.match(r.stdout, /^FALLBACK steer slab \(arms steer, native-steer\): .*copies 64 B apart, NOT placed by refresh group — refresh-group placement failed: placementBudgetMs is 0/m)
    assert.match(r.stdout, /^FALLBACK hedged slab \(arms hedged, native-hedged, independent-pairs\): placement 'auto' tried 'huge-pages', was refused and fell back: copies 256 B apart/m)
    assert.match(r.stdout, /^steer slab: .*copies 64 B apart \(FALLBACK: placement by refresh group refused\)/m)
    // The header advises the bench flags that do it, never library options the bench does not take.
    assert.match(r.stdout, /^FALLBACK steer slab .*give it time \(--steer-budget-ms N\) or pass --steer-offset B$/m)
    assert.match(r.stdout, /^FALLBACK hedged slab .*give it time \(--placement-budget-ms N\) or pass --channel-offset B$/m)
    assert.doesNotMatch(r.stdout, /placement: 'offset'/)
    assert.match(r.stdout, /^steer † /m)
    assert.match(r.stdout, /=== verdict/)
    assert.match(r.stdout, /^fallback: steer, native-steer ran on copies 64 B apart, not placed by refresh group/m)
    assert.match(r.stdout, /^overall: /m)
    assert.equal(result.verdict.runs.length, 1)
    assert.equal(result.verdict.fallbacks.length, 2)
  }
})
