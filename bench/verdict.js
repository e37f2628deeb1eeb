'use strict'
// The verdict a benchmark run ends with: per condition, which read strategy wins at p50, p99 and
// p99.9 and by how much, what lost, what the controls and the core count mean for the result, and
// every goal marked met or missed. Derived only from the figures measured in this run; formatting
// and judgement only, no measuring.

// A difference smaller than this (as a ratio to the baseline) is called a tie: cached-call and
// tail figures on a VM move by several percent between runs of the same arm.
const TIE = 0.05

const PCTS = [
  ['p50', 'p50'],
  ['p99', 'p99'],
  ['p999', 'p99.9'],
]

// The strategies a user can choose, per level, and the baseline each is compared with. `direct`
// is the baseline itself (ratio 1). Controls and upper bounds are not strategies.
const STRATEGIES = {
  js: [
    ['direct', 'direct', 'direct'],
    ['hedge', 'hedged', 'direct'],
    ['steer', 'steer', 'steer-direct'],
  ],
  native: [
    ['direct', 'native-direct', 'native-direct'],
    ['hedge', 'native-hedged', 'native-direct'],
    ['steer', 'native-steer', 'native-steer-direct'],
  ],
}

function pctChange(r) {
  const d = Math.round((r - 1) * 100)
  return d === 0 ? '±0%' : d > 0 ? `+${d}%` : `−${-d}%`
}

/** Ratios of one strategy's percentiles to its baseline's, or null when either arm did not run. */
function ratiosOf(run, arm, base) {
  const a = run.arms[arm]
  const b = run.arms[base]
  if (!a || !b) return null
  if (arm === base) return { p50: 1, p99: 1, p999: 1 }
  return Object.fromEntries(PCTS.map(([k]) => [k, a.summary[k] / b.summary[k]]))
}

/** ' (on a fallback: copies N B apart)' for an arm whose placement was refused, else ''. */
function fellBack(run, arm) {
  const a = run.arms[arm]
  return a && a.fallback ? ` (FALLBACK: copies ${a.fallback.channelOffset} B apart, placement refused)` : ''
}

/**
 * What the verdict says first when slabs fell back or arms were left out: the figures of those
 * arms are of the layout they ran on, not of a placed one.
 */
function fallbackVerdict(result) {
  const fallbacks = (result.fallbacks || []).map((f) => ({ ...f, text: `${f.arms.join(', ')} ran on copies ${f.channelOffset} B apart, not placed by refresh group (${f.by === 'bench' ? `placement '${f.from}' refused; rebuilt on an offset by the bench` : `placement 'auto' tried '${f.from}' and was refused`}): their figures are of that offset` }))
  const skipped = (result.skipped || []).map((x) => ({ ...x, text: `${x.arms.join(', ')} left out: ${x.reason}` }))
  return { fallbacks, skipped, lines: [...fallbacks, ...skipped].map((x) => `fallback: ${x.text}`) }
}

