'use strict'
// `npx ultraslayer`: every command runs briefly, prints valid JSON with --json and exits with a
// code scripts can use. Asserts the shape of the reports, never this machine's hardware.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const bin = path.join(__dirname, '..', 'bin', 'ultraslayer.js')
const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-cli-'))

function cli(...args) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, XDG_CACHE_HOME: cache } })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

function json(r) {
  assert.ok([0, 10, 11].includes(r.code), `exit ${r.code}: ${r.err}`)
  return JSON.parse(r.out)
}

test('info --json describes the machine', () => {
  const r = cli('info', '--json')
  assert.equal(r.code, 0, r.err)
  const m = JSON.parse(r.out)
  assert.ok(Array.isArray(m.allowedCores) && m.allowedCores.length > 0)
  assert.equal(typeof m.hypervisor, 'boolean')
  assert.ok(m.tscHz > 0)
  assert.ok(Array.isArray(m.hugePages))
  assert.match(m.text, /allowed cores/)
})

test('probe refresh --json reports a verdict with evidence and a clean negative control', () => {
  const r = cli('probe', 'refresh', '--seconds', '0.6', '--json')
  const rep = json(r)
  for (const run of ['fixed', 'random', 'control']) {
    assert.ok(rep[run], run)
    const a = rep[run].analysis
    assert.ok(['Periodic', 'Weak', 'None', 'Insufficient'].includes(a.verdict), run)
    if (a.verdict === 'Insufficient') {
      // Too few slow reads to analyse (common for the cached control): said so, and no baseline.
      assert.equal(a.baseline, null, run)
      assert.match(a.reason, /need at least/, run)
    } else {
      assert.ok(a.baseline, `${run} has a chance baseline`)
    }
  }
  assert.notEqual(rep.control.analysis.verdict, 'Periodic', 'cached loads show no period')
  assert.equal(rep.controlClean, true)
  const want = { Periodic: 0, Weak: 11, Insufficient: 11, None: 10 }[rep.fixed.analysis.verdict]
  assert.equal(r.code, want)
  assert.match(r.err, /probing refresh/, 'progress on stderr')
})

test('probe groups --json reports groups, per-bit results and records the result', (t) => {
  const r = cli('probe', 'groups', '--seconds', '0.5', '--json')
  const rep = json(r)
  if (rep.inconclusive) {
    // No period found even after the extra rounds (a noisy spell): said so, exit 11, nothing recorded.
    assert.equal(r.code, 11)
    assert.match(rep.reason, /no refresh period to fold at/)
    t.diagnostic(`branch: inconclusive (${rep.reason})`)
    return
  }
  assert.ok(Array.isArray(rep.bits) && rep.bits.length > 0)
  for (const b of rep.bits) assert.ok(b.different <= b.pairs)
  assert.ok(rep.recommendedOffset === null || rep.recommendedOffset >= 64)
  assert.ok(fs.existsSync(path.join(cache, 'ultraslayer', 'groups.json')), 'recorded for channelOffset: auto')
  assert.equal(rep.recordedAt, path.join(cache, 'ultraslayer', 'groups.json'))
})

test('probe placement never passes what it cannot know', () => {
  const r = cli('probe', 'placement', '--channel-bits', '6', '--json')
  const rep = json(r)
  const v = typeof rep.verdict === 'string' ? rep.verdict : Object.keys(rep.verdict)[0]
  assert.ok(['DifferentChannels', 'SameChannel', 'CannotKnow'].includes(v))
  // Bit 6 lies inside every page offset: the only honest answers are "cannot know".
  assert.equal(v, 'CannotKnow')
  assert.equal(r.code, 11)
  assert.equal(cli('probe', 'placement', '--channel-bits', 'nope').code, 2)
})

test('probe hedge --json gives a one-line recommendation from a measured comparison', () => {
  const r = cli('probe', 'hedge', '--samples', '2000', '--json')
  const rep = json(r)
  assert.equal(typeof rep.verdict.line, 'string')
  assert.equal(r.code, rep.verdict.code)
  for (const arm of ['native-direct', 'native-hedged']) assert.ok(rep.arms[arm].summary.count > 0, arm)
  // The control runs unless its offset is the hedged slab's own; then the line says so.
  if (rep.arms['native-same-group']) assert.ok(rep.arms['native-same-group'].summary.count > 0)
  else assert.match(rep.verdict.line, /no same-group control/)
})

test('usage errors exit 2', () => {
  assert.equal(cli().code, 2)
  assert.equal(cli('frobnicate').code, 2)
  assert.equal(cli('probe', 'refresh', '--seconds', 'x').code, 2)
  assert.equal(cli('probe', 'refresh', '--seconds', '100').code, 2)
  assert.equal(cli('info', '--bogus').code, 2)
  const h = cli('--help')
  assert.equal(h.code, 0)
  assert.match(h.out, /exit codes/)
})

test.after(() => fs.rmSync(cache, { recursive: true, force: true }))
