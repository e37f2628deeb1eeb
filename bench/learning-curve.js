'use strict'
// `npm run bench -- --scenario learning`: a steered slab learned in the background, measured as it
// learns, while it serves reads at random between measurements. Every --step-s seconds after creation, --samples cold reads at random over the whole
// slab are timed inside Rust, each index read twice interleaved (copy 0, then the slab's own read:
// steered where its frame is learned, copy 0 where not), as the bench's native-steer arm does; one
// row per step: seconds since creation, frames learned, p50/p99/p99.9 of both and their ratios,
// and p99 over the reads of learned frames against copy 0 on the same frames.
// Prints the table; --svg FILE draws p99 (steered / copy 0) and the share of frames learned
// against time, --json FILE keeps the rows. Timing lives here, never in the tests (the tests run
// it once, small, for shape).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { parseArgs } = require('node:util')
const { Slayer, indexStream, nativeOf } = require('./arms')
const { int } = require('./cli')
const { esc } = require('./plot')

const USAGE = `usage: npm run bench -- --scenario learning [options]
  --slots N      slots per copy of the steered slab (default 8388608 = 64 MiB a copy)
  --seconds S    how long to follow the learning (default 40)
  --step-s S     seconds between measurements (default 4)
  --samples N    cold reads per measurement (default 20000)
  --gap-ns N     random-arrival gap bound between reads (default 1000)
  --json FILE  --svg FILE
`