/** Winner per percentile among the strategies measured at one level of one run. */
function levelVerdict(run, level, ctx) {
  const cands = STRATEGIES[level]
    .map(([strategy, arm, base]) => ({ strategy, arm, base, r: ratiosOf(run, arm, base) }))
    .filter((c) => c.r)
  if (cands.length < 2) return null
  const winners = {}
  for (const [k, label] of PCTS) {
    const best = cands.reduce((a, b) => (b.r[k] < a.r[k] ? b : a))
    // Nothing beats its baseline by more than noise: reading directly is the answer (no cost).
    const tie = best.r[k] > 1 - TIE
    winners[k] = tie
      ? { strategy: 'direct', arm: cands[0].arm, ratio: 1, vs: cands[0].base, tie: true, text: `${label}: no strategy beats a direct read by more than ${TIE * 100}% (best ${best.strategy} ${best.r[k].toFixed(2)}×)` }
      : { strategy: best.strategy, arm: best.arm, ratio: best.r[k], vs: best.base, tie: false, text: `${label}: ${best.strategy}${fellBack(run, best.arm)} ${best.r[k].toFixed(2)}× of ${best.base} (${pctChange(best.r[k])})` }
  }
  const lost = cands
    .filter((c) => c.strategy !== 'direct')
    .map((c) => ({ strategy: c.strategy, arm: c.arm, worse: PCTS.filter(([k]) => c.r[k] > 1 + TIE).map(([k, label]) => `${label} ${c.r[k].toFixed(2)}×`) }))
    .filter((c) => c.worse.length)
    .map((c) => ({ strategy: c.strategy, arm: c.arm, text: `${c.strategy}${fellBack(run, c.arm)} loses: ${c.worse.join(', ')} of its baseline` }))
  const notes = []
  const hedgeArm = level === 'js' ? 'hedged' : 'native-hedged'
  const controlArm = level === 'js' ? 'same-group' : 'native-same-group'
  if (run.arms[hedgeArm] && run.arms[controlArm]) {
    const h = run.arms[hedgeArm].summary.p99
    const c = run.arms[controlArm].summary.p99
    const r = h / c
    notes.push(
      r < 1 - TIE
        ? `hedged p99 is ${r.toFixed(2)}× the same-group control's: copies that refresh apart help beyond the hand-off`
        : `hedged p99 is ${r.toFixed(2)}× the same-group control's: no gain here that refresh independence explains`,
    )
  } else if (run.arms[hedgeArm] && ctx.noControl) {
    notes.push(`no same-group control in this run: ${ctx.noControl}`)
  }
  const pairs = level === 'native' && run.arms['independent-pairs']
  if (pairs && run.arms['native-direct'] && pairs.summary.count === 0) {
    notes.push('independent-pairs paired no samples in this condition (a reader shared its core with another thread): no upper bound here')
  } else if (pairs && run.arms['native-direct']) {
    const r = pairs.summary.p99 / run.arms['native-direct'].summary.p99
    const same = run.arms['independent-pairs-same-group']
    notes.push(
      `independent-pairs (an upper bound, not delivered; ${(pairs.extra.pairedShare * 100).toFixed(0)}% paired): p99 ${r.toFixed(2)}× native-direct` +
        (same ? `, same-group pairs ${(same.summary.p99 / run.arms['native-direct'].summary.p99).toFixed(2)}× (the part a minimum of two noisy samples gives anyway)` : ''),
    )
  }
  if (level === 'js' && run.arms['js-array'] && run.arms.direct) {
    const a = run.arms['js-array'].summary
    const d = run.arms.direct.summary
    notes.push(`a plain Float64Array: p50 ${(a.p50 / d.p50).toFixed(2)}×, p99 ${(a.p99 / d.p99).toFixed(2)}× of direct (no binding call)`)
  }
  return { level, winners, lost, notes }
}

/** Goals of the binding-cost table, each marked met or missed. */
function bindingGoals(cost) {
  if (!cost) return []
  // met: true/false, or null when the run did not measure what the goal is about.
  const goal = (name, value, limit, unit, measured = true) => ({ name, value, goal: limit, unit, met: measured ? value <= limit : null })
  const steering = cost.steerPath === 'steering'
  return [
    goal('readF64 / bare u32→f64 N-API call', cost.readF64VsBare, 2, '×'),
    goal('readU64 / bare u32→f64 N-API call', cost.readU64VsBare, 3, '×'),
    goal("readF64 (strategy 'direct') / bare u32→f64 N-API call", cost.directVsBare, 0.7, '×'),
    goal("readF64 (strategy 'direct') − copy 0, same raw call (the strategy dispatch)", cost.directExtraNs, 5, 'ns'),
    goal(`steered readF64 − copy 0, same raw call (path measured: ${cost.steerPath})`, cost.steerExtraNs, 15, 'ns', steering),
  ]
}

function fmtGoal(g) {
  const v = g.unit === '×' ? `${g.value.toFixed(2)}×` : `${g.value.toFixed(1)} ns`
  const lim = g.unit === '×' ? `${g.goal}×` : `${g.goal} ns`
  const mark = g.met === null ? (g.why ? 'NOT JUDGED' : 'NOT MEASURED') : g.met ? 'MET' : 'MISSED'
  return `${mark.padEnd(12)} ${g.name}: ${v} (goal ≤ ${lim}${g.why ? `; not judged: ${g.why}` : ''})`
}

