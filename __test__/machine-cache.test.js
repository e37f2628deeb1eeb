'use strict'
// The machine cache (crates/engine/src/refresh/boot_cache.rs): a refresh period one process measured is
// remembered for the boot, so the next process starts from it and says so; the cache can be
// turned off; a damaged file is replaced, never trusted. Whether this machine shows a period at
// all is the hardware's business: where the first process finds none (or cannot time loads),
// the tests that need one say so and skip.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')

// A small steered slab placed by refresh group: it needs the period, and info() names its source.
const program = `
const { Slayer } = require(${JSON.stringify(root)})
try {
  const s = new Slayer({ slots: 4096, strategy: 'steer', placement: 'huge-pages', placementBudgetMs: 2000 })
  console.log(JSON.stringify({ source: s.info().placement.hugePages.periodSource }))
  s.close()
} catch (e) {
  console.log(JSON.stringify({ error: e.code, message: e.message }))
}`

function run(cache) {
  const r = spawnSync(process.execPath, ['-e', program], { encoding: 'utf8', env: { ...process.env, ULTRASLAYER_MACHINE_CACHE: cache } })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-machine-cache-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

test('a period measured by one process is used by the next, which says so', (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'cache', 'machine.json')
  const first = run(file)
  if (first.error) return t.skip(`the first process measured no period here (${first.error}: ${first.message.split('\n')[0]})`)
  assert.doesNotMatch(first.source, /earlier process/)
  assert.ok(fs.existsSync(file), 'the measured period was stored')
  assert.equal(fs.statSync(file).mode & 0o777, 0o600)
  assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700)
  const stored = JSON.parse(fs.readFileSync(file, 'utf8'))
  assert.equal(stored.facts.period.source, first.source)
  const second = run(file)
  assert.ok(!second.error, second.message)
  assert.match(second.source, /by an earlier process this boot \(\d+ s ago; .*machine\.json\)$/)
  assert.ok(second.source.startsWith(first.source))
})

test('ULTRASLAYER_MACHINE_CACHE=off stores nothing and reads nothing', (t) => {
  const dir = tempDir(t)
  const r = spawnSync(process.execPath, ['-e', program], { cwd: dir, encoding: 'utf8', env: { ...process.env, ULTRASLAYER_MACHINE_CACHE: 'off', XDG_RUNTIME_DIR: dir, TMPDIR: dir } })
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout.trim().split('\n').pop())
  if (!out.error) assert.doesNotMatch(out.source, /earlier process/)
  assert.deepEqual(fs.readdirSync(dir), [], 'no file anywhere the cache could have gone')
})

test('a damaged cache file is not trusted and is replaced', (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'machine.json')
  fs.writeFileSync(file, '{"version":1,"key":{"boot_id":"x"},"facts":{"period":{"period_ns":-5}}}')
  const first = run(file)
  if (first.error) return t.skip(`this machine showed no period (${first.error})`)
  assert.doesNotMatch(first.source, /earlier process/, 'the damaged entry was not used')
  assert.ok(JSON.parse(fs.readFileSync(file, 'utf8')).facts.period.period_ns > 0, 'replaced by the measured period')
})

// A slab learned in the background, created where an earlier structure sample this boot found the
// bit that splits every frame: laid out at that bit at once (no sample at creation), its learner
// sampling again before its first frame. The split is written into the cache by hand (on the key
// the first process stored), so the wiring is tested whatever this machine shows: bit 11 here,
// which the learner's own sample then confirms, or refutes and says why.
const background = `
const { Slayer } = require(${JSON.stringify(root)})
;(async () => {
  try {
    const s = await Slayer.create({ slots: 1 << 16, strategy: 'steer', placement: 'background' })
    for (let i = 0; i < 1 << 16; i += 997) s.writeF64(i, i + 0.5)
    let right = true
    for (let i = 0; i < 1 << 16; i += 997) right = right && s.readF64(i) === i + 0.5
    const started = Date.now()
    while (!s.info().learning.done && Date.now() - started < 60000) await new Promise((r) => setTimeout(r, 20))
    const h = s.info().placement.hugePages
    console.log(JSON.stringify({ right, source: h.structureSource, structure: h.structure, channelOffset: h.channelOffset, learning: s.info().learning }))
    s.close()
  } catch (e) {
    console.log(JSON.stringify({ error: e.code, message: e.message }))
  }
})()`

test('a split remembered for the boot lays a background-learned slab out at once; its learner samples again and says what it found', (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'machine.json')
  const first = run(file) // stores the key (and the period) of this machine
  if (first.error) return t.skip(`this machine showed no period (${first.error})`)
  const stored = JSON.parse(fs.readFileSync(file, 'utf8'))
  stored.facts.split = { bit: 11, agreement: 1, distance: 0.5 }
  fs.writeFileSync(file, JSON.stringify(stored), { mode: 0o600 })
  const r = spawnSync(process.execPath, ['-e', background], { encoding: 'utf8', env: { ...process.env, ULTRASLAYER_MACHINE_CACHE: file } })
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout.trim().split('\n').pop())
  assert.ok(!out.error, out.message)
  assert.equal(out.right, true, 'values read back while the learner works')
  assert.match(out.source, /remembered from an earlier sample this boot/)
  assert.deepEqual(out.structure, { kind: 'withinFrame', bit: 11, agreement: 1, distance: 0.5 })
  assert.equal(out.channelOffset, 2048, 'copies 2^11 bytes apart, as remembered')
  assert.equal(out.learning.done, true, 'the learner ended within a minute')
  assert.ok(out.learning.linesTimed > 0, 'the learner took its own sample')
  if (out.learning.stopped !== null) {
    assert.match(out.learning.stopped, /the learner's structure sample \(\d+ lines\) found .* where an earlier sample this boot found bit 11 .* every read stays on copy 0/)
    assert.equal(out.learning.framesLearned, 0)
  } else {
    assert.equal(out.learning.framesLearned, out.learning.framesTotal, 'bit 11 held here: every frame learned')
  }
  // What the learner's sample found replaced the remembered split.
  const after = JSON.parse(fs.readFileSync(file, 'utf8')).facts.split
  if (out.learning.stopped === null) assert.equal(after.bit, 11)
  else assert.ok(after === null || after === undefined || after.bit !== 11, JSON.stringify(after))
})
