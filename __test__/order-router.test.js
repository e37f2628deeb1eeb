'use strict'
// examples/order-router.ts type-checks against the published typings, compiles, and runs end to
// end: generator mode (the JSON summary adds up, every strategy makes the same decisions) and HTTP
// mode on 127.0.0.1 (routed, rejected with a reason, 400 on a malformed body, bounded shutdown),
// and --feed process (prices streamed by a child process into a named shared slab; the segment and
// the child are gone afterwards, also after SIGTERM).
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
const REASONS = ['unknown-symbol', 'unknown-account', 'qty-limit', 'price-band', 'notional-limit', 'position-limit', 'bad-quote']

function runRouter(args) {
  return spawnSync(process.execPath, [ROUTER, ...args], { encoding: 'utf8', timeout: 20_000 })
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

before(() => {
  const r = spawnSync(TSC, ['-p', TSCONFIG], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`)
})

test('the example type-checks under --strict against index.d.ts', () => {
  const r = spawnSync(TSC, ['--strict', '--noEmit', '-p', TSCONFIG], { encoding: 'utf8', timeout: 20_000 })
  assert.equal(r.status, 0, r.stdout + r.stderr)
  assert.equal(r.stdout, '')
})

test('generator mode: every strategy sees the same orders, makes the same decisions, and the JSON adds up', () => {
  const orders = 1500
  const r = runRouter(['--orders', String(orders), '--strategies', STRATEGIES.join(','), '--json'])
  assert.equal(r.status, 0, r.stderr)
  const s = JSON.parse(r.stdout)
  assert.equal(s.example, 'order-router')
  assert.equal(s.mode, 'generator')
  assert.equal(s.orders, orders)
  assert.deepEqual(s.strategies.map((x) => x.strategy), STRATEGIES)
  for (const x of s.strategies) {
    assert.equal(x.orders, orders)
    assertTalliesAddUp(x)
    assertPercentilesOrdered(x.latencyNs, x.strategy)
    assert.ok(x.routed > 0 && x.rejected > 0, `${x.strategy}: the stream has both outcomes`)
  }
  assert.equal(s.sameDecisions, true)
  assert.equal(new Set(s.strategies.map((x) => x.digest)).size, 1, 'one decision digest for all strategies')
  assert.deepEqual(s.strategies[1].rejects, s.strategies[0].rejects)

  // Each strategy's reads went where its strategy says.
  const [hedge, direct, steer] = s.strategies
  assert.equal(hedge.spin, 'hybrid')
  assert.ok(hedge.reads.hedged + hedge.reads.directWhileParked + hedge.reads.directAfterTimeout > 0)
  assert.equal(hedge.reads.steered, 0)
  assert.ok(direct.reads.direct > 0)
  assert.equal(direct.reads.hedged + direct.reads.steered, 0)
  assert.ok(steer.reads.steered > 0)
  assert.equal(typeof steer.steer.state, 'string')
  assert.equal(typeof steer.steer.copiesApart, 'boolean')
  assert.equal(direct.steer, null)

  // The machine verdict follows info(): short of replicas + 1 cores means a note.
  const m = s.machine
  assert.equal(m.coresWantedForHedge, m.replicas + 1)
  if (m.allowedCpus < m.coresWantedForHedge) assert.equal(m.coreShortage, true)
  assert.equal(typeof m.note === 'string', m.coreShortage, 'a note exactly when cores are short')
})

test('generator mode prints a side-by-side table, with the core note when cores are short', () => {
  const r = runRouter(['--orders', '300', '--strategies', 'direct,hedge'])
  assert.equal(r.status, 0, r.stderr)
  const header = r.stdout.split('\n').find((l) => l.startsWith('decision latency (ns)'))
  assert.ok(header, r.stdout)
  assert.match(header, /direct\s+hedge\/hybrid$/)
  for (const row of ['p50', 'p90', 'p99', 'p99.9', 'max']) assert.match(r.stdout, new RegExp(`^  ${row.replace('.', '\\.')}\\s+\\d+\\s+\\d+$`, 'm'))
  assert.match(r.stdout, /every strategy made the same decisions/)
  const json = JSON.parse(runRouter(['--orders', '10', '--strategies', 'hedge', '--json']).stdout)
  if (json.machine.coreShortage) assert.match(r.stdout, /^note: this machine has \d+ cores .* hedged reads want replicas \+ 1 = \d+/m)
})

test('bad flags exit with status 2 and the usage', () => {
  for (const args of [['--strategies', 'hedge,nope'], ['--mode', 'tcp'], ['--orders', '-5'], ['--port', '70000'], ['--bogus']]) {
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
  assertTalliesAddUp(x)
  assert.equal(x.routed, 2)
  assert.deepEqual(
    Object.entries(x.rejects).filter(([, n]) => n > 0).map(([k]) => k).sort(),
    rejects.map(([, reason]) => reason).sort(),
  )
  assertPercentilesOrdered(x.latencyNs, 'http')
})

test('HTTP mode: POST /shutdown stops the server and prints the summary', async () => {
  const { port, exited } = startHttp(['--strategies', 'direct'])
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

test('--feed process: a child process streams prices into a shared slab; the JSON adds up; segment and child are gone after', () => {
  const orders = 2000
  const r = runRouter(['--feed', 'process', '--orders', String(orders), '--spin', 'hybrid', '--json'])
  assert.equal(r.status, 0, r.stderr)
  const s = JSON.parse(r.stdout)
  const f = s.feed
  routerSegments.add(f.segment.name)
  assert.equal(s.mode, 'generator')
  assert.deepEqual(s.strategies.map((x) => x.strategy), ['hedge', 'direct'], 'the default strategies in this mode')

  // The feed was another process: the pid it wrote into the slab is not the router's.
  assert.equal(f.mode, 'process')
  assert.equal(f.routerPid, r.pid)
  assert.ok(Number.isInteger(f.pid) && f.pid > 0)
  assert.notEqual(f.pid, r.pid)
  assert.equal(f.separateProcess, true)
  assert.ok(f.ticksWritten > 0, 'the feed wrote ticks')
  assert.equal(f.reportedTicks, f.ticksWritten, 'the feed\'s own count matches its counter in the slab')
  assert.equal(f.stoppedBy, 'stdin closed')
  assert.equal(f.exitCode, 0)
  assert.equal(f.exitSignal, null)
  assert.match(f.segment.name, new RegExp(`^router-${r.pid}-[0-9a-f]{8}$`))
  assert.equal(f.unlinked, true)

  for (const x of s.strategies) {
    assert.equal(x.orders, orders)
    assertTalliesAddUp(x)
    assertPercentilesOrdered(x.latencyNs, x.strategy)
    assert.ok(x.routed > 0 && x.rejected > 0, `${x.strategy}: the stream has both outcomes`)
    assert.equal(x.quotes.violations, 0, `${x.strategy}: a quote read from the shared slab was invalid: ${x.quotes.firstViolation}`)
    assert.equal(x.quotes.firstViolation, null)
    assert.equal(x.rejects['bad-quote'], x.quotes.unavailable, 'only a quote that could not be had rejects an order as bad-quote')
    assert.ok(x.quotes.snapshots > 0)
    assert.ok(Number.isInteger(x.feedTicks) && x.feedTicks >= 0)
  }
  // Prices move asynchronously, so decisions are not compared across strategies.
  assert.equal(s.sameDecisions, null)
  const [hedge, direct] = s.strategies
  assert.ok(hedge.reads.hedged + hedge.reads.directWhileParked + hedge.reads.directAfterTimeout > 0)
  assert.ok(direct.reads.direct > 0)
  assert.equal(direct.reads.hedged, 0)

  assertSegmentGone(f.segment.name, f.segment.path)
  assert.equal(isAlive(f.pid), false, `the feed process ${f.pid} is gone`)
})

test('--feed process: the table says the feed was a separate process and that no quote was invalid', () => {
  const r = runRouter(['--feed', 'process', '--orders', '300', '--strategies', 'direct'])
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^machine: .*; shared slab: \d+ slots, \d+ replicas, (shm|hugetlbfs) \(\S+\)$/m)
  assert.match(r.stdout, /^feed: a separate process \(pid (\d+); router pid (\d+)\) wrote \d+ ticks .* segment unlinked$/m)
  assert.match(r.stdout, /^  price violations\s+0$/m)
  assert.match(r.stdout, /0 violations/)
  const name = /into (router-\d+-[0-9a-f]{8})/.exec(r.stdout)[1]
  routerSegments.add(name)
  assertSegmentGone(name, `/dev/shm/ultraslayer.${name}`)
})

test('--feed process with steer is a usage error', () => {
  for (const strategies of ['steer', 'hedge,steer']) {
    const r = runRouter(['--feed', 'process', '--strategies', strategies])
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /--feed process .*not steering: use --strategies hedge,direct/)
    assert.match(r.stderr, /usage: order-router/)
  }
  for (const args of [['--feed', 'thread'], ['--slab', 'x'], ['--role', 'feed']]) {
    const r = runRouter(args)
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /usage: order-router/)
  }
})

test('--feed process: SIGTERM mid-run stops the feed and removes the segment', async () => {
  const child = spawn(process.execPath, [ROUTER, '--feed', 'process', '--orders', '10000000', '--strategies', 'direct'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  const started = new Promise((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (c) => {
      stderr += c
      const m = /feed process pid (\d+) is writing prices into shared slab (\S+) \((\S+)\)/.exec(stderr)
      if (m && /running \d+ orders/.test(stderr)) resolve({ feedPid: Number(m[1]), name: m[2], file: m[3] })
    })
    exited.then(({ code }) => reject(new Error(`router exited (${code}) before running:\n${stderr}`)))
  })
  const { feedPid, name, file } = await started
  routerSegments.add(name)
  assert.ok(fs.existsSync(file), 'the segment exists while the router runs')
  assert.ok(isAlive(feedPid), 'the feed runs while the router runs')
  child.kill('SIGTERM')
  const { code } = await exited
  clearTimeout(killer)
  assert.equal(code, 143, stderr)
  assert.match(stderr, /interrupted by SIGTERM; the feed process was stopped and the shared slab removed/)
  assertSegmentGone(name, file)
  assert.equal(isAlive(feedPid), false, `the feed process ${feedPid} is gone`)
})
