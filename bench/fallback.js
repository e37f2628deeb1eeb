'use strict'
// A refused placement or calibration never ends a benchmark run. Every slab the bench builds goes
// through `build`: what the library's placement 'auto' fell back to (info().placement.fallback) is
// recorded; an explicit placement ('huge-pages', 'refresh-groups') that is refused — the library
// throws for an explicit request — is built again on an offset by the bench, and recorded; a slab
// that cannot be built at all (steering refused by calibration, e.g. a clock too coarse to steer
// by) leaves its arms out, and that is recorded too. Each record names the arms it concerns, so
// the header, the tables, the verdict and the JSON say which arm ran on what.

/** Error codes of a refusal the bench goes on without (anything else is a real error). */
const REFUSALS = ['ERR_ULTRASLAYER_PLACEMENT', 'ERR_ULTRASLAYER_UNSUPPORTED']

const refused = (e) => e && REFUSALS.includes(e.code)

/**
 * The fallback a built slab's info() reports (placement 'auto' refused, copies on an offset), as
 * the bench records it, or null when the slab got what it asked for.
 */
function fallbackOf(info, slab, arms) {
  const f = info.placement && info.placement.fallback
  if (!f) return null
  return { slab, arms, from: f.from, to: f.to, channelOffset: f.channelOffset, reason: f.reason, by: 'library' }
}

/**
 * Builds a slab with `await make(opts)` and never lets a refusal end the run. Resolves to `{ obj, fallback,
 * skipped }`: `obj` the slab (null when none could be built); `fallback` what its copies fell back
 * to (see `fallbackOf`; `by: 'bench'` when the bench rebuilt it with `offsetOpts` after an explicit
 * placement was refused), or null; `skipped` `{ slab, arms, reason }` when no slab could be built,
 * else null. `slab` names the slab and `arms` the arms that run on it, for the report.
 * `offsetOpts` defaults to `opts` with placement 'offset' and no channelOffset: the library's
 * default offset for the strategy, what placement 'auto' falls back to.
 */
async function build(make, opts, { slab, arms, offsetOpts }) {
  let first
  try {
    const obj = await make(opts)
    return { obj, fallback: fallbackOf(obj.info(), slab, arms), skipped: null }
  } catch (e) {
    if (!refused(e)) throw e
    first = e
  }
  const explicit = opts.placement === 'huge-pages' || opts.placement === 'refresh-groups' || opts.placement === 'background'
  if (!explicit || first.code !== 'ERR_ULTRASLAYER_PLACEMENT') {
    // Not a placement the bench can take back (e.g. steering refused by calibration): no slab.
    return { obj: null, fallback: null, skipped: { slab, arms, reason: first.message } }
  }
  // The library throws for an explicit placement it cannot have; the bench asks for the layout
  // 'auto' would have fallen back to.
  let again = offsetOpts
  if (!again) {
    again = { ...opts, placement: 'offset' }
    delete again.placementBudgetMs
    delete again.channelOffset
  }
  try {
    const obj = await make(again)
    const info = obj.info()
    return {
      obj,
      fallback: { slab, arms, from: opts.placement, to: 'offset', channelOffset: info.channelOffset, reason: first.message, by: 'bench' },
      skipped: null,
    }
  } catch (e) {
    if (!refused(e)) throw e
    return { obj: null, fallback: null, skipped: { slab, arms, reason: `${first.message}; then on an offset: ${e.message}` } }
  }
}

/**
 * The bench flags that do for each slab what the library's advice says in library options: put its
 * copies on an offset from the start (`offset`; none for a slab the bench gives no such flag), and
 * give its placement more time (`budget`). Keyed by the slab names run.js and decision.js give
 * `build`, so a header rendered again from a saved --json says the same.
 */
const FLAGS = {
  'hedged slab': { offset: '--channel-offset B', budget: '--placement-budget-ms N' },
  'steer slab': { offset: '--steer-offset B', budget: '--steer-budget-ms N' },
  'steered records': { offset: '--steer-placement offset', budget: '--steer-budget-ms N' },
  'record-slots slab': { budget: '--placement-budget-ms N' },
  'hedged records': { budget: '--placement-budget-ms N' },
}

/**
 * A library refusal as the bench header words it: the advice it gives in library options (use
 * `placement: 'offset'`, raise `placementBudgetMs`) names the bench flags that do the same for
 * `slab`; where the bench has no offset flag for it, the advice to use an offset becomes what the
 * bench did. What the refusal reports (e.g. "placementBudgetMs is 0") is left as the library said it.
 */
function inBenchTerms(reason, slab) {
  const flags = FLAGS[slab] || {}
  const budget = flags.budget || 'placementBudgetMs'
  return reason
    .replace(/\buse placement: 'offset'/g, flags.offset ? `pass ${flags.offset}` : 'let it fall back to an offset, as here')
    .replace(/\(placementBudgetMs, default \d+ ms\)/g, `(${budget})`)
    .replace(/\braise placementBudgetMs\b/g, `raise ${budget}`)
}

/** One header line per fallback and per skipped slab (empty when the run got everything). */
function fallbackLines(fallbacks, skipped) {
  const lines = []
  for (const f of fallbacks) {
    const how = f.by === 'bench' ? `placement '${f.from}' refused, so the bench rebuilt it on an offset` : `placement 'auto' tried '${f.from}', was refused and fell back`
    lines.push(`FALLBACK ${f.slab} (arms ${f.arms.join(', ')}): ${how}: copies ${f.channelOffset} B apart, NOT placed by refresh group — ${inBenchTerms(f.reason, f.slab)}`)
  }
  for (const s of skipped) lines.push(`SKIPPED ${s.slab} (arms ${s.arms.join(', ')} left out): ${inBenchTerms(s.reason, s.slab)}`)
  return lines
}

/** The fallback an arm ran on ({ from, to, channelOffset, reason, by }), or undefined. */
function armFallback(fallbacks, arm) {
  const f = fallbacks.find((x) => x.arms.includes(arm))
  return f ? { slab: f.slab, from: f.from, to: f.to, channelOffset: f.channelOffset, reason: f.reason, by: f.by } : undefined
}

/**
 * What a run's slabs fell back to: `built(b)` takes what `build` returned, records its fallback or
 * skip, and gives the slab (or null).
 */
function collector() {
  const fallbacks = []
  const skipped = []
  const built = (b) => {
    if (b.fallback) fallbacks.push(b.fallback)
    if (b.skipped) skipped.push(b.skipped)
    return b.obj
  }
  return { fallbacks, skipped, built }
}

module.exports = { build, collector, fallbackOf, fallbackLines, inBenchTerms, armFallback, REFUSALS }
