// order-router: a small order-routing service that keeps its hot state in ultraslayer.
//
// Prices and risk limits live either in 64-bit slots of one `Slayer` (--state slots: the "before",
// one binding call per value, quotes versioned by hand) or in `Records` (--state records: the
// "after", one call per record, each read one consistent snapshot). Every order is checked against
// them (price band around the last trade, order quantity, notional, per-account position) and then
// routed to the venue with the better price, or rejected with a reason. The time of each decision
// is measured with process.hrtime.bigint() and reported as percentiles, and the same order stream
// is run once per state and read strategy ('hedge', 'direct', 'steer') so the numbers sit side by
// side. With the inline feed every state and strategy must make exactly the same decisions; only
// the time may differ.
//
// Orders come from a seeded generator (default: bursts of back-to-back orders, then a steady
// trickle that yields to the event loop between orders) or, with --mode http, from
// `POST /order` on 127.0.0.1 (loopback only, bounded body size and connection count).
//
// Prices come from a seeded feed: applied by the router itself between orders (--feed inline, the
// default), or, with --feed process, written by a child process per state (this same file, --role
// feed) into a named shared segment — a slab, or a record segment — that the router creates, reads
// and removes (see "--feed process" below).
//
//   npm run example:router -- --orders 20000 --state slots,records --strategies hedge,direct,steer
//   npm run example:router -- --mode http --port 8080 --max-orders 1000
//   npm run example:router -- --feed process --strategies hedge,direct
//
// The router reads and writes its state from its main thread only, so a check and the position
// update that follows it cannot interleave with another order. With --feed process the feed
// process writes the prices (and only the prices) concurrently.
//
// The record layout (--state records) is below, at QUOTE_FIELDS and RISK_FIELDS: a quote record per
// symbol (the five prices, the feed's tick serial and a check field) and a risk record per
// (account, symbol) (the symbol's limits, the account's position limit and the position).
//
// Slot layout (--state slots; one slab, 64-bit slots; "f64" slots use readF64/writeF64, "u64" slots BigInt):
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
//
// With --feed process the slab is a named shared segment (await Slayer.create) and has a feed block too:
//
//   feed block at slot 136 (--feed process only)
//     136+k  quote version of symbol k   u64   (odd while the feed is rewriting that symbol's quotes)
//     144    ticks written by the feed   u64
//     145    pid of the feed process     u64
//     146    feed state                  u64   (0 not started, 1 streaming, 2 stopped)
//
// ultraslayer makes each slot atomic on its own (a whole 8-byte value, never torn), and nothing
// more: a reader can see a new bid next to an old ask. So with slots the feed versions every quote
// update (version odd, five prices, version even: a sequence lock) and the router keeps a snapshot
// only when it read the same even version before and after the prices. That relies on the slab's
// stores being Release (they are) and on the reader's loads not being reordered with each other,
// which x86-64 guarantees. Records need none of this: each record read is one consistent copy
// (Records keeps a sequence word per copy itself), so the records path has no versioning. The
// router validates every snapshot anyway (finite, > 0, bid <= ask; records: the check field
// matches the prices) and counts violations.

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as http from 'node:http'
import * as os from 'node:os'
import { parseArgs } from 'node:util'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { Records, Slayer } from 'ultraslayer'
import type { RecordValue, SharedSegmentInfo, SlayerInfo, SlayerOptions, SlayerStats } from 'ultraslayer'

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

// The feed block of a shared slab (--feed process).
const FEED_BASE = SLOT_COUNT
const FEED_TICKS = FEED_BASE + SYMBOLS.length
const FEED_PID = FEED_TICKS + 1
const FEED_STATE = FEED_TICKS + 2
const SHARED_SLOT_COUNT = FEED_BASE + 16
const FEED_STREAMING = 1n
const FEED_STOPPED = 2n

// The static limits of every symbol: price band (basis points), max order qty (shares), max order
// notional (cents: 250,000.00).
const SYMBOL_LIMITS = { bandBps: 150, maxQty: 5_000, maxNotionalCents: 25_000_000 } as const

// Record layout (--state records): two stores, grouped by who writes them.
//
//   quotes, one record per symbol k (written by the price feed: the router inline, or the feed
//   process into a shared segment it alone writes)
const QUOTE_FIELDS = { bidAlpha: 'f64', askAlpha: 'f64', bidBeta: 'f64', askBeta: 'f64', last: 'f64', tick: 'u64', check: 'f64' } as const
//     tick: the feed's serial number of the tick (0 for the opening quote), check: quoteCheck() of
//     the five prices (a snapshot mixing two writes would fail it; Records guarantees it never does).
//   risk, one record per (account a, symbol k), index a * 8 + k (written by the router only)
const RISK_FIELDS = { bandBps: 'f64', maxQty: 'f64', maxNotionalCents: 'f64', positionLimit: 'f64', position: 'f64' } as const
//     the symbol's price band and order limits, the account's position limit, and the position:
//     whole numbers, exact in an f64 up to 2^53, so that a snapshot's getters allocate nothing (a
//     u64 or i64 getter returns a new BigInt each time; that allocation showed as a ~1.5 us tail).
type QuoteRecord = RecordValue<typeof QUOTE_FIELDS>
// RecordValue keeps the schema's `readonly` (from `as const`); the router reuses one mutable value.
type RiskRecord = { -readonly [K in keyof RecordValue<typeof RISK_FIELDS>]: RecordValue<typeof RISK_FIELDS>[K] }
const riskIndex = (a: number, k: number): number => a * SYMBOLS.length + k

const symbolSlot = (k: number, field: number): number => k * SYMBOL_BLOCK + field
const versionSlot = (k: number): number => FEED_BASE + k
const accountSlot = (a: number, field: number): number => ACCOUNT_BASE + a * ACCOUNT_BLOCK + field
const positionSlot = (a: number, k: number): number => accountSlot(a, POSITION_0 + k)

// ---------------------------------------------------------------------------------------------
// Orders and decisions

type Side = 'buy' | 'sell'
type Venue = 'alpha' | 'beta'
type Strategy = NonNullable<SlayerOptions['strategy']>
type Spin = NonNullable<SlayerOptions['spin']>

/** Where the hot state lives: 64-bit slots of one Slayer (before), or Records (after). */
type State = 'slots' | 'records'

const STATES: readonly State[] = ['slots', 'records']
const STRATEGIES: readonly Strategy[] = ['hedge', 'direct', 'steer']
const SPINS: readonly Spin[] = ['busy', 'hybrid', 'sleep']
const VENUES: readonly Venue[] = ['alpha', 'beta']
// 'bad-quote' is last so that the digests of the other reasons keep their codes.
const REJECT_REASONS = ['unknown-symbol', 'unknown-account', 'qty-limit', 'price-band', 'notional-limit', 'position-limit', 'bad-quote'] as const
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
    case 'bad-quote':
      return 'no valid, consistent quote for the symbol (see quotes.violations and quotes.unavailable)'
  }
}

// ---------------------------------------------------------------------------------------------
// Quotes and limits in slots (--state slots): how they are written (versioned or not) and read.

/**
 * Writes a symbol's five prices. Versioned (a shared slab with a feed process): version odd, the
 * prices, version even, so that a reader can tell an update it caught half-way.
 */
class QuoteWriter {
  readonly #slab: Slayer
  readonly #versions: bigint[] | null
  constructor(slab: Slayer, versioned: boolean) {
    this.#slab = slab
    this.#versions = versioned ? SYMBOLS.map((_, k) => slab.readU64(versionSlot(k))) : null
  }
  write(t: Tick): void {
    const s = this.#slab
    const k = t.symbol
    const v = this.#versions
    if (v !== null) {
      v[k] = (v[k] + 1n) | 1n // odd: an update is under way
      s.writeU64(versionSlot(k), v[k])
    }
    s.writeF64(symbolSlot(k, BID_ALPHA), t.bidAlpha)
    s.writeF64(symbolSlot(k, ASK_ALPHA), t.askAlpha)
    s.writeF64(symbolSlot(k, BID_BETA), t.bidBeta)
    s.writeF64(symbolSlot(k, ASK_BETA), t.askBeta)
    s.writeF64(symbolSlot(k, LAST), t.last)
    if (v !== null) {
      v[k] += 1n // even: the update is complete
      s.writeU64(versionSlot(k), v[k])
    }
  }
}

