'use strict'
// `npm run bench -- --scenario decision`: an order decision reads every field of one quote. Same
// universe of quotes (cold, cache-missing; a random quote per decision) held five ways and read
// with the same index stream: as plain JS typed arrays, one Slayer call per field (today's API),
// and as Records (one call per decision) read directly, steered and hedged — plus the native twins
// of the last three. Tables, JSON, CSV and plot as for the other arms (bench/report.js, plot.js).
// Owns only this scenario's setup and arms; the timing loops and formatting are shared.

const fs = require('node:fs')

const { Records } = require('..')
const cli = require('./cli')
const { indexStream, timeJsEach, clockOverhead, steerSince, sampledVsPredicted, Slayer, native, nativeOf } = require('./arms')
const { nsPerCall } = require('./binding-cost')
const { runTable, scoreRun } = require('./report')
const { decisionVerdict } = require('./verdict')
const fallback = require('./fallback')
const { create, awaitLearning } = require('./creating')

const FIELDS = { bid: 'f64', ask: 'f64', bidQty: 'u64', askQty: 'u64', ts: 'u64', pos: 'i64' }
// The same quote with number fields only (the binding-cost rows): no BigInt anywhere.
const NUMBER_FIELDS = { bid: 'f64', ask: 'f64', bidQty: 'u32', askQty: 'u32', ts: 'int53', pos: 'i32' }
const WORDS = 8 // a record's line: the sequence word (Records) or padding (the JS array) + 7 fields

const USAGE = `usage: npm run bench -- --scenario decision [options]
  --quick                 fewer samples (< 1 min)
  --samples N             decisions per arm (default 100000; quick 20000)
  --records N             quotes in the universe (default 524288 = 512 Ki)
  --conditions a,b        quiet,stress
  --access a,b            cold,random
  --pace a,b              random (spin from 0 to --gap-ns between decisions), back-to-back
  --gap-ns N              the random-arrival gap bound (default 1000 ns)
  --slow-excess-ns N      slow = over the baseline's median + N (default 140)
  --spin busy|hybrid      replica threads of the hedged records (default hybrid)
  --steer-placement P     auto (default: as huge-pages, falling back to copies 64 B apart with
                          the reason when placement is refused), huge-pages (copies placed by
                          refresh group inside the store's own pages, a timed line per 4 KiB
                          frame where the split moves between frames; ~4 s for 512 Ki quotes
                          here), refresh-groups (single 4 KiB pages moved into place) or offset
                          (copies 64 B apart). A refused huge-pages or refresh-groups is rebuilt
                          on an offset and the run says so; it never ends the run
  --steer-budget-ms N     time the steered store's placement may spend timing (default 60000,
                          or --placement-budget-ms when that is given)
`
  + cli.USAGE_TAIL

function parse(argv) {
  const values = cli.parse(argv, {
    usage: USAGE,
    defaults: {
      conditions: 'quiet,stress',
      access: 'cold,random',
      pace: 'random,back-to-back',
      'gap-ns': '1000',
      'slow-excess-ns': '140',
      spin: 'hybrid',
      'steer-placement': 'auto',
      hugepages: 'auto',
    },
    own: { scenario: { type: 'string' }, records: { type: 'string', default: String(512 << 10) }, 'steer-budget-ms': { type: 'string' } },
  })
  if (values.scenario !== 'decision') throw new Error(`unknown scenario ${values.scenario} (decision, learning)`)
  const { int, list } = cli
  const common = cli.common(values)
  return {
    ...common,
    scenario: 'decision',
    samples: values.samples ? int('samples', values.samples) : values.quick ? 20_000 : 100_000,
    records: int('records', values.records),
    pace: list(values.pace, cli.PACE, 'pace'),
    steerPlacement: list(values['steer-placement'], ['auto', 'huge-pages', 'refresh-groups', 'offset'], 'steer placement')[0],
    steerBudgetMs: values['steer-budget-ms'] ? int('steer-budget-ms', values['steer-budget-ms']) : common.placementBudgetMs !== undefined ? common.placementBudgetMs : 60_000,
  }
}

/** What a decision does with a quote: look at every field (the same work in every arm). */
function decide(bid, ask, bidQty, askQty, ts, pos) {
  return (ask > bid ? 1 : 0) + (bidQty > askQty ? 2 : 0) + (ts !== 0n ? 4 : 0) + (pos < 0n ? 8 : 0)
}

