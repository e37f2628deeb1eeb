'use strict'
// examples/order-router.ts type-checks against the published typings, compiles, and runs end to
// end: generator mode (the JSON summary adds up, every state — slots and records — and every
// strategy makes the same decisions) and HTTP mode on 127.0.0.1 (routed, rejected with a reason,
// 400 on a malformed body, bounded shutdown), and --feed process (prices streamed by a child
// process into a named shared slab or a shared record segment; no invalid or torn quote; the
// segments and the children are gone afterwards, also after SIGTERM).
// Asserts shapes and decisions, never speed. Replica threads use 'hybrid' (the example's default).

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { Slayer } = require('..')

const ROOT = path.join(__dirname, '..')
const TSC = path.join(ROOT, 'node_modules', '.bin', 'tsc')
const TSCONFIG = path.join(ROOT, 'examples', 'tsconfig.json')
const ROUTER = path.join(ROOT, 'examples', 'dist', 'order-router.js')
const STRATEGIES = ['hedge', 'direct', 'steer']
const STATES = ['slots', 'records']
const REASONS = ['unknown-symbol', 'unknown-account', 'qty-limit', 'price-band', 'notional-limit', 'position-limit', 'bad-quote']

function runRouter(args) {
  // The timeout only guards against a hang (2 vCPUs shared with builds); nothing asserts a time.
  return spawnSync(process.execPath, [ROUTER, ...args], { encoding: 'utf8', timeout: 90_000 })
}

function assertPercentilesOrdered(p, what) {
  assert.ok(p.count > 0, `${what}: latencies recorded`)
  assert.ok(0 <= p.p50 && p.p50 <= p.p90 && p.p90 <= p.p99 && p.p99 <= p.p999 && p.p999 <= p.max, `${what}: ${JSON.stringify(p)}`)
  assert.ok(p.mean > 0 && p.mean <= p.max, `${what}: mean within range`)
}

function assertTalliesAddUp(r) {
  assert.equal(r.routed + r.rejected, r.orders, `${r.strategy}: routed + rejected = orders`)
  assert.equal(r.venues.alpha + r.venues.beta, r.routed, `${r.strategy}: every routed order has a venue`)
  assert.ok(r.marketable <= r.routed)
  assert.deepEqual(Object.keys(r.rejects).sort(), [...REASONS].sort())
  assert.equal(Object.values(r.rejects).reduce((a, b) => a + b, 0), r.rejected, `${r.strategy}: reject reasons add up`)
  assert.equal(r.latencyNs.count, r.orders, `${r.strategy}: one latency per order`)
}

