// order-router: a small order-routing service that keeps its hot state in an ultraslayer slab.
//
// Prices (float64) and risk limits (64-bit integers) live in one `Slayer`. Every order is checked
// against them (price band around the last trade, order quantity, notional, per-account position)
// and then routed to the venue with the better price, or rejected with a reason. The time of each
// decision is measured with process.hrtime.bigint() and reported as percentiles, and the same
// order stream is run once per read strategy ('hedge', 'direct', 'steer') so the numbers sit side
// by side. Every strategy must make exactly the same decisions; only the time may differ.
//
// Orders come from a seeded generator (default: bursts of back-to-back orders, then a steady
// trickle that yields to the event loop between orders) or, with --mode http, from
// `POST /order` on 127.0.0.1 (loopback only, bounded body size and connection count).
//
//   npm run example:router -- --orders 20000 --strategies hedge,direct,steer
//   npm run example:router -- --mode http --port 8080 --max-orders 1000
//
// This file owns the router and its slab; it never reads or writes the slab from anywhere but the
// main thread, so a check and the position update that follows it cannot interleave with another
// order.
//
// Slot layout (one slab, 64-bit slots; "f64" slots use readF64/writeF64, "u64" slots BigInt):
//
//   symbol k (0 <= k < 8) owns slots k*8 .. k*8+7
//     k*8+0  bid at venue alpha          f64
//     k*8+1  ask at venue alpha          f64
//     k*8+2  bid at venue beta           f64
//     k*8+3  ask at venue beta           f64
//     k*8+4  last trade price            f64
//     k*8+5  price band, basis points    u64   (a limit price must lie within last +/- band)
//     k*8+6  max order quantity, shares  u64
//     k*8+7  max order notional, cents   u64
//   account a (0 <= a < 4) owns slots 64 + a*16 .. 64 + a*16 + 15
//     +0     position limit, shares      u64   (per symbol, either direction)
//     +1..7  reserved
//     +8+k   position in symbol k        u64   (a signed 64-bit integer, two's complement)
//   globals at slot 128
//     128    next order id               u64

import * as http from 'node:http'
import * as os from 'node:os'
import { parseArgs } from 'node:util'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { Slayer } from 'ultraslayer'
import type { SlayerInfo, SlayerOptions, SlayerStats } from 'ultraslayer'

// ---------------------------------------------------------------------------------------------
// Layout

const SYMBOLS = ['ACME', 'BOLT', 'CRUX', 'DYNO', 'EMBR', 'FLUX', 'GRIT', 'HALO'] as const
const OPENING_PRICES = [12.5, 48.2, 101.75, 7.31, 230.4, 63.9, 15.05, 88.6]
const ACCOUNT_POSITION_LIMITS = [20_000n, 20_000n, 8_000n, 2_000n]

const SYMBOL_BLOCK = 8
const BID_ALPHA = 0
const ASK_ALPHA = 1
const BID_BETA = 2
const ASK_BETA = 3
const LAST = 4
const BAND_BPS = 5
const MAX_QTY = 6
const MAX_NOTIONAL_CENTS = 7

const ACCOUNT_BASE = SYMBOLS.length * SYMBOL_BLOCK
const ACCOUNT_BLOCK = 16
const POSITION_LIMIT = 0
const POSITION_0 = 8
const ACCOUNTS = ACCOUNT_POSITION_LIMITS.length

const GLOBAL_BASE = ACCOUNT_BASE + ACCOUNTS * ACCOUNT_BLOCK
const NEXT_ORDER_ID = 0
const SLOT_COUNT = GLOBAL_BASE + 8

const symbolSlot = (k: number, field: number): number => k * SYMBOL_BLOCK + field
const accountSlot = (a: number, field: number): number => ACCOUNT_BASE + a * ACCOUNT_BLOCK + field
const positionSlot = (a: number, k: number): number => accountSlot(a, POSITION_0 + k)

// ---------------------------------------------------------------------------------------------
// Orders and decisions

type Side = 'buy' | 'sell'
type Venue = 'alpha' | 'beta'
type Strategy = NonNullable<SlayerOptions['strategy']>
type Spin = NonNullable<SlayerOptions['spin']>

const STRATEGIES: readonly Strategy[] = ['hedge', 'direct', 'steer']
const SPINS: readonly Spin[] = ['busy', 'hybrid', 'sleep']
const VENUES: readonly Venue[] = ['alpha', 'beta']
const REJECT_REASONS = ['unknown-symbol', 'unknown-account', 'qty-limit', 'price-band', 'notional-limit', 'position-limit'] as const
type RejectReason = (typeof REJECT_REASONS)[number]

