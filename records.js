'use strict'
// Records: a fixed schema of up to 7 named 64-bit fields per record, each record one cache line in
// every replica, read in one call as one consistent snapshot (see src/records/).
//
// This file owns the JS side only: field names and types, argument checks (so bad input is a
// TypeError/RangeError naming the field or value, and nothing is written), and the fast path. A
// snapshot owns a 64-byte scratch ArrayBuffer bound to its own raw `load` function: `load(i)` puts
// the index in word 0, one native call fills words 1..7 with a consistent copy's fields, and a
// getter per field reads its word — no argument conversion, no allocation for f64 fields.
// Options are the Slayer's (validated by index.js's own table), with `count` and `fields` instead
// of `slots`.

const FIELD_TYPES = ['f64', 'u64', 'i64']
const MAX_FIELDS = 7
const WORDS = 8
const SCRATCH_BYTES = WORDS * 8
const U64_MAX = (1n << 64n) - 1n
const I64_MIN = -(1n << 63n)
const I64_MAX = (1n << 63n) - 1n
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/
// Snapshot members and everything an object inherits: a field of that name would shadow them.
const RESERVED = new Set(['load', 'toObject', 'toJSON', 'index', ...Object.getOwnPropertyNames(Object.prototype)])

// Internal slots of a snapshot (symbols, so no field name can reach them).
const LOAD = Symbol('load')
const U32 = Symbol('u32')
const F64 = Symbol('f64')
const U64 = Symbol('u64')
const I64 = Symbol('i64')
const INDEX = Symbol('index')
const COUNT = Symbol('count')
const CLOSED = Symbol('closed')

module.exports = function defineRecords({ native, describe, withCode, optionError, validateOptions, validateName, OPTION_TYPES, SHARED_CREATE_TYPES, SHARED_OPEN_TYPES, ADOPT, forwardControls, creationControl, runCreation, isNamed }) {
  const typeError = (msg, code = 'ERR_ULTRASLAYER_BAD_ARGUMENT') => withCode(new TypeError(msg), code)
  const rangeError = (msg, code) => withCode(new RangeError(msg), code)

  // [{ name, type }] in the order given, or a TypeError/RangeError that says what is wrong.
  function parseFields(call, fields) {
    if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) {
      throw optionError('fields', "an object of field names to 'f64' | 'u64' | 'i64', such as { bid: 'f64', qty: 'u64' }", fields)
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
        throw typeError(`${call}: field \`${name}\` has type ${describe(type)}: use 'f64', 'u64' or 'i64'`, 'ERR_ULTRASLAYER_BAD_OPTION')
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
    if (RecordSnapshot) return RecordSnapshot
    RecordSnapshot = class RecordSnapshot {
      constructor(count, bind, isClosed) {
        const scratch = new ArrayBuffer(SCRATCH_BYTES)
        this[U32] = new Uint32Array(scratch)
        this[F64] = new Float64Array(scratch)
        this[U64] = new BigUint64Array(scratch)
        this[I64] = new BigInt64Array(scratch)
        this[LOAD] = bind(scratch).load
        this[COUNT] = count
        this[CLOSED] = isClosed
        this[INDEX] = -1
      }
      /** Reads record `index` into this snapshot (one consistent copy); returns this. */
      load(index) {
        const count = this[COUNT]
        if (typeof index !== 'number' || index >>> 0 !== index || index >= count) throw indexError(index, count, this[CLOSED]())
        this[U32][0] = index
        this[LOAD]()
        this[INDEX] = index
        return this
      }
      /** The index last loaded, or -1. */
      get index() {
        return this[INDEX]
      }
      /** The loaded record as a plain object. */
      toObject() {
        const o = {}
        for (const f of fields) o[f.name] = this[f.name]
        return o
      }
      toJSON() {
        const o = {}
        for (const f of fields) o[f.name] = f.type === 'f64' ? this[f.name] : String(this[f.name])
        return o
      }
    }
    fields.forEach((f, k) => {
      const w = k + 1
      const get =
        f.type === 'f64'
          ? function () {
              return this[F64][w]
            }
          : f.type === 'u64'
            ? function () {
                return this[U64][w]
              }
            : function () {
                return this[I64][w]
              }
      Object.defineProperty(RecordSnapshot.prototype, f.name, { get, enumerable: true, configurable: false })
    })
    snapshotClasses.set(key, RecordSnapshot)
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
    #f64
    #u64
    #i64
    #write

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
      this.#newSnapshot = () => new RecordSnapshot(count, bind, isClosed)
      this.#snap = this.#newSnapshot()
      const scratch = new ArrayBuffer(SCRATCH_BYTES)
      this.#u32 = new Uint32Array(scratch)
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

    /** A reusable snapshot: `load(i)` then a getter per field, allocation-free for f64 fields. */
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
        if (f.type === 'f64') this.#f64[k + 1] = v
        else if (f.type === 'u64') this.#u64[k + 1] = v
        else this.#i64[k + 1] = v
      }
      this.#u32[0] = index
      this.#write()
    }

    /** The slab's info() plus count, fields, recordBytes and the writer lock's state. */
    info() {
      const i = this.#n.info()
      return { ...i.slab, count: i.count, fields: this.#schema, recordBytes: this.recordBytes, repaired: i.repaired, writerLocked: i.writerLocked }
    }
    /** Makes every record's copies agree now (a shared segment's first write does this itself). */
    repair() {
      return this.#n.repair()
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
  }

  return Records
}