// The compiled example goes in examples/dist (it imports 'ultraslayer' through the package's own
// "exports", so it must sit inside the package); removed after the file unless it was there before.
const DIST = path.dirname(ROUTER)
const distWasThere = fs.existsSync(DIST)
before(() => {
  const r = spawnSync(TSC, ['-p', TSCONFIG], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`)
})
after(() => {
  if (!distWasThere) fs.rmSync(DIST, { recursive: true, force: true })
})

test('the example type-checks under --strict against index.d.ts', () => {
  const r = spawnSync(TSC, ['--strict', '--noEmit', '-p', TSCONFIG], { encoding: 'utf8', timeout: 180_000 })
  assert.equal(r.status, 0, r.stdout + r.stderr)
  assert.equal(r.stdout, '')
})

test('generator mode: every state and strategy sees the same orders, makes the same decisions, and the JSON adds up', () => {
  const orders = 1500
  const r = runRouter(['--orders', String(orders), '--strategies', STRATEGIES.join(','), '--json'])
  assert.equal(r.status, 0, r.stderr)
  const s = JSON.parse(r.stdout)
  assert.equal(s.example, 'order-router')
  assert.equal(s.mode, 'generator')
  assert.equal(s.orders, orders)
  assert.deepEqual(s.states, STATES, 'both states by default, slots (before) first')
  assert.deepEqual(
    s.strategies.map((x) => `${x.state}/${x.strategy}`),
    STATES.flatMap((st) => STRATEGIES.map((x) => `${st}/${x}`)),
  )
  for (const x of s.strategies) {
    assert.equal(x.orders, orders)
    assertTalliesAddUp(x)
    assertPercentilesOrdered(x.latencyNs, `${x.state}/${x.strategy}`)
    assert.ok(x.routed > 0 && x.rejected > 0, `${x.state}/${x.strategy}: the stream has both outcomes`)
    assert.equal(x.quotes.violations, 0)
    assert.equal(x.quotes.torn, x.state === 'records' ? 0 : null, 'only records carry a check field')
    assert.equal(x.quotes.retries + x.quotes.unavailable, 0, 'the inline feed never races a read')
  }
  assert.equal(s.sameDecisions, true)
  assert.equal(new Set(s.strategies.map((x) => x.digest)).size, 1, 'one decision digest for every state and strategy')
  assert.deepEqual(s.strategies[1].rejects, s.strategies[0].rejects)
  assert.deepEqual(s.strategies[3].rejects, s.strategies[0].rejects)

  // Each strategy's reads went where its strategy says, in both states.
  for (const state of STATES) {
    const [hedge, direct, steer] = s.strategies.filter((x) => x.state === state)
    assert.equal(hedge.spin, 'hybrid')
    assert.ok(hedge.reads.hedged + hedge.reads.directWhileParked + hedge.reads.directAfterTimeout > 0, state)
    assert.equal(hedge.reads.steered, 0)
    assert.ok(direct.reads.direct > 0)
    assert.equal(direct.reads.hedged + direct.reads.steered, 0)
    assert.ok(steer.reads.steered > 0)
    assert.equal(typeof steer.steer.state, 'string')
    assert.equal(typeof steer.steer.copiesApart, 'boolean')
    assert.equal(direct.steer, null)
  }
  // Records: a decision is two record reads (risk, quote), a booking one more; slots: ten slot reads, a booking two.
  const byState = (st) => s.strategies.find((x) => x.state === st && x.strategy === 'direct')
  const decided = (x) => x.orders - x.rejects['unknown-symbol'] - x.rejects['unknown-account']
  assert.equal(byState('records').reads.direct, 2 * decided(byState('records')) + byState('records').routed)
  assert.equal(byState('slots').reads.direct, 10 * decided(byState('slots')) + 2 * byState('slots').routed)
  // Records with hedge: the quotes are hedged, the router's own risk records read directly.
  const recordsHedge = s.strategies.find((x) => x.state === 'records' && x.strategy === 'hedge')
  assert.equal(recordsHedge.reads.direct, decided(recordsHedge) + recordsHedge.routed)

  // The machine verdict follows info(): short of replicas + 1 cores means a note.
  const m = s.machine
  assert.equal(m.coresWantedForHedge, m.replicas + 1)
  if (m.allowedCpus < m.coresWantedForHedge) assert.equal(m.coreShortage, true)
  assert.equal(typeof m.note === 'string', m.coreShortage, 'a note exactly when cores are short')
})

test('generator mode prints a side-by-side table, slots (before) beside records (after), with the core note when cores are short', () => {
  const r = runRouter(['--orders', '300', '--strategies', 'direct,hedge'])
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^state\s+slots\s+slots\s+records\s+records$/m)
  const header = r.stdout.split('\n').find((l) => l.startsWith('decision latency (ns)'))
  assert.ok(header, r.stdout)
  assert.match(header, /direct\s+hedge\/hybrid\s+direct\s+hedge\/hybrid$/)
  for (const row of ['p50', 'p90', 'p99', 'p99.9', 'max']) assert.match(r.stdout, new RegExp(`^  ${row.replace('.', '\\.')}(\\s+\\d+){4}$`, 'm'))
  for (const row of ['p50', 'p99', 'p99.9']) assert.match(r.stdout, new RegExp(`^  ${row.replace('.', '\\.')} records/slots\\s+-\\s+-(\\s+\\d+\\.\\d\\dx){2}$`, 'm'))
  assert.match(r.stdout, /^machine: .*; slots: one slab of \d+ slots; records: 8 quote records \+ 32 risk records; /m)
  assert.match(r.stdout, /every state and strategy made the same decisions/)
  const one = runRouter(['--orders', '300', '--strategies', 'direct', '--state', 'records'])
  assert.equal(one.status, 0, one.stderr)
  assert.match(one.stdout, /^state\s+records$/m)
  assert.doesNotMatch(one.stdout, /records\/slots/, 'no ratio without a slots column')
  const json = JSON.parse(runRouter(['--orders', '10', '--strategies', 'hedge', '--json']).stdout)
  if (json.machine.coreShortage) assert.match(r.stdout, /^note: this machine has \d+ cores .* hedged reads want replicas \+ 1 = \d+/m)
})

test('bad flags exit with status 2 and the usage', () => {
  for (const args of [['--strategies', 'hedge,nope'], ['--mode', 'tcp'], ['--orders', '-5'], ['--port', '70000'], ['--bogus'], ['--state', 'slots,nope'], ['--state', 'records,records']]) {
    const r = runRouter(args)
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /usage: order-router/)
  }
})

// Starts the router in HTTP mode on an ephemeral loopback port; resolves with the port, the child,
// and a promise of its exit { code, stdout, stderr }.
function startHttp(args) {
  const child = spawn(process.execPath, [ROUTER, '--mode', 'http', '--port', '0', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c))
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })))
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  exited.then(() => clearTimeout(killer))
  const port = new Promise((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (c) => {
      stderr += c
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)
      if (m) resolve(Number(m[1]))
    })
    exited.then(({ code }) => reject(new Error(`router exited (${code}) before listening:\n${stderr}`)))
  })
  return { child, port, exited }
}

async function post(port, path, body) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) })
  return { status: res.status, body: await res.json() }
}

test('HTTP mode: orders are routed or rejected with a reason, bad bodies get 400, --max-orders stops it', async () => {
  const { port, exited } = startHttp(['--strategies', 'hedge', '--max-orders', '6'])
  const p = await port
  const order = { account: 0, symbol: 'ACME', side: 'buy', qty: 100, price: 12.5 }

  const routed = await post(p, '/order', order)
  assert.equal(routed.status, 200)
  assert.equal(routed.body.status, 'routed')
  assert.equal(routed.body.orderId, '1')
  assert.ok(['alpha', 'beta'].includes(routed.body.venue))

  const rejects = [
    [{ ...order, qty: 50_000 }, 'qty-limit'],
    [{ ...order, price: 20 }, 'price-band'],
    [{ ...order, symbol: 'NOPE' }, 'unknown-symbol'],
    [{ ...order, account: 3, qty: 2_500 }, 'position-limit'],
  ]
  for (const [o, reason] of rejects) {
    const r = await post(p, '/order', o)
    assert.equal(r.status, 200)
    assert.equal(r.body.status, 'rejected', JSON.stringify(r.body))
    assert.equal(r.body.reason, reason)
    assert.equal(typeof r.body.detail, 'string')
  }

  const malformed = await post(p, '/order', '{"account": 0, "symbol":')
  assert.equal(malformed.status, 400)
  assert.match(malformed.body.error, /malformed JSON/)
  const missing = await post(p, '/order', { account: 0, symbol: 'ACME', side: 'buy', price: 12.5 })
  assert.equal(missing.status, 400)
  assert.match(missing.body.error, /qty/)
  const wrongMethod = await fetch(`http://127.0.0.1:${p}/order`)
  assert.equal(wrongMethod.status, 405)
  await wrongMethod.arrayBuffer()
  const stats = await fetch(`http://127.0.0.1:${p}/stats`)
  assert.equal(stats.status, 200)
  assert.equal((await stats.json()).orders, 5, 'bodies refused with 400 are not orders')

  // The sixth order is the last one.
  const last = await post(p, '/order', { ...order, side: 'sell' })
  assert.equal(last.body.status, 'routed')
  assert.equal(last.body.orderId, '2')

  const { code, stdout, stderr } = await exited
  assert.equal(code, 0, stderr)
  const s = JSON.parse(stdout)
  assert.equal(s.mode, 'http')
  assert.equal(s.orders, 6)
  assert.equal(s.strategies.length, 1)
  const x = s.strategies[0]
  assert.equal(x.strategy, 'hedge')
  assert.equal(x.state, 'records', 'HTTP mode serves from records by default')
  assertTalliesAddUp(x)
  assert.equal(x.routed, 2)
  assert.deepEqual(
    Object.entries(x.rejects).filter(([, n]) => n > 0).map(([k]) => k).sort(),
    rejects.map(([, reason]) => reason).sort(),
  )
  assertPercentilesOrdered(x.latencyNs, 'http')
})

test('HTTP mode: POST /shutdown stops the server and prints the summary', async () => {
  const { port, exited } = startHttp(['--strategies', 'direct', '--state', 'slots'])
  const p = await port
  const r = await post(p, '/order', { account: 1, symbol: 'HALO', side: 'sell', qty: 300, price: 88.6 })
  assert.equal(r.body.status, 'routed')
  const bye = await post(p, '/shutdown', {})
  assert.equal(bye.status, 200)
  assert.equal(bye.body.status, 'stopping')
  const { code, stdout, stderr } = await exited
  assert.equal(code, 0, stderr)
  const s = JSON.parse(stdout)
  assert.equal(s.orders, 1)
  assert.equal(s.strategies[0].strategy, 'direct')
  assert.equal(s.strategies[0].state, 'slots')
  assert.equal(s.strategies[0].routed, 1)
})

// ---- --feed process ---------------------------------------------------------------------------

// Segments the router under test named; removed after the file in case an assertion failed first.
const routerSegments = new Set()
after(() => {
  for (const name of routerSegments) Slayer.unlink(name)
})

// Processes whose command line mentions the segment (the feed is spawned with --slab NAME).
function processesUsing(name) {
  const found = []
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd
    try {
      cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    } catch {
      continue // gone meanwhile
    }
    if (cmd.split('\0').includes(name)) found.push(Number(pid))
  }
  return found
}

