'use strict'
// Records: a fixed schema of up to 7 named 64-bit fields per record, each record one cache line in
// every replica, read in one call as one consistent snapshot (see crates/engine/src/records/).
//
// This file owns the JS side only: field names and types, argument checks (so bad input is a
// TypeError/RangeError naming the field or value, and nothing is written), and the fast paths. A
// snapshot (snapshot.js, a class compiled per schema) holds its number fields in private fields
// and its BigInt fields' halves in a 64-byte scratch, a getter per field — no allocation for
// number fields. `load(i)` fills them one of two ways:
// - the JS read path (`readLine`, and its unrolled twin in snapshot.js), while the store's reads
//   are direct (strategy 'direct', or a hedged store with its threads stopped; local or shared):
//   record i's line is read from typed-array views of copy 0 (src/view.rs) with the sequence check
//   of crates/engine/src/records/line.rs done here, in JS — no native call;
// - otherwise, or when copy 0 stayed mid-update for COPY_TRIES attempts, the raw native `load`:
//   the index goes in the scratch's word 0, and one call fills words 1..7 with a consistent copy's fields by
//   the store's strategy (other copies, up to 64 rounds, then ERR_ULTRASLAYER_RECORD_BUSY).
// Options are the Slayer's (validated by index.js's own table), with `count` and `fields` instead
// of `slots`.
//
// Word formats (the same for every front end, crates/engine/src/records/schema.rs): f64 bits; u64; i64 two's
// complement; u32 zero-extended and i32 sign-extended to 64 bits; int53 two's complement in
// ±(2^53 - 1). u32, i32 and int53 read as JS numbers, u64 and i64 as BigInts. The views read the
// halves of a word little-endian (every target of this package is little-endian).

const FIELD_TYPES = ['f64', 'u64', 'i64', 'u32', 'i32', 'int53']
const TYPE_LIST = "'f64', 'u64', 'i64', 'u32', 'i32' or 'int53'"
// Number fields: the range a write is checked against, as messages say it.
const NUMBER_RANGES = {
  u32: { min: 0, max: 2 ** 32 - 1, text: 'an integer from 0 to 2 ** 32 - 1 (4294967295)' },
  i32: { min: -(2 ** 31), max: 2 ** 31 - 1, text: 'an integer from -(2 ** 31) to 2 ** 31 - 1 (-2147483648 to 2147483647)' },
  int53: { min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER, text: 'an integer from -(2 ** 53 - 1) to 2 ** 53 - 1 (Number.MIN_SAFE_INTEGER to Number.MAX_SAFE_INTEGER)' },
}
const { compileSnapshotClass } = require('./snapshot')

const TWO32 = 2 ** 32
const BIGINT_TYPES = new Set(['u64', 'i64'])
// Attempts at copy 0 before the JS read path hands the record to the native read (as
// crates/engine/src/records/line.rs COPY_TRIES: that read then tries the other copies).
const COPY_TRIES = 4
const MAX_FIELDS = 7
const WORDS = 8
const SCRATCH_BYTES = WORDS * 8
const U64_MAX = (1n << 64n) - 1n
const I64_MIN = -(1n << 63n)
const I64_MAX = (1n << 63n) - 1n
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/
// Snapshot members and everything an object inherits: a field of that name would shadow them.
const RESERVED = new Set(['load', 'toObject', 'toJSON', 'index', ...Object.getOwnPropertyNames(Object.prototype)])

// readColumns: the typed arrays a field's column may be, its own type first.
const COLUMN_TYPES = {
  f64: [Float64Array],
  u64: [BigUint64Array, Float64Array],
  i64: [BigInt64Array, Float64Array],
  u32: [Uint32Array, Float64Array],
  i32: [Int32Array, Float64Array],
  int53: [Float64Array],
}

