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
