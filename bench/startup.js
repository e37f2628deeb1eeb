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

function arg(name, fallback) {
  const i = process.argv.indexOf(name)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}

const SLOTS = arg('--slots', 1 << 25)
const RUNS = arg('--runs', 1)
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

function secondProcess() {
  const cache = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-startup-')), 'machine.json')
  const program = `const { Slayer } = require(${JSON.stringify(path.join(__dirname, '..'))})
const t = process.hrtime.bigint()
const s = new Slayer({ slots: 4096, strategy: 'steer', placement: 'huge-pages', placementBudgetMs: 2000 })
const took = Number(process.hrtime.bigint() - t) / 1e6
const i = s.info()
console.log(JSON.stringify({ took, period: i.placement.hugePages && i.placement.hugePages.periodSource, periodMs: i.placement.hugePages && i.placement.hugePages.periodMs }))
s.close()`
  const run = () => {
    const r = spawnSync(process.execPath, ['-e', program], { encoding: 'utf8', env: { ...process.env, ULTRASLAYER_MACHINE_CACHE: cache } })
    return r.status === 0 ? JSON.parse(r.stdout.trim().split('\n').pop()) : { error: r.stderr.trim().split('\n').pop() }
  }
  const out = { first: run(), second: run() }
  fs.rmSync(path.dirname(cache), { recursive: true, force: true })
  return out
}

async function main() {
  console.log(`start-up off the event loop: ${os.cpus().length} CPUs (${os.cpus()[0].model}), Node ${process.version}, slots ${SLOTS} per replica`)
  for (let run = 0; run < RUNS; run++) {
    for (const [label, options] of [
      ['defaults', { slots: SLOTS }],
      ["strategy 'steer'", { slots: SLOTS, strategy: 'steer' }],
    ]) {
      const r = await watched(options)
      console.log(
        `${label}: created in ${ms(r.took)} ms (${r.strategy}, placement ${r.placement}); event loop delay p50 ${ms(r.loop.p50)} ms, p99 ${ms(r.loop.p99)} ms, max ${ms(r.loop.max)} ms; 10 ms interval fired ${r.ticks} of ${r.expected}; progress ${r.phases}`,
      )
    }
    const a = await aborted({ slots: SLOTS, strategy: 'steer' })
    if (a.finished) console.log('abort at 500 ms: the creation had already finished')
    else console.log(`abort at 500 ms: ${a.name} ${a.rejectMs.toFixed(1)} ms after the abort; RSS ${a.rss.before} MiB before, ${a.rss.atAbort} at the abort, ${a.rss.after} after`)
  }
  const p = secondProcess()
  for (const [k, v] of Object.entries(p)) console.log(`${k} process: ${v.error ? `error: ${v.error}` : `new Slayer (steered, 4096 slots, placed) in ${v.took.toFixed(0)} ms; period ${v.periodMs === undefined ? '' : `${v.periodMs.toFixed(0)} ms, `}${v.period}`}`)
}

main().catch((e) => {
  console.error(`startup: ${e.message}`)
  process.exit(1)
})
