#!/usr/bin/env node
'use strict'
// Start-up off the event loop, measured: `node bench/startup.js [--slots N] [--runs N]`.
//
// For each kind of slab (the defaults, then strategy 'steer'), while `await Slayer.create(...)`
// runs: the event loop's delay (perf_hooks.monitorEventLoopDelay at 10 ms resolution: p50, p99,
// max), how many times a 10 ms setInterval fired against how many it would have, how many progress
// reports came and in which phases, and how long the creation took. Then an abort 500 ms in: how
// long the rejection took after the abort, and the process's RSS before, at the abort and after
// (all memory it made must be freed). And a second process's `new Slayer` with the machine cache,
// against a first one that had to measure: the time to decide and what info() says it used.
// Timing lives here, not in the tests (__test__/create.test.js checks the behaviour).

const { monitorEventLoopDelay } = require('node:perf_hooks')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Slayer } = require('..')
const { integers } = require('./cli')

const { slots: SLOTS, runs: RUNS } = integers(process.argv.slice(2), { slots: 1 << 25, runs: 1 })
// A cold start: this process and its children use a machine cache of their own, empty at first
// (crates/engine/src/refresh/boot_cache.rs), never the user's.
const CACHE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-startup-'))
process.env.ULTRASLAYER_MACHINE_CACHE = path.join(CACHE_DIR, 'in-process.json')
process.on('exit', () => fs.rmSync(CACHE_DIR, { recursive: true, force: true }))
const ms = (ns) => (ns / 1e6).toFixed(1)
const rssMiB = () => (process.memoryUsage.rss() / 2 ** 20).toFixed(0)

async function watched(options) {
  const h = monitorEventLoopDelay({ resolution: 10 })
  let ticks = 0
  const interval = setInterval(() => ticks++, 10)
  const phases = new Map()
  h.enable()
  const t0 = process.hrtime.bigint()
  let s
  try {
    s = await Slayer.create(options, { onProgress: (p) => phases.set(p.phase, (phases.get(p.phase) || 0) + 1) })
  } finally {
    h.disable()
    clearInterval(interval)
  }
  const took = Number(process.hrtime.bigint() - t0)
  const info = s.info()
  s.close()
  return {
    took,
    loop: { p50: h.percentile(50), p99: h.percentile(99), max: h.max },
    ticks,
    expected: Math.floor(took / 10e6),
    phases: [...phases].map(([k, v]) => `${k}×${v}`).join(' '),
    strategy: info.strategy,
    placement: info.placement.fallback ? `fell back (${info.placement.fallback.from})` : info.placement.kind,
  }
}

async function aborted(options) {
  const before = rssMiB()
  const ac = new AbortController()
  let atAbort = null
  let abortedAt = 0n
  setTimeout(() => {
    atAbort = rssMiB()
    abortedAt = process.hrtime.bigint()
    ac.abort()
  }, 500)
  try {
    const s = await Slayer.create(options, { signal: ac.signal })
    s.close()
    return { finished: true }
  } catch (e) {
    const after = Number(process.hrtime.bigint() - abortedAt)
    return { name: e.name, rejectMs: after / 1e6, rss: { before, atAbort, after: rssMiB() } }
  }
}

// Two fresh processes in a row on one machine cache: a small steered slab placed by timing (the
// first measures the refresh period, the second finds it remembered), then the default
// `new Slayer({ slots })` (the first spends the placement budget, or the projection from the
// sample refuses sooner; the second can refuse before timing from the rate the first remembered).
function secondProcess() {
  let cache = ''
  const program = (options) => `const { Slayer } = require(${JSON.stringify(path.join(__dirname, '..'))})
const t = process.hrtime.bigint()
const s = new Slayer(${JSON.stringify(options)})
const took = Number(process.hrtime.bigint() - t) / 1e6
const i = s.info()
const h = i.placement.hugePages
console.log(JSON.stringify({ took, strategy: i.strategy, period: h && h.periodSource, periodMs: h && h.periodMs, fallback: i.placement.fallback && i.placement.fallback.reason }))
s.close()`
  const run = (options) => {
    const r = spawnSync(process.execPath, ['-e', program(options)], { encoding: 'utf8', env: { ...process.env, ULTRASLAYER_MACHINE_CACHE: cache } })
    return r.status === 0 ? JSON.parse(r.stdout.trim().split('\n').pop()) : { error: r.stderr.trim().split('\n').pop() }
  }
  const small = { slots: 4096, strategy: 'steer', placement: 'huge-pages', placementBudgetMs: 2000 }
  const big = { slots: SLOTS }
  const out = []
  cache = path.join(CACHE_DIR, 'small.json')
  out.push(['first process, steered 4096 slots placed', run(small)], ['second process, the same', run(small)])
  cache = path.join(CACHE_DIR, 'big.json')
  out.push([`first process, new Slayer({ slots: ${SLOTS} })`, run(big)], ['second process, the same', run(big)])
  return out
}

async function main() {
  console.log(`start-up off the event loop: ${os.cpus().length} CPUs (${os.cpus()[0].model}), Node ${process.version}, slots ${SLOTS} per replica`)
  for (let run = 0; run < RUNS; run++) {
    for (const [label, options] of [
      ['defaults', { slots: SLOTS }],
      ["strategy 'steer'", { slots: SLOTS, strategy: 'steer' }],
      ["strategy 'steer', placed by timing (budget 120 s)", { slots: SLOTS >> 4, strategy: 'steer', placement: 'huge-pages', placementBudgetMs: 120_000 }],
    ]) {
      const r = await watched(options)
      console.log(
        `${label}: created in ${ms(r.took)} ms (${r.strategy}, placement ${r.placement}); event loop delay p50 ${ms(r.loop.p50)} ms, p99 ${ms(r.loop.p99)} ms, max ${ms(r.loop.max)} ms; 10 ms interval fired ${r.ticks} of ${r.expected}; progress ${r.phases}`,
      )
    }
    // Placed by timing with time to spare, so the abort lands while lines are being timed.
    const a = await aborted({ slots: SLOTS, strategy: 'steer', placement: 'huge-pages', placementBudgetMs: 120_000 })
    if (a.finished) console.log('abort at 500 ms: the creation had already finished')
    else console.log(`abort at 500 ms: ${a.name} ${a.rejectMs.toFixed(1)} ms after the abort; RSS ${a.rss.before} MiB before, ${a.rss.atAbort} at the abort, ${a.rss.after} after`)
  }
  for (const [label, v] of secondProcess()) {
    if (v.error) console.log(`${label}: error: ${v.error}`)
    else console.log(`${label}: ${v.took.toFixed(0)} ms, strategy ${v.strategy}${v.period ? `; period ${v.periodMs.toFixed(0)} ms (${v.period})` : ''}${v.fallback ? `; placement fell back: ${v.fallback}` : ''}`)
  }
}

main().catch((e) => {
  console.error(`startup: ${e.message}`)
  process.exit(1)
})