// How a field's words (batch `b`, `words` a record, field k) go into a column of type `kind`:
// bit for bit into an array of the field's own 64-bit type (copied as u32 halves, so no BigInt is
// made and no NaN payload changes), the low half into a 32-bit array, or as the nearest number
// (hi · 2^32 + lo: one rounding, exact up to 2^53) into a Float64Array.
function columnConverter(type, kind) {
  if (kind === COLUMN_TYPES[type][0] && (type === 'f64' || BIGINT_TYPES.has(type))) {
    return (b, k, words, n, col) => {
      const out = new Uint32Array(col.buffer, col.byteOffset, 2 * n)
      for (let r = 0, w = 2 * k; r < n; r++, w += 2 * words) {
        out[2 * r] = b.u32[w]
        out[2 * r + 1] = b.u32[w + 1]
      }
    }
  }
  if (kind === Uint32Array || kind === Int32Array) {
    return (b, k, words, n, col) => {
      const out = new Uint32Array(col.buffer, col.byteOffset, n)
      for (let r = 0, w = 2 * k; r < n; r++, w += 2 * words) out[r] = b.u32[w]
    }
  }
  const high = type === 'u64' || type === 'u32' ? (b) => b.u32 : (b) => b.i32
  return (b, k, words, n, col) => {
    const h = high(b)
    for (let r = 0, w = 2 * k; r < n; r++, w += 2 * words) col[r] = h[w + 1] * TWO32 + b.u32[w]
  }
}

// The JS read path of one store: views of copy 0 while its reads are direct, else `src` null.
// One object per store, shared by its snapshots, so start()/stop()/close() switch them all.
class ReadPath {
  constructor() {
    this.src = null // Uint32Array over copy 0: the words' halves (fields, and the second sequence load)
    this.seq = null // Int32Array over copy 0: the same halves signed (the first sequence load, i32 fields)
    this.f64 = null // Float64Array over copy 0: f64 fields
    this.shift = 0
    this.mask = 0
    this.stride = 0
    // Reads served here, added to stats().direct. A plain number property, not a one-element
    // typed array: the increment is a field load, add and store in the hot path, where a typed
    // array's also loads its data pointer and checks bounds. Host A, 2026-12-07, three alternating
    // runs each: a cached number quote 1.82-2.03x six Float64Array reads, 1.84-2.11x before (no
    // counter at all: ~1.9x). Past 2^30 V8 moves the field to a double, once; exact to 2^53.
    this.reads = 0
  }
}