/**
 * What the router's quote reads found: snapshots, retries and unavailable quotes since the measured
 * run began (as the tallies count decisions); violations and torn snapshots since the store was
 * opened, warm-up included (none may ever be seen).
 */
interface QuoteChecks {
  /** Quotes read (one per order with a known symbol and account). */
  snapshots: number
  /** Re-reads because the feed was in the middle of updating that symbol (versioned slot reads only). */
  retries: number
  /** Snapshots with a price that is not finite, not > 0, or a bid above its venue's ask, or a torn one. Expected 0. */
  violations: number
  /** Records only: snapshots whose `check` field disagrees with their prices (a mix of two writes); null for slots, which carry no check. Expected 0. */
  torn: number | null
  /** Times no consistent snapshot could be had (slots: within QUOTE_WAIT_NS; records: ERR_ULTRASLAYER_RECORD_BUSY); the order is rejected. */
  unavailable: number
  /** The first violation, in words. */
  firstViolation: string | null
}

/** How long a versioned read keeps retrying while the feed is mid-update (it may be descheduled). */
const QUOTE_WAIT_NS = 50_000_000n

/** Everything one decision reads, filled by a HotState and checked by OrderRouter.decide. */
class DecisionInputs {
  maxQty = 0
  bandBps = 0
  maxNotionalCents = 0
  position = 0
  positionLimit = 0
  /** bid alpha, ask alpha, bid beta, ask beta, last: one snapshot of one quote. */
  readonly quote = new Float64Array(5)
  /** False when no consistent, untorn quote could be had (the order is rejected as bad-quote). */
  quoteOk = false
}

/** The router's hot state: where quotes, limits and positions live, and how they are read. */
interface HotState {
  readonly kind: State
  /** Reads what a decision on account a, symbol k needs into `v`; the quote as one snapshot. */
  read(a: number, k: number, v: DecisionInputs, checks: QuoteChecks): void
  /** Stores one symbol's new quote (the inline feed; with a feed process the feed writes them). */
  writeQuote(t: Tick): void
  /** Writes the static data: price bands, order limits and position limits. */
  writeLimits(): void
  /** Flat positions and order ids from 1. */
  resetBook(): void
  /** Adds `delta` shares to account a's position in symbol k and takes the next order id. */
  book(a: number, k: number, delta: number): bigint
  /** The quote store's info (slots: the slab's). */
  info(): SlayerInfo
  /** Each store's stats, the quote store's first. */
  stats(): SlayerStats[]
  resetStats(): void
  close(): void
}

/** Before: one Slayer, one 64-bit slot per value (the layout at the top of the file). */
class SlotState implements HotState {
  readonly kind = 'slots'
  readonly #slab: Slayer
  readonly #versioned: boolean
  readonly #writer: QuoteWriter

  /** `versioned`: the prices are written by another process with QuoteWriter's versioning. */
  constructor(slab: Slayer, versioned: boolean) {
    const need = versioned ? SHARED_SLOT_COUNT : SLOT_COUNT
    if (slab.slots < need) throw new RangeError(`the router needs a slab of at least ${need} slots, got ${slab.slots}`)
    this.#slab = slab
    this.#versioned = versioned
    this.#writer = new QuoteWriter(slab, versioned)
  }

  /**
   * One slot per read: single-slot reads take the binding's fast path, while a readMany* call
   * costs more than it saves for a handful of slots (see README.md). The five prices are read
   * together, as one snapshot, so that every check and the venue choice see the same quote.
   */
  read(a: number, k: number, v: DecisionInputs, checks: QuoteChecks): void {
    const s = this.#slab
    v.maxQty = Number(s.readU64(symbolSlot(k, MAX_QTY)))
    v.quoteOk = this.#readQuote(k, v.quote, checks)
    v.bandBps = Number(s.readU64(symbolSlot(k, BAND_BPS)))
    v.maxNotionalCents = Number(s.readU64(symbolSlot(k, MAX_NOTIONAL_CENTS)))
    v.position = Number(BigInt.asIntN(64, s.readU64(positionSlot(a, k))))
    v.positionLimit = Number(s.readU64(accountSlot(a, POSITION_LIMIT)))
  }