function quote(r) {
  const bid = 100 + (r % 10_000) * 0.01
  return { bid, ask: bid + 0.02, bidQty: BigInt(r * 3), askQty: BigInt(r * 3 + 1), ts: BigInt(r + 1), pos: BigInt(-r) }
}

/**
 * The universe five ways, filled with the same quotes. A refused placement never ends the run:
 * `fallbacks` says which arms run on the offset their store fell back to, `skipped` which arms
 * were left out because their store could not be built at all (bench/fallback.js).
 */
async function build(cfg) {
  const n = cfg.records
  const buf = new ArrayBuffer(n * WORDS * 8)
  const js = { f64: new Float64Array(buf), u64: new BigUint64Array(buf), i64: new BigInt64Array(buf) }
  const { fallbacks, skipped, built } = fallback.collector()
  const budget = cfg.placementBudgetMs === undefined ? {} : { placementBudgetMs: cfg.placementBudgetMs }
  // strategy 'auto' with threads not started: hedged where every replica thread has a core of its
  // own (placed by the library, which may fall back), else read directly (from JS 'auto' never
  // steers).
  const slots = built(await fallback.build((o) => create(Slayer, 'record-slots slab', o), { slots: n * WORDS, start: false, hugePages: cfg.hugePages, ...budget }, { slab: 'record-slots slab', arms: ['record-slots'] }))
  const common = { count: n, fields: FIELDS, hugePages: cfg.hugePages }
  const direct = await create(Records, 'direct records', { ...common, strategy: 'direct' })
  // Steering needs copies in different refresh groups: placed by refresh group (on the store's
  // own pages, or single 4 KiB pages moved into place), or the steer default offset (copies 64 B
  // apart, address bit 6) — which is also where a refused placement leaves them.
  const records = (label) => (o) => create(Records, label, o)
  const steer = built(
    await fallback.build(
      records('steered records'),
      {
        count: n,
        fields: FIELDS,
        strategy: 'steer',
        placement: cfg.steerPlacement || 'auto',
        placementBudgetMs: cfg.steerBudgetMs === undefined ? 60_000 : cfg.steerBudgetMs,
        // 'refresh-groups' moves single 4 KiB pages; 'huge-pages' places frames inside huge pages.
        hugePages: cfg.steerPlacement === 'refresh-groups' ? 'off' : cfg.hugePages,
      },
      { slab: 'steered records', arms: ['record-steer', 'native-record-steer'], offsetOpts: { ...common, strategy: 'steer', placement: 'offset' } },
    ),
  )
  const hedged = built(await fallback.build(records('hedged records'), { ...common, strategy: 'hedge', spin: cfg.spin, start: false, ...budget }, { slab: 'hedged records', arms: ['record-hedged', 'native-record-hedged'] }))
  // Neither asks for a placement it cannot fall back from (strategy 'auto' / 'hedge', placement 'auto').
  for (const [what, x] of [['record-slots slab', slots], ['hedged records', hedged]]) if (!x) throw new Error(`the ${what} could not be built: ${skipped.map((k) => k.reason).join('; ')}`)
  const idx = new Uint32Array(1)
  const val = new Float64Array(1)
  for (let r = 0; r < n; r++) {
    const q = quote(r)
    const b = r * WORDS
    js.f64[b + 1] = q.bid
    js.f64[b + 2] = q.ask
    js.u64[b + 3] = q.bidQty
    js.u64[b + 4] = q.askQty
    js.u64[b + 5] = q.ts
    js.i64[b + 6] = q.pos
    for (let k = 1; k <= 6; k++) {
      idx[0] = b + k
      val[0] = js.f64[b + k]
      slots.writeManyF64(idx, val)
    }
    direct.write(r, q)
    if (steer) steer.write(r, q)
    hedged.write(r, q)
  }
  // A steered store learned in the background serves at once; its arms measure it once its frames
  // are learned (or the steer budget is spent), and the notes say how far it got.
  const learnedNote = steer && steer.info().learning ? await awaitLearning(steer, 'steered records', cfg.steerBudgetMs) : null
  return { js, slots, direct, steer, hedged, fallbacks, skipped, learnedNote }
}

