#!/usr/bin/env node
'use strict'
// `npm run bench`: hedged vs direct vs a plain Float64Array, end to end and inside Rust, quiet and
// under memory stress, cold and random — measured in one run on this machine. Prints a table per
// condition with ratios to the direct baseline of the same run; --json/--csv/--plot write files.

const fs = require('node:fs')
const os = require('node:os')

const cli = require('./cli')
const { ARMS, WARMUP_JS_READS, WARMUP_NATIVE_READS, sampledVsPredicted, indexStream, clockOverhead, Slayer, native } = require('./arms')
const { measureBindingCost } = require('./binding-cost')
const { runTable, bindingTable, header, scoreRun } = require('./report')
const { recordedOffsets } = require('./offsets')
const { verdict } = require('./verdict')
const fallback = require('./fallback')
const { create, awaitLearning } = require('./creating')

const USAGE = `usage: npm run bench -- [options]
  --quick                 small slab, few samples (< 30 s)
  --samples N             reads per arm (default 100000; quick 10000)
  --slots N               slots per replica (default 33554432 = 256 MiB; quick 8388608)
  --replicas N            copies per slot (default 2)
  --channel-offset B      bytes between copies (default: what \`ultraslayer probe groups\` recorded, else 256)
  --control-offset B      same-group control offset (default: recorded, else 2048)
  --arms a,b,...          ${Object.keys(ARMS).join(',')}
  --conditions a,b        quiet,stress
  --access a,b            cold,random
  --pace a,b              random (spin from 0 to --gap-ns between reads), back-to-back (default both; quick: random)
  --gap-ns N              the random-arrival gap bound (default 1000 ns)
  --slow-excess-ns N      a read counts as slow when it takes this much over its baseline arm's
                          median (default 140; a refresh stall adds 150–250 ns)
  --steer-slots N         slots of the steer slab (default: --slots, the full size; quick: at most
                          2097152 = 16 MiB per replica). Where a group split moves from frame to
                          frame, as on the VM this was built on, a steered slab times one line of
                          every 4 KiB frame: about 2 s for 16 MiB, ~30 s for 256 MiB there
  --steer-offset B        put the steer arms' copies B bytes apart instead of placing them by
                          refresh group
  --steer-placement P     auto|refresh-groups|huge-pages|background for the steer slab (default
                          auto: placed by refresh group on its own pages, as huge-pages, or learned
                          in the background when that is projected over the budget; refresh-groups
                          moves single 4 KiB pages into place; background serves at once and the
                          arms wait, up to --steer-budget-ms, for its frames to be learned)
  --steer-budget-ms N     time the steer slab's placement may spend timing (default 20000, or
                          160 ms per MiB of steer slab when that is more; --placement-budget-ms
                          when that is given)
  --cores a,b             replica cores (default: chosen by the library)
  --spin busy|hybrid      replica thread policy for the hedged arms (default busy)
`
  + cli.USAGE_TAIL