// Copies record `index`'s `words` field words (as 2 × words u32 halves) from copy 0 into
// dst[at ..], as one write's: true, or false when every attempt met a write in progress (the
// caller then reads natively). The protocol is crates/engine/src/records/line.rs `try_read`'s: the
// sequence word s1 (odd while a write is in progress), the fields, the sequence word again s2; the
// fields are one write's when s1 is even and s2 equals it. Writers (Rust, C, this or another
// process) store the sequence odd, fence(Release), the fields, then the even sequence with
// Release. snapshot.js compiles the same steps, unrolled, into each schema's `load`.
//
// What the reader needs: each of s1, the fields and s2 is a real load of memory made at this
// attempt (none elided, merged with another, or reused from an earlier one), and they happen in
// that order. How the code makes sure:
// - On x86 (PLAIN_LOADS) they are plain typed-array loads, and the order comes free: the CPU keeps
//   loads in program order (TSO) and the writer's stores reach memory in order, so fields that saw
//   a later write imply s2 sees that write's odd (or a later) sequence.
//   What keeps the compiler from eliding or moving them is V8's treatment of typed-array element
//   loads, which every Node this package supports (20, 22, 24, 26) shares: TurboFan's load
//   elimination does not track LoadTypedElement at all (src/compiler/load-elimination.cc), and
//   Turboshaft builds every array-buffer element load NotLoadEliminable (LoadArrayBufferElement in
//   src/compiler/turboshaft/assembler.h: array buffers may be shared or changed from outside);
//   both keep loads in effect order. Belt and braces: s1 and s2 read different view objects (I
//   and U), so even an optimizer that did track element loads could not prove s2 = s1 without
//   knowing the two views alias. `__test__/records.test.js` checks it on every Node in CI: a hot,
//   optimised loop of snapshots sees a writer in another process move on (nothing reused), and
//   ≥ 10^6 snapshots against a writer SIGKILLed mid-write see nothing torn. Atomics.load, which the
//   JS memory model promises all of this for, is a builtin call of ~12 ns on Node 20–24 (not
//   inlined on non-shared arrays: measured on host A, 2026-12-07), and two of them made a cached
//   snapshot 3–5× six plain Float64Array reads.
// - On weakly ordered CPUs (arm64) a plain load may be satisfied after a later one, so there
//   every load is an `Atomics.load`: each is an acquire, which keeps every later load after it.
// - s1 and s2 compare the low 32 bits of the 64-bit sequence word: a write moves it by 2, so the
//   check misses a change only if exactly a multiple of 2^31 writes of this one record fall
//   between the two loads of one attempt (at tens of ns a write, a reader stopped for a minute
//   mid-attempt while one record is rewritten back to back all that time).
// Every typed-array access is in bounds: the views are copy 0 whole, and `index` < count (checked).
const PLAIN_LOADS = process.arch === 'x64' || process.arch === 'ia32'
function readLine(p, index, dst, at, words) {
  const src = p.src
  const seq = p.seq
  const slot = index * 8
  const q = ((slot >>> p.shift) * p.stride + (slot & p.mask)) * 2
  const first = q + 2
  const n = 2 * words
  for (let t = 0; t < COPY_TRIES; t++) {
    if (PLAIN_LOADS) {
      const s1 = seq[q]
      if ((s1 & 1) !== 0) continue
      for (let k = 0; k < n; k++) dst[at + k] = src[first + k]
      if ((src[q] | 0) !== s1) continue
    } else {
      const s1 = Atomics.load(seq, q)
      if ((s1 & 1) !== 0) continue
      for (let k = 0; k < n; k++) dst[at + k] = Atomics.load(seq, first + k)
      if (Atomics.load(seq, q) !== s1) continue
    }
    p.reads++
    return true
  }
  return false
}

