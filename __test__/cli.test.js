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

// What the typings allow, read from index.d.ts so the test follows them.
function typingsUnion(name) {
  const dts = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8')
  const m = dts.match(new RegExp(`^export type ${name} = ([^\\n]+)$`, 'm'))
  assert.ok(m, `index.d.ts declares ${name}`)
  return m[1].split('|').map((v) => JSON.parse(v.trim().replace(/'/g, '"')))
}

test('probe refresh --json reports three well-formed runs and an exit code that follows what it reported', (t) => {
  // A real run on this machine: its DRAM, clock and hypervisor decide the verdicts (a VM can make
  // even the cached control periodic), so only the shape and the report's own consistency are
  // checked here. What the verdicts lead to is tested on traces and on recorded runs (below, and
  // in crates/engine/src/probe/refresh.rs).
  const verdicts = typingsUnion('PeriodVerdict')
  assert.deepEqual([...verdicts].sort(), ['Insufficient', 'None', 'Periodic', 'Weak'])
  const r = cli('probe', 'refresh', '--seconds', '0.6', '--json')
  const rep = json(r)
  const kinds = { fixed: 'FixedLine', random: 'RandomLines', control: 'CachedControl' }
  for (const [run, kind] of Object.entries(kinds)) {
    assert.ok(rep[run], run)
    assert.equal(rep[run].kind, kind)
    const a = rep[run].analysis
    assert.ok(verdicts.includes(a.verdict), `${run}: ${a.verdict}`)
    assert.equal(typeof a.reason, 'string')
    assert.equal(a.samples, rep[run].samples, run)
    assert.equal(a.threshold.counted + a.threshold.outliers, a.samples, `${run}: every read is counted or an outlier`)
    assert.ok(a.spikes <= a.threshold.counted && a.spikesAnalysed <= a.spikes, `${run}: spikes within the reads`)
    if (a.verdict === 'Insufficient') {
      // Too few slow reads to analyse (common for the cached control): said so, and no baseline.
      assert.equal(a.baseline, null, run)
      assert.match(a.reason, /need at least/, run)
    } else {
      assert.ok(a.baseline, `${run} has a chance baseline`)
      assert.ok(a.baseline.reachedBest <= a.baseline.shuffles && a.baseline.pValue > 0 && a.baseline.pValue <= 1, run)
    }
    if (a.verdict === 'Periodic') assert.ok(a.fundamental && a.fundamental.periodNs > 0, `${run}: a period names its fundamental`)
  }
  t.diagnostic(`verdicts here: fixed ${rep.fixed.analysis.verdict}, random ${rep.random.analysis.verdict}, control ${rep.control.analysis.verdict}; exit ${r.code}`)
  // The report's conclusions follow its own runs.
  assert.equal(rep.controlClean, rep.control.analysis.verdict !== 'Periodic')
  if (rep.fixed.analysis.verdict === 'Periodic' && rep.controlClean) assert.equal(rep.refreshPeriodNs, rep.fixed.analysis.fundamental.periodNs)
  else assert.equal(rep.refreshPeriodNs, null)
  if (!rep.controlClean) assert.match(rep.summary, /WARNING: the cached-read control .* is periodic/)
  assert.equal(r.code, expectedRefreshCode(rep))
  assert.match(r.err, /probing refresh/, 'progress on stderr')
})

// The exit code `probe refresh` must give for a report, spelled out independently of the CLI.
function expectedRefreshCode(rep) {
  if (rep.controlClean === false) return 11
  return { Periodic: 0, Weak: 11, Insufficient: 11, None: 10 }[rep.fixed.analysis.verdict]
}

const hostC = ['refresh-1.json', 'refresh-2.json'].map((f) => [f, JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'crates', 'engine', 'tests', 'fixtures', 'host-c', f), 'utf8'))])

test('probe refresh exit codes follow the recorded host-C reports and every fabricated combination', () => {
  const { refreshCode } = require(bin)
  for (const [name, rep] of hostC) {
    // Recorded: periodic fixed line, clean control.
    assert.equal(rep.fixed.analysis.verdict, 'Periodic', name)
    assert.equal(rep.controlClean, true, name)
    assert.equal(refreshCode(rep), 0, name)
    // The same runs with the verdicts a different machine could give.
    const variant = (fixed, control) => {
      const v = structuredClone(rep)
      v.fixed.analysis.verdict = fixed
      v.control.analysis.verdict = control
      v.controlClean = control !== 'Periodic'
      return v
    }
    for (const fixed of typingsUnion('PeriodVerdict')) {
      for (const control of typingsUnion('PeriodVerdict')) {
        const v = variant(fixed, control)
        assert.equal(refreshCode(v), expectedRefreshCode(v), `${name}: fixed ${fixed}, control ${control}`)
      }
    }
    assert.equal(refreshCode(variant('Periodic', 'Periodic')), 11, `${name}: a periodic control makes a period inconclusive`)
    assert.equal(refreshCode(variant('None', 'Periodic')), 11, `${name}: and a missing one too`)
    assert.equal(refreshCode(variant('None', 'Insufficient')), 10, name)
    // No control run (controlClean null): the fixed line decides.
    const noControl = { ...rep, control: null, controlClean: null }
    assert.equal(refreshCode(noControl), 0, name)
  }
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
  t.diagnostic(`branch: ${rep.groups.length} group(s), recommended offset ${rep.recommendedOffset}`)
  assert.ok(Array.isArray(rep.bits) && rep.bits.length > 0)
  for (const b of rep.bits) assert.ok(b.different <= b.pairs && b.apart <= b.pairs && b.meanClearanceCycles <= b.meanDistanceCycles, JSON.stringify(b))
  assert.ok(rep.recommendedOffset === null || rep.recommendedOffset >= 64)
  // An offset found is positive, none negative: whichever this machine gave.
  assert.equal(r.code, rep.recommendedOffset ? 0 : 10)
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

test('probe on its own lists its subcommands, and an unknown one is named as a probe', () => {
  const bare = cli('probe')
  assert.equal(bare.code, 2)
  assert.doesNotMatch(bare.out + bare.err, /unknown command/)
  assert.match(bare.out, /^usage: ultraslayer probe <refresh\|groups\|placement\|hedge> \[options\]/)
  for (const p of ['refresh', 'groups', 'placement', 'hedge']) assert.match(bare.out, new RegExp(`^  probe ${p} `, 'm'), p)
  assert.equal(cli('probe', '--help').code, 0)
  const odd = cli('probe', 'frob')
  assert.equal(odd.code, 2)
  assert.match(odd.err, /^ultraslayer probe: unknown probe "frob": the probes are refresh, groups, placement, hedge/)
  assert.match(cli('frobnicate').err, /^ultraslayer: unknown command "frobnicate": the commands are info, probe, bench/)
})

test.after(() => fs.rmSync(cache, { recursive: true, force: true }))