function parse(argv) {
  const values = cli.parse(argv, {
    usage: USAGE,
    defaults: { conditions: 'quiet,stress', access: 'cold,random', 'gap-ns': '1000', 'slow-excess-ns': '140', 'steer-placement': 'auto', spin: 'busy', hugepages: 'auto' },
    own: {
      slots: { type: 'string' },
      replicas: { type: 'string', default: '2' },
      'channel-offset': { type: 'string' },
      'control-offset': { type: 'string' },
      arms: { type: 'string' },
      'steer-slots': { type: 'string' },
      'steer-offset': { type: 'string' },
      'steer-budget-ms': { type: 'string' },
      cores: { type: 'string' },
    },
  })
  const { int, list } = cli
  const arms = values.arms ? list(values.arms) : Object.keys(ARMS)
  for (const a of arms) if (!ARMS[a]) throw new Error(`unknown arm ${a}; arms: ${Object.keys(ARMS).join(', ')}`)
  const pace = list(values.pace || (values.quick ? 'random' : 'random,back-to-back'), cli.PACE, 'pace')
  const rec = recordedOffsets()
  const steerOffset = values['steer-offset'] ? int('steer-offset', values['steer-offset']) : undefined
  const slots = values.slots ? int('slots', values.slots) : values.quick ? 8 << 20 : 32 << 20
  // The steer arms run on a slab of the bench's full size (quick: 16 MiB, placed in ~2 s).
  const steerSlots = values['steer-slots'] ? int('steer-slots', values['steer-slots']) : values.quick ? Math.min(slots, 1 << 21) : slots
  const common = cli.common(values)
  // The hedged slab is placed by refresh group (placement 'auto' on its own pages) unless an offset
  // is given; the library says in its info() what it got, or why it fell back to an offset.
  const offset = values['channel-offset'] ? { value: int('channel-offset', values['channel-offset']), source: 'from --channel-offset' } : { value: undefined, source: 'placed by the library' }
  const control = values['control-offset'] ? { value: int('control-offset', values['control-offset']), source: 'from --control-offset' } : rec.control
  return {
    ...common,
    samples: values.samples ? int('samples', values.samples) : values.quick ? 10_000 : 100_000,
    slots,
    steerSlots,
    replicas: int('replicas', values.replicas),
    channelOffset: offset.value,
    offsetSource: offset.source,
    controlOffset: control.value,
    controlSource: control.source,
    arms,
    pace,
    steerOffset,
    steerPlacement: values['steer-placement'],
    steerBudgetMs: values['steer-budget-ms']
      ? int('steer-budget-ms', values['steer-budget-ms'])
      : common.placementBudgetMs !== undefined
        ? common.placementBudgetMs
        : Math.max(20_000, Math.ceil((steerSlots * 8) / (1 << 20)) * 160),
    cores: values.cores ? list(values.cores).map((c) => int('cores', c)) : undefined,
  }
}

function machineFacts(info) {
  let cpuModel = os.cpus()[0] ? os.cpus()[0].model : 'unknown'
  let hypervisor = false
  try {
    const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8')
    const m = cpuinfo.match(/^model name\s*:\s*(.*)$/m)
    if (m) cpuModel = m[1].trim()
    hypervisor = /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo)
  } catch {}
  const [tscHz, inv] = native._tscInfo()
  return {
    cpuModel,
    cpuCount: info.cpuCount,
    allowedCpus: info.allowedCpus,
    hypervisor,
    tscHz,
    tscInvariant: inv === 1 ? true : inv === 0 ? false : null,
    sharedCores: info.sharedCores, // the library's own placement verdict for the hedged slab
    platform: `${process.platform}-${process.arch}`,
    node: process.version,
  }
}

let lastProgress = null
function progress(msg) {
  // Interleaved arms report the same percentage once per read kind: print each message once.
  if (msg === lastProgress) return
  lastProgress = msg
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${msg}`)
  else if (msg) process.stderr.write(`${msg}\n`)
}

// The same-group arms measure hedging with copies placed where their stalls coincide. When that
// offset is the hedged slab's own, the control would compare the arm with itself: leave it out.
function controlConflict(cfg, slabInfo) {
  if (slabInfo.placement.kind !== 'offset' || cfg.controlOffset !== slabInfo.channelOffset) return null
  return `the only offset known to keep copies in one refresh group (${cfg.controlOffset} B, ${cfg.controlSource}) is the hedged slab's own channelOffset, so the hedged arms are themselves same-group here (no offset separates refresh groups on this machine)`
}

/** native-steer on the frames a background-learned slab had learned, against copy 0 on the same frames. */
function learnedFramesLine({ direct: d, steered: s }) {
  if (!s.count || !d.count) return 'native-steer on learned frames: no read landed on a learned frame'
  const r = (k) => (s[k] / d[k]).toFixed(2)
  return `native-steer on learned frames (${s.count} steered, ${d.count} copy-0 reads): p50/p99/p99.9 ${s.p50}/${s.p99}/${s.p999} ns against copy 0's ${d.p50}/${d.p99}/${d.p999} on the same frames: ${r('p50')}×, ${r('p99')}×, ${r('p999')}×`
}