interface Order {
  account: number
  symbol: string
  side: Side
  qty: number
  /** Limit price. */
  price: number
}

type Decision =
  | { kind: 'routed'; venue: Venue; marketable: boolean; symbol: number }
  | { kind: 'rejected'; reason: RejectReason; value: number; limit: number }

function describeReject(d: Extract<Decision, { kind: 'rejected' }>): string {
  switch (d.reason) {
    case 'unknown-symbol':
      return `symbol is not one of ${SYMBOLS.join(', ')}`
    case 'unknown-account':
      return `account ${d.value} is not in 0..${d.limit}`
    case 'qty-limit':
      return `qty ${d.value} exceeds the max order qty ${d.limit}`
    case 'price-band':
      return `limit price is ${d.value.toFixed(0)} bps from the last trade; the band is ${d.limit} bps`
    case 'notional-limit':
      return `notional ${(d.value / 100).toFixed(2)} exceeds the max ${(d.limit / 100).toFixed(2)}`
    case 'position-limit':
      return `position would be ${d.value} shares; the limit is ${d.limit}`
  }
}

// ---------------------------------------------------------------------------------------------
// The router: checks an order against the slab, routes it, and books the routed order.

class OrderRouter {
  readonly #slab: Slayer
  readonly #symbolIndex = new Map<string, number>(SYMBOLS.map((s, k) => [s, k]))

  constructor(slab: Slayer) {
    if (slab.slots < SLOT_COUNT) throw new RangeError(`the router needs a slab of at least ${SLOT_COUNT} slots, got ${slab.slots}`)
    this.#slab = slab
  }

  /** Writes opening quotes, limits and flat positions: the state every run starts from. */
  reset(): void {
    const s = this.#slab
    SYMBOLS.forEach((_, k) => {
      this.applyTick(openingTick(k))
      s.writeU64(symbolSlot(k, BAND_BPS), 150n)
      s.writeU64(symbolSlot(k, MAX_QTY), 5_000n)
      s.writeU64(symbolSlot(k, MAX_NOTIONAL_CENTS), 25_000_000n) // 250,000.00
    })
    ACCOUNT_POSITION_LIMITS.forEach((limit, a) => {
      s.writeU64(accountSlot(a, POSITION_LIMIT), limit)
      SYMBOLS.forEach((_, k) => s.writeU64(positionSlot(a, k), 0n))
    })
    s.writeU64(GLOBAL_BASE + NEXT_ORDER_ID, 1n)
  }

  /** Stores one symbol's new quotes and last price. */
  applyTick(t: Tick): void {
    const s = this.#slab
    const k = t.symbol
    s.writeF64(symbolSlot(k, BID_ALPHA), t.bidAlpha)
    s.writeF64(symbolSlot(k, ASK_ALPHA), t.askAlpha)
    s.writeF64(symbolSlot(k, BID_BETA), t.bidBeta)
    s.writeF64(symbolSlot(k, ASK_BETA), t.askBeta)
    s.writeF64(symbolSlot(k, LAST), t.last)
  }

