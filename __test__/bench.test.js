'use strict'
// The benchmark runs end to end in quick mode and writes valid JSON, CSV and SVG. Asserts the
// shape of what it reports, never the speed.

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const run = path.join(__dirname, '..', 'bench', 'run.js')
// No recorded `probe groups` result: the offsets are the documented defaults (256 B hedged, 2048 B
// control), whatever this machine's cache holds.
const env = { ...process.env, XDG_CACHE_HOME: fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-bench-cache-')) }
after(() => fs.rmSync(env.XDG_CACHE_HOME, { recursive: true, force: true }))

test('npm run bench -- --quick writes a table, JSON, CSV and an SVG plot', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-bench-'))
  const json = path.join(dir, 'r.json')
  const csv = path.join(dir, 'r.csv')
  const svg = path.join(dir, 'r.svg')
  const r = spawnSync(
    process.execPath,
    [run, '--quick', '--samples', '3000', '--slots', String(1 << 20), '--spin', 'hybrid', '--json', json, '--csv', csv, '--plot', svg],
    { encoding: 'utf8', timeout: 120_000, env },
  )
  assert.equal(r.status, 0, r.stderr + r.stdout)
  assert.match(r.stdout, /machine: /)
  assert.match(r.stdout, /(MET|MISSED|NOT MEASURED) +readF64 \/ bare u32→f64 N-API call: /)
  assert.match(r.stdout, /quiet \/ cold/)
  assert.match(r.stdout, /stress \/ random/)
  assert.match(r.stdout, /independent-pairs: upper bound, not delivered; [\d.]+% of samples paired/)
  assert.ok(r.stderr.length > 0, 'progress goes to stderr')

  const result = JSON.parse(fs.readFileSync(json, 'utf8'))
  assert.equal(result.runs.length, 4)
  for (const run of result.runs) {
    for (const name of ['js-array', 'direct', 'hedged', 'same-group', 'native-direct', 'native-hedged', 'native-same-group', 'steer-direct', 'steer', 'native-steer-direct', 'native-steer', 'independent-pairs', 'independent-pairs-same-group']) {
      const a = run.arms[name]
      assert.ok(a, `${run.condition}/${run.access} has ${name}`)
      const s = a.summary
      // independent-pairs may pair nothing when a stress thread shares a pinned reader's core; the
      // share paired says so. Every other arm measured something.
      if (name.startsWith('independent-pairs')) assert.equal(s.count, Math.round(a.extra.pairedShare * 3000))
      else assert.ok(s.count > 0, `${run.condition}/${run.access} ${name} measured reads`)
      assert.ok(s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.p999 && s.p999 <= s.p9999 && s.p9999 <= s.max, name)
      assert.equal(s.buckets.reduce((n, [, c]) => n + c, 0), s.count, `${name}: raw counts add up`)
      if (!['direct', 'native-direct', 'steer-direct', 'native-steer-direct'].includes(name)) assert.ok(a.ratio && Number.isFinite(a.ratio.p50), name)
    }
    assert.equal(run.arms.direct.summary.count, 3000)
    // The steer arms are measured interleaved with copy 0 of their own slab, half the reads each,
    // and compared with it.
    assert.equal(run.arms.steer.summary.count + run.arms['steer-direct'].summary.count, 3000)
    assert.equal(run.arms.steer.ratio.baseline, 'steer-direct')
    assert.equal(run.arms['native-steer'].ratio.baseline, 'native-steer-direct')
    assert.ok(run.arms['independent-pairs'].extra.pairedShare >= 0 && run.arms['independent-pairs'].extra.pairedShare <= 1)
    assert.equal(run.arms['independent-pairs'].upperBound, true)
    assert.equal(run.arms['independent-pairs-same-group'].upperBound, true)
  }
  assert.ok(result.machine.tscHz > 0)
  assert.ok(result.bindingCost.readF64VsBare > 0)
  assert.ok(['1g', '2m', 'thp', '4k'].includes(result.slabInfo.pageKind))

  const lines = fs.readFileSync(csv, 'utf8').trim().split('\n')
  assert.equal(lines[0].split(',')[0], 'condition')
  assert.equal(lines.length, 1 + 4 * 13)

  const plot = fs.readFileSync(svg, 'utf8')
  assert.match(plot, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  assert.match(plot, /<\/svg>$/)
  assert.ok((plot.match(/<path /g) || []).length >= 4 * 11, 'one CCDF curve per arm and panel (an arm that paired nothing has none)')
  assert.ok(result.steerInfo && typeof result.steerInfo.steer.copiesApart === 'boolean', 'steering verdict reported')
  assert.ok(['refresh-groups', 'offset'].includes(result.steerInfo.placement.kind), 'where the steer copies went')
  // Placed or fallen back, whichever this machine gave: an arm is labelled as fallen back exactly
  // when its slab's placement was refused, and never presented as placed (the refusal itself is
  // forced and checked in fallback.test.js).
  assert.ok(Array.isArray(result.fallbacks) && Array.isArray(result.skipped))
  assert.deepEqual(result.skipped, [])
  const fellBack = { 'steer slab': result.steerInfo.placement, 'hedged slab': result.slabInfo.placement }
  for (const [slab, p] of Object.entries(fellBack)) {
    const f = result.fallbacks.find((x) => x.slab === slab)
    assert.equal(!!f, !!p.fallback, `${slab}: a fallback is recorded exactly when info() reports one`)
    if (p.kind === 'refresh-groups') assert.equal(f, undefined, `${slab} was placed`)
    if (f) assert.match(r.stdout, new RegExp(`^FALLBACK ${slab} `, 'm'))
  }
  for (const run of result.runs) {
    for (const [name, a] of Object.entries(run.arms)) {
      const f = result.fallbacks.find((x) => x.arms.includes(name))
      assert.equal(a.fallback && a.fallback.slab, f && f.slab, `${name}: labelled as its slab fell back`)
    }
  }
  assert.match(r.stdout, /steer slab: /)
  for (const run of result.runs) {
    for (const a of Object.values(run.arms)) {
      assert.ok(a.slowShare >= 0 && a.slowShare <= 1)
      assert.ok(a.tailShare >= 0 && a.tailShare <= 1, 'tail: over the arm\'s own median')
    }
  }
  // Every run ends with a verdict: per condition and level, a winner at each percentile, and
  // every goal marked met or missed — the same in the text and the JSON.
  const v = result.verdict
  assert.equal(v.runs.length, 4)
  for (const r of v.runs) {
    assert.deepEqual(r.levels.map((l) => l.level), ['js', 'native'])
    for (const l of r.levels) {
      for (const k of ['p50', 'p99', 'p999']) {
        assert.ok(['direct', 'hedge', 'steer'].includes(l.winners[k].strategy), `${k} winner`)
        assert.ok(Number.isFinite(l.winners[k].ratio))
      }
      for (const x of l.lost) assert.notEqual(x.strategy, 'direct')
    }
  }
  assert.ok(['direct', 'hedge', 'steer'].includes(v.overall.p99Winner))
  assert.equal(v.goals.length, 5)
  for (const g of v.goals) assert.ok(g.met === null || g.met === g.value <= g.goal, g.name)
  assert.match(r.stdout, /=== verdict/)
  assert.match(r.stdout, /overall: through JS, the best p99 here came from/)
  assert.match(r.stdout, /quiet \/ cold \/ random:\n  through JS: p50: /)
  if (result.machine.sharedCores) assert.match(r.stdout, /cores: \d+ allowed for 2 replica threads \+ the caller, so the hedged arms share cores/)
  // Progress: each message once, also when stderr is a pipe.
  const prog = r.stderr.split('\n').filter(Boolean)
  assert.equal(new Set(prog).size, prog.length, 'no progress line printed twice in a row')
  assert.match(plot, /p99\.99/)
  fs.rmSync(dir, { recursive: true, force: true })
})

test('a same-group control at the hedged offset is left out and the run says so', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-bench-'))
  const json = path.join(dir, 'r.json')
  const r = spawnSync(
    process.execPath,
    [run, '--quick', '--samples', '2000', '--slots', String(1 << 18), '--spin', 'hybrid', '--channel-offset', '2048', '--control-offset', '2048',
      '--arms', 'direct,hedged,same-group,native-direct,native-hedged,native-same-group', '--conditions', 'quiet', '--access', 'cold', '--no-binding-cost', '--json', json],
    { encoding: 'utf8', timeout: 120_000, env },
  )
  assert.equal(r.status, 0, r.stderr + r.stdout)
  const result = JSON.parse(fs.readFileSync(json, 'utf8'))
  assert.match(result.noControl, /hedged slab's own channelOffset/)
  for (const run of result.runs) {
    assert.equal(run.arms['same-group'], undefined)
    assert.equal(run.arms['native-same-group'], undefined)
    assert.ok(run.arms.hedged && run.arms['native-hedged'])
  }
  assert.match(r.stdout, /same-group control: none in this run/)
  assert.match(r.stdout, /note: no same-group control in this run/)
  assert.deepEqual(result.verdict.goals, [], 'no binding-cost goals without the binding table')
  fs.rmSync(dir, { recursive: true, force: true })
})

test('bad bench options are refused with a usage hint', () => {
  const r = spawnSync(process.execPath, [run, '--arms', 'nope'], { encoding: 'utf8' })
  assert.equal(r.status, 2)
  assert.match(r.stderr, /unknown arm nope/)
})

test("a steer arm's sampled slow share is held against the prediction with a 95% interval on its count (synthetic counts)", () => {
  const { sampledVsPredicted } = require('../bench/arms')
  // 155 slow of 46 861 sampled against 0.17% predicted: 1.9x, an interval that excludes 1.3x.
  const big = sampledVsPredicted({ sampledSteeredReads: 46861, sampledSteeredSlow: 155, expectedSteeredShare: 0.0017 })
  assert.ok(Math.abs(big.ratio - 155 / (46861 * 0.0017)) < 1e-9)
  assert.ok(big.lo > 1.3 && big.lo < big.ratio && big.ratio < big.hi, JSON.stringify(big))
  assert.match(big.text, /0\.33% of 46861 measured \(1 read in 32\) against 0\.17% predicted at calibration: 1\.9× \(95%: 1\.\d–2\.\d×, 155 slow\)/)
  // 8 slow of 2 580: the interval spans 1.3x and 3x alike (exact Poisson bounds 3.45 and 15.76).
  const small = sampledVsPredicted({ sampledSteeredReads: 2580, sampledSteeredSlow: 8, expectedSteeredShare: 0.0025 })
  assert.ok(Math.abs(small.lo - 3.45 / 6.45) < 0.01 && Math.abs(small.hi - 15.76 / 6.45) < 0.02, JSON.stringify(small))
  // None slow: the ratio is 0 and the upper bound the exact 3.69 slow reads.
  const none = sampledVsPredicted({ sampledSteeredReads: 2580, sampledSteeredSlow: 0, expectedSteeredShare: 0.0025 })
  assert.deepEqual([none.ratio, none.lo], [0, 0])
  assert.ok(Math.abs(none.hi - 3.689 / 6.45) < 1e-4)
  // Nothing sampled, or nothing predicted: no ratio, and the text says so.
  for (const st of [{ sampledSteeredReads: 0, sampledSteeredSlow: 0, expectedSteeredShare: 0.0025 }, { sampledSteeredReads: 100, sampledSteeredSlow: 1, expectedSteeredShare: 0 }]) {
    const r = sampledVsPredicted(st)
    assert.equal(r.ratio, null)
    assert.doesNotMatch(r.text, /×/)
  }
})

test('a steer arm is also held against the floor measured while serving plus the learned stall excess (synthetic counts)', () => {
  const { sampledVsPredicted } = require('../bench/arms')
  // 173 slow of 46 888 steered (0.37%), 2.8x calibration's 0.13%; the floor measured now is
  // 24 of 8 000 quiet exploring reads (0.30%), plus 0.02% of stall excess: 0.32%, 1.15x.
  const st = { sampledSteeredReads: 46888, sampledSteeredSlow: 173, expectedSteeredShare: 0.0013, sampledQuietReads: 8000, sampledQuietSlow: 24, stallExcessShare: 0.0002 }
  const r = sampledVsPredicted(st)
  assert.ok(r.ratio > 2.5 && r.lo > 2, JSON.stringify(r))
  assert.ok(Math.abs(r.now.expected - 0.0032) < 1e-12 && Math.abs(r.now.ratio - 173 / 46888 / 0.0032) < 1e-9, JSON.stringify(r.now))
  assert.ok(r.now.lo < 1 && r.now.hi > 1.3 && r.now.lo < r.now.ratio && r.now.ratio < r.now.hi, JSON.stringify(r.now))
  assert.match(r.text, /against 0\.32% expected now \(floor measured while serving 0\.30%, 24 slow of 8000 quiet exploring reads, \+ 0\.02% stall excess\): 1\.2× \(95%: 0\.\d–2\.\d×\)/)
  // The interval takes each count at 97.5%; ten slow quiet reads are the fewest it is given for.
  const ten = sampledVsPredicted({ ...st, sampledQuietSlow: 10 })
  assert.ok(ten.now.lo < ten.now.ratio && ten.now.hi > ten.now.ratio, JSON.stringify(ten.now))
  // Fewer (what a 200 000-read arm holds): no ratio, and the text says why.
  const few = sampledVsPredicted({ ...st, sampledQuietReads: 400, sampledQuietSlow: 2 })
  assert.equal(few.now.ratio, null)
  assert.match(few.text, /floor while serving: 2 slow of 400 quiet exploring reads, too few/)
  // No quiet exploring reads: no expectation now.
  assert.equal(sampledVsPredicted({ ...st, sampledQuietReads: 0, sampledQuietSlow: 0 }).now, null)
})