async function main(argv, { print = true } = {}) {
  const log = print ? console.log : () => {}
  const cfg = parse(argv)
  const t0 = Date.now()
  progress('mapping the slabs (placing the hedged one by refresh group) and filling them…')
  // The hedged arms hedge, whatever strategy 'auto' would pick on this machine (the verdict says
  // what that means); direct arms read the same slab with its threads stopped.
  const opts = { slots: cfg.slots, replicas: cfg.replicas, hugePages: cfg.hugePages, spin: cfg.spin, start: false, strategy: 'hedge' }
  if (cfg.cores) opts.cores = cfg.cores
  // Placement refused (by the library's 'auto', or an explicit placement the bench rebuilds on an
  // offset) never ends the run: each such slab's arms run on the offset it got, and say so.
  const { fallbacks, skipped, built } = fallback.collector()
  const hedgedOpts = cfg.channelOffset === undefined ? { ...opts, ...(cfg.placementBudgetMs === undefined ? {} : { placementBudgetMs: cfg.placementBudgetMs }) } : { ...opts, channelOffset: cfg.channelOffset }
  const slab = built(await fallback.build((o) => create(Slayer, 'hedged slab', o), hedgedOpts, { slab: 'hedged slab', arms: ['hedged', 'native-hedged', 'independent-pairs'] }))
  if (!slab) throw new Error(`the hedged slab could not be built: ${skipped[0].reason}`)
  const placedInfo = slab.info()
  cfg.channelOffset = placedInfo.channelOffset
  cfg.offsetSource = placedInfo.channelOffsetSource + (placedInfo.placement.fallback ? '; FALLBACK: placement by refresh group refused, see below' : placedInfo.placement.note ? ` (${placedInfo.placement.note})` : '')
  const noControl = controlConflict(cfg, placedInfo)
  const CONTROL_ARMS = ['same-group', 'native-same-group', 'independent-pairs-same-group']
  if (noControl) cfg.arms = cfg.arms.filter((a) => !CONTROL_ARMS.includes(a))
  let control = null
  let jsArray = null
  const wants = (a) => cfg.arms.includes(a)
  const fillIdx = new Uint32Array(65536)
  const fillVal = new Float64Array(65536)
  const fill = (s, slots = cfg.slots) => {
    for (let base = 0; base < slots; base += 65536) {
      const n = Math.min(65536, slots - base)
      for (let k = 0; k < n; k++) {
        fillIdx[k] = base + k
        fillVal[k] = (base + k) * 0.5
      }
      s.writeManyF64(fillIdx.subarray(0, n), fillVal.subarray(0, n))
    }
  }
  fill(slab)
  if (CONTROL_ARMS.some(wants)) {
    control = await create(Slayer, 'same-group control slab', { ...opts, channelOffset: cfg.controlOffset })
    fill(control)
  }
  let steer = null
  let learnedNote = null
  if (wants('steer') || wants('native-steer')) {
    progress('calibrating the steering tracker…')
    progress('placing the steer slab by refresh group and calibrating the tracker…')
    const so = { slots: cfg.steerSlots, replicas: cfg.replicas, strategy: 'steer', placement: cfg.steerPlacement, placementBudgetMs: cfg.steerBudgetMs }
    if (cfg.steerOffset !== undefined) Object.assign(so, { channelOffset: cfg.steerOffset, hugePages: cfg.hugePages, placement: 'offset' })
    // 'refresh-groups' moves single 4 KiB pages; rebuilt on an offset, the slab takes --hugepages.
    const offsetOpts = { slots: cfg.steerSlots, replicas: cfg.replicas, strategy: 'steer', placement: 'offset', hugePages: cfg.hugePages }
    steer = built(await fallback.build((o) => create(Slayer, 'steer slab', o), so, { slab: 'steer slab', arms: ['steer', 'native-steer'], offsetOpts }))
    if (steer) fill(steer, cfg.steerSlots)
    else cfg.arms = cfg.arms.filter((a) => a !== 'steer' && a !== 'native-steer')
    // A steer slab learned in the background serves at once; the arms measure it once its frames
    // are learned (or the steer budget is spent), and the notes say how far it got.
    if (steer && steer.info().learning) learnedNote = await awaitLearning(steer, 'steer slab', cfg.steerBudgetMs)
  }
  if (wants('js-array')) {
    jsArray = new Float64Array(cfg.slots)
    for (let i = 0; i < cfg.slots; i++) jsArray[i] = i * 0.5
  }
  const slabInfo = slab.info()
  const machine = machineFacts(slabInfo)
  clockOverhead() // warm-up: let V8 optimise the clock loop before measuring it
  const overhead = clockOverhead()
  machine.clockOverheadNs = overhead.p50 // recorded as ticks → ns, so already in ns
  machine.nativeStampOverheadNs = native._timerOverhead(20000).latency.p50
  const result = {
    tool: 'ultraslayer bench',
    startedAt: new Date().toISOString(),
    machine,
    config: { ...cfg, json: undefined, csv: undefined, plot: undefined },
    slabInfo,
    controlInfo: control ? control.info() : null,
    steerInfo: steer ? { ...steer.info(), steer: steer.stats().steer } : null,
    clockOverhead: overhead,
    bindingCost: null,
    runs: [],
    notes: [
      `warm-up: each JS arm first makes ${WARMUP_JS_READS} untimed reads through the same loop (V8 optimises it; a steered slab's tracker resynchronises after idling), each native steer arm ${WARMUP_NATIVE_READS}`,
      ...(noControl ? [`no same-group control: ${noControl}`] : []),
      ...(learnedNote ? [learnedNote] : []),
    ],
    noControl,
    // What was refused and what each arm ran on instead ([] when every slab got its placement).
    fallbacks,
    skipped,
  }
  log(header(result))
  if (cfg.bindingCost) {
    progress('measuring per-call binding cost…')
    result.bindingCost = measureBindingCost(cfg.quick ? { calls: 200_000, rounds: 7 } : { calls: 500_000, rounds: 21 })
    log('\nper-call cost of the binding (tight loops, this run):')
    log(bindingTable(result.bindingCost))
  }

  const indices = indexStream(cfg.samples, cfg.slots)
  const steerIndices = indexStream(cfg.samples, cfg.steerSlots)
  const total = cfg.conditions.length * cfg.access.length * cfg.pace.length * cfg.arms.length
  let done = 0
  for (const condition of cfg.conditions) {
    let stress = null
    let stressNote = null
    if (condition === 'stress') {
      const busy = new Set(slabInfo.cores)
      let cores = slabInfo.allowedCpus.filter((c) => !busy.has(c))
      if (cores.length === 0) {
        cores = [slabInfo.allowedCpus[slabInfo.allowedCpus.length - 1]]
        stressNote = `no spare core: the stress thread shares core ${cores[0]} with a replica thread`
      }
      stress = native._stressStart(cores, cfg.quick ? 64 << 20 : 512 << 20)
      result.notes.push(`stress: ${cores.length} thread(s) streaming reads through ${cfg.quick ? 64 : 512} MiB on core(s) [${cores.join(',')}]${stressNote ? `; ${stressNote}` : ''}`)
    }
    for (const access of cfg.access) for (const pace of cfg.pace) {
      const gapNs = pace === 'random' ? cfg.gapNs : 0
      const run = { condition, access, pace, gapNs, arms: {} }
      for (const name of cfg.arms) {
        const arm = ARMS[name]
        const label = `[${++done}/${total}] ${condition}/${access}/${pace} ${name}`
        progress(label)
        const ctx = {
          indices,
          steerIndices,
          cold: access === 'cold',
          gapNs,
          gapTicks: Math.round((gapNs * machine.tscHz) / 1e9),
          pairWindowNs: 1000,
          slab: () => slab,
          controlSlab: () => control,
          steerSlab: () => steer,
          jsArray: () => jsArray,
          onProgress: (f) => progress(`${label} ${Math.round(f * 100)}%`),
        }
        const r = arm.run(ctx)
        // Arms measured together with their baseline (interleaved) report it alongside.
        for (const [extraName, x] of Object.entries(r.also || {})) {
          run.arms[extraName] = { level: arm.level, upperBound: false, describe: arm.alsoDescribe[extraName], summary: x.summary, baseline: extraName }
        }
        run.arms[name] = { level: arm.level, upperBound: !!arm.upperBound, describe: arm.describe, summary: r.summary, baseline: arm.baseline, extra: r.extra }
        const fb = fallback.armFallback(fallbacks, name)
        if (fb) run.arms[name].fallback = fb
      }
      scoreRun(run, cfg.slowExcessNs)
      result.runs.push(run)
      progress('')
      log(`\n${condition} / ${access} / ${gapNs ? `random arrivals 0–${gapNs} ns` : 'back to back'} — latency in ns (µ = µs), ${cfg.samples} reads per arm (steer pairs: half each); slow = over the baseline's p50 + ${cfg.slowExcessNs} ns, tail = over the arm's own p50 + ${cfg.slowExcessNs} ns`)
      log(runTable(run))
      const fellBack = Object.entries(run.arms).filter(([, a]) => a.fallback)
      if (fellBack.length) log(`† fell back: ${fellBack.map(([n, a]) => `${n} ran on copies ${a.fallback.channelOffset} B apart`).join(', ')} (placement refused; see FALLBACK above)`)
      const pairs = run.arms['independent-pairs']
      if (pairs) log(`* independent-pairs: upper bound, not delivered; ${(pairs.extra.pairedShare * 100).toFixed(1)}% of samples paired within 1 µs`)
      for (const n of ['steer', 'native-steer']) {
        const st = run.arms[n] && run.arms[n].extra && run.arms[n].extra.steer
        if (st) log(`${n}: tracker ${st.state}, copies stall apart: ${st.copiesApart ? 'yes' : 'NO (steering reads a fixed copy)'}, stall distance ${st.stallDistance.toFixed(2)} period, re-acquisitions ${st.reacquisitions}, period ${st.periodNs.toFixed(1)} ns; ${sampledVsPredicted(st).text}${st.residentReads ? `; cache-resident: ${st.residentReads} reads served by copy 0 in ${st.residentSpells} spell(s)` : ''}`)
      }
      const lf = run.arms['native-steer'] && run.arms['native-steer'].extra && run.arms['native-steer'].extra.learnedFrames
      if (lf) log(learnedFramesLine(lf))
    }
    if (stress) native._stressStop(stress)
  }
  slab.close()
  if (control) control.close()
  if (steer) steer.close()
  result.elapsedSeconds = (Date.now() - t0) / 1000
  log('\narms:')
  for (const name of cfg.arms) {
    log(`  ${name.padEnd(19)} ${ARMS[name].describe}`)
    for (const [n, d] of Object.entries(ARMS[name].alsoDescribe || {})) log(`  ${n.padEnd(19)} ${d}`)
  }
  log('ratios: JS arms against direct, native arms against native-direct, steer arms against copy 0 of their own slab (vs column); same run.')
  return cli.finish(result, cfg, log, verdict)
}

if (require.main === module) {
  const argv = process.argv.slice(2)
  // --scenario X (or --scenario=X): 'learning' is bench/learning-curve.js, any other the decision
  // scenario's (which names the scenarios it knows when X is none of them).
  const at = argv.findIndex((a) => a === '--scenario' || a.startsWith('--scenario='))
  const scenario = at < 0 ? null : argv[at].startsWith('--scenario=') ? argv[at].slice('--scenario='.length) : argv[at + 1]
  const run = scenario === null ? main : scenario === 'learning' ? require('./learning-curve').main : require('./decision').main
  run(argv).catch((e) => {
    console.error(`bench: ${e.message}`)
    process.exit(2)
  })
}

module.exports = { main }