/** The decision of each arm for quote `i`, every field read. */
function reads(u) {
  const { f64, u64, i64 } = u.js
  const s = u.slots
  const snaps = { direct: u.direct.snapshot(), directNative: Records._nativeSnapshot(u.direct), steer: u.steer && u.steer.snapshot(), hedged: u.hedged.snapshot() }
  const viaSnapshot = (q) => (i) => {
    q.load(i)
    return decide(q.bid, q.ask, q.bidQty, q.askQty, q.ts, q.pos)
  }
  return {
    'record-js-array': (i) => {
      const b = i * WORDS
      return decide(f64[b + 1], f64[b + 2], u64[b + 3], u64[b + 4], u64[b + 5], i64[b + 6])
    },
    'record-slots': (i) => {
      const b = i * WORDS
      return decide(s.readF64(b + 1), s.readF64(b + 2), s.readU64(b + 3), s.readU64(b + 4), s.readU64(b + 5), BigInt.asIntN(64, s.readU64(b + 6)))
    },
    'record-direct': viaSnapshot(snaps.direct),
    'record-direct-native': viaSnapshot(snaps.directNative),
    'record-steer': snaps.steer ? viaSnapshot(snaps.steer) : null,
    'record-hedged': viaSnapshot(snaps.hedged),
  }
}

const DESCRIBE = {
  'record-js-array': 'the quotes as plain JS: Float64Array/BigUint64Array/BigInt64Array views over one ArrayBuffer, 64 B a quote (the baseline)',
  'record-slots': "one Slayer readF64/readU64 per field, threads stopped (today's API: 6 calls a decision)",
  'record-direct': "Records, strategy 'direct': snapshot().load(i) + 6 getters, read in JS (copy 0 through a typed-array view, sequence word checked in JS: plain loads on x86, Atomics.load elsewhere; no native call)",
  'record-direct-native': "record-direct's store and read through the native call (snapshot().load(i) as before the JS read path: one call, copy 0, sequence-checked)",
  'record-steer': "Records, strategy 'steer' (copies placed by refresh group on the store's own pages unless --steer-placement says otherwise, or 64 B apart when that placement was refused: see FALLBACK): the tracker picks the copy; one call",
  'record-hedged': "Records, strategy 'hedge': every replica thread reads and checks its own copy, first consistent wins (measured on its own, threads running)",
  'native-record-direct': "record-direct's read timed inside Rust (JS excluded): the native baseline",
  'native-record-steer': "record-steer's read timed inside Rust",
  'native-record-hedged': "record-hedged's read timed inside Rust (hand-off included)",
}

