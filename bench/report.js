'use strict'
// Text tables, CSV and the machine header for benchmark results. Formatting only.

const { bindingGoals, fmtGoal } = require('./verdict')
const { fallbackLines } = require('./fallback')

const PCTS = [
  ['p50', 'p50'],
  ['p90', 'p90'],
  ['p99', 'p99'],
  ['p999', 'p99.9'],
  ['p9999', 'p99.99'],
  ['max', 'max'],
]

function fmtNs(v) {
  if (v === undefined || v === null || Number.isNaN(v)) return '-'
  if (v >= 100_000) return `${(v / 1000).toFixed(0)}µ`
  if (v >= 10_000) return `${(v / 1000).toFixed(1)}µ`
  return String(Math.round(v))
}

function fmtRatio(r) {
  return r === undefined || !Number.isFinite(r) ? '-' : `${r.toFixed(2)}×`
}

function pad(s, n, right = false) {
  s = String(s)
  return right ? s.padEnd(n) : s.padStart(n)
}

function table(headers, rows, leftCols = 1) {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => String(r[c]).length)))
  const line = (cells) => cells.map((x, c) => pad(x, widths[c], c < leftCols)).join('  ')
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

/**
 * The ratio baseline of an arm: its own when it names one (the steer arms: copy 0 of their slab),
 * else JS arms against `direct` and native arms against `native-direct`.
 */
function baselineOf(arm) {
  if (arm.baseline) return arm.baseline
  return arm.level === 'native' ? 'native-direct' : 'direct'
}

/**
 * Scores every arm of a run against its baseline (`baseline(arm)` names it): `slowShare` (reads
 * over the baseline's median + `slowExcessNs`: one threshold for every arm compared with that
 * baseline), `tailShare` (over the arm's own median + `slowExcessNs`: its own tail), and `ratio`
 * (p50, p99, p99.9 and slow share against the baseline, for arms that are not their own baseline).
 */
function scoreRun(run, slowExcessNs, baseline = baselineOf) {
  const over = (a, ns) => a.summary.buckets.reduce((n, [x, c]) => (x > ns ? n + c : n), 0) / a.summary.count
  for (const a of Object.values(run.arms)) {
    const ref = run.arms[baseline(a)] || a
    a.slowNs = ref.summary.p50 + slowExcessNs
    a.slowShare = over(a, a.slowNs)
    a.tailNs = a.summary.p50 + slowExcessNs
    a.tailShare = over(a, a.tailNs)
  }
  for (const a of Object.values(run.arms)) {
    const base = run.arms[baseline(a)]
    if (base && base !== a) {
      const r = (k) => a.summary[k] / base.summary[k]
      a.ratio = { baseline: baseline(a), p50: r('p50'), p99: r('p99'), p999: r('p999'), slowShare: a.slowShare / base.slowShare }
    }
  }
}

function runTable(run) {
  const headers = ['arm', ...PCTS.map(([, l]) => l), 'n', 'slow', 'tail', 'p50 ratio', 'p99 ratio', 'p99.9 ratio', 'vs']
  const rows = Object.entries(run.arms).map(([name, a]) => {
    const s = a.summary
    return [
      // † an arm that ran on a fallback layout (its placement was refused), * an upper bound.
      name + (a.fallback ? ' †' : '') + (a.upperBound ? ' *' : ''),
      ...PCTS.map(([k]) => fmtNs(s[k])),
      s.count,
      a.slowShare === undefined ? '-' : `${(a.slowShare * 100).toFixed(2)}%`,
      a.tailShare === undefined ? '-' : `${(a.tailShare * 100).toFixed(2)}%`,
      fmtRatio(a.ratio && a.ratio.p50),
      fmtRatio(a.ratio && a.ratio.p99),
      fmtRatio(a.ratio && a.ratio.p999),
      a.ratio ? a.ratio.baseline : '-',
    ]
  })
  return table(headers, rows)
}

function bindingTable(cost) {
  const rows = Object.entries(cost.rows).map(([name, r]) => [name, r.median.toFixed(1), r.min.toFixed(1), r.max.toFixed(1)])
  return [table(['call', 'ns/call (median)', 'min', 'max'], rows), ...bindingGoals(cost).map(fmtGoal)].join('\n')
}

/** Whether the steer slab's placement was refused and it runs on an offset instead. */
function steerFellBack(result) {
  return (result.fallbacks || []).some((f) => f.slab === 'steer slab')
}