function isAlive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    assert.equal(e.code, 'ESRCH')
    return false
  }
}

function assertSegmentGone(name, file) {
  assert.equal(fs.existsSync(file), false, `${file} was removed`)
  assert.throws(() => Slayer.open(name, { waitMs: 0 }), (e) => e.code === 'ERR_ULTRASLAYER_SHM_MISSING')
  assert.deepEqual(processesUsing(name), [], 'no process has the segment on its command line')
}

test('--feed process: a child process per state streams prices into a shared slab, then into shared records; the JSON adds up; segments and children are gone after', () => {
  const orders = 2000
  const r = runRouter(['--feed', 'process', '--orders', String(orders), '--spin', 'hybrid', '--json'])
  assert.equal(r.status, 0, r.stderr)
  const s = JSON.parse(r.stdout)
  const f = s.feed
  for (const p of f.processes) routerSegments.add(p.segment.name)
  assert.equal(s.mode, 'generator')
  assert.deepEqual(
    s.strategies.map((x) => `${x.state}/${x.strategy}`),
    ['slots/hedge', 'slots/direct', 'records/hedge', 'records/direct'],
    'the default states and strategies in this mode',
  )

  assert.equal(f.mode, 'process')
  assert.equal(f.routerPid, r.pid)
  assert.deepEqual(f.processes.map((p) => p.state), STATES, 'one feed process per state')
  assert.notEqual(f.processes[0].pid, f.processes[1].pid)
  assert.notEqual(f.processes[0].segment.name, f.processes[1].segment.name)
  for (const p of f.processes) {
    // The feed was another process: the pid it wrote into the slab (slots) or announced (records)
    // is the child's, not the router's; for records the router never held the writer lock.
    assert.ok(Number.isInteger(p.pid) && p.pid > 0)
    assert.notEqual(p.pid, r.pid)
    assert.equal(p.separateProcess, true, p.state)
    assert.ok(p.ticksWritten > 0, 'the feed wrote ticks')
    assert.equal(p.reportedTicks, p.ticksWritten, `${p.state}: the feed's own count matches what the segment shows`)
    assert.equal(p.stoppedBy, 'stdin closed')
    assert.equal(p.exitCode, 0)
    assert.equal(p.exitSignal, null)
    assert.match(p.segment.name, new RegExp(`^router-${r.pid}-[0-9a-f]{8}$`))
    assert.equal(p.segment.kind, p.state)
    assert.equal(p.unlinked, true)
  }
  assert.equal(f.processes[0].segment.records, null)
  assert.equal(f.processes[1].segment.records, s.symbols, 'one quote record per symbol')

  for (const x of s.strategies) {
    const what = `${x.state}/${x.strategy}`
    assert.equal(x.orders, orders)
    assertTalliesAddUp(x)
    assertPercentilesOrdered(x.latencyNs, what)
    assert.ok(x.routed > 0 && x.rejected > 0, `${what}: the stream has both outcomes`)
    assert.equal(x.quotes.violations, 0, `${what}: a quote read from the shared segment was invalid: ${x.quotes.firstViolation}`)
    assert.equal(x.quotes.firstViolation, null)
    assert.equal(x.rejects['bad-quote'], x.quotes.unavailable, 'only a quote that could not be had rejects an order as bad-quote')
    assert.ok(x.quotes.snapshots > 0)
    assert.ok(Number.isInteger(x.feedTicks) && x.feedTicks >= 0)
    if (x.state === 'records') {
      assert.equal(x.quotes.torn, 0, `${what}: no snapshot mixed two writes`)
      assert.equal(x.quotes.retries, 0, 'records are never re-read by hand')
    } else {
      assert.equal(x.quotes.torn, null)
    }
  }
  // Prices move asynchronously, so decisions are not compared across columns.
  assert.equal(s.sameDecisions, null)
  for (const state of STATES) {
    const [hedge, direct] = s.strategies.filter((x) => x.state === state)
    assert.ok(hedge.reads.hedged + hedge.reads.directWhileParked + hedge.reads.directAfterTimeout > 0, state)
    assert.ok(direct.reads.direct > 0)
    assert.equal(direct.reads.hedged, 0)
  }

  for (const p of f.processes) {
    assertSegmentGone(p.segment.name, p.segment.path)
    assert.equal(isAlive(p.pid), false, `the ${p.state} feed process ${p.pid} is gone`)
  }
})