/** Per-call cost, cached: one record through a snapshot against one readF64 (the issue's yardstick). */
function bindingCost(u, cfg) {
  const s = u.slots
  const q = u.direct.snapshot()
  const qn = Records._nativeSnapshot(u.direct)
  const r = reads(u)
  // The number-field quote: a small direct store (JS read path) and the same 6 fields as a plain
  // Float64Array, 8 words a quote.
  const nums = new Records({ count: 64, fields: NUMBER_FIELDS, strategy: 'direct', hugePages: 'off' })
  const plain = new Float64Array(64 * WORDS)
  for (let i = 0; i < 64; i++) {
    const v = { bid: 100 + i, ask: 100.5 + i, bidQty: 3 * i, askQty: 3 * i + 1, ts: i + 1, pos: -i }
    nums.write(i, v)
    Object.values(v).forEach((x, k) => (plain[i * WORDS + 1 + k] = x))
  }
  const qv = nums.snapshot()
  let sink = 0
  const loops = {
    'readF64 (threads stopped, cached)': (n) => {
      for (let k = 0; k < n; k++) sink += s.readF64((k & 63) * WORDS + 1)
    },
    'six readF64 (threads stopped, direct view, cached)': (n) => {
      for (let k = 0; k < n; k++) {
        const b = (k & 63) * WORDS
        sink += s.readF64(b + 1) + s.readF64(b + 2) + s.readF64(b + 3) + s.readF64(b + 4) + s.readF64(b + 5) + s.readF64(b + 6)
      }
    },
    'six plain Float64Array reads (cached)': (n) => {
      for (let k = 0; k < n; k++) {
        const b = (k & 63) * WORDS
        sink += plain[b + 1] + plain[b + 2] + plain[b + 3] + plain[b + 4] + plain[b + 5] + plain[b + 6]
      }
    },
    "snapshot().load(i) + 6 number getters ('direct', JS path, cached)": (n) => {
      for (let k = 0; k < n; k++) {
        qv.load(k & 63)
        sink += qv.bid + qv.ask + qv.bidQty + qv.askQty + qv.ts + qv.pos
      }
    },
    "snapshot().load(i) + 6 getters ('direct', cached)": (n) => {
      for (let k = 0; k < n; k++) {
        q.load(k & 63)
        sink += q.bid + q.ask + (q.bidQty > q.askQty ? 1 : 0) + (q.ts !== 0n ? 1 : 0) + (q.pos < 0n ? 1 : 0)
      }
    },
    "snapshot().load(i) + 6 getters ('direct', native load, cached)": (n) => {
      for (let k = 0; k < n; k++) {
        qn.load(k & 63)
        sink += qn.bid + qn.ask + (qn.bidQty > qn.askQty ? 1 : 0) + (qn.ts !== 0n ? 1 : 0) + (qn.pos < 0n ? 1 : 0)
      }
    },
    'snapshot().load(i) alone (cached)': (n) => {
      for (let k = 0; k < n; k++) sink += q.load(k & 63).index
    },
    'record-slots decision: 6 calls (cached)': (n) => {
      const f = r['record-slots']
      for (let k = 0; k < n; k++) sink += f(k & 63)
    },
    'record-js-array decision (cached)': (n) => {
      const f = r['record-js-array']
      for (let k = 0; k < n; k++) sink += f(k & 63)
    },
  }
  const rows = nsPerCall(loops, cfg.quick ? 200_000 : 500_000, cfg.quick ? 7 : 15)
  nums.close()
  const one = rows['readF64 (threads stopped, cached)'].median
  const quote = rows["snapshot().load(i) + 6 getters ('direct', cached)"].median
  return {
    rows,
    recordVsReadF64: quote / one,
    // The issue's two cached yardsticks (#26): the quote of 2 f64 + 4 u64 fields against six
    // readF64, and the number-field quote against six plain Float64Array reads.
    recordVsSixReadF64: quote / rows['six readF64 (threads stopped, direct view, cached)'].median,
    numbersVsSixArray: rows["snapshot().load(i) + 6 number getters ('direct', JS path, cached)"].median / rows['six plain Float64Array reads (cached)'].median,
    sink,
  }
}