/**
 * The verdict of a whole run: { runs: [{ condition, access, pace, levels }], overall, goals, lines }.
 * `lines` is the text block; the rest is the same in JSON.
 */
function verdict(result) {
  const ctx = {
    sharedCores: result.machine.sharedCores,
    cpuCount: result.machine.cpuCount,
    replicas: result.slabInfo.replicas,
    noControl: result.noControl,
  }
  const runs = result.runs.map((run) => ({
    condition: run.condition,
    access: run.access,
    pace: run.gapNs ? 'random' : 'back-to-back',
    levels: ['js', 'native'].map((l) => levelVerdict(run, l, ctx)).filter(Boolean),
  }))
  // Overall: how often each strategy won p99 through JS (what a Node service receives).
  const tally = {}
  let judged = 0
  for (const r of runs) {
    const js = r.levels.find((l) => l.level === 'js')
    if (!js) continue
    judged++
    const w = js.winners.p99.strategy
    tally[w] = (tally[w] || 0) + 1
  }
  const ranked = Object.entries(tally).sort((a, b) => b[1] - a[1])
  const overall = ranked.length
    ? {
        p99Winner: ranked[0][0],
        wins: tally,
        judged,
        text: `through JS, the best p99 here came from ${ranked.map(([s, n]) => `${s} in ${n} of ${judged}`).join(', ')} condition(s)` +
          (ranked[0][0] === 'direct' ? ': read directly (strategy \'direct\'); the other strategies cost more than they save on this machine' : ''),
      }
    : null
  const goals = bindingGoals(result.bindingCost)
  const fb = fallbackVerdict(result)
  const lines = ['', '=== verdict (this run, this machine; ties within 5%) ===', ...fb.lines]
  const hedged = result.runs.some((r) => r.arms.hedged || r.arms['native-hedged'])
  if (hedged && ctx.sharedCores) {
    lines.push(
      `cores: ${ctx.cpuCount} allowed for ${ctx.replicas} replica threads + the caller, so the hedged arms share cores: their figures are what this box gives (where the default, strategy 'auto', does not hedge), not what hedging gives with ${ctx.replicas + 1}+ free cores`,
    )
  }
  for (const r of runs) {
    lines.push(`${r.condition} / ${r.access} / ${r.pace}:`)
    for (const l of r.levels) {
      lines.push(`  ${l.level === 'js' ? 'through JS' : 'inside Rust'}: ${PCTS.map(([k]) => l.winners[k].text).join('; ')}`)
      for (const x of l.lost) lines.push(`    ${x.text}`)
      for (const n of l.notes) lines.push(`    note: ${n}`)
    }
  }
  if (overall) lines.push(`overall: ${overall.text}`)
  if (goals.length) {
    lines.push('goals:')
    for (const g of goals) lines.push(`  ${fmtGoal(g)}`)
  }
  return { runs, overall, goals, fallbacks: fb.fallbacks, skipped: fb.skipped, sharedCores: !!(hedged && ctx.sharedCores), lines }
}

/**
 * The verdict of a decision run (`--scenario decision`): per condition, which way of holding the
 * quotes gives the best p50/p99/p99.9 decision through JS, against the plain JS array; what one
 * record read saves over one call per field; and the goals marked met or missed.
 */
/** The p99 ratio to copy 0 at which steering counts as paying (issue #26's record-steer goal). */
const STEER_PAYS = 0.85