test('--feed process: the table says each feed was a separate process and that no quote was invalid or torn', () => {
  const r = runRouter(['--feed', 'process', '--orders', '300', '--strategies', 'direct'])
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^machine: .*; slots: one shared slab of \d+ slots; records: 8 quote records \(shared\) \+ 32 risk records; \d+ replicas, \S+ pages$/m)
  assert.match(r.stdout, /^feed \(slots\): a separate process \(pid (\d+); router pid (\d+)\) wrote \d+ ticks .* into shared slab \S+ \(\d+ slots, (shm|hugetlbfs) \S+\); .* segment unlinked$/m)
  assert.match(r.stdout, /^feed \(records\): a separate process \(pid (\d+); router pid (\d+)\) wrote \d+ ticks .* into shared records \S+ \(8 quote records, (shm|hugetlbfs) \S+\); .* segment unlinked$/m)
  assert.match(r.stdout, /^  price violations\s+0\s+0$/m)
  assert.match(r.stdout, /^  torn \(check field\)\s+-\s+0$/m)
  assert.match(r.stdout, /0 violations/)
  const names = [...r.stdout.matchAll(/into shared (?:slab|records) (router-\d+-[0-9a-f]{8})/g)].map((m) => m[1])
  assert.equal(names.length, 2)
  for (const name of names) {
    routerSegments.add(name)
    assertSegmentGone(name, `/dev/shm/ultraslayer.${name}`)
  }
})

