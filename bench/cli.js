'use strict'
// The command line `npm run bench` (run.js) and its decision scenario (decision.js) share: the
// options both take (declarations for node:util parseArgs, the parse step with --help, the value
// parsers) and the end of a run (notes, verdict, the --json/--csv/--plot files). Each script keeps
// its own defaults (passed in) and its own USAGE text. The standalone measurements (learning.js,
// startup.js) parse their few integer options with `integers`.

const fs = require('node:fs')
const path = require('node:path')
const { parseArgs } = require('node:util')
const { toCsv } = require('./report')
const { renderSvg } = require('./plot')

const CONDITIONS = ['quiet', 'stress']
const ACCESS = ['cold', 'random']
const PACE = ['random', 'back-to-back']

/** The last lines of both scripts' --help: the options they share word for word. */
const USAGE_TAIL = `  --hugepages KIND        auto|1g|2m|thp|off (default auto)
  --placement-budget-ms N time each slab's placement by refresh group may spend timing (default:
                          the library's, 3000 ms; the steer slab's own default is larger). 0
                          refuses every placement at once: each arm then runs on the offset the
                          library falls back to, and the header and --json say so
  --json FILE  --csv FILE  --plot FILE.svg
  --no-binding-cost       skip the per-call cost table`

/** The options both scripts take; `defaults` fills in each script's own default values. */
function commonOptions(defaults) {
  const opt = (name, type = 'string') => (defaults[name] === undefined ? { type } : { type, default: defaults[name] })
  return {
    quick: { type: 'boolean', default: false },
    samples: opt('samples'),
    conditions: opt('conditions'),
    access: opt('access'),
    pace: opt('pace'),
    'gap-ns': opt('gap-ns'),
    'slow-excess-ns': opt('slow-excess-ns'),
    'steer-placement': opt('steer-placement'),
    spin: opt('spin'),
    hugepages: opt('hugepages'),
    'placement-budget-ms': opt('placement-budget-ms'),
    json: { type: 'string' },
    csv: { type: 'string' },
    plot: { type: 'string' },
    'no-binding-cost': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  }
}

/** Parses `argv` strictly against the common options plus `own`; prints `usage` and exits on --help. */
function parse(argv, { usage, defaults, own }) {
  const { values } = parseArgs({ args: argv, options: { ...commonOptions(defaults), ...own }, strict: true })
  if (values.help) {
    console.log(usage)
    process.exit(0)
  }
  return values
}

/** `--name`'s value as a non-negative integer. */
function int(name, v) {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${v}`)
  return n
}

/**
 * The command line of the standalone measurements (learning.js, startup.js): `--name N` for each
 * key of `defaults`, a non-negative integer; strict (an unknown option or a bad number throws).
 * Returns every value by name, the defaults filled in.
 */
function integers(argv, defaults) {
  const options = Object.fromEntries(Object.keys(defaults).map((name) => [name, { type: 'string' }]))
  const { values } = parseArgs({ args: argv, options, strict: true })
  return Object.fromEntries(Object.entries(defaults).map(([name, d]) => [name, values[name] === undefined ? d : int(name, values[name])]))
}

/** A comma-separated list; with `allowed`, every item must be one of them (`what` names the kind). */
function list(v, allowed, what) {
  const xs = v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
  if (allowed) for (const x of xs) if (!allowed.includes(x)) throw new Error(`unknown ${what} ${x} (${allowed.join(', ')})`)
  return xs
}

/** The values every scenario reads the same way. */
function common(values) {
  return {
    quick: values.quick,
    conditions: list(values.conditions, CONDITIONS, 'condition'),
    access: list(values.access, ACCESS, 'access'),
    gapNs: int('gap-ns', values['gap-ns']),
    slowExcessNs: int('slow-excess-ns', values['slow-excess-ns']),
    spin: values.spin,
    hugePages: values.hugepages,
    placementBudgetMs: values['placement-budget-ms'] === undefined ? undefined : int('placement-budget-ms', values['placement-budget-ms']),
    json: values.json,
    csv: values.csv,
    plot: values.plot,
    bindingCost: !values['no-binding-cost'],
  }
}

/** The end of a run: its notes, `verdict(result)` (kept in `result.verdict`), the time, the files. */
function finish(result, cfg, log, verdict) {
  for (const n of result.notes) log(`note: ${n}`)
  result.verdict = verdict(result)
  for (const line of result.verdict.lines) log(line)
  log(`done in ${result.elapsedSeconds.toFixed(1)} s`)
  if (cfg.json) fs.writeFileSync(cfg.json, JSON.stringify(result, null, 1))
  if (cfg.csv) fs.writeFileSync(cfg.csv, toCsv(result))
  if (cfg.plot) fs.writeFileSync(cfg.plot, renderSvg(result))
  for (const [flag, file] of [['json', cfg.json], ['csv', cfg.csv], ['plot', cfg.plot]]) if (file) log(`${flag}: ${path.resolve(file)}`)
  return result
}

module.exports = { parse, int, integers, list, common, finish, PACE, USAGE_TAIL }