async function main(argv, { print = true } = {}) {
  const log = print ? console.log : () => {}
  const progress = (m) => process.stderr.write(process.stderr.isTTY ? `\r\x1b[K${m}` : `${m}\n`)
  const cfg = parse(argv)
  const t0 = Date.now()
  progress(`filling ${cfg.records} quotes five ways…`)
  const u = await build(cfg)
  const [tscHz] = native._tscInfo()
  clockOverhead()
  const hi = u.hedged.info()
  const cpu = require('node:os').cpus()[0]
  const result = {
    tool: 'ultraslayer bench',
    scenario: 'decision',
    startedAt: new Date().toISOString(),
    machine: {
      cpuModel: cpu ? cpu.model : 'unknown',
      cpuCount: hi.cpuCount,
      allowedCpus: hi.allowedCpus,
      hypervisor: /\bhypervisor\b/.test(fs.readFileSync('/proc/cpuinfo', 'utf8')),
      tscHz,
      sharedCores: hi.sharedCores,
      platform: `${process.platform}-${process.arch}`,
      node: process.version,
    },
    // `slots`/`replicas` as the plot titles them: the records' slots (8 a quote).
    config: { ...cfg, slots: cfg.records * WORDS, replicas: hi.replicas, json: undefined, csv: undefined, plot: undefined },
    infos: { direct: u.direct.info(), steer: u.steer ? { ...u.steer.info(), steer: u.steer.stats().steer } : null, hedged: hi, slots: u.slots.info() },
    slabInfo: hi, // what the shared plot header reads (page kind)
    clockOverhead: clockOverhead(),
    bindingCost: null,
    runs: [],
    notes: u.learnedNote ? [u.learnedNote] : [],
    // What was refused and what each arm ran on instead ([] when every store got its placement).
    fallbacks: u.fallbacks,
    skipped: u.skipped,
  }
  log(`decision scenario: ${cfg.records} quotes of ${Object.keys(FIELDS).length} fields (${Object.entries(FIELDS).map(([k, t]) => `${k}:${t}`).join(' ')}), ${cfg.samples} decisions per arm`)
  log(`records: ${result.infos.direct.pageKind} pages, copies ${result.infos.direct.channelOffset} B apart; ${steerLine(result.infos.steer, u.fallbacks)}`)
  log(`hedged records: spin ${cfg.spin}, cores [${result.infos.hedged.cores.join(',')}], copies ${hedgedWhere(hi)}${result.infos.hedged.sharedCores ? ' — SHARED with the caller: not what a machine with free cores would show' : ''}`)
  for (const line of fallback.fallbackLines(u.fallbacks, u.skipped)) log(line)
  if (cfg.bindingCost) {
    progress('measuring per-call cost…')
    result.bindingCost = bindingCost(u, cfg)
    log('\nper-call cost, cached (tight loops, this run):')
    for (const [name, r] of Object.entries(result.bindingCost.rows)) log(`  ${name.padEnd(68)} ${r.median.toFixed(1).padStart(7)} ns  (min ${r.min.toFixed(1)}, max ${r.max.toFixed(1)})`)
    log(`  snapshot().load(i) + every field / one readF64 = ${result.bindingCost.recordVsReadF64.toFixed(2)}× (goal ≤ 1.5×)`)
    log(`  snapshot().load(i) + every field (2 f64 + 4 u64) / six readF64 = ${result.bindingCost.recordVsSixReadF64.toFixed(2)}× (goal ≤ 1.5×)`)
    log(`  snapshot().load(i) + every field (6 number fields) / six plain Float64Array reads = ${result.bindingCost.numbersVsSixArray.toFixed(2)}× (goal ≤ 2×)`)
  }
  const decisions = reads(u)
  const jsGroup = ['record-js-array', 'record-slots', 'record-direct', 'record-direct-native', 'record-steer'].filter((n) => decisions[n])
  const indices = indexStream(cfg.samples, cfg.records)
  // Every JS arm reads the same quote in turn (the stream repeated per arm), so all see the same
  // quotes at the same moments; the flush before each read empties every arm's copies of it.
  const repeated = new Uint32Array(indices.length * jsGroup.length)
  for (let k = 0; k < repeated.length; k++) repeated[k] = indices[Math.floor(k / jsGroup.length)]
  const flushAll = (i) => {
    native._flushF64Array(u.js.f64, i * WORDS)
    native._flushF64Array(u.js.f64, i * WORDS + 7)
    nativeOf(u.slots)._flush(i * WORDS + 1)
    for (const r of [u.direct, u.steer, u.hedged]) if (r) Records._nativeOf(r)._flush(i)
  }
  // Every timeJsEach call warms up first, untimed (WARMUP_JS_READS): V8 compiles and settles every
  // arm's decision code (and its getters); unoptimised, the first decisions would fill its p99.9.
  const total = cfg.conditions.length * cfg.access.length * cfg.pace.length
  let done = 0
  for (const condition of cfg.conditions) {
    let stress = null
    if (condition === 'stress') {
      const busy = new Set(result.infos.hedged.cores)
      const allowed = result.infos.hedged.allowedCpus
      let cores = allowed.filter((c) => !busy.has(c))
      if (cores.length === 0) cores = [allowed[allowed.length - 1]]
      stress = native._stressStart(cores, cfg.quick ? 64 << 20 : 512 << 20)
      result.notes.push(`stress: thread(s) streaming through ${cfg.quick ? 64 : 512} MiB on core(s) [${cores.join(',')}]`)
    }
    for (const access of cfg.access) for (const pace of cfg.pace) {
      const gapNs = pace === 'random' ? cfg.gapNs : 0
      const cold = access === 'cold'
      const gapTicks = Math.round((gapNs * tscHz) / 1e9)
      const label = `[${++done}/${total}] ${condition}/${access}/${pace}`
      const run = { condition, access, pace, gapNs, arms: {} }
      const arm = (name, level, summary, extra) => {
        run.arms[name] = { level, upperBound: false, describe: DESCRIBE[name], summary, baseline: level === 'native' ? 'native-record-direct' : 'record-js-array', extra }
        const fb = fallback.armFallback(u.fallbacks, name)
        if (fb) run.arms[name].fallback = fb
      }
      progress(`${label} JS arms`)
      // The steered store's tracker over the JS arms' timed reads (its counters run from creation).
      let steerBefore = null
      const afterWarmup = () => (steerBefore = u.steer && u.steer.stats().steer)
      const js = timeJsEach(repeated, { reads: jsGroup.map((n) => decisions[n]), flush: flushAll, cold, gapTicks, afterWarmup, onProgress: (f) => progress(`${label} JS arms ${Math.round(f * 100)}%`) })
      const ss = u.steer && steerSince(steerBefore, u.steer.stats().steer)
      jsGroup.forEach((n, b) => arm(n, 'js', js.summaries[b]))
      progress(`${label} native arms`)
      for (const [name, r] of [['native-record-direct', u.direct], ['native-record-steer', u.steer]]) if (r) arm(name, 'native', recordsNative(r, indices, cold, gapNs))
      progress(`${label} hedged`)
      u.hedged.start()
      try {
        const h = timeJsEach(indices, { reads: [decisions['record-hedged']], flush: flushAll, cold, gapTicks, afterWarmup: () => u.hedged.resetStats() })
        arm('record-hedged', 'js', h.summaries[0], { readStats: u.hedged.stats() })
        arm('native-record-hedged', 'native', recordsNative(u.hedged, indices, cold, gapNs))
      } finally {
        u.hedged.stop()
      }
      if (ss) run.arms['record-steer'].extra = { steer: ss }
      scoreRun(run, cfg.slowExcessNs)
      result.runs.push(run)
      progress('')
      log(`\n${condition} / ${access} / ${gapNs ? `random arrivals 0–${gapNs} ns` : 'back to back'} — decision latency in ns (µ = µs), ${cfg.samples} decisions per arm`)
      log(runTable(run))
      const fellBack = Object.entries(run.arms).filter(([, a]) => a.fallback)
      if (fellBack.length) log(`† fell back: ${fellBack.map(([n, a]) => `${n} ran on copies ${a.fallback.channelOffset} B apart`).join(', ')} (placement refused; see FALLBACK above)`)
      if (ss) {
        log(`record-steer: tracker ${ss.state}, copies stall apart: ${ss.copiesApart ? 'yes' : 'NO'}; ${sampledVsPredicted(ss).text}; re-acquisitions ${ss.reacquisitions}, resyncs ${ss.resyncs}`)
      }
    }
    if (stress) native._stressStop(stress)
  }
  for (const r of [u.slots, u.direct, u.steer, u.hedged]) if (r) r.close()
  result.elapsedSeconds = (Date.now() - t0) / 1000
  log('\narms:')
  for (const [n, d] of Object.entries(DESCRIBE)) log(`  ${n.padEnd(21)} ${d}`)
  log('ratios: JS arms against record-js-array, native arms against native-record-direct; same run. The JS arms are interleaved decision by decision on the same quotes; record-hedged runs after them (its threads would disturb the others).')
  return cli.finish(result, cfg, log, decisionVerdict)
}