  /**
   * Reads symbol k's five prices into q. Versioned, it retries until the version is even and
   * unchanged across the five reads (the hand-made sequence lock); false (counted) when no
   * consistent snapshot came within QUOTE_WAIT_NS.
   */
  #readQuote(k: number, q: Float64Array, checks: QuoteChecks): boolean {
    const s = this.#slab
    if (!this.#versioned) {
      this.#readPrices(k, q)
      return true
    }
    let deadline = 0n
    for (;;) {
      const v1 = s.readU64(versionSlot(k))
      if ((v1 & 1n) === 0n) {
        this.#readPrices(k, q)
        if (s.readU64(versionSlot(k)) === v1) return true
      }
      checks.retries++
      const now = process.hrtime.bigint()
      if (deadline === 0n) deadline = now + QUOTE_WAIT_NS
      else if (now > deadline) {
        checks.unavailable++
        return false
      }
    }
  }

  #readPrices(k: number, q: Float64Array): void {
    const s = this.#slab
    q[0] = s.readF64(symbolSlot(k, BID_ALPHA))
    q[1] = s.readF64(symbolSlot(k, ASK_ALPHA))
    q[2] = s.readF64(symbolSlot(k, BID_BETA))
    q[3] = s.readF64(symbolSlot(k, ASK_BETA))
    q[4] = s.readF64(symbolSlot(k, LAST))
  }

  writeQuote(t: Tick): void {
    this.#writer.write(t)
  }

  writeLimits(): void {
    const s = this.#slab
    SYMBOLS.forEach((_, k) => {
      s.writeU64(symbolSlot(k, BAND_BPS), BigInt(SYMBOL_LIMITS.bandBps))
      s.writeU64(symbolSlot(k, MAX_QTY), BigInt(SYMBOL_LIMITS.maxQty))
      s.writeU64(symbolSlot(k, MAX_NOTIONAL_CENTS), BigInt(SYMBOL_LIMITS.maxNotionalCents))
    })
    ACCOUNT_POSITION_LIMITS.forEach((limit, a) => s.writeU64(accountSlot(a, POSITION_LIMIT), limit))
  }

  resetBook(): void {
    const s = this.#slab
    ACCOUNT_POSITION_LIMITS.forEach((_, a) => SYMBOLS.forEach((_, k) => s.writeU64(positionSlot(a, k), 0n)))
    s.writeU64(GLOBAL_BASE + NEXT_ORDER_ID, 1n)
  }

  book(a: number, k: number, delta: number): bigint {
    const s = this.#slab
    const slot = positionSlot(a, k)
    s.writeU64(slot, BigInt.asUintN(64, BigInt.asIntN(64, s.readU64(slot)) + BigInt(delta)))
    const id = s.readU64(GLOBAL_BASE + NEXT_ORDER_ID)
    s.writeU64(GLOBAL_BASE + NEXT_ORDER_ID, id + 1n)
    return id
  }

  info(): SlayerInfo {
    return this.#slab.info()
  }
  stats(): SlayerStats[] {
    return [this.#slab.stats()]
  }
  resetStats(): void {
    this.#slab.resetStats()
  }
  close(): void {
    this.#slab.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Quotes and limits in records (--state records): one call per record, one consistent snapshot.

/** A checksum of a quote's five prices, stored beside them; the same arithmetic in writer and reader. */
function quoteCheck(bidAlpha: number, askAlpha: number, bidBeta: number, askBeta: number, last: number): number {
  return bidAlpha + askAlpha * 1.618033988749895 + bidBeta * 2.718281828459045 + askBeta * 3.141592653589793 + last * 1.4142135623730951
}

/** The quote record of a tick; `tick` is the feed's serial number of it (0 for an opening quote). */
function quoteRecord(t: Tick, tick: bigint): QuoteRecord {
  const { bidAlpha, askAlpha, bidBeta, askBeta, last } = t
  return { bidAlpha, askAlpha, bidBeta, askBeta, last, tick, check: quoteCheck(bidAlpha, askAlpha, bidBeta, askBeta, last) }
}

/** Writes the opening quote of every symbol (tick 0): what a feed writes before its first tick. */
function writeOpeningQuotes(quotes: Records<typeof QUOTE_FIELDS>): void {
  SYMBOLS.forEach((_, k) => quotes.write(k, quoteRecord(openingTick(k), 0n)))
}

/** The highest tick serial in the quote records: the ticks the feed has written. */
function ticksInQuotes(quotes: Records<typeof QUOTE_FIELDS>): number {
  let ticks = 0n
  const q = quotes.snapshot()
  for (let k = 0; k < SYMBOLS.length; k++) if (q.load(k).tick > ticks) ticks = q.tick
  return Number(ticks)
}

/**
 * After: quotes in one record store (private, or this process's reader of the shared segment the
 * feed process writes), limits and positions in another (the router's own). A decision is two
 * calls, each returning one consistent record; nothing is versioned by hand.
 */
class RecordState implements HotState {
  readonly kind = 'records'
  readonly #quotes: Records<typeof QUOTE_FIELDS>
  readonly #risk: Records<typeof RISK_FIELDS>
  // Reusable snapshots: load(i) is one native call; the getters read its scratch buffer.
  readonly #quote: ReturnType<Records<typeof QUOTE_FIELDS>['snapshot']>
  readonly #riskRow: ReturnType<Records<typeof RISK_FIELDS>['snapshot']>
  // Reused for every write (write() reads the object and keeps nothing), so booking allocates nothing.
  readonly #riskValue: RiskRecord = { ...SYMBOL_LIMITS, positionLimit: 0, position: 0 }
  #ticks = 0n
  #nextOrderId = 1n

  /** Takes both stores (closed by close()); writes the limits and a flat book into `risk`. */
  constructor(quotes: Records<typeof QUOTE_FIELDS>, risk: Records<typeof RISK_FIELDS>) {
    this.#quotes = quotes
    this.#risk = risk
    this.#quote = quotes.snapshot()
    this.#riskRow = risk.snapshot()
    this.resetBook()
  }

  read(a: number, k: number, v: DecisionInputs, checks: QuoteChecks): void {
    const r = this.#riskRow.load(riskIndex(a, k))
    v.maxQty = r.maxQty
    v.bandBps = r.bandBps
    v.maxNotionalCents = r.maxNotionalCents
    v.positionLimit = r.positionLimit
    v.position = r.position
    let q
    try {
      q = this.#quote.load(k)
    } catch (e) {
      // A writer rewriting this very record back to back for 64 rounds over every copy: rare, bounded.
      if ((e as { code?: string }).code !== 'ERR_ULTRASLAYER_RECORD_BUSY') throw e
      checks.unavailable++
      v.quoteOk = false
      return
    }
    const p = v.quote
    p[0] = q.bidAlpha
    p[1] = q.askAlpha
    p[2] = q.bidBeta
    p[3] = q.askBeta
    p[4] = q.last
    v.quoteOk = quoteCheck(p[0], p[1], p[2], p[3], p[4]) === q.check
    if (!v.quoteOk) {
      checks.torn = (checks.torn ?? 0) + 1
      checks.violations++
      checks.firstViolation ??= `${SYMBOLS[k]} quote record's check ${q.check} does not match its prices ${p.join(', ')} (a torn snapshot)`
    }
  }

  writeQuote(t: Tick): void {
    this.#quotes.write(t.symbol, quoteRecord(t, ++this.#ticks))
  }

  #writeRisk(a: number, k: number, position: number): void {
    if (!Number.isSafeInteger(position)) throw new RangeError(`position ${position} of account ${a} in ${SYMBOLS[k]} is not exact in an f64`)
    const r = this.#riskValue
    r.positionLimit = Number(ACCOUNT_POSITION_LIMITS[a])
    r.position = position
    this.#risk.write(riskIndex(a, k), r)
  }

  writeLimits(): void {
    const r = this.#risk.snapshot()
    ACCOUNT_POSITION_LIMITS.forEach((_, a) => SYMBOLS.forEach((_, k) => this.#writeRisk(a, k, r.load(riskIndex(a, k)).position)))
  }

  resetBook(): void {
    ACCOUNT_POSITION_LIMITS.forEach((_, a) => SYMBOLS.forEach((_, k) => this.#writeRisk(a, k, 0)))
    this.#nextOrderId = 1n
  }

  /** The router is the only writer of the risk records, so read-modify-write is safe here. */
  book(a: number, k: number, delta: number): bigint {
    this.#writeRisk(a, k, this.#riskRow.load(riskIndex(a, k)).position + delta)
    return this.#nextOrderId++
  }

  info(): SlayerInfo {
    return this.#quotes.info()
  }
  stats(): SlayerStats[] {
    return [this.#quotes.stats(), this.#risk.stats()]
  }
  resetStats(): void {
    this.#quotes.resetStats()
    this.#risk.resetStats()
  }
  close(): void {
    this.#quotes.close()
    this.#risk.close()
  }
}

// ---------------------------------------------------------------------------------------------
// The router: checks an order against the hot state, routes it, and books the routed order.

class OrderRouter {
  readonly state: HotState
  readonly #symbolIndex = new Map<string, number>(SYMBOLS.map((s, k) => [s, k]))
  readonly #in = new DecisionInputs()
  // The last valid last-trade price seen per symbol (what a client pricing off market data sees).
  readonly #lastSeen = OPENING_PRICES.slice()
  readonly checks: QuoteChecks

  constructor(state: HotState) {
    this.state = state
    this.checks = { snapshots: 0, retries: 0, violations: 0, torn: state.kind === 'records' ? 0 : null, unavailable: 0, firstViolation: null }
  }

  /** Writes opening quotes, limits and flat positions: the state every run starts from. */
  reset(): void {
    SYMBOLS.forEach((_, k) => this.applyTick(openingTick(k)))
    this.state.writeLimits()
    this.resetBook()
  }

  /** Flat positions and order ids from 1. */
  resetBook(): void {
    this.state.resetBook()
  }

  /** The measured run begins: count its quote reads from zero (violations stay counted). */
  beginRun(): void {
    this.checks.snapshots = 0
    this.checks.retries = 0
    this.checks.unavailable = 0
  }

  /** Stores one symbol's new quotes and last price. */
  applyTick(t: Tick): void {
    this.state.writeQuote(t)
  }

  /** The last valid last-trade price this router read for symbol k (the opening price at first). */
  lastSeen(k: number): number {
    return this.#lastSeen[k]
  }

  /** Checks a snapshot as any reader must: finite, > 0, and bid <= ask at each venue. */
  #validQuote(k: number, q: Float64Array): boolean {
    let problem: string | null = null
    for (let i = 0; i < q.length; i++) {
      if (!(Number.isFinite(q[i]) && q[i] > 0)) problem = `price ${i} of ${SYMBOLS[k]} is ${q[i]}`
    }
    if (problem === null && q[0] > q[1]) problem = `${SYMBOLS[k]} alpha bid ${q[0]} > ask ${q[1]}`
    if (problem === null && q[2] > q[3]) problem = `${SYMBOLS[k]} beta bid ${q[2]} > ask ${q[3]}`
    if (problem === null) {
      this.#lastSeen[k] = q[4]
      return true
    }
    this.checks.violations++
    this.checks.firstViolation ??= problem
    return false
  }

  /**
   * The decision: reads only, no state changes; this is what the latency numbers measure. The
   * state reads everything the checks need (slots: ten reads; records: two), then the checks run
   * in a fixed order, so both states make the same decisions from the same values.
   */
  decide(o: Order): Decision {
    const k = this.#symbolIndex.get(o.symbol)
    if (k === undefined) return { kind: 'rejected', reason: 'unknown-symbol', value: 0, limit: 0 }
    if (!(o.account >= 0 && o.account < ACCOUNTS)) return { kind: 'rejected', reason: 'unknown-account', value: o.account, limit: ACCOUNTS - 1 }
    const v = this.#in
    this.checks.snapshots++
    this.state.read(o.account, k, v, this.checks)

    if (o.qty > v.maxQty) return { kind: 'rejected', reason: 'qty-limit', value: o.qty, limit: v.maxQty }
    const q = v.quote
    if (!v.quoteOk || !this.#validQuote(k, q)) return { kind: 'rejected', reason: 'bad-quote', value: 0, limit: 0 }
    const last = q[4]
    const offBps = (Math.abs(o.price - last) * 10_000) / last
    if (offBps > v.bandBps) return { kind: 'rejected', reason: 'price-band', value: offBps, limit: v.bandBps }
    const notionalCents = Math.round(o.qty * o.price * 100)
    if (notionalCents > v.maxNotionalCents) return { kind: 'rejected', reason: 'notional-limit', value: notionalCents, limit: v.maxNotionalCents }
    // Conservative: the position as if the whole order filled.
    const after = v.position + (o.side === 'buy' ? o.qty : -o.qty)
    if (Math.abs(after) > v.positionLimit) return { kind: 'rejected', reason: 'position-limit', value: after, limit: v.positionLimit }

    const bidAlpha = q[0]
    const askAlpha = q[1]
    const bidBeta = q[2]
    const askBeta = q[3]
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
    return this.state.book(o.account, d.symbol, o.side === 'buy' ? o.qty : -o.qty)
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
  readonly #mid: (k: number) => number
  /** `mid(k)`: the mid price the client sees for symbol k (the inline feed's, or the last price the router read). */
  constructor(seed: number, mid: (k: number) => number) {
    this.#rng = new Rng(seed)
    this.#mid = mid
  }
  next(): Order {
    const r = this.#rng
    const k = r.int(SYMBOLS.length)
    const side: Side = r.chance(0.5) ? 'buy' : 'sell'
    let symbol: string = SYMBOLS[k]
    let account = r.int(ACCOUNTS)
    let qty = 100 * (1 + r.int(20))
    // The client prices off a slightly stale mid: near the touch, sometimes through it.
    let price = cents(this.#mid(k) * (1 + (side === 'buy' ? 1 : -1) * (r.next() - 0.6) * 0.004))
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
  /** Where the hot state lived: slots (before) or records (after). */
  state: State
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
  /** What the quote reads found; violations must be 0. */
  quotes: QuoteChecks
  /** --feed process: ticks the feed process wrote while this strategy's orders ran; else null. */
  feedTicks: number | null
  digest: string
}

/** One feed process with --feed process (one per state: each writes its own shared segment). */
interface FeedProcessSummary {
  state: State
  /** The feed process's pid: slots: as it wrote it into the slab itself; records: as it announced it on stdout (a quote record has no pid field). */
  pid: number
  /** True when that pid is the spawned child's and not the router's (records: and the router never took the segment's writer lock). */
  separateProcess: boolean
  /** Ticks (one symbol's five prices) the feed wrote, from the segment (slots: its counter; records: the highest tick serial in the quotes). */
  ticksWritten: number
  /** What the feed said when it stopped (null when it said nothing). */
  reportedTicks: number | null
  stoppedBy: string | null
  exitCode: number | null
  exitSignal: string | null
  /** slots: the slab (slots per copy); records: the quote records (records = symbols). */
  segment: { name: string; path: string; backing: SharedSegmentInfo['backing']; kind: State; slots: number; records: number | null }
  /** Slayer.unlink / Records.unlink removed the segment after the run. */
  unlinked: boolean
}

/** Where the prices came from. */
type FeedSummary =
  | {
      mode: 'inline'
      /** The router applied the ticks itself, on its own thread, between orders. */
      pid: number
    }
  | {
      mode: 'process'
      routerPid: number
      /** Nominal rate of every feed process: ticksPerInterval every intervalMs. */
      intervalMs: number
      ticksPerInterval: number
      /** In the order the states ran. */
      processes: FeedProcessSummary[]
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
  /** The states compared, in column order. */
  states: State[]
  feed: FeedSummary
  /** One per (state, strategy), state by state. */
  strategies: StrategyReport[]
  /** Equal decision digests over every state and strategy; null when not applicable (--feed process: prices move asynchronously). */
  sameDecisions: boolean | null
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

/** Read counts summed over the stores (slots: slot reads; records: record reads). */
function readCounts(all: SlayerStats[]): ReadCounts {
  const n = { hedged: 0, direct: 0, directWhileParked: 0, directAfterTimeout: 0, steered: 0 }
  for (const st of all) {
    n.hedged += st.hedged
    n.direct += st.direct
    n.directWhileParked += st.directWhileParked
    n.directAfterTimeout += st.directAfterTimeout
    n.steered += st.steered
  }
  return n
}

/** Options of a private store: replica threads only exist for 'hedge'; 'direct' and 'steer' read from the calling thread. */
function storeOptions(strategy: Strategy, spin: Spin): Omit<SlayerOptions, 'slots'> {
  return strategy === 'hedge' ? { strategy, spin } : { strategy }
}

function report(router: OrderRouter, strategy: Strategy, spin: Spin, tally: Tally, latency: LatencyRecorder, feedTicks: number | null): StrategyReport {
  const info = router.state.info()
  const stats = router.state.stats()
  const steer = stats[0].steer
  return {
    state: router.state.kind,
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
    reads: readCounts(stats),
    steer: steer ? { state: steer.state, copiesApart: steer.copiesApart } : null,
    quotes: { ...router.checks },
    feedTicks,
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
// Generator mode: the same seeded stream once per state and strategy.

const BURST = 256 // orders back to back
const STEADY = 64 // orders with a trip through the event loop before each
const ORDERS_PER_TICK = 4

/**
 * Warms the JIT on this state with a stream of its own, then leaves a clean book and counters.
 * With the inline feed it applies its own ticks and resets the prices afterwards; with a feed
 * process the prices are the feed's alone, so it only decides against them and resets the book.
 */
function warmUp(router: OrderRouter, seed: number, prices: PriceSource): void {
  if (prices.kind === 'inline') router.reset()
  const feed = prices.kind === 'inline' ? new PriceFeed(seed + 1) : null
  const gen = new OrderGenerator(seed + 1, feed !== null ? (k) => feed.mid(k) : (k) => router.lastSeen(k))
  for (let i = 0; i < 2_000; i++) {
    if (feed !== null && i % ORDERS_PER_TICK === 0) router.applyTick(feed.next())
    router.decide(gen.next())
  }
  if (prices.kind === 'inline') router.reset()
  else router.resetBook()
  router.state.resetStats()
  router.beginRun()
}

/** Where a strategy's stores and their prices come from. */
type PriceSource =
  | { kind: 'inline' }
  | { kind: 'process'; feed: SharedFeed }

/**
 * The hot state for one run: private stores, or, with a feed process, this process's own reader of
 * the shared segment (Slayer.open / Records.open offer replica threads (hedge) or direct reads;
 * there is no steering) beside private risk records.
 */
async function openState(state: State, strategy: Strategy, spin: Spin, prices: PriceSource): Promise<HotState> {
  const options = storeOptions(strategy, spin)
  const shared = { strategy: strategy === 'hedge' ? 'hedge' : 'direct', spin } as const
  if (state === 'slots') {
    if (prices.kind === 'inline') return new SlotState(await Slayer.create({ slots: SLOT_COUNT, ...options }), false)
    return new SlotState(Slayer.open(prices.feed.name, { slots: SHARED_SLOT_COUNT, ...shared }), true)
  }
  // Every store has its own replica threads. The risk records are the router's own and stay in its
  // cache, so hedging them buys nothing and would double the threads: with 'hedge' only the quotes
  // are hedged (the same two replica threads as the one slab of the slots state).
  const risk = await Records.create({ count: ACCOUNTS * SYMBOLS.length, fields: RISK_FIELDS, ...(strategy === 'hedge' ? { strategy: 'direct' } : options) })
  try {
    const quotes =
      prices.kind === 'inline'
        ? await Records.create({ count: SYMBOLS.length, fields: QUOTE_FIELDS, ...options })
        : Records.open(prices.feed.name, { fields: QUOTE_FIELDS, count: SYMBOLS.length, ...shared })
    return new RecordState(quotes, risk)
  } catch (e) {
    risk.close()
    throw e
  }
}

async function runGenerated(state: State, strategy: Strategy, orders: number, seed: number, spin: Spin, prices: PriceSource): Promise<{ report: StrategyReport; info: SlayerInfo }> {
  const router = new OrderRouter(await openState(state, strategy, spin, prices))
  try {
    warmUp(router, seed, prices)

    const feed = prices.kind === 'inline' ? new PriceFeed(seed) : null
    const gen = new OrderGenerator(seed, feed !== null ? (k) => feed.mid(k) : (k) => router.lastSeen(k))
    const tally = new Tally()
    const latency = new LatencyRecorder(orders)
    const ticksBefore = prices.kind === 'process' ? prices.feed.ticksWritten : 0
    for (let i = 0; i < orders; i++) {
      const phase = i % (BURST + STEADY)
      if (phase >= BURST) {
        await yieldToEventLoop()
        if (prices.kind === 'process') prices.feed.throwIfInterrupted()
      }
      if (feed !== null && i % ORDERS_PER_TICK === 0) router.applyTick(feed.next())
      handle(router, gen.next(), tally, latency)
    }
    const feedTicks = prices.kind === 'process' ? prices.feed.ticksWritten - ticksBefore : null
    return { report: report(router, strategy, spin, tally, latency, feedTicks), info: router.state.info() }
  } finally {
    router.state.close()
  }
}

// ---------------------------------------------------------------------------------------------
// --feed process: the price feed in a child process, writing into a named shared segment.
//
// The router creates the segment (a unique name): slots: a shared slab, into which it writes the
// limits, the opening quotes (versioned) and a flat book; records: a shared record segment of
// quote records, into which it writes nothing (the feed is its only writer; the first write takes
// the segment's writer lock, and the router must never hold it). It then spawns this same file
// with --role feed --state S. The feed opens the segment (records: writes every opening quote),
// writes one round of ticks (slots: and its pid and "streaming" into the feed block), says
// "ready PID" on stdout, and then writes FEED_TICKS_PER_INTERVAL ticks every FEED_INTERVAL_MS
// until its stdin closes (the router ends it, or the router died), SIGTERM, SIGINT or
// --max-ticks. It then (slots: marks the feed stopped,) closes its handle and prints one JSON line.
// The router stops the feed (stdin, then SIGTERM, then SIGKILL), closes its handle and unlinks the
// segment in a finally block, on SIGINT/SIGTERM too; a process 'exit' hook is the last resort.

const FEED_INTERVAL_MS = 2
const FEED_TICKS_PER_INTERVAL = SYMBOLS.length
const FEED_READY_TIMEOUT_MS = 10_000
const FEED_STOP_GRACE_MS = 2_000

class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`)
  }
}

/** The child's last words: one JSON line on its stdout. */
interface FeedExitReport {
  role: 'feed'
  pid: number
  ticks: number
  stoppedBy: string
}

function isFeedExitReport(x: unknown): x is FeedExitReport {
  if (x === null || typeof x !== 'object') return false
  const r = x as Record<string, unknown>
  return r.role === 'feed' && typeof r.pid === 'number' && typeof r.ticks === 'number' && typeof r.stoppedBy === 'string'
}

/** The router's own handle on a feed's shared segment: it reads the feed's progress, never a quote write. */
interface FeedSegment {
  readonly state: State
  readonly name: string
  readonly shared: SharedSegmentInfo
  /** Slots per copy (records: 8 per record). */
  readonly slots: number
  readonly records: number | null
  /** Ticks the feed has written, as the segment shows them. */
  ticksWritten(): number
  /** The pid the feed wrote into the segment, or null when the layout has no place for one. */
  writtenPid(): number | null
  /** True if this process holds the segment's writer lock (records; it must not). */
  writerLocked(): boolean
  close(): void
}

function sharedInfo(info: SlayerInfo): SharedSegmentInfo {
  if (info.shared === undefined || info.shared === null) throw new Error('the owner handle is not a shared segment')
  return info.shared
}

/** Slots: a shared slab with the limits, opening quotes, a flat book and a zeroed feed block. */
async function createSlotSegment(name: string): Promise<FeedSegment> {
  // start: false: the owner handle only writes the static data and reads the feed's counters.
  const owner = await Slayer.create({ name, slots: SHARED_SLOT_COUNT, start: false })
  try {
    new OrderRouter(new SlotState(owner, true)).reset() // opening quotes (versioned), limits, flat book
    owner.writeU64(FEED_TICKS, 0n)
    owner.writeU64(FEED_PID, 0n)
    owner.writeU64(FEED_STATE, 0n)
  } catch (e) {
    owner.close()
    throw e
  }
  return {
    state: 'slots',
    name,
    shared: sharedInfo(owner.info()),
    slots: owner.slots,
    records: null,
    ticksWritten: () => Number(owner.readU64(FEED_TICKS)),
    writtenPid: () => Number(owner.readU64(FEED_PID)),
    writerLocked: () => false,
    close: () => owner.close(),
  }
}

/** Records: a shared segment of one quote record per symbol, which only the feed writes. */
async function createRecordSegment(name: string): Promise<FeedSegment> {
  const owner = await Records.create({ name, count: SYMBOLS.length, fields: QUOTE_FIELDS, strategy: 'direct', start: false })
  return {
    state: 'records',
    name,
    shared: sharedInfo(owner.info()),
    slots: owner.info().slots,
    records: owner.count,
    ticksWritten: () => ticksInQuotes(owner),
    writtenPid: () => null,
    writerLocked: () => owner.info().writerLocked,
    close: () => owner.close(),
  }
}

/** A shared segment with a feed process writing into it. Use through withSharedFeed. */
class SharedFeed {
  readonly #segment: FeedSegment
  #child: ChildProcess | null = null
  #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null
  #stdout = ''
  #interrupted: NodeJS.Signals | null = null
  #onInterrupt: (() => void) | null = null

  constructor(segment: FeedSegment) {
    this.#segment = segment
  }

  get name(): string {
    return this.#segment.name
  }

  get childPid(): number | null {
    return this.#child?.pid ?? null
  }

  /** The pid the feed wrote into the segment, else the one it announced ("ready PID"); 0 until then. */
  get feedPid(): number {
    const written = this.#segment.writtenPid()
    if (written !== null) return written
    const m = /^ready (\d+)\n/.exec(this.#stdout)
    return m === null ? 0 : Number(m[1])
  }

  get ticksWritten(): number {
    return this.#segment.ticksWritten()
  }

  interrupt(signal: NodeJS.Signals): void {
    this.#interrupted ??= signal
    this.#onInterrupt?.()
  }

  throwIfInterrupted(): void {
    if (this.#interrupted !== null) throw new Interrupted(this.#interrupted)
  }

  get running(): boolean {
    const c = this.#child
    return c !== null && c.exitCode === null && c.signalCode === null
  }

  /** Spawns the feed and waits until it has written a first round of ticks and said "ready". */
  async start(seed: number, maxTicks: number | null): Promise<void> {
    const args = [__filename, '--role', 'feed', '--state', this.#segment.state, '--slab', this.name, '--seed', String(seed)]
    if (maxTicks !== null) args.push('--max-ticks', String(maxTicks))
    // stdin: a pipe the feed watches (closing it stops the feed); stdout: its ready and exit lines;
    // stderr: shared with the router's, so its errors are seen.
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] })
    this.#child = child
    this.#exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
    child.stdout?.setEncoding('utf8')
    child.stdout?.on('data', (chunk: string) => (this.#stdout += chunk))
    // The feed may be gone when the router writes to or closes its stdin; that is not an error here.
    child.stdin?.on('error', () => {})
    await new Promise<void>((resolve, reject) => {
      const done = (err: Error | null): void => {
        clearTimeout(timer)
        clearInterval(poll)
        this.#onInterrupt = null
        if (err === null) resolve()
        else reject(err)
      }
      const timer = setTimeout(() => done(new Error(`the feed process did not get ready within ${FEED_READY_TIMEOUT_MS} ms`)), FEED_READY_TIMEOUT_MS)
      const poll = setInterval(() => {
        if (/^ready \d+\n/.test(this.#stdout)) done(null)
      }, 5)
      this.#onInterrupt = () => done(new Interrupted(this.#interrupted ?? 'SIGINT'))
      child.once('error', (e) => done(new Error(`could not start the feed process: ${e.message}`)))
      child.once('exit', (code, signal) => done(new Error(`the feed process exited (${signal ?? code}) before it was ready`)))
    })
  }

  /** Stops the feed: closes its stdin, then SIGTERM, then SIGKILL. Idempotent. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null; report: FeedExitReport | null }> {
    const child = this.#child
    const exited = this.#exited
    if (child === null || exited === null) return { code: null, signal: null, report: null }
    const within = (ms: number): Promise<boolean> =>
      Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref())])
    if (this.running) {
      child.stdin?.end()
      if (!(await within(FEED_STOP_GRACE_MS)) && this.running) child.kill('SIGTERM')
      if (!(await within(FEED_STOP_GRACE_MS)) && this.running) child.kill('SIGKILL')
    }
    const { code, signal } = await exited
    let report: FeedExitReport | null = null
    for (const line of this.#stdout.split('\n')) {
      if (!line.startsWith('{')) continue
      try {
        const parsed: unknown = JSON.parse(line)
        if (isFeedExitReport(parsed)) report = parsed
      } catch {
        // not the exit line
      }
    }
    return { code, signal, report }
  }

  /** Synchronous last resort (process 'exit'): kill the feed if it still runs. */
  killNow(): void {
    if (this.running) this.#child?.kill('SIGKILL')
  }
}

/**
 * Creates a uniquely named shared segment for `state` (slots: with the limits and opening quotes),
 * starts the feed process, runs `body`, then stops the feed and removes the segment, whatever happened.
 */
async function withSharedFeed<T>(
  state: State,
  seed: number,
  maxTicks: number | null,
  log: (line: string) => void,
  body: (feed: SharedFeed) => Promise<T>,
): Promise<{ result: T; feed: FeedProcessSummary }> {
  const name = `router-${process.pid}-${randomBytes(4).toString('hex')}`
  // Both kinds of segment are files under the same names, so Slayer.unlink removes either.
  const segment = state === 'slots' ? await createSlotSegment(name) : await createRecordSegment(name)
  const shared = new SharedFeed(segment)
  const lastResort = (): void => {
    shared.killNow()
    Slayer.unlink(name)
  }
  const onSignal = (signal: NodeJS.Signals): void => shared.interrupt(signal)
  process.on('exit', lastResort)
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  let closed = false
  let unlinked = false
  try {
    await shared.start(seed, maxTicks)
    const what = state === 'slots' ? 'prices into shared slab' : 'quote records into shared records'
    log(`feed process pid ${shared.feedPid} is writing ${what} ${name} (${segment.shared.path})`)
    const result = await body(shared)
    const exit = await shared.stop()
    const pid = shared.feedPid
    const feed: FeedProcessSummary = {
      state,
      pid,
      separateProcess: pid !== process.pid && pid === shared.childPid && !segment.writerLocked(),
      ticksWritten: shared.ticksWritten,
      reportedTicks: exit.report?.ticks ?? null,
      stoppedBy: exit.report?.stoppedBy ?? null,
      exitCode: exit.code,
      exitSignal: exit.signal,
      segment: { name, path: segment.shared.path, backing: segment.shared.backing, kind: state, slots: segment.slots, records: segment.records },
      unlinked: false,
    }
    segment.close()
    closed = true
    unlinked = state === 'slots' ? Slayer.unlink(name) : Records.unlink(name)
    feed.unlinked = unlinked
    return { result, feed }
  } finally {
    await shared.stop()
    if (!closed) segment.close()
    if (!unlinked) Slayer.unlink(name)
    process.off('exit', lastResort)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** What a feed process writes into: one implementation per state. */
interface FeedSink {
  /** Stores tick number `serial` (1, 2, ...). */
  write(t: Tick, serial: number): void
  /** After each round: the ticks written so far. */
  progress(ticks: number): void
  streaming(): void
  stopped(): void
  close(): void
}

function slotFeedSink(name: string): FeedSink {
  const slab = Slayer.open(name, { slots: SHARED_SLOT_COUNT, start: false })
  const writer = new QuoteWriter(slab, true)
  return {
    write: (t) => writer.write(t),
    progress: (ticks) => slab.writeU64(FEED_TICKS, BigInt(ticks)),
    streaming: () => {
      slab.writeU64(FEED_PID, BigInt(process.pid))
      slab.writeU64(FEED_STATE, FEED_STREAMING)
    },
    stopped: () => slab.writeU64(FEED_STATE, FEED_STOPPED),
    close: () => slab.close(),
  }
}

/** The first write takes the segment's writer lock: this process is then its one writer. */
function recordFeedSink(name: string): FeedSink {
  const quotes = Records.open(name, { fields: QUOTE_FIELDS, count: SYMBOLS.length, strategy: 'direct', start: false })
  try {
    writeOpeningQuotes(quotes)
  } catch (e) {
    quotes.close()
    throw e
  }
  return {
    write: (t, serial) => quotes.write(t.symbol, quoteRecord(t, BigInt(serial))),
    progress: () => {},
    streaming: () => {},
    stopped: () => {},
    close: () => quotes.close(),
  }
}

/** The feed process (--role feed): streams ticks into the shared segment until told to stop. */
async function runFeed(state: State, name: string, seed: number, maxTicks: number): Promise<number> {
  const sink = state === 'slots' ? slotFeedSink(name) : recordFeedSink(name)
  try {
    const feed = new PriceFeed(seed)
    let ticks = 0
    let stoppedBy: string | null = null
    let stop: () => void = () => {}
    const stopped = new Promise<void>((resolve) => (stop = resolve))
    const end = (why: string): void => {
      stoppedBy ??= why
      stop()
    }
    const round = (): void => {
      for (let i = 0; i < FEED_TICKS_PER_INTERVAL && ticks < maxTicks; i++) sink.write(feed.next(), ++ticks)
      sink.progress(ticks)
      if (ticks >= maxTicks) end('max-ticks')
    }
    round()
    sink.streaming()
    const timer = setInterval(round, FEED_INTERVAL_MS)
    const onSignal = (signal: NodeJS.Signals): void => end(signal)
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    process.stdin.on('end', () => end('stdin closed'))
    process.stdin.on('error', () => end('stdin closed'))
    process.stdin.resume() // data is ignored; only its end matters
    process.stdout.write(`ready ${process.pid}\n`)
    await stopped
    clearInterval(timer)
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
    process.stdin.destroy()
    sink.stopped()
    const exitReport: FeedExitReport = { role: 'feed', pid: process.pid, ticks, stoppedBy: stoppedBy ?? 'unknown' }
    process.stdout.write(JSON.stringify(exitReport) + '\n')
    return 0
  } finally {
    sink.close()
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP mode: POST /order on 127.0.0.1, one state and strategy (the first of each listed).

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

/** What HTTP mode serves with. */
interface ServeOptions {
  strategy: Strategy
  port: number
  maxOrders: number | null
  seed: number
  spin: Spin
  prices: PriceSource
  log: (line: string) => void
}

async function runHttp(state: State, o: ServeOptions): Promise<{ report: StrategyReport; info: SlayerInfo }> {
  const router = new OrderRouter(await openState(state, o.strategy, o.spin, o.prices))
  try {
    return await serveOrders(router, o)
  } finally {
    router.state.close()
  }
}

/** Serves POST /order until POST /shutdown, --max-orders, SIGINT or SIGTERM; resolves once closed. */
async function serveOrders(router: OrderRouter, { strategy, port, maxOrders, seed, spin, prices, log }: ServeOptions): Promise<{ report: StrategyReport; info: SlayerInfo }> {
  warmUp(router, seed, prices)
  const tally = new Tally()
  const latency = new LatencyRecorder(1024)
  const feed = new PriceFeed(seed)
  // The inline price feed: eight ticks every 2 ms, on the same thread as the orders. With a feed
  // process the prices move in the shared segment without the router doing anything.
  const feedTimer = prices.kind === 'inline'
    ? setInterval(() => {
        for (let i = 0; i < SYMBOLS.length; i++) router.applyTick(feed.next())
      }, 2)
    : undefined
  const ticksBefore = prices.kind === 'process' ? prices.feed.ticksWritten : 0
  const feedTicks = (): number | null => (prices.kind === 'process' ? prices.feed.ticksWritten - ticksBefore : null)

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
      send(res, 200, report(router, strategy, spin, tally, latency, feedTicks()))
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
    log(`order-router listening on http://${HOST}:${bound} (state ${router.state.kind}, strategy ${strategy}); POST /order, GET /stats, POST /shutdown` + (maxOrders !== null ? `; stops after ${maxOrders} orders` : ''))
    await stopped
    return { report: report(router, strategy, spin, tally, latency, feedTicks()), info: router.state.info() }
  } finally {
    clearInterval(feedTimer)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    if (server.listening) server.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Output

/** p / the same percentile of the slots column with the same strategy, or '-' (slots columns, or no such column). */
function vsSlots(s: RunSummary, r: StrategyReport, pick: (p: Percentiles) => number): string {
  const base = s.strategies.find((x) => x.state === 'slots' && x.strategy === r.strategy)
  if (r.state !== 'records' || base === undefined || pick(base.latencyNs) === 0) return '-'
  return `${(pick(r.latencyNs) / pick(base.latencyNs)).toFixed(2)}x`
}

function table(s: RunSummary): string {
  const cols = s.strategies.map((r) => (r.strategy === 'hedge' ? `hedge/${r.spin}` : r.strategy))
  const width = Math.max(10, ...cols.map((c) => c.length + 2))
  const row = (label: string, cells: Array<string | number>): string => label.padEnd(24) + cells.map((c) => String(c).padStart(width)).join('')
  const pct = (pick: (p: Percentiles) => number): number[] => s.strategies.map((r) => Math.round(pick(r.latencyNs)))
  const lines = [
    row('state', s.strategies.map((r) => r.state)),
    row('decision latency (ns)', cols),
    row('  p50', pct((p) => p.p50)),
    row('  p90', pct((p) => p.p90)),
    row('  p99', pct((p) => p.p99)),
    row('  p99.9', pct((p) => p.p999)),
    row('  max', pct((p) => p.max)),
    row('  mean', pct((p) => p.mean)),
  ]
  if (s.states.includes('slots') && s.states.includes('records')) {
    // After / before, same strategy, same run.
    lines.push(
      row('  p50 records/slots', s.strategies.map((r) => vsSlots(s, r, (p) => p.p50))),
      row('  p99 records/slots', s.strategies.map((r) => vsSlots(s, r, (p) => p.p99))),
      row('  p99.9 records/slots', s.strategies.map((r) => vsSlots(s, r, (p) => p.p999))),
    )
  }
  lines.push(
    row('routed', s.strategies.map((r) => r.routed)),
    row('  alpha / beta', s.strategies.map((r) => `${r.venues.alpha}/${r.venues.beta}`)),
    row('  marketable', s.strategies.map((r) => r.marketable)),
    row('rejected', s.strategies.map((r) => r.rejected)),
    ...REJECT_REASONS.map((reason) => row(`  ${reason}`, s.strategies.map((r) => r.rejects[reason]))),
    // From stats(): how the stores served the reads (decisions and bookings): slots or whole records.
    row('reads: hedged', s.strategies.map((r) => r.reads.hedged)),
    row('  steered', s.strategies.map((r) => r.reads.steered)),
    row('  direct', s.strategies.map((r) => r.reads.direct)),
    row('  direct, threads parked', s.strategies.map((r) => r.reads.directWhileParked)),
    row('  direct, timed out', s.strategies.map((r) => r.reads.directAfterTimeout)),
    row('decision digest', s.strategies.map((r) => r.digest)),
  )
  if (s.feed.mode === 'process') {
    lines.push(
      row('feed ticks during run', s.strategies.map((r) => r.feedTicks ?? 0)),
      row('quote snapshots', s.strategies.map((r) => r.quotes.snapshots)),
      row('  retried (mid-update)', s.strategies.map((r) => r.quotes.retries)),
      row('  unavailable', s.strategies.map((r) => r.quotes.unavailable)),
      row('  torn (check field)', s.strategies.map((r) => r.quotes.torn ?? '-')),
      row('  price violations', s.strategies.map((r) => r.quotes.violations)),
    )
  }
  return lines.join('\n')
}

function printSummary(s: RunSummary, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(s, null, 2) + '\n')
    return
  }
  const m = s.machine
  const out: string[] = []
  const f = s.feed
  out.push(`order-router: ${s.orders} orders (${s.mode}${s.mode === 'generator' ? `, seed ${s.seed}, bursts of ${BURST} then ${STEADY} steady` : ''}), ${s.symbols} symbols, ${s.accounts} accounts`)
  const layouts = s.states.map((st) =>
    st === 'slots'
      ? `slots: one ${f.mode === 'process' ? 'shared ' : ''}slab of ${f.mode === 'process' ? SHARED_SLOT_COUNT : SLOT_COUNT} slots`
      : `records: ${SYMBOLS.length} quote records${f.mode === 'process' ? ' (shared)' : ''} + ${ACCOUNTS * SYMBOLS.length} risk records`,
  )
  out.push(`machine: ${m.cpuModel}, ${m.cpuCount} cores, ${m.allowedCpus} allowed; ${layouts.join('; ')}; ${m.replicas} replicas, ${s.strategies[0]?.pageKind ?? '?'} pages`)
  if (m.note !== null) out.push(`note: ${m.note}`)
  out.push('')
  out.push(table(s))
  for (const r of s.strategies) {
    if (r.steer === null) continue
    out.push('')
    out.push(
      `steer (${r.state}): tracker ${r.steer.state}; ` +
        (r.steer.copiesApart ? 'the copies stall apart, so steering can avoid stalls' : 'the copies do not stall apart here, so steering reads a fixed copy (no gain over direct)'),
    )
  }
  if (f.mode === 'process') {
    out.push('')
    for (const p of f.processes) {
      const into = p.state === 'slots' ? `shared slab ${p.segment.name} (${p.segment.slots} slots` : `shared records ${p.segment.name} (${p.segment.records} quote records`
      out.push(
        `feed (${p.state}): ${p.separateProcess ? 'a separate process' : 'NOT a separate process'} (pid ${p.pid}; router pid ${f.routerPid}) wrote ${p.ticksWritten} ticks ` +
          `(${f.ticksPerInterval} every ${f.intervalMs} ms) into ${into}, ${p.segment.backing} ${p.segment.path}); it stopped on ${p.stoppedBy ?? '?'}, ` +
          `exit ${p.exitSignal ?? p.exitCode}; segment ${p.unlinked ? 'unlinked' : 'NOT unlinked'}`,
      )
    }
    const violations = s.strategies.reduce((n, r) => n + r.quotes.violations, 0)
    out.push(
      violations === 0
        ? 'every quote snapshot read from a shared segment was valid (finite, > 0, bid <= ask; records: check field matches): 0 violations'
        : `WARNING: ${violations} quote snapshots were invalid; first: ${s.strategies.find((r) => r.quotes.firstViolation !== null)?.quotes.firstViolation}`,
    )
    if (s.strategies.length > 1) out.push('decisions are not compared across columns: the feed processes move the prices while orders flow')
  } else if (s.strategies.length > 1) {
    out.push('')
    out.push(
      s.sameDecisions
        ? 'every state and strategy made the same decisions (equal digests); only the time differs'
        : 'WARNING: the columns made different decisions: a read returned a different value',
    )
  }
  process.stdout.write(out.join('\n') + '\n')
}

// ---------------------------------------------------------------------------------------------
// CLI

const USAGE = `usage: order-router [--orders N] [--mode generator|http] [--port P] [--max-orders N]
                    [--state slots,records] [--strategies hedge,direct,steer]
                    [--spin hybrid|sleep|busy] [--seed S] [--feed inline|process] [--json]
  --orders N        orders per state and strategy in generator mode (default 20000)
  --mode            generator (default: a seeded burst/steady stream) or http (POST /order on ${HOST})
  --port P          http mode: port on ${HOST} (default 8080; 0 picks a free one)
  --max-orders N    http mode: stop after N orders (default: run until POST /shutdown or Ctrl-C)
  --state           where the hot state lives, in order: slots (one Slayer, a slot per value,
                    quotes versioned by hand) and/or records (Records: one call per record);
                    default slots,records in generator mode, records in http mode (which uses the first)
  --strategies      read strategies to compare, in order (http mode uses the first);
                    with --feed process only hedge and direct (default hedge,direct)
  --spin            how hedge replica threads wait (default hybrid: usable on small machines)
  --seed S          generator and price feed seed (default 42)
  --feed            inline (default: the router applies price ticks itself, between orders) or
                    process (a child process per state streams prices into a named shared segment)
  --json            print a machine-readable summary to stdout instead of the table
internal: order-router --role feed --state slots|records --slab NAME [--seed S] [--max-ticks N]   (the feed process)`

class UsageError extends Error {}

type FeedMode = 'inline' | 'process'

interface Config {
  role: 'router'
  orders: number
  mode: 'generator' | 'http'
  port: number
  maxOrders: number | null
  states: State[]
  strategies: Strategy[]
  spin: Spin
  seed: number
  feed: FeedMode
  json: boolean
}

interface FeedConfig {
  role: 'feed'
  state: State
  slab: string
  seed: number
  maxTicks: number
}

function intOption(name: string, v: string | undefined, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`)
  return n
}

function parseConfig(argv: string[]): Config | FeedConfig | 'help' {
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
        state: { type: 'string' },
        strategies: { type: 'string' },
        spin: { type: 'string' },
        seed: { type: 'string' },
        feed: { type: 'string' },
        role: { type: 'string' },
        slab: { type: 'string' },
        'max-ticks': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
  if (parsed.help) return 'help'
  const role = parsed.role ?? 'router'
  if (role !== 'router' && role !== 'feed') throw new UsageError(`--role must be router or feed, got ${JSON.stringify(role)}`)
  const seed = intOption('seed', parsed.seed, 42, 0, 0xffffffff)
  if (role === 'feed') {
    if (parsed.slab === undefined) throw new UsageError('--role feed needs --slab NAME (the shared segment the router created)')
    const state = parsed.state ?? 'slots'
    if (state !== 'slots' && state !== 'records') throw new UsageError(`--role feed takes --state slots or records, got ${JSON.stringify(state)}`)
    return { role, state, slab: parsed.slab, seed, maxTicks: intOption('max-ticks', parsed['max-ticks'], 20_000_000, 1, Number.MAX_SAFE_INTEGER) }
  }
  if (parsed.slab !== undefined || parsed['max-ticks'] !== undefined) throw new UsageError('--slab and --max-ticks are for --role feed (the router names its own slab)')
  const mode = parsed.mode ?? 'generator'
  if (mode !== 'generator' && mode !== 'http') throw new UsageError(`--mode must be generator or http, got ${JSON.stringify(mode)}`)
  const states = (parsed.state ?? (mode === 'http' ? 'records' : STATES.join(','))).split(',').map((x) => x.trim())
  for (const x of states) {
    if (!(STATES as readonly string[]).includes(x)) throw new UsageError(`unknown state ${JSON.stringify(x)}: use ${STATES.join(', ')}`)
  }
  if (new Set(states).size !== states.length) throw new UsageError('--state lists a state twice')
  const feed = parsed.feed ?? 'inline'
  if (feed !== 'inline' && feed !== 'process') throw new UsageError(`--feed must be inline or process, got ${JSON.stringify(feed)}`)
  const strategies = (parsed.strategies ?? (feed === 'process' ? 'hedge,direct' : 'hedge,direct,steer')).split(',').map((x) => x.trim())
  for (const x of strategies) {
    if (!(STRATEGIES as readonly string[]).includes(x)) throw new UsageError(`unknown strategy ${JSON.stringify(x)}: use ${STRATEGIES.join(', ')}`)
  }
  if (new Set(strategies).size !== strategies.length) throw new UsageError('--strategies lists a strategy twice')
  if (feed === 'process' && strategies.includes('steer')) {
    throw new UsageError(
      "--feed process reads the prices through Slayer.open / Records.open, which offer replica threads (hedge) or direct reads, not steering: use --strategies hedge,direct",
    )
  }
  const spin = parsed.spin ?? 'hybrid'
  if (!(SPINS as readonly string[]).includes(spin)) throw new UsageError(`--spin must be one of ${SPINS.join(', ')}, got ${JSON.stringify(spin)}`)
  return {
    role,
    orders: intOption('orders', parsed.orders, 20_000, 1, 10_000_000),
    mode,
    port: intOption('port', parsed.port, 8080, 0, 65535),
    maxOrders: parsed['max-orders'] === undefined ? null : intOption('max-orders', parsed['max-orders'], 0, 1, 10_000_000),
    states: states as State[],
    strategies: strategies as Strategy[],
    spin: spin as Spin,
    seed,
    feed,
    json: parsed.json ?? false,
  }
}

type RunResult = { report: StrategyReport; info: SlayerInfo }

/** Runs the configured strategies with one state against the given prices. */
async function runStrategies(config: Config, state: State, prices: PriceSource, log: (line: string) => void): Promise<RunResult[]> {
  const results: RunResult[] = []
  if (config.mode === 'http') {
    const { port, maxOrders, seed, spin } = config
    results.push(await runHttp(state, { strategy: config.strategies[0], port, maxOrders, seed, spin, prices, log }))
  } else {
    for (const strategy of config.strategies) {
      log(`running ${config.orders} orders with state '${state}', strategy '${strategy}'...`)
      results.push(await runGenerated(state, strategy, config.orders, config.seed, config.spin, prices))
    }
  }
  return results
}

async function main(argv: string[]): Promise<number> {
  let config: Config | FeedConfig | 'help'
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
  if (config.role === 'feed') return runFeed(config.state, config.slab, config.seed, config.maxTicks)
  const cfg: Config = config
  // Progress and the listening line go to stderr, so stdout stays one table or one JSON document.
  const log = (line: string): void => void process.stderr.write(line + '\n')

  // HTTP mode serves one state; generator mode runs every state listed, one after the other.
  const states = cfg.mode === 'http' ? cfg.states.slice(0, 1) : cfg.states
  const results: RunResult[] = []
  let feed: FeedSummary
  if (cfg.feed === 'process') {
    const processes: FeedProcessSummary[] = []
    try {
      for (const state of states) {
        const run = await withSharedFeed(state, cfg.seed, null, log, (shared) => runStrategies(cfg, state, { kind: 'process', feed: shared }, log))
        results.push(...run.result)
        processes.push(run.feed)
      }
    } catch (e) {
      if (!(e instanceof Interrupted)) throw e
      log(`order-router: ${e.message}; the feed process was stopped and the shared segment removed`)
      return e.signal === 'SIGINT' ? 130 : 143
    }
    feed = { mode: 'process', routerPid: process.pid, intervalMs: FEED_INTERVAL_MS, ticksPerInterval: FEED_TICKS_PER_INTERVAL, processes }
  } else {
    for (const state of states) results.push(...(await runStrategies(cfg, state, { kind: 'inline' }, log)))
    feed = { mode: 'inline', pid: process.pid }
  }
  const reports = results.map((r) => r.report)
  // The machine note comes from a slab that had replica threads if there was one.
  const infoForMachine = (results.find((r) => r.report.strategy === 'hedge') ?? results[0]).info
  const summary: RunSummary = {
    example: 'order-router',
    mode: cfg.mode,
    seed: cfg.seed,
    orders: cfg.mode === 'http' ? reports[0].orders : cfg.orders,
    symbols: SYMBOLS.length,
    accounts: ACCOUNTS,
    machine: machineReport(infoForMachine, reports.some((r) => r.strategy === 'hedge')),
    states,
    feed,
    strategies: reports,
    // With a feed process the prices move while orders flow, so decisions may differ by strategy.
    sameDecisions: feed.mode === 'process' ? null : reports.every((r) => r.digest === reports[0].digest),
  }
  printSummary(summary, cfg.json)
  const violations = reports.reduce((n, r) => n + r.quotes.violations, 0)
  const failedFeeds = feed.mode === 'process' ? feed.processes.filter((p) => !(p.separateProcess && p.exitCode === 0 && p.unlinked)) : []
  for (const p of failedFeeds) {
    log(`order-router: the ${p.state} feed process did not run and stop cleanly (separate process: ${p.separateProcess}, exit ${p.exitSignal ?? p.exitCode}, segment unlinked: ${p.unlinked})`)
  }
  const feedFailed = failedFeeds.length > 0
  if (violations > 0) log(`order-router: ${violations} invalid quote snapshots (expected 0)`)
  return summary.sameDecisions === false || violations > 0 || feedFailed ? 1 : 0
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