/** The steer slab in one line: where its copies went, and what the tracker found. */
function steerLine(result) {
  const i = result.steerInfo
  const p = i.placement
  const h = p.hugePages
  const where = h
    ? `${result.config.steerSlots} slots × ${i.replicas}, copies placed by refresh group inside ${i.pageKind} pages (${h.layout}): ${h.framesTimed} frames timed, ${h.framesInferred} inferred, ${h.copiesApart}/${h.copiesChecked} checked slots apart, ${(h.totalMs / 1000).toFixed(1)} s`
    : p.kind === 'refresh-groups'
      ? `${result.config.steerSlots} slots × ${i.replicas}, copies placed by refresh group: ${p.groupPages.length} groups at +${p.groupOffsetsNs.map((x) => x.toFixed(0)).join('/+')} ns of a ${p.periodNs.toFixed(2)} ns period, replicas ${p.groupReplica.join('/')}, ${p.slabPages} pages chosen from ${p.measuredPages} timed in ${p.learnMs.toFixed(0)} ms; ${i.pageKind} pages`
      : `${result.config.steerSlots} slots × ${i.replicas}, copies ${i.channelOffset} B apart (${steerFellBack(result) ? 'FALLBACK: placement by refresh group refused' : p.note || i.channelOffsetSource}); ${i.pageKind} pages`
  const st = i.steer
  return `steer slab: ${where}; after calibration the tracker is ${st.state}, copies stall apart: ${st.copiesApart ? 'yes' : 'NO — steering reads a fixed copy'} (stall distance ${st.stallDistance.toFixed(2)} period; predicted slow share ${(st.expectedSteeredShare * 100).toFixed(2)}% steered vs ${(st.expectedUnsteeredShare * 100).toFixed(2)}% unsteered)`
}

function header(result) {
  const m = result.machine
  const i = result.slabInfo
  const lines = [
    `machine: ${m.cpuModel}; ${m.cpuCount} core(s) allowed [${m.allowedCpus.join(',')}]; hypervisor: ${m.hypervisor ? 'yes (VM: noisy; stalls > ~1 µs are mostly the host)' : 'no'}`,
    `node ${process.version}; TSC ${(m.tscHz / 1e9).toFixed(3)} GHz${m.tscInvariant === true ? ' (invariant)' : m.tscInvariant === false ? ' (NOT invariant)' : ''}; clock overhead p50 ${m.clockOverheadNs} ns (included in every JS figure), native stamps ${m.nativeStampOverheadNs} ns (in every native figure)`,
    `slab: ${result.config.slots} slots × ${i.replicas} replicas, channelOffset ${i.channelOffset} B (${result.config.offsetSource}); ${i.pageKind} pages (${i.pageSize} B), ${(i.mappedBytes / 2 ** 20).toFixed(0)} MiB mapped, ${i.locked ? 'locked' : 'not locked'}`,
    result.noControl
      ? `same-group control: none in this run — ${result.noControl}`
      : `same-group control: channelOffset ${result.config.controlOffset} B (${result.config.controlSource})`,
    ...(result.steerInfo
      ? [
          steerLine(result),
        ]
      : []),
    `replica cores: [${i.cores.join(',')}]; spin: ${i.spin}; samples per arm: ${result.config.samples}`,
    ...fallbackLines(result.fallbacks || [], result.skipped || []),
  ]
  if (m.sharedCores) {
    lines.push(
      `WARNING: ${m.cpuCount} core(s) for ${i.replicas} replica threads + the caller: the hedged arms SHARE cores and are NOT representative of a machine with ${i.replicas + 1}+ free cores.`,
    )
  }
  return lines.join('\n')
}

function toCsv(result) {
  const cols = ['condition', 'access', 'gap_ns', 'arm', 'level', 'count', 'min', 'mean', 'p50', 'p90', 'p99', 'p999', 'p9999', 'max', 'slow_share', 'tail_share', 'ratio_p50', 'ratio_p99', 'ratio_p999', 'baseline', 'paired_share']
  const lines = [cols.join(',')]
  for (const run of result.runs) {
    for (const [name, a] of Object.entries(run.arms)) {
      const s = a.summary
      lines.push(
        [
          run.condition,
          run.access,
          run.gapNs,
          name,
          a.level,
          s.count,
          s.min,
          s.mean.toFixed(1),
          s.p50,
          s.p90,
          s.p99,
          s.p999,
          s.p9999,
          s.max,
          a.slowShare === undefined ? '' : a.slowShare.toFixed(5),
          a.tailShare === undefined ? '' : a.tailShare.toFixed(5),
          a.ratio ? a.ratio.p50.toFixed(4) : '',
          a.ratio ? a.ratio.p99.toFixed(4) : '',
          a.ratio ? a.ratio.p999.toFixed(4) : '',
          a.ratio ? a.ratio.baseline : '',
          a.extra && a.extra.pairedShare !== undefined ? a.extra.pairedShare.toFixed(4) : '',
        ].join(','),
      )
    }
  }
  return lines.join('\n') + '\n'
}

module.exports = { runTable, bindingTable, header, toCsv, baselineOf, scoreRun, fmtNs }