  /**
   * The decision: reads only, no state changes; this is what the latency numbers measure. Each
   * check reads just the slots it needs, one at a time: single-slot reads take the binding's fast
   * path, while a readMany* call costs more than it saves for a handful of slots (see README.md).
   */
  decide(o: Order): Decision {
    const k = this.#symbolIndex.get(o.symbol)
    if (k === undefined) return { kind: 'rejected', reason: 'unknown-symbol', value: 0, limit: 0 }
    if (!(o.account >= 0 && o.account < ACCOUNTS)) return { kind: 'rejected', reason: 'unknown-account', value: o.account, limit: ACCOUNTS - 1 }
    const s = this.#slab

    const maxQty = Number(s.readU64(symbolSlot(k, MAX_QTY)))
    if (o.qty > maxQty) return { kind: 'rejected', reason: 'qty-limit', value: o.qty, limit: maxQty }
    const last = s.readF64(symbolSlot(k, LAST))
    const bandBps = Number(s.readU64(symbolSlot(k, BAND_BPS)))
    const offBps = (Math.abs(o.price - last) * 10_000) / last
    if (offBps > bandBps) return { kind: 'rejected', reason: 'price-band', value: offBps, limit: bandBps }
    const maxNotionalCents = Number(s.readU64(symbolSlot(k, MAX_NOTIONAL_CENTS)))
    const notionalCents = Math.round(o.qty * o.price * 100)
    if (notionalCents > maxNotionalCents) return { kind: 'rejected', reason: 'notional-limit', value: notionalCents, limit: maxNotionalCents }
    // Conservative: the position as if the whole order filled.
    const position = Number(BigInt.asIntN(64, s.readU64(positionSlot(o.account, k))))
    const positionLimit = Number(s.readU64(accountSlot(o.account, POSITION_LIMIT)))
    const after = position + (o.side === 'buy' ? o.qty : -o.qty)
    if (Math.abs(after) > positionLimit) return { kind: 'rejected', reason: 'position-limit', value: after, limit: positionLimit }

    const bidAlpha = s.readF64(symbolSlot(k, BID_ALPHA))
    const askAlpha = s.readF64(symbolSlot(k, ASK_ALPHA))
    const bidBeta = s.readF64(symbolSlot(k, BID_BETA))
    const askBeta = s.readF64(symbolSlot(k, ASK_BETA))
    // Marketable orders go where they fill at the better price; resting orders join the venue
    // quoting the better price on their own side.
    if (o.side === 'buy') {
      const bestAsk = Math.min(askAlpha, askBeta)
      const marketable = o.price >= bestAsk
      const venue: Venue = marketable ? (askAlpha <= askBeta ? 'alpha' : 'beta') : bidAlpha >= bidBeta ? 'alpha' : 'beta'
      return { kind: 'routed', venue, marketable, symbol: k }
    }
    const bestBid = Math.max(bidAlpha, bidBeta)
    const marketable = o.price <= bestBid
    const venue: Venue = marketable ? (bidAlpha >= bidBeta ? 'alpha' : 'beta') : askAlpha <= askBeta ? 'alpha' : 'beta'
    return { kind: 'routed', venue, marketable, symbol: k }
  }

  /** Books a routed order: updates the account's position and takes the next order id. */
  book(o: Order, d: Extract<Decision, { kind: 'routed' }>): bigint {
    const s = this.#slab
    const slot = positionSlot(o.account, d.symbol)
    const position = BigInt.asIntN(64, s.readU64(slot)) + BigInt(o.side === 'buy' ? o.qty : -o.qty)
    s.writeU64(slot, BigInt.asUintN(64, position))
    const id = s.readU64(GLOBAL_BASE + NEXT_ORDER_ID)
    s.writeU64(GLOBAL_BASE + NEXT_ORDER_ID, id + 1n)
    return id
  }
}

// ---------------------------------------------------------------------------------------------
// Deterministic inputs: a seeded PRNG, a price feed and an order generator.