module.exports = function defineRecords({ native, describe, withCode, optionError, validateOptions, validateName, OPTION_TYPES, SHARED_CREATE_TYPES, SHARED_OPEN_TYPES, ADOPT, forwardControls, creationControl, runCreation, isNamed }) {
  const typeError = (msg, code = 'ERR_ULTRASLAYER_BAD_ARGUMENT') => withCode(new TypeError(msg), code)
  const rangeError = (msg, code) => withCode(new RangeError(msg), code)

  // [{ name, type }] in the order given, or a TypeError/RangeError that says what is wrong.
  function parseFields(call, fields) {
    if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) {
      throw optionError('fields', "an object of field names to 'f64' | 'u64' | 'i64' | 'u32' | 'i32' | 'int53', such as { bid: 'f64', qty: 'u32' }", fields)
    }
    const names = Object.keys(fields)
    if (names.length === 0) throw rangeError(`${call}: option \`fields\` is empty: a record needs at least one field`, 'ERR_ULTRASLAYER_OPTION_RANGE')
    if (names.length > MAX_FIELDS) {
      throw rangeError(
        `${call}: ${names.length} fields asked for, at most ${MAX_FIELDS} fit: a record is one 64-byte cache line of eight 64-bit words, ` +
          'one of which is the sequence word that keeps each copy consistent',
        'ERR_ULTRASLAYER_OPTION_RANGE',
      )
    }
    return names.map((name) => {
      if (!IDENTIFIER.test(name)) {
        throw typeError(`${call}: field name ${JSON.stringify(name)} must be an identifier (A-Z a-z 0-9 _ $, not starting with a digit, at most 64 characters)`, 'ERR_ULTRASLAYER_BAD_OPTION')
      }
      if (RESERVED.has(name)) {
        throw typeError(`${call}: field name \`${name}\` would shadow the snapshot's own \`${name}\`: rename the field`, 'ERR_ULTRASLAYER_BAD_OPTION')
      }
      const type = fields[name]
      if (!FIELD_TYPES.includes(type)) {
        throw typeError(`${call}: field \`${name}\` has type ${describe(type)}: use ${TYPE_LIST}`, 'ERR_ULTRASLAYER_BAD_OPTION')
      }
      return { name, type }
    })
  }

  // The options a Records call takes, for "known options are …": the Slayer's, with `count` and
  // `fields` for `slots`.
  const recordOptions = (types) => ['count', 'fields', ...Object.keys(types).filter((k) => k !== 'slots')]

  const schemaText = (fields) => fields.map((f) => `${f.name}:${f.type}`).join(',')
  const parseSchemaText = (text) => text.split(',').map((p) => ({ name: p.split(':')[0], type: p.split(':')[1] }))

  function closedError() {
    return withCode(new Error('these Records are closed: create new ones (close() unmaps the records and stops their threads)'), 'ERR_ULTRASLAYER_CLOSED')
  }

  // Out of the hot path: which error an index that failed the fast check deserves.
  function indexError(index, count, closed) {
    if (closed) return closedError()
    if (typeof index !== 'number' || !Number.isInteger(index)) {
      return typeError(`record index must be an integer number, got ${describe(index)} (there are ${count} records)`)
    }
    return rangeError(`record index ${describe(index)} is out of range: there are ${count} records (valid indices 0 to ${count - 1})`, 'ERR_ULTRASLAYER_SLOT_RANGE')
  }

  // Splits record options into the Slayer options they carry and the record-only ones.
  function slayerOptions(call, options, example) {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw typeError(`${call}: options must be an object such as ${example}, got ${describe(options)}`, 'ERR_ULTRASLAYER_BAD_OPTION')
    }
    if ('slots' in options) throw typeError(`${call}: records take \`count\` (records), not \`slots\`: each record takes 8 slots`, 'ERR_ULTRASLAYER_BAD_OPTION')
    const { count, fields, name, overwrite, ...rest } = options
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 2 ** 29) {
      if (typeof count !== 'number') throw optionError('count', `a number of records from 1 to ${2 ** 29}`, count)
      throw rangeError(`${call}: option \`count\` must be an integer from 1 to ${2 ** 29}, got ${describe(count)}`, 'ERR_ULTRASLAYER_OPTION_RANGE')
    }
    return { count, fields: parseFields(call, fields), name, overwrite, slayer: { ...rest, slots: count * WORDS } }
  }

  // The native arguments of a local store (`new Records`, `Records.create` without a name).
  function localArgs(call, options) {
    const o = slayerOptions(call, options, "{ count: 1024, fields: { bid: 'f64', qty: 'u64' } }")
    validateOptions(o.slayer, OPTION_TYPES, call, undefined, recordOptions(OPTION_TYPES))
    return { fields: schemaText(o.fields), options: o.slayer }
  }

  // The native arguments of a named shared store (`Records.create` with a name).
  function sharedArgs(call, options) {
    const o = slayerOptions(call, options, "{ name: 'quotes', count: 1024, fields: { bid: 'f64' } }")
    validateName(call, o.name)
    if (o.overwrite !== undefined && typeof o.overwrite !== 'boolean') throw optionError('overwrite', 'a boolean', o.overwrite)
    if (o.slayer.placement !== undefined) throw typeError(`${call}: option \`placement\` does not apply to shared records (their copies are channelOffset apart)`, 'ERR_ULTRASLAYER_BAD_OPTION')
    // What a shared slab's creation takes (placementBudgetMs is not among it: nothing is placed), less placement.
    validateOptions(o.slayer, SHARED_CREATE_TYPES, call, undefined, recordOptions(SHARED_CREATE_TYPES).filter((k) => k !== 'placement'))
    return { name: o.name, overwrite: o.overwrite === true, fields: schemaText(o.fields), options: o.slayer }
  }

  // One snapshot class per schema, shared by every store of that schema: a call site that reads
  // snapshots of several stores (quotes of two feeds, say) then sees one shape, not one per store.
  const snapshotClasses = new Map()

  function snapshotClass(fields) {
    const key = schemaText(fields)
    let RecordSnapshot = snapshotClasses.get(key)
    if (!RecordSnapshot) {
      RecordSnapshot = compileSnapshotClass(fields, { TWO32, COPY_TRIES, PLAIN_LOADS, readLine, indexError, BIGINT_TYPES })
      snapshotClasses.set(key, RecordSnapshot)
    }
    return RecordSnapshot
  }

  class Records {
    #n
    #count
    #fields
    #schema
    #snap
    #newSnapshot
    #u32
    #i32
    #f64
    #u64
    #i64
    #write
    // The JS read path (see ReadPath, readLine): #views is [Uint32Array, Int32Array, Float64Array] over copy 0
    // when the store offers a view; #path.src/seq/f64 are set from it only while reads are direct.
    #path = new ReadPath()
    #views = null
    // readColumns' words, record after record (grown on demand), and views of them.
    #batch = null

    constructor(options, adopted) {
      if (options === ADOPT) {
        this.#n = adopted
      } else {
        const a = localArgs('new Records(options)', options)
        this.#n = new native.NativeRecords(a.fields, a.options)
      }
      this.#count = this.#n.count
      this.#fields = parseSchemaText(this.#n.fields)
      // A segment made by another front end (Rust, C) may use a name JS snapshots reserve.
      const clash = this.#fields.find((f) => RESERVED.has(f.name))
      if (clash) {
        this.#n.close()
        throw typeError(`these records have a field \`${clash.name}\`, which would shadow the JS snapshot's own \`${clash.name}\`: they cannot be read from JS`, 'ERR_ULTRASLAYER_BAD_OPTION')
      }
      this.#schema = Object.freeze(Object.fromEntries(this.#fields.map((f) => [f.name, f.type])))
      const n = this.#n
      const RecordSnapshot = snapshotClass(this.#fields)
      const count = this.#count
      const bind = (scratch) => n._bindFast(scratch)
      const isClosed = () => n.closed
      const view = n._bindView()
      if (view) {
        try {
          this.#views = [new Uint32Array(view.buffer), new Int32Array(view.buffer), new Float64Array(view.buffer)]
        } catch {
          // A buffer longer than this V8's typed arrays allow: reads take the native call.
          this.#views = null
        }
        this.#path.shift = view.shift
        this.#path.mask = view.mask
        this.#path.stride = view.stride
        this.#usePath()
      }
      const path = this.#path
      this.#newSnapshot = (p = path) => new RecordSnapshot(count, bind, isClosed, p)
      this.#snap = this.#newSnapshot()
      const scratch = new ArrayBuffer(SCRATCH_BYTES)
      this.#u32 = new Uint32Array(scratch)
      this.#i32 = new Int32Array(scratch)
      this.#f64 = new Float64Array(scratch)
      this.#u64 = new BigUint64Array(scratch)
      this.#i64 = new BigInt64Array(scratch)
      this.#write = n._bindFast(scratch).write
    }

    /** Records in the store. */
    get count() {
      return this.#count
    }
    /** The schema: field names to types, in storage order. */
    get fields() {
      return this.#schema
    }
    /** Bytes per record in `readMany` output: 8 per field. */
    get recordBytes() {
      return this.#fields.length * 8
    }
    get replicas() {
      return this.info().replicas
    }
    get closed() {
      return this.#n.closed
    }

    /** Record `index` as a new plain object: one consistent snapshot. */
    read(index) {
      return this.#snap.load(index).toObject()
    }

    /** A reusable snapshot: `load(i)` then a getter per field, allocation-free for number fields. */
    snapshot() {
      if (this.#n.closed) throw closedError()
      return this.#newSnapshot()
    }

    /** Reads `indices.length` records into `out` (an ArrayBuffer of ≥ indices.length × recordBytes). */
    readMany(indices, out) {
      if (!(indices instanceof Uint32Array)) throw typeError(`indices must be a Uint32Array, got ${describe(indices)}`)
      if (!(out instanceof ArrayBuffer)) throw typeError(`out must be an ArrayBuffer of indices.length * recordBytes bytes, got ${describe(out)}`)
      const words = indices.length * this.#fields.length
      if (out.byteLength < words * 8) {
        throw rangeError(
          `out holds ${out.byteLength} bytes but ${indices.length} records of ${this.recordBytes} bytes need ${words * 8}: pass a larger ArrayBuffer`,
          'ERR_ULTRASLAYER_LENGTH',
        )
      }
      this.#n.readMany(indices, new BigUint64Array(out, 0, words))
    }

    /**
     * Reads records `indices` field by field: `columns` names some of the fields (at least one),
     * each with a typed array of at least `indices.length` elements, and element r of each gets
     * that field of record `indices[r]`, every record one consistent snapshot. The array types:
     * f64 → Float64Array; u64 → BigUint64Array (bits) or Float64Array (nearest number); i64 →
     * BigInt64Array or Float64Array; u32 → Uint32Array or Float64Array; i32 → Int32Array or
     * Float64Array; int53 → Float64Array. Everything is checked before anything is read.
     */
    readColumns(indices, columns) {
      if (!(indices instanceof Uint32Array)) throw typeError(`readColumns(indices, columns): indices must be a Uint32Array, got ${describe(indices)}`)
      if (columns === null || typeof columns !== 'object' || Array.isArray(columns)) {
        throw typeError(`readColumns(indices, columns): columns must be an object of field names to typed arrays, such as { ${this.#fields[0].name}: new ${COLUMN_TYPES[this.#fields[0].type][0].name}(indices.length) }, got ${describe(columns)}`)
      }
      const n = indices.length
      const plan = []
      for (const name of Object.keys(columns)) {
        const k = this.#fields.findIndex((f) => f.name === name)
        if (k < 0) throw typeError(`readColumns(indices, columns): unknown field \`${name}\`: the fields are ${Object.keys(this.#schema).join(', ')}`)
        const type = this.#fields[k].type
        const col = columns[name]
        const kinds = COLUMN_TYPES[type]
        const kind = kinds.find((T) => col instanceof T)
        if (kind === undefined) {
          throw typeError(`readColumns(indices, columns): field \`${name}\` is ${type}, so its column must be a ${kinds.map((T) => T.name).join(' or ')}, got ${describe(col)}`)
        }
        if (col.length < n) {
          throw rangeError(`readColumns(indices, columns): column \`${name}\` holds ${col.length} elements but ${n} records were asked for: pass a longer array`, 'ERR_ULTRASLAYER_LENGTH')
        }
        plan.push({ k, col, convert: columnConverter(type, kind) })
      }
      if (plan.length === 0) throw typeError('readColumns(indices, columns): columns names no field: give at least one')
      const count = this.#count
      for (let r = 0; r < n; r++) if (indices[r] >= count) throw indexError(indices[r], count, this.#n.closed)
      if (this.#n.closed) throw closedError()
      const words = this.#fields.length
      const b = this.#batchWords(n * words)
      const p = this.#path
      if (p.src !== null) {
        // The JS read path, record by record; a record copy 0 keeps busy is read natively.
        for (let r = 0; r < n; r++) {
          if (!readLine(p, indices[r], b.u32, 2 * r * words, words)) this.#n.readMany(indices.subarray(r, r + 1), b.u64.subarray(r * words, (r + 1) * words))
        }
      } else {
        this.#n.readMany(indices, b.u64.subarray(0, n * words))
      }
      for (const { k, col, convert } of plan) convert(b, k, words, n, col)
    }

    // The batch buffer, at least `words` words long.
    #batchWords(words) {
      if (this.#batch === null || this.#batch.u64.length < words) {
        const buf = new ArrayBuffer(Math.max(words, 64) * 8)
        this.#batch = { u32: new Uint32Array(buf), i32: new Int32Array(buf), u64: new BigUint64Array(buf) }
      }
      return this.#batch
    }

    /** Stores every field of `record` in every copy of record `index`; checks everything first. */
    write(index, record) {
      const count = this.#count
      if (typeof index !== 'number' || index >>> 0 !== index || index >= count) throw indexError(index, count, this.#n.closed)
      if (record === null || typeof record !== 'object') {
        throw typeError(`write(${index}, record): record must be an object with every field (${Object.keys(this.#schema).join(', ')}), got ${describe(record)}`)
      }
      const fields = this.#fields
      let given = 0
      for (const key in record) {
        if (!Object.hasOwn(this.#schema, key)) throw typeError(`write(${index}, record): unknown field \`${key}\`: the fields are ${Object.keys(this.#schema).join(', ')}`)
        given++
      }
      for (let k = 0; k < fields.length; k++) {
        const f = fields[k]
        const v = record[f.name]
        if (v === undefined) throw typeError(`write(${index}, record): field \`${f.name}\` (${f.type}) is missing: a record is written whole, every field at once`)
        if (f.type === 'f64') {
          if (typeof v !== 'number') throw typeError(`write(${index}, record): field \`${f.name}\` is f64, so it must be a number, got ${describe(v)}`)
        } else if (f.type in NUMBER_RANGES) {
          const r = NUMBER_RANGES[f.type]
          if (typeof v !== 'number') throw typeError(`write(${index}, record): field \`${f.name}\` is ${f.type}, so it must be a number (${r.text}), got ${describe(v)}`)
          if (!Number.isInteger(v) || v < r.min || v > r.max) {
            throw rangeError(`write(${index}, record): field \`${f.name}\` (${f.type}) value ${describe(v)} is not ${r.text}; nothing was written`, 'ERR_ULTRASLAYER_VALUE_RANGE')
          }
        } else if (typeof v !== 'bigint') {
          throw typeError(`write(${index}, record): field \`${f.name}\` is ${f.type}, so it must be a BigInt (e.g. 42n), got ${describe(v)}`)
        } else if (f.type === 'u64' ? v < 0n || v > U64_MAX : v < I64_MIN || v > I64_MAX) {
          const range = f.type === 'u64' ? 'from 0n to 2n ** 64n - 1n' : 'from -(2n ** 63n) to 2n ** 63n - 1n'
          throw rangeError(`write(${index}, record): field \`${f.name}\` (${f.type}) value ${v}n is outside the ${f.type} range, ${range} (it would be truncated)`, 'ERR_ULTRASLAYER_VALUE_RANGE')
        }
      }
      if (given !== fields.length) throw typeError(`write(${index}, record): a field is given twice or inherited; pass a plain object`)
      for (let k = 0; k < fields.length; k++) {
        const f = fields[k]
        const v = record[f.name]
        const lo = 2 * (k + 1)
        if (f.type === 'f64') this.#f64[k + 1] = v
        else if (f.type === 'u64') this.#u64[k + 1] = v
        else if (f.type === 'i64') this.#i64[k + 1] = v
        else if (f.type === 'u32') {
          this.#u32[lo] = v
          this.#u32[lo + 1] = 0
        } else if (f.type === 'i32') {
          this.#i32[lo] = v
          this.#i32[lo + 1] = v < 0 ? -1 : 0
        } else {
          // int53: the two's complement halves, each exact (|v| ≤ 2^53 - 1).
          const hi = Math.floor(v / TWO32)
          this.#i32[lo + 1] = hi
          this.#u32[lo] = v - hi * TWO32
        }
      }
      this.#u32[0] = index
      this.#write()
    }

    /** The slab's info() plus count, fields, recordBytes, the writer lock's state and the read path ('js' while snapshots read copy 0 in JS). */
    info() {
      const i = this.#n.info()
      const readPath = this.#path.src !== null ? 'js' : 'native'
      return { ...i.slab, count: i.count, fields: this.#schema, recordBytes: this.recordBytes, repaired: i.repaired, writerLocked: i.writerLocked, readPath }
    }
    /** Makes every record's copies agree now (a shared segment's first write does this itself). */
    repair() {
      return this.#n.repair()
    }

    stats() {
      const s = this.#n.stats()
      s.direct += this.#path.reads
      return s
    }

    resetStats() {
      this.#n.resetStats()
      this.#path.reads = 0
    }

    // Serves reads from the view exactly while the engine's reads are direct.
    #usePath() {
      const on = this.#views !== null && this.#n._readsDirect
      this.#path.src = on ? this.#views[0] : null
      this.#path.seq = on ? this.#views[1] : null
      this.#path.f64 = on ? this.#views[2] : null
    }

    start() {
      this.#path.src = this.#path.seq = this.#path.f64 = null
      try {
        this.#n.start()
      } finally {
        this.#usePath()
      }
    }

    stop() {
      this.#n.stop()
      this.#usePath()
    }

    close() {
      // The view first: after close() a read must throw, never touch unmapped memory (the native
      // close detaches the buffer too, for any other path to it).
      this.#path.src = this.#path.seq = this.#path.f64 = this.#views = null
      this.#n.close()
    }

    static {
      forwardControls(Records, (r) => r.#n)
    }

    // Any record store, created off the JS thread: local without `options.name`, a named shared
    // segment with it.
    static async create(options, control) {
      const call = 'Records.create(options)'
      const c = creationControl(call, control)
      const made = (x) => x instanceof native.NativeRecords
      if (!isNamed(options)) {
        const a = localArgs(call, options)
        return new Records(ADOPT, await runCreation(call, c, (job) => native._createRecords(a.fields, a.options, job), made))
      }
      const a = sharedArgs(call, options)
      return new Records(ADOPT, await runCreation(call, c, (job) => native._createSharedRecords(a.name, a.overwrite, a.fields, a.options, job), made))
    }

    // The same, blocking the calling thread until the store is ready.
    static createSync(options) {
      const call = 'Records.createSync(options)'
      if (!isNamed(options)) {
        const a = localArgs(call, options)
        return new Records(ADOPT, new native.NativeRecords(a.fields, a.options))
      }
      const a = sharedArgs(call, options)
      return new Records(ADOPT, native.NativeRecords.create(a.name, a.overwrite, a.fields, a.options))
    }

    static open(name, options = {}) {
      const call = 'Records.open(name, options)'
      validateName(call, name)
      if (options === null || typeof options !== 'object' || Array.isArray(options)) throw typeError(`${call}: options must be an object, got ${describe(options)}`, 'ERR_ULTRASLAYER_BAD_OPTION')
      if ('slots' in options) throw typeError(`${call}: records take \`count\` (records), not \`slots\``, 'ERR_ULTRASLAYER_BAD_OPTION')
      const { fields, count, ...rest } = options
      const text = fields === undefined ? undefined : schemaText(parseFields(call, fields))
      if (count !== undefined) {
        if (typeof count !== 'number') throw optionError('count', 'a number of records', count)
        rest.slots = count * WORDS
      }
      validateOptions(rest, SHARED_OPEN_TYPES, call, "{ fields: { bid: 'f64' }, spin: 'hybrid' }", recordOptions(SHARED_OPEN_TYPES))
      return new Records(ADOPT, native.NativeRecords.open(name, text, rest))
    }

    static unlink(name) {
      validateName('Records.unlink(name)', name)
      return native.Slayer.unlink(name)
    }

    // Internal (benchmark): the native object behind a Records.
    static _nativeOf(r) {
      return r.#n
    }

    // Internal (benchmark): a snapshot that always loads with the native call (a read path never
    // switched on), to time the JS read path against it on the same store.
    static _nativeSnapshot(r) {
      if (r.#n.closed) throw closedError()
      return r.#newSnapshot(new ReadPath())
    }
  }

  return Records
}
