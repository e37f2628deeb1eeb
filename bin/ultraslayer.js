#!/usr/bin/env node
'use strict'
// `npx ultraslayer`: does this machine have the refresh problem, do our copies land apart, and
// does hedging pay here? Every command has --json; long work draws a progress line on stderr.

const { parseArgs } = require('node:util')
const path = require('node:path')
const { probe } = require('..')

const EXIT = { OK: 0, FAILED: 1, USAGE: 2, NEGATIVE: 10, INCONCLUSIVE: 11 }

const USAGE = `usage: ultraslayer <command> [options]

commands:
  info                          CPU, cores and SMT siblings, hypervisor, NUMA, huge pages, THP,
                                memlock limit, pagemap access, TSC
  probe refresh [--seconds N]   find the DRAM refresh period by timing flushed loads, against a
                                chance baseline, with a cached-load negative control (default 3 s)
  probe groups [--seconds N] [--period-ns X] [--no-record]
                                find which address bits move a line's refresh stall clear of the
                                original's, by timing alone; records the result for channelOffset: 'auto'
  probe placement [--replicas N] [--channel-offset B] [--channel-bits 6|xor:MASK,MASK] [--hugepages K]
                                where each replica's copies land under a channel model
  probe hedge [--samples N]     direct vs hedged vs same-group control vs steer, measured here,
                                and a one-line recommendation
  bench [options]               the full benchmark (see: ultraslayer bench --help)

every command takes --json (machine-readable result on stdout).
exit codes: 0 positive result (periodic with a clean control / different channels / offset found /
              hedging helps),
            10 negative (no period / same channel / none found / does not help),
            11 inconclusive (weak signal / periodic cached-read control / cannot know), 1 failure,
            2 usage error.`

function progressLine(label) {
  if (!process.stderr.isTTY) {
    process.stderr.write(`${label}…\n`)
    return () => {}
  }
  return (f) => process.stderr.write(`\r\x1b[K${label} ${Math.round(f * 100)}%${f >= 1 ? '\n' : ''}`)
}

function emit(json, result, text) {
  if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  else process.stdout.write(`${text}\n`)
}

function options(argv, spec) {
  return parseArgs({ args: argv, options: { json: { type: 'boolean', default: false }, ...spec }, strict: true }).values
}