function decisionVerdict(result) {
  const ARMS = ['record-js-array', 'record-slots', 'record-direct', 'record-direct-native', 'record-steer', 'record-hedged']
  const fb = fallbackVerdict(result)
  const lines = ['', '=== verdict (this run, this machine; ties within 5%) ===', ...fb.lines]
  const goals = []
  const goal = (name, value, limit, unit) => goals.push({ name, value, goal: limit, unit, met: value <= limit })
  const runs = result.runs.map((run) => {
    const base = run.arms['record-js-array']
    const cands = ARMS.filter((a) => run.arms[a]).map((a) => ({ arm: a, s: run.arms[a].summary }))
    const winners = {}
    for (const [k, label] of PCTS) {
      const best = cands.reduce((x, y) => (y.s[k] < x.s[k] ? y : x))
      const r = best.s[k] / base.summary[k]
      winners[k] = { arm: r > 1 - TIE && best.arm !== 'record-js-array' ? 'record-js-array' : best.arm, ratio: r, text: `${label}: ${best.arm}${fellBack(run, best.arm)} ${r.toFixed(2)}× of record-js-array` }
    }
    const pace = run.gapNs ? 'random' : 'back-to-back'
    lines.push(`${run.condition} / ${run.access} / ${pace}: ${PCTS.map(([k]) => winners[k].text).join('; ')}`)
    const slots = run.arms['record-slots']
    const direct = run.arms['record-direct']
    if (slots && direct) lines.push(`  one record read instead of one call per field: p50 ${direct.summary.p50} vs ${slots.summary.p50} ns (${pctChange(direct.summary.p50 / slots.summary.p50)}), p99 ${direct.summary.p99} vs ${slots.summary.p99} ns`)
    if (direct) {
      goal(`record-direct p50 / record-js-array (${run.condition}/${run.access}/${pace})`, direct.summary.p50 / base.summary.p50, 1.05, '×')
      goal(`record-direct p99 / record-js-array (${run.condition}/${run.access}/${pace})`, direct.summary.p99 / base.summary.p99, 1.05, '×')
    }
    const steer = run.arms['record-steer']
    if (steer) {
      const st = steer.extra && steer.extra.steer
      if (st && !st.copiesApart) lines.push('  note: the steered copies do not stall apart here (the tracker reads a fixed copy), so record-steer cannot beat the array on refresh')
      if (steer.fallback) lines.push(`  note: record-steer ran on copies ${steer.fallback.channelOffset} B apart (its placement was refused), not on copies placed by refresh group`)
      // The goal holds where steering pays on this host (issue #26): judged when, in the same run,
      // steering the same store timed inside Rust cut p99 to STEER_PAYS of copy 0's. Otherwise it is
      // shown with why it is not judged (through JS it cannot gain what Rust does not).
      const nat = run.arms['native-record-steer']
      const natDirect = run.arms['native-record-direct']
      const natRatio = nat && natDirect ? nat.summary.p99 / natDirect.summary.p99 : NaN
      const why = !(natRatio <= STEER_PAYS)
        ? Number.isFinite(natRatio)
          ? `steering does not pay here this run (native-record-steer p99 ${natRatio.toFixed(2)}× native-record-direct, over ${STEER_PAYS}×)`
          : 'no native-record-steer arm to say whether steering pays here'
        : null
      const judged = (name, value, limit) => goals.push({ name, value, goal: limit, unit: '×', met: why ? null : value <= limit, ...(why ? { why } : {}) })
      judged(`record-steer p99 / record-js-array (${run.condition}/${run.access}/${pace})`, steer.summary.p99 / base.summary.p99, STEER_PAYS)
      judged(`record-steer p99.9 / record-js-array (${run.condition}/${run.access}/${pace})`, steer.summary.p999 / base.summary.p999, 0.9)
    }
    if (run.arms['record-hedged'] && result.machine && result.machine.sharedCores) lines.push('  note: record-hedged shares cores with the caller here (not what hedging gives with replicas + 1 free cores)')
    return { condition: run.condition, access: run.access, pace, winners }
  })
  const bc = result.bindingCost
  if (bc && Number.isFinite(bc.recordVsReadF64)) goal('snapshot().load(i) + every field / one readF64 (cached)', bc.recordVsReadF64, 1.5, '×')
  if (bc && Number.isFinite(bc.recordVsSixReadF64)) goal('snapshot().load(i) + 6 getters (2 f64 + 4 u64) / six readF64 (cached)', bc.recordVsSixReadF64, 1.5, '×')
  if (bc && Number.isFinite(bc.numbersVsSixArray)) goal('snapshot().load(i) + 6 number getters / six plain Float64Array reads (cached)', bc.numbersVsSixArray, 2, '×')
  if (goals.length) {
    lines.push('goals:')
    for (const g of goals) lines.push(`  ${fmtGoal(g)}`)
  }
  return { runs, goals, fallbacks: fb.fallbacks, skipped: fb.skipped, lines }
}

module.exports = { verdict, decisionVerdict, bindingGoals, fmtGoal, TIE }