/** Where the steered store's copies went, and what its tracker found, in words (null: no store). */
function steerLine(info, fallbacks) {
  if (!info) return 'steered records: none (see SKIPPED below)'
  const sp = info.placement
  const st = info.steer
  const fellBack = fallbacks.some((f) => f.slab === 'steered records')
  const where = sp.hugePages
    ? `placed by refresh group inside ${info.pageKind} pages (${sp.hugePages.layout}: ${sp.hugePages.framesTimed} frames timed, ${sp.hugePages.copiesApart}/${sp.hugePages.copiesChecked} checked slots apart, ${(sp.hugePages.totalMs / 1000).toFixed(1)} s)`
    : sp.kind === 'refresh-groups'
      ? `placed by refresh group (${sp.groupPages.length} groups, period ${sp.periodNs.toFixed(1)} ns, ${sp.learnMs.toFixed(0)} ms)`
      : `${info.channelOffset} B apart${fellBack ? ' (FALLBACK: placement by refresh group refused, see below)' : ''}`
  return `steered records: copies ${where}, tracker ${st.state}, copies stall apart: ${st.copiesApart ? 'yes' : 'NO (steering reads a fixed copy)'} (stall distance ${st.stallDistance.toFixed(2)} period)`
}

/** Where the hedged store's copies went, in words. */
function hedgedWhere(info) {
  const p = info.placement
  if (p.hugePages) return `placed by refresh group inside ${info.pageKind} pages (${p.hugePages.layout})`
  return `${info.channelOffset} B apart${p.fallback ? ' (FALLBACK: placement by refresh group refused, see below)' : ''}`
}

/** A record store's read timed inside Rust. */
function recordsNative(records, indices, cold, gapNs) {
  const { latency, buckets } = Records._nativeOf(records)._benchNative(indices, cold, gapNs)
  return { ...latency, buckets }
}

module.exports = { main, parse, build, reads }