test('--feed process with steer is a usage error', () => {
  for (const strategies of ['steer', 'hedge,steer']) {
    const r = runRouter(['--feed', 'process', '--strategies', strategies])
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /--feed process .*not steering: use --strategies hedge,direct/)
    assert.match(r.stderr, /usage: order-router/)
  }
  for (const args of [['--feed', 'thread'], ['--slab', 'x'], ['--role', 'feed'], ['--role', 'feed', '--slab', 'x', '--state', 'slots,records']]) {
    const r = runRouter(args)
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /usage: order-router/)
  }
})

for (const state of STATES) {
  test(`--feed process --state ${state}: SIGTERM mid-run stops the feed and removes the segment`, async () => {
    const child = spawn(process.execPath, [ROUTER, '--feed', 'process', '--state', state, '--orders', '10000000', '--strategies', 'direct'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    const started = new Promise((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (c) => {
        stderr += c
        const m = /feed process pid (\d+) is writing .* into shared (slab|records) (\S+) \((\S+)\)/.exec(stderr)
        if (m && /running \d+ orders/.test(stderr)) resolve({ feedPid: Number(m[1]), kind: m[2], name: m[3], file: m[4] })
      })
      exited.then(({ code }) => reject(new Error(`router exited (${code}) before running:\n${stderr}`)))
    })
    const { feedPid, kind, name, file } = await started
    routerSegments.add(name)
    assert.equal(kind, state === 'slots' ? 'slab' : 'records')
    assert.ok(fs.existsSync(file), 'the segment exists while the router runs')
    assert.ok(isAlive(feedPid), 'the feed runs while the router runs')
    child.kill('SIGTERM')
    const { code } = await exited
    clearTimeout(killer)
    assert.equal(code, 143, stderr)
    assert.match(stderr, /interrupted by SIGTERM; the feed process was stopped and the shared segment removed/)
    assertSegmentGone(name, file)
    assert.equal(isAlive(feedPid), false, `the feed process ${feedPid} is gone`)
  })
}