function parse(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      scenario: { type: 'string' },
      slots: { type: 'string', default: String(1 << 23) },
      seconds: { type: 'string', default: '40' },
      'step-s': { type: 'string', default: '4' },
      samples: { type: 'string', default: '20000' },
      'gap-ns': { type: 'string', default: '1000' },
      json: { type: 'string' },
      svg: { type: 'string' },
      help: { type: 'boolean' },
    },
  })
  if (values.help) {
    process.stdout.write(USAGE)
    process.exit(0)
  }
  if (values.scenario !== 'learning') throw new Error(`unknown scenario ${values.scenario} (learning)`)
  const cfg = {
    slots: int('slots', values.slots),
    seconds: int('seconds', values.seconds),
    stepS: int('step-s', values['step-s']),
    samples: int('samples', values.samples),
    gapNs: int('gap-ns', values['gap-ns']),
    json: values.json,
    svg: values.svg,
  }
  if (cfg.slots < 4096 || cfg.stepS < 1 || cfg.samples < 100) throw new Error('--slots must be at least 4096, --step-s at least 1 and --samples at least 100')
  return cfg
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** A line chart of `series` ([{ name, color, points: [[x, y]] }]) with y from 0 to `yMax`. */
function lineChart(title, series, xMax, yMax, yLabel) {
  const W = 720
  const H = 360
  const L = 60
  const R = 20
  const T = 40
  const B = 50
  const x = (v) => L + (v / xMax) * (W - L - R)
  const y = (v) => H - B - (Math.min(v, yMax) / yMax) * (H - T - B)
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`, `<text x="${L}" y="20" font-size="14">${esc(title)}</text>`]
  for (let k = 0; k <= 4; k++) {
    const v = (yMax * k) / 4
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(2)}</text>`)
  }
  for (let k = 0; k <= 5; k++) {
    const v = (xMax * k) / 5
    parts.push(`<text x="${x(v)}" y="${H - B + 18}" text-anchor="middle">${v.toFixed(0)} s</text>`)
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">seconds since creation</text>`)
  parts.push(`<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${(T + H - B) / 2})" text-anchor="middle">${esc(yLabel)}</text>`)
  series.forEach((s, k) => {
    const d = s.points.map(([px, py], j) => `${j ? 'L' : 'M'}${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ')
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`)
    for (const [px, py] of s.points) parts.push(`<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="3" fill="${s.color}"/>`)
    parts.push(`<text x="${W - R - 200}" y="${T + 16 * k}" fill="${s.color}">${esc(s.name)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('\n')
}

async function main(argv, { print = true } = {}) {
  const cfg = parse(argv)
  const log = print ? (s) => console.log(s) : () => {}
  const t0 = process.hrtime.bigint()
  const s = await Slayer.create({ slots: cfg.slots, strategy: 'steer', placement: 'background' })
  const createdMs = Number(process.hrtime.bigint() - t0) / 1e6
  const born = Date.now()
  const info = s.info()
  const h = info.placement.hugePages
  log(`learning curve: ${os.cpus().length} CPUs (${os.cpus()[0].model}), Node ${process.version}; ${cfg.slots} slots a copy, copies ${h.channelOffset} B apart (${h.structureSource}), ${info.pageKind} pages; created in ${createdMs.toFixed(0)} ms`)
  for (let i = 0; i < cfg.slots; i += 4099) s.writeF64(i, i)
  const indices = indexStream(cfg.samples, cfg.slots)
  const rows = []
  try {
    for (let step = 1; step * cfg.stepS <= cfg.seconds; step++) {
      // Between measurements the slab serves reads at random, as a service would: the tracker
      // calibrates and follows on them, and the learner's hot ring sees them.
      const next = born + step * cfg.stepS * 1000
      while (Date.now() < next) {
        const until = Math.min(next, Date.now() + 200)
        while (Date.now() < until) for (let j = 0; j < 1000; j++) s.readF64((Math.random() * cfg.slots) >>> 0)
        await sleep(0)
      }
      s.resetStats()
      const [direct, steered, learnedDirect, learnedSteered] = nativeOf(s)._benchNativeInterleaved(indices, true, cfg.gapNs).map((r) => r.latency)
      const l = s.info().learning
      const tracker = s.stats().steer
      rows.push({
        seconds: (Date.now() - born) / 1000,
        learned: l.framesLearned / l.framesTotal,
        steerable: (l.framesLearned - l.framesUnsteerable) / l.framesTotal,
        stopped: l.stopped,
        tracker: tracker ? tracker.state : null,
        copy0: { p50: direct.p50, p99: direct.p99, p999: direct.p999 },
        steered: { p50: steered.p50, p99: steered.p99, p999: steered.p999 },
        p50Ratio: steered.p50 / direct.p50,
        p99Ratio: steered.p99 / direct.p99,
        p999Ratio: steered.p999 / direct.p999,
        // The reads whose frame was learned and steerable: steered against copy 0 on the same frames.
        learnedReads: learnedSteered.count,
        learnedP99Ratio: learnedSteered.count && learnedDirect.count ? learnedSteered.p99 / learnedDirect.p99 : null,
      })
      if (l.stopped) break
    }
  } finally {
    s.close()
  }
  const pct = (x) => `${(100 * x).toFixed(0)}%`
  log('   s  learned  steerable  tracker    copy 0 p50/p99/p99.9   steered p50/p99/p99.9   p50     p99     p99.9   p99 on learned frames')
  for (const r of rows) {
    log(
      `${r.seconds.toFixed(0).padStart(4)}  ${pct(r.learned).padStart(7)}  ${pct(r.steerable).padStart(9)}  ${String(r.tracker).padEnd(9)}  ` +
        `${`${r.copy0.p50}/${r.copy0.p99}/${r.copy0.p999}`.padStart(21)}   ${`${r.steered.p50}/${r.steered.p99}/${r.steered.p999}`.padStart(21)}   ` +
        `${r.p50Ratio.toFixed(2)}×  ${r.p99Ratio.toFixed(2)}×  ${r.p999Ratio.toFixed(2)}×   ${r.learnedP99Ratio === null ? '-' : `${r.learnedP99Ratio.toFixed(2)}× (${r.learnedReads} reads)`}`,
    )
  }
  const stopped = rows.find((r) => r.stopped)
  if (stopped) log(`the learner stopped: ${stopped.stopped}`)
  log('ratios: the slab\'s own read (steered on learned frames) against copy 0 of the same slab, interleaved, same indices; cold; timed inside Rust.')
  const result = { scenario: 'learning', config: cfg, createdMs, structureSource: h.structureSource, channelOffset: h.channelOffset, rows }
  if (cfg.json) fs.writeFileSync(cfg.json, JSON.stringify(result, null, 1))
  if (cfg.svg) {
    const xMax = Math.max(cfg.seconds, ...rows.map((r) => r.seconds))
    const yMax = Math.max(1.5, ...rows.map((r) => r.p99Ratio))
    const svg = lineChart(
      `learning in the background: ${cfg.slots} slots a copy, ${os.cpus()[0].model}`,
      [
        { name: 'p99 steered / copy 0', color: '#d62728', points: rows.map((r) => [r.seconds, r.p99Ratio]) },
        { name: 'p99 on learned frames', color: '#ff7f0e', points: rows.filter((r) => r.learnedP99Ratio !== null).map((r) => [r.seconds, r.learnedP99Ratio]) },
        { name: 'p50 steered / copy 0', color: '#1f77b4', points: rows.map((r) => [r.seconds, r.p50Ratio]) },
        { name: 'share of frames learned', color: '#2ca02c', points: rows.map((r) => [r.seconds, r.learned]) },
      ],
      xMax,
      yMax,
      'ratio, or share',
    )
    fs.writeFileSync(cfg.svg, svg)
  }
  for (const [flag, file] of [['json', cfg.json], ['svg', cfg.svg]]) if (file) log(`${flag}: ${path.resolve(file)}`)
  return result
}

module.exports = { main }