function num(name, v) {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got ${v}`)
  return n
}

class UsageError extends Error {}

/**
 * The exit code of `probe refresh`, from its report: positive only for a period on the fixed line
 * beside a clean control. A periodic cached-read control means slow reads recur here without DRAM
 * (hypervisor ticks, a neighbour), so nothing is concluded about refresh: inconclusive. Too few
 * spikes to analyse says nothing either way: inconclusive, like a weak period.
 */
function refreshCode(report) {
  if (report.controlClean === false) return EXIT.INCONCLUSIVE
  const v = verdictName(report.fixed.analysis.verdict)
  return v === 'Periodic' ? EXIT.OK : v === 'Weak' || v === 'Insufficient' ? EXIT.INCONCLUSIVE : EXIT.NEGATIVE
}

function verdictName(v) {
  return typeof v === 'string' ? v : Object.keys(v)[0]
}

const commands = {
  info(argv) {
    const o = options(argv, {})
    const m = probe.machine()
    emit(o.json, m, m.text)
    return EXIT.OK
  },

  'probe refresh'(argv) {
    const o = options(argv, { seconds: { type: 'string' } })
    const r = probe.refresh({ seconds: num('seconds', o.seconds), onProgress: progressLine('probing refresh') })
    emit(o.json, r, r.text)
    return refreshCode(r)
  },

  'probe groups'(argv) {
    const o = options(argv, { seconds: { type: 'string' }, 'period-ns': { type: 'string' }, 'no-record': { type: 'boolean', default: false } })
    let r
    try {
      r = probe.groups({
        seconds: num('seconds', o.seconds),
        periodNs: num('period-ns', o['period-ns']),
        record: !o['no-record'],
        onProgress: progressLine('probing refresh groups'),
      })
    } catch (e) {
      // No refresh period to fold the timings at (a noisy spell, or no periodic stall here):
      // nothing was learned either way. Inconclusive, with the reason; nothing is recorded.
      if (e.code !== 'ERR_ULTRASLAYER_UNSUPPORTED') throw e
      emit(o.json, { inconclusive: true, reason: e.message }, `inconclusive: ${e.message}`)
      return EXIT.INCONCLUSIVE
    }
    emit(o.json, r, r.text + (r.recordedAt ? `\nrecorded in ${r.recordedAt} (new Slayer({ channelOffset: 'auto' }) uses it)` : ''))
    return r.recommendedOffset ? EXIT.OK : EXIT.NEGATIVE
  },

  'probe placement'(argv) {
    const o = options(argv, {
      replicas: { type: 'string' },
      'channel-offset': { type: 'string' },
      'channel-bits': { type: 'string' },
      hugepages: { type: 'string' },
    })
    const r = probe.placement({
      replicas: num('replicas', o.replicas),
      channelOffset: num('channel-offset', o['channel-offset']),
      channelBits: o['channel-bits'],
      hugePages: o.hugepages,
    })
    emit(o.json, r, r.text)
    const v = verdictName(r.verdict)
    return v === 'DifferentChannels' ? EXIT.OK : v === 'SameChannel' ? EXIT.NEGATIVE : EXIT.INCONCLUSIVE
  },

  async 'probe hedge'(argv) {
    const o = options(argv, { samples: { type: 'string' } })
    const { main } = require(path.join(__dirname, '..', 'bench', 'run.js'))
    const samples = String(num('samples', o.samples) ?? 20000)
    const arms = 'direct,hedged,native-direct,native-hedged,native-same-group,native-steer'
    const r = await main(['--quick', '--samples', samples, '--arms', arms, '--conditions', 'quiet', '--access', 'cold', '--pace', 'random', '--spin', 'busy', '--no-binding-cost'], { print: !o.json })
    const a = r.runs[0].arms
    const verdict = recommend(r, a)
    if (o.json) emit(true, { verdict, machine: r.machine, slab: r.slabInfo, arms: a }, '')
    else process.stdout.write(`\nrecommendation: ${verdict.line}\n`)
    return verdict.code
  },

  async bench(argv) {
    const decision = argv.some((a) => a === '--scenario' || a.startsWith('--scenario='))
    const { main } = require(path.join(__dirname, '..', 'bench', decision ? 'decision.js' : 'run.js'))
    await main(argv)
    return EXIT.OK
  },
}

// `ultraslayer probe` on its own: the probes, as the usage lists them.
const PROBES = Object.keys(commands)
  .filter((c) => c.startsWith('probe '))
  .map((c) => c.slice('probe '.length))
const PROBE_USAGE = `usage: ultraslayer probe <${PROBES.join('|')}> [options]

probes:
${USAGE.slice(USAGE.indexOf('  probe '), USAGE.indexOf('  bench '))}
every probe takes --json (machine-readable result on stdout); see ultraslayer --help for exit codes.`

/** One-line advice from a short measured comparison (ratios within the same run). */
function recommend(r, a) {
  const d = a['native-direct'].summary
  const h = a['native-hedged'].summary
  // No control when the only same-group offset is the hedged slab's own (see bench/run.js).
  const c = a['native-same-group'] ? a['native-same-group'].summary : null
  const s = a['native-steer']
  const gain = (x) => x.p999 / d.p999
  const control = c ? `same-group control ${c.p999} ns (${gain(c).toFixed(2)}×)` : `no same-group control (${r.noControl})`
  const parts = [`hedged p99.9 ${h.p999} ns vs direct ${d.p999} ns (${gain(h).toFixed(2)}×), ${control}, hedged p50 ${h.p50} vs ${d.p50} ns`]
  if (r.machine.sharedCores) {
    const steer = s && s.extra && s.extra.steer
    const steerLine = steer && steer.copiesApart ? "try strategy: 'steer' (copies stall apart here)" : "use strategy: 'direct' (copies do not stall apart here, so steering cannot help either)"
    return { code: EXIT.NEGATIVE, hedge: false, line: `do not hedge here: ${r.machine.cpuCount} cores for ${r.slabInfo.replicas} replica threads + the caller means shared cores (${parts[0]}); ${steerLine}` }
  }
  if (gain(h) <= 0.85 && c && gain(c) > 0.95) {
    return { code: EXIT.OK, hedge: true, line: `hedging pays here: ${parts[0]}` }
  }
  if (gain(h) <= 0.85 && !c) {
    return { code: EXIT.INCONCLUSIVE, hedge: false, line: `hedged reads have a shorter tail, but with no same-group control the gain cannot be told from a minimum of two noisy reads: ${parts[0]}` }
  }
  if (gain(h) <= 0.85) {
    return { code: EXIT.INCONCLUSIVE, hedge: false, line: `hedged reads have a shorter tail, but so does the same-group control, so the gain is not refresh independence: ${parts[0]}` }
  }
  return { code: EXIT.NEGATIVE, hedge: false, line: `hedging does not pay here: ${parts[0]}` }
}

async function run(argv) {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return argv.length === 0 ? EXIT.USAGE : EXIT.OK
  }
  let name = argv[0]
  let rest = argv.slice(1)
  if (name === 'probe') {
    // `probe` alone (or with --help) lists the probes; an unknown one is named as a probe.
    const which = argv[1]
    if (which === undefined || which === '--help' || which === '-h' || which === 'help') {
      process.stdout.write(`${PROBE_USAGE}\n`)
      return which === undefined ? EXIT.USAGE : EXIT.OK
    }
    if (!commands[`probe ${which}`]) {
      process.stderr.write(`ultraslayer probe: unknown probe "${which}": the probes are ${PROBES.join(', ')}\n\n${PROBE_USAGE}\n`)
      return EXIT.USAGE
    }
    name = `probe ${which}`
    rest = argv.slice(2)
  }
  const cmd = commands[name]
  if (!cmd) {
    process.stderr.write(`ultraslayer: unknown command "${name}": the commands are ${[...new Set(Object.keys(commands).map((c) => c.split(' ')[0]))].join(', ')}\n\n${USAGE}\n`)
    return EXIT.USAGE
  }
  try {
    return await cmd(rest)
  } catch (e) {
    if (e instanceof UsageError || e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      process.stderr.write(`ultraslayer ${name}: ${e.message}\n`)
      return EXIT.USAGE
    }
    process.stderr.write(`ultraslayer ${name}: ${e.message}\n`)
    return e instanceof RangeError || e instanceof TypeError ? EXIT.USAGE : EXIT.FAILED
  }
}

if (require.main === module) run(process.argv.slice(2)).then((code) => (process.exitCode = code))

module.exports = { run, recommend, refreshCode, EXIT }