/** xorshift32 with a seed scrambled by a multiplicative hash; floats in [0, 1). */
class Rng {
  #x: number
  constructor(seed: number) {
    this.#x = Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) >>> 0 || 1
  }
  next(): number {
    let x = this.#x
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.#x = x >>> 0
    return this.#x / 4294967296
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  chance(p: number): boolean {
    return this.next() < p
  }
}

interface Tick {
  symbol: number
  bidAlpha: number
  askAlpha: number
  bidBeta: number
  askBeta: number
  last: number
}

const cents = (x: number): number => Math.round(x * 100) / 100

function quoteAround(symbol: number, mid: number, betaSkew: number): Tick {
  const half = Math.max(0.01, cents(mid * 0.0004))
  return {
    symbol,
    bidAlpha: cents(mid - half),
    askAlpha: cents(mid + half),
    bidBeta: cents(mid - half + betaSkew),
    askBeta: cents(mid + half + betaSkew),
    last: cents(mid),
  }
}

function openingTick(k: number): Tick {
  return quoteAround(k, OPENING_PRICES[k], 0)
}

/**
 * A random walk per symbol that drifts back toward the opening price (so a long-running feed stays
 * within a few tenths of a percent of it); venue beta quotes a cent or two away from alpha.
 */
class PriceFeed {
  readonly #rng: Rng
  readonly #mids = OPENING_PRICES.slice()
  constructor(seed: number) {
    this.#rng = new Rng(seed ^ 0x0fee0fee)
  }
  mid(k: number): number {
    return this.#mids[k]
  }
  next(): Tick {
    const r = this.#rng
    const k = r.int(SYMBOLS.length)
    const noise = (r.next() + r.next() + r.next() - 1.5) * 0.0008
    const pull = (OPENING_PRICES[k] - this.#mids[k]) * 0.01
    this.#mids[k] = Math.max(0.5, this.#mids[k] * (1 + noise) + pull)
    const betaSkew = (r.int(5) - 2) * 0.01
    return quoteAround(k, this.#mids[k], betaSkew)
  }
}

/** Orders as a busy client would send them, with a few that must be rejected mixed in. */
class OrderGenerator {
  readonly #rng: Rng
  readonly #feed: PriceFeed
  constructor(seed: number, feed: PriceFeed) {
    this.#rng = new Rng(seed)
    this.#feed = feed
  }
  next(): Order {
    const r = this.#rng
    const k = r.int(SYMBOLS.length)
    const side: Side = r.chance(0.5) ? 'buy' : 'sell'
    let symbol: string = SYMBOLS[k]
    let account = r.int(ACCOUNTS)
    let qty = 100 * (1 + r.int(20))
    // The client prices off a slightly stale mid: near the touch, sometimes through it.
    let price = cents(this.#feed.mid(k) * (1 + (side === 'buy' ? 1 : -1) * (r.next() - 0.6) * 0.004))
    const oddity = r.next()
    if (oddity < 0.01) qty = 10_000 + 100 * r.int(400) // fat-fingered size
    else if (oddity < 0.02) price = cents(price * (r.chance(0.5) ? 1.06 : 0.94)) // fat-fingered price
    else if (oddity < 0.022) symbol = `${symbol}X` // typo
    else if (oddity < 0.023) account = ACCOUNTS + r.int(3) // unknown account
    return { account, symbol, side, qty, price }
  }
}

// ---------------------------------------------------------------------------------------------
// Measurement and tallies

interface Percentiles {
  count: number
  mean: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
}

class LatencyRecorder {
  #ns: Float64Array
  #n = 0
  constructor(capacity: number) {
    this.#ns = new Float64Array(Math.max(1, capacity))
  }
  record(ns: number): void {
    if (this.#n === this.#ns.length) {
      const grown = new Float64Array(this.#ns.length * 2)
      grown.set(this.#ns)
      this.#ns = grown
    }
    this.#ns[this.#n++] = ns
  }
  percentiles(): Percentiles {
    const n = this.#n
    if (n === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 }
    const sorted = this.#ns.slice(0, n).sort()
    // Nearest rank: the smallest value with at least p of the samples at or below it.
    const at = (p: number): number => sorted[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]
    let sum = 0
    for (let i = 0; i < n; i++) sum += sorted[i]
    return { count: n, mean: Math.round(sum / n), p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: sorted[n - 1] }
  }
}

class Tally {
  orders = 0
  routed = 0
  marketable = 0
  venues: Record<Venue, number> = { alpha: 0, beta: 0 }
  rejects = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>
  // FNV-1a over every decision: equal digests mean equal decisions, order by order.
  #digest = 0x811c9dc5

  add(d: Decision): void {
    this.orders++
    let code: number
    if (d.kind === 'routed') {
      this.routed++
      this.venues[d.venue]++
      if (d.marketable) this.marketable++
      code = VENUES.indexOf(d.venue) * 2 + (d.marketable ? 1 : 0)
    } else {
      this.rejects[d.reason]++
      code = 16 + REJECT_REASONS.indexOf(d.reason)
    }
    this.#digest = Math.imul(this.#digest ^ code, 0x01000193) >>> 0
  }
  get rejected(): number {
    return this.orders - this.routed
  }
  get digest(): string {
    return this.#digest.toString(16).padStart(8, '0')
  }
}

interface ReadCounts {
  hedged: number
  direct: number
  directWhileParked: number
  directAfterTimeout: number
  steered: number
}

interface StrategyReport {
  strategy: Strategy
  spin: Spin | null
  replicas: number
  sharedCores: boolean
  pageKind: string
  orders: number
  routed: number
  rejected: number
  marketable: number
  venues: Record<Venue, number>
  rejects: Record<RejectReason, number>
  latencyNs: Percentiles
  reads: ReadCounts
  /** Strategy 'steer': the tracker's state and whether the copies stall apart (if not, no gain). */
  steer: { state: string; copiesApart: boolean } | null
  digest: string
}

interface MachineReport {
  cpuModel: string
  cpuCount: number
  allowedCpus: number
  replicas: number
  coresWantedForHedge: number
  coreShortage: boolean
  note: string | null
}

interface RunSummary {
  example: 'order-router'
  mode: 'generator' | 'http'
  seed: number
  orders: number
  symbols: number
  accounts: number
  machine: MachineReport
  strategies: StrategyReport[]
  sameDecisions: boolean
}

function readCounts(st: SlayerStats): ReadCounts {
  return { hedged: st.hedged, direct: st.direct, directWhileParked: st.directWhileParked, directAfterTimeout: st.directAfterTimeout, steered: st.steered }
}

function machineReport(info: SlayerInfo, hedgeRan: boolean): MachineReport {
  const wanted = info.replicas + 1
  const allowed = info.allowedCpus.length
  const coreShortage = allowed < wanted || info.sharedCores
  const note = coreShortage && hedgeRan
    ? `this machine has ${info.cpuCount} cores (${allowed} allowed to this process); hedged reads want replicas + 1 = ${wanted} ` +
      `(one per replica thread plus the thread that reads), so the replica threads share cores (sharedCores: ${info.sharedCores}): ` +
      `hedged reads stay correct but are not fast here; compare strategies on a machine with >= ${wanted} free cores`
    : null
  return { cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown', cpuCount: info.cpuCount, allowedCpus: allowed, replicas: info.replicas, coresWantedForHedge: wanted, coreShortage, note }
}

function slabOptions(strategy: Strategy, spin: Spin): SlayerOptions {
  // Replica threads only exist for 'hedge'; 'direct' and 'steer' read from the calling thread.
  return strategy === 'hedge' ? { slots: SLOT_COUNT, strategy, spin } : { slots: SLOT_COUNT, strategy }
}

function report(strategy: Strategy, spin: Spin, slab: Slayer, tally: Tally, latency: LatencyRecorder): StrategyReport {
  const info = slab.info()
  const st = slab.stats()
  return {
    strategy,
    spin: strategy === 'hedge' ? spin : null,
    replicas: info.replicas,
    sharedCores: info.sharedCores,
    pageKind: info.pageKind,
    orders: tally.orders,
    routed: tally.routed,
    rejected: tally.rejected,
    marketable: tally.marketable,
    venues: { ...tally.venues },
    rejects: { ...tally.rejects },
    latencyNs: latency.percentiles(),
    reads: readCounts(st),
    steer: st.steer ? { state: st.steer.state, copiesApart: st.steer.copiesApart } : null,
    digest: tally.digest,
  }
}

/** Decides one order, timing only the decision (the reads and checks), then books it if routed. */
function handle(router: OrderRouter, o: Order, tally: Tally, latency: LatencyRecorder): { decision: Decision; orderId: bigint | null } {
  const t0 = process.hrtime.bigint()
  const decision = router.decide(o)
  const t1 = process.hrtime.bigint()
  latency.record(Number(t1 - t0))
  tally.add(decision)
  return { decision, orderId: decision.kind === 'routed' ? router.book(o, decision) : null }
}

// ---------------------------------------------------------------------------------------------
// Generator mode: the same seeded stream once per strategy.

const BURST = 256 // orders back to back
const STEADY = 64 // orders with a trip through the event loop before each
const ORDERS_PER_TICK = 4

/** Warms the JIT on this slab with a stream of its own, then leaves a clean book and counters. */
function warmUp(router: OrderRouter, slab: Slayer, seed: number): void {
  router.reset()
  const feed = new PriceFeed(seed + 1)
  const gen = new OrderGenerator(seed + 1, feed)
  for (let i = 0; i < 2_000; i++) {
    if (i % ORDERS_PER_TICK === 0) router.applyTick(feed.next())
    router.decide(gen.next())
  }
  router.reset()
  slab.resetStats()
}

async function runGenerated(strategy: Strategy, orders: number, seed: number, spin: Spin): Promise<{ report: StrategyReport; info: SlayerInfo }> {
  const slab = new Slayer(slabOptions(strategy, spin))
  try {
    const router = new OrderRouter(slab)
    warmUp(router, slab, seed)

    const feed = new PriceFeed(seed)
    const gen = new OrderGenerator(seed, feed)
    const tally = new Tally()
    const latency = new LatencyRecorder(orders)
    for (let i = 0; i < orders; i++) {
      const phase = i % (BURST + STEADY)
      if (phase >= BURST) await yieldToEventLoop()
      if (i % ORDERS_PER_TICK === 0) router.applyTick(feed.next())
      handle(router, gen.next(), tally, latency)
    }
    return { report: report(strategy, spin, slab, tally, latency), info: slab.info() }
  } finally {
    slab.close()
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP mode: POST /order on 127.0.0.1, one slab (the first strategy listed).

const HOST = '127.0.0.1'
const MAX_BODY_BYTES = 16 * 1024
const MAX_CONNECTIONS = 64

/** Checks the shape of a decoded order; returns an error message or the order. */
function parseOrder(body: unknown): Order | string {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'the body must be a JSON object like {"account":0,"symbol":"ACME","side":"buy","qty":100,"price":12.5}'
  const b = body as Record<string, unknown>
  if (typeof b.symbol !== 'string') return '`symbol` must be a string'
  if (typeof b.account !== 'number' || !Number.isSafeInteger(b.account)) return '`account` must be an integer'
  if (b.side !== 'buy' && b.side !== 'sell') return '`side` must be "buy" or "sell"'
  if (typeof b.qty !== 'number' || !Number.isSafeInteger(b.qty) || b.qty <= 0) return '`qty` must be a positive integer'
  if (typeof b.price !== 'number' || !Number.isFinite(b.price) || b.price <= 0) return '`price` must be a positive number'
  return { account: b.account, symbol: b.symbol, side: b.side, qty: b.qty, price: b.price }
}

function send(res: http.ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function readBody(req: http.IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY_BYTES) {
        resolve(null)
        req.removeAllListeners('data')
        req.resume()
        return
      }
      chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

async function runHttp(strategy: Strategy, port: number, maxOrders: number | null, seed: number, spin: Spin, log: (line: string) => void): Promise<{ report: StrategyReport; info: SlayerInfo }> {
  const slab = new Slayer(slabOptions(strategy, spin))
  try {
    return await serveOrders(slab, strategy, port, maxOrders, seed, spin, log)
  } finally {
    slab.close()
  }
}

/** Serves POST /order until POST /shutdown, --max-orders, SIGINT or SIGTERM; resolves once closed. */
async function serveOrders(slab: Slayer, strategy: Strategy, port: number, maxOrders: number | null, seed: number, spin: Spin, log: (line: string) => void): Promise<{ report: StrategyReport; info: SlayerInfo }> {
  const router = new OrderRouter(slab)
  warmUp(router, slab, seed)
  const tally = new Tally()
  const latency = new LatencyRecorder(1024)
  const feed = new PriceFeed(seed)
  // The price feed: eight ticks every 2 ms, on the same thread as the orders.
  const feedTimer = setInterval(() => {
    for (let i = 0; i < SYMBOLS.length; i++) router.applyTick(feed.next())
  }, 2)

  const server = http.createServer()
  server.maxConnections = MAX_CONNECTIONS
  server.requestTimeout = 10_000
  server.headersTimeout = 5_000
  server.keepAliveTimeout = 1_000
  let stopping = false
  const stopped = new Promise<void>((resolve) => server.on('close', resolve))
  const stop = (): void => {
    if (stopping) return
    stopping = true
    clearInterval(feedTimer)
    server.close()
    server.closeIdleConnections()
  }

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = (req.url ?? '').split('?')[0]
    if (path === '/shutdown' && req.method === 'POST') {
      res.on('finish', stop)
      send(res, 200, { status: 'stopping', orders: tally.orders })
      return
    }
    if (path === '/stats' && req.method === 'GET') {
      send(res, 200, report(strategy, spin, slab, tally, latency))
      return
    }
    if (path !== '/order') return send(res, 404, { error: 'not found: POST /order, POST /shutdown, GET /stats' })
    if (req.method !== 'POST') return send(res, 405, { error: 'use POST /order with a JSON body' })
    if (stopping) return send(res, 503, { error: 'the router is shutting down' })
    readBody(req).then(
      (text) => {
        if (text === null) return send(res, 413, { error: `the body is larger than ${MAX_BODY_BYTES} bytes` })
        let body: unknown
        try {
          body = JSON.parse(text)
        } catch (e) {
          return send(res, 400, { error: `malformed JSON: ${(e as Error).message}` })
        }
        const order = parseOrder(body)
        if (typeof order === 'string') return send(res, 400, { error: order })
        if (stopping) return send(res, 503, { error: 'the router is shutting down' })
        const { decision, orderId } = handle(router, order, tally, latency)
        if (maxOrders !== null && tally.orders >= maxOrders) res.on('finish', stop)
        if (decision.kind === 'routed') {
          send(res, 200, { status: 'routed', orderId: String(orderId), venue: decision.venue, marketable: decision.marketable })
        } else {
          send(res, 200, { status: 'rejected', reason: decision.reason, detail: describeReject(decision) })
        }
      },
      (err: Error) => send(res, 400, { error: `could not read the body: ${err.message}` }),
    )
  })

  const onSignal = (): void => stop()
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, HOST, () => resolve())
    })
    const address = server.address()
    const bound = typeof address === 'object' && address !== null ? address.port : port
    log(`order-router listening on http://${HOST}:${bound} (strategy ${strategy}); POST /order, GET /stats, POST /shutdown` + (maxOrders !== null ? `; stops after ${maxOrders} orders` : ''))
    await stopped
    return { report: report(strategy, spin, slab, tally, latency), info: slab.info() }
  } finally {
    clearInterval(feedTimer)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (server.listening) server.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Output

function table(s: RunSummary): string {
  const cols = s.strategies.map((r) => (r.strategy === 'hedge' ? `hedge/${r.spin}` : r.strategy))
  const width = Math.max(10, ...cols.map((c) => c.length + 2))
  const row = (label: string, cells: Array<string | number>): string => label.padEnd(24) + cells.map((c) => String(c).padStart(width)).join('')
  const pct = (pick: (p: Percentiles) => number): number[] => s.strategies.map((r) => Math.round(pick(r.latencyNs)))
  const lines = [
    row('decision latency (ns)', cols),
    row('  p50', pct((p) => p.p50)),
    row('  p90', pct((p) => p.p90)),
    row('  p99', pct((p) => p.p99)),
    row('  p99.9', pct((p) => p.p999)),
    row('  max', pct((p) => p.max)),
    row('  mean', pct((p) => p.mean)),
    row('routed', s.strategies.map((r) => r.routed)),
    row('  alpha / beta', s.strategies.map((r) => `${r.venues.alpha}/${r.venues.beta}`)),
    row('  marketable', s.strategies.map((r) => r.marketable)),
    row('rejected', s.strategies.map((r) => r.rejected)),
    ...REJECT_REASONS.map((reason) => row(`  ${reason}`, s.strategies.map((r) => r.rejects[reason]))),
    // From slab.stats(): how the slab served the reads (decisions and bookings).
    row('slab reads: hedged', s.strategies.map((r) => r.reads.hedged)),
    row('  steered', s.strategies.map((r) => r.reads.steered)),
    row('  direct', s.strategies.map((r) => r.reads.direct)),
    row('  direct, threads parked', s.strategies.map((r) => r.reads.directWhileParked)),
    row('  direct, timed out', s.strategies.map((r) => r.reads.directAfterTimeout)),
    row('decision digest', s.strategies.map((r) => r.digest)),
  ]
  return lines.join('\n')
}

function printSummary(s: RunSummary, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(s, null, 2) + '\n')
    return
  }
  const m = s.machine
  const out: string[] = []
  out.push(`order-router: ${s.orders} orders (${s.mode}${s.mode === 'generator' ? `, seed ${s.seed}, bursts of ${BURST} then ${STEADY} steady` : ''}), ${s.symbols} symbols, ${s.accounts} accounts`)
  out.push(`machine: ${m.cpuModel}, ${m.cpuCount} cores, ${m.allowedCpus} allowed; slab: ${SLOT_COUNT} slots, ${m.replicas} replicas, ${s.strategies[0]?.pageKind ?? '?'} pages`)
  if (m.note !== null) out.push(`note: ${m.note}`)
  out.push('')
  out.push(table(s))
  for (const r of s.strategies) {
    if (r.steer === null) continue
    out.push('')
    out.push(
      `steer: tracker ${r.steer.state}; ` +
        (r.steer.copiesApart ? 'the copies stall apart, so steering can avoid stalls' : 'the copies do not stall apart here, so steering reads a fixed copy (no gain over direct)'),
    )
  }
  if (s.strategies.length > 1) {
    out.push('')
    out.push(
      s.sameDecisions
        ? 'every strategy made the same decisions (equal digests); only the time differs'
        : 'WARNING: the strategies made different decisions: a read returned a different value',
    )
  }
  process.stdout.write(out.join('\n') + '\n')
}

// ---------------------------------------------------------------------------------------------
// CLI

const USAGE = `usage: order-router [--orders N] [--mode generator|http] [--port P] [--max-orders N]
                    [--strategies hedge,direct,steer] [--spin hybrid|sleep|busy] [--seed S] [--json]
  --orders N        orders per strategy in generator mode (default 20000)
  --mode            generator (default: a seeded burst/steady stream) or http (POST /order on ${HOST})
  --port P          http mode: port on ${HOST} (default 8080; 0 picks a free one)
  --max-orders N    http mode: stop after N orders (default: run until POST /shutdown or Ctrl-C)
  --strategies      read strategies to compare, in order (http mode uses the first)
  --spin            how hedge replica threads wait (default hybrid: usable on small machines)
  --seed S          generator seed (default 42)
  --json            print a machine-readable summary to stdout instead of the table`

class UsageError extends Error {}

interface Config {
  orders: number
  mode: 'generator' | 'http'
  port: number
  maxOrders: number | null
  strategies: Strategy[]
  spin: Spin
  seed: number
  json: boolean
}

function intOption(name: string, v: string | undefined, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`)
  return n
}

function parseConfig(argv: string[]): Config | 'help' {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      options: {
        orders: { type: 'string' },
        mode: { type: 'string' },
        port: { type: 'string' },
        'max-orders': { type: 'string' },
        strategies: { type: 'string' },
        spin: { type: 'string' },
        seed: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
  if (parsed.help) return 'help'
  const mode = parsed.mode ?? 'generator'
  if (mode !== 'generator' && mode !== 'http') throw new UsageError(`--mode must be generator or http, got ${JSON.stringify(mode)}`)
  const strategies = (parsed.strategies ?? 'hedge,direct,steer').split(',').map((x) => x.trim())
  for (const x of strategies) {
    if (!(STRATEGIES as readonly string[]).includes(x)) throw new UsageError(`unknown strategy ${JSON.stringify(x)}: use ${STRATEGIES.join(', ')}`)
  }
  if (new Set(strategies).size !== strategies.length) throw new UsageError('--strategies lists a strategy twice')
  const spin = parsed.spin ?? 'hybrid'
  if (!(SPINS as readonly string[]).includes(spin)) throw new UsageError(`--spin must be one of ${SPINS.join(', ')}, got ${JSON.stringify(spin)}`)
  return {
    orders: intOption('orders', parsed.orders, 20_000, 1, 10_000_000),
    mode,
    port: intOption('port', parsed.port, 8080, 0, 65535),
    maxOrders: parsed['max-orders'] === undefined ? null : intOption('max-orders', parsed['max-orders'], 0, 1, 10_000_000),
    strategies: strategies as Strategy[],
    spin: spin as Spin,
    seed: intOption('seed', parsed.seed, 42, 0, 0xffffffff),
    json: parsed.json ?? false,
  }
}

async function main(argv: string[]): Promise<number> {
  let config: Config | 'help'
  try {
    config = parseConfig(argv)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    process.stderr.write(`order-router: ${e.message}\n${USAGE}\n`)
    return 2
  }
  if (config === 'help') {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  // Progress and the listening line go to stderr, so stdout stays one table or one JSON document.
  const log = (line: string): void => void process.stderr.write(line + '\n')

  const results: Array<{ report: StrategyReport; info: SlayerInfo }> = []
  if (config.mode === 'http') {
    results.push(await runHttp(config.strategies[0], config.port, config.maxOrders, config.seed, config.spin, log))
  } else {
    for (const strategy of config.strategies) {
      log(`running ${config.orders} orders with strategy '${strategy}'...`)
      results.push(await runGenerated(strategy, config.orders, config.seed, config.spin))
    }
  }
  const reports = results.map((r) => r.report)
  // The machine note comes from a slab that had replica threads if there was one.
  const infoForMachine = (results.find((r) => r.report.strategy === 'hedge') ?? results[0]).info
  const summary: RunSummary = {
    example: 'order-router',
    mode: config.mode,
    seed: config.seed,
    orders: config.mode === 'http' ? reports[0].orders : config.orders,
    symbols: SYMBOLS.length,
    accounts: ACCOUNTS,
    machine: machineReport(infoForMachine, reports.some((r) => r.strategy === 'hedge')),
    strategies: reports,
    sameDecisions: reports.every((r) => r.digest === reports[0].digest),
  }
  printSummary(summary, config.json)
  return summary.sameDecisions ? 0 : 1
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`order-router: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = 1
  },
)
