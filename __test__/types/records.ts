// Compile-time checks of the Records typings (never run): the schema types what read, snapshot
// and write take and give. Every `@ts-expect-error` line must be an error, or tsc fails.
import { Records } from 'ultraslayer'

const quotes = new Records({ count: 16, fields: { bid: 'f64', ask: 'f64', bidQty: 'u64', pos: 'i64' }, strategy: 'direct' })
const r = quotes.read(1)
const bid: number = r.bid
const qty: bigint = r.bidQty
const pos: bigint = r.pos
// @ts-expect-error f64 fields read as numbers, not bigints
const wrong: bigint = r.ask
// @ts-expect-error no such field
r.last

const q = quotes.snapshot()
const ask: number = q.load(3).ask
const p2: bigint = q.pos
const idx: number = q.index
// @ts-expect-error snapshots are read-only views
q.bid = 1

quotes.write(1, { bid: 1, ask: 2, bidQty: 3n, pos: -4n })
// @ts-expect-error a u64 field takes a bigint
quotes.write(1, { bid: 1, ask: 2, bidQty: 3, pos: -4n })
// @ts-expect-error every field is required
quotes.write(1, { bid: 1, ask: 2, bidQty: 3n })

quotes.readMany(new Uint32Array([1, 2]), new ArrayBuffer(2 * quotes.recordBytes))
const n: number = quotes.info().count
const f: 'f64' | 'u64' | 'i64' | 'u32' | 'i32' | 'int53' = quotes.info().fields.bid
// @ts-expect-error the options are the Slayer's with count instead of slots
new Records({ slots: 8, fields: { a: 'f64' } })
// @ts-expect-error field types are f64, u64, i64, u32, i32 or int53
new Records({ count: 8, fields: { a: 'f32' } })

// Number fields: u32, i32 and int53 read and write as numbers.
const counts = new Records({ count: 4, fields: { px: 'f64', lots: 'u32', side: 'i32', id: 'int53', seq: 'u64' } })
const lots: number = counts.read(0).lots
const side: number = counts.snapshot().load(0).side
const id: number = counts.read(0).id
counts.write(0, { px: 1, lots: 2, side: -1, id: 2 ** 40, seq: 3n })
// @ts-expect-error a u32 field takes a number, not a bigint
counts.write(0, { px: 1, lots: 2n, side: -1, id: 1, seq: 3n })
// @ts-expect-error an int53 field reads as a number
const idWrong: bigint = counts.read(0).id
const readPath: 'js' | 'native' = counts.info().readPath

// readColumns: a typed array per field, of the field's own type or a Float64Array.
counts.readColumns(new Uint32Array([0, 1]), { px: new Float64Array(2), lots: new Uint32Array(2), seq: new Float64Array(2) })
counts.readColumns(new Uint32Array([0]), { side: new Int32Array(1), id: new Float64Array(1), seq: new BigUint64Array(1) })
// @ts-expect-error a u32 column is a Uint32Array or a Float64Array
counts.readColumns(new Uint32Array([0]), { lots: new Int32Array(1) })
// @ts-expect-error no such field
counts.readColumns(new Uint32Array([0]), { nope: new Float64Array(1) })

const shared = Records.open('quotes', { fields: { bid: 'f64' }, spin: 'hybrid', strategy: 'direct' })
// @ts-expect-error shared records are hedged or read directly, never steered
Records.open('quotes', { strategy: 'steer' })
const sb: number = shared.read(0).bid
const made = Records.createSync({ name: 'q2', count: 4, fields: { ts: 'u64' }, overwrite: true })
const ts: bigint = made.read(0).ts

// A schema stated as the type parameter types open's results as `fields` would.
const stated = Records.open<{ bid: 'f64'; qty: 'u64' }>('quotes')
const statedBid: number = stated.read(0).bid
const statedQty: bigint = stated.read(0).qty
const statedSnap: number = stated.snapshot().load(0).bid
// @ts-expect-error a u64 field of a stated schema is a bigint
const statedWrong: number = stated.read(0).qty
// @ts-expect-error the stated schema and `fields` must agree
Records.open<{ bid: 'f64' }>('quotes', { fields: { bid: 'u64' } })

// Unstated, a field is what it can be at run time: a number (f64) or a bigint (u64, i64).
const unknown = Records.open('quotes')
const anyField: number | bigint = unknown.read(0).bid
const anySnap: number | bigint = unknown.snapshot().load(0).bid
const unknownIdx: number = unknown.snapshot().index
// @ts-expect-error an unstated field may be an f64: not only a bigint
const notOnlyBigint: bigint = unknown.read(0).bid
// @ts-expect-error an unstated field may be a u64 or i64: not only a number
const notOnlyNumber: number = unknown.read(0).bid
unknown.write(0, { bid: 1, qty: 2n })

export { bid, qty, pos, wrong, ask, p2, idx, n, f, sb, ts }
export { lots, side, id, idWrong, readPath }
export { statedBid, statedQty, statedSnap, statedWrong, anyField, anySnap, unknownIdx, notOnlyBigint, notOnlyNumber }
