'use strict'
// The record snapshot class of one schema, compiled from its fields: what `records.snapshot()`
// returns. It owns the fast read of one record in JS and nothing else (argument rules and the
// store live in records.js).
//
// Why compiled: a snapshot is read in the hot path of a decision (load + a getter per field, a few
// ns each), and a loop over a field list with a switch per type costs several times an unrolled
// body. So each schema gets a class whose source names its fields: number fields (f64, u32, i32,
// int53) live in private fields set by `load`, each read by a plain getter V8 inlines to one
// field load; BigInt fields (u64, i64) keep their two halves in the snapshot's 64-byte scratch and
// make the BigInt in the getter (only when asked for). Getters have no setters, so assigning a
// field throws in strict code, as it did when every field was a getter over the scratch.
//
// Nothing a user gives reaches the source as text: field names go in as computed keys from an
// array, and the rest are word indices, numeric constants (as literals, which V8 folds) and the
// names of this file's own variables.
//
// `load(i)` reads the record one of three ways (records.js has the protocol and why it is sound):
// - x86 (PLAIN_LOADS): inline, from the copy-0 views: s1 = I[q], the fields, s2 = U[q], each a
//   plain typed-array load; a record copy 0 keeps mid-update for COPY_TRIES attempts goes native;
// - other CPUs: readLine (every load an Atomics.load) into the scratch, then from the scratch;
// - no view, or reads not direct (threads running, steered): the native load into the scratch.

/**
 * @param fields [{ name, type }] in storage order (word k + 1 of the line holds field k)
 * @param deps what the compiled source refers to (records.js's constants and functions)
 */
function compileSnapshotClass(fields, deps) {
  const numbers = fields.map((f, k) => ({ ...f, k, w: k + 1 })).filter((f) => !deps.BIGINT_TYPES.has(f.type))
  const bigs = fields.map((f, k) => ({ ...f, k, w: k + 1 })).filter((f) => deps.BIGINT_TYPES.has(f.type))
  // A number field's value out of views F (Float64Array), U (Uint32Array), I (Int32Array) of a
  // line whose first half-word is h and first word o.
  const value = (f, h, o) => {
    const lo = `${h} + ${2 * f.w}`
    const hi = `${h} + ${2 * f.w + 1}`
    switch (f.type) {
      case 'f64':
        return `F[${o} + ${f.w}]`
      case 'u32':
        return `U[${lo}]`
      case 'i32':
        return `I[${lo}]`
      case 'int53': // exact for every value a write lets in (|v| ≤ 2^53 - 1): both terms and the sum are
        return `I[${hi}] * ${deps.TWO32} + U[${lo}]`
    }
    throw new Error(`not a number field type: ${f.type}`)
  }
  // From the scratch (a line at half 0, word 0) into the private fields.
  const fromScratch = [
    'const F = this.#f64, U = this.#u32, I = this.#i32',
    ...numbers.map((f) => `this.#v${f.k} = ${value(f, 0, 0)}`),
  ].join('\n      ')
  const inline = deps.PLAIN_LOADS
    ? `const U = p.src
      if (U !== null) {
        const I = p.seq, F = p.f64
        const slot = index * 8
        const q = ((slot >>> p.shift) * p.stride + (slot & p.mask)) * 2
        const o = q >>> 1
        const d = this.#u32
        for (let t = 0; t < ${deps.COPY_TRIES}; t++) {
          const s1 = I[q]
          if ((s1 & 1) === 0) {
            ${numbers.map((f) => `const v${f.k} = ${value(f, 'q', 'o')}`).join('\n            ')}
            ${bigs.map((f) => `d[${2 * f.w}] = U[q + ${2 * f.w}]; d[${2 * f.w + 1}] = U[q + ${2 * f.w + 1}]`).join('\n            ')}
            if ((U[q] | 0) === s1) {
              ${numbers.map((f) => `this.#v${f.k} = v${f.k}`).join('\n              ')}
              p.reads++
              this.#index = index
              return this
            }
          }
        }
      }`
    : `if (p.src !== null && readLine(p, index, this.#u32, 2, ${fields.length})) {
        this.#fromScratch()
        this.#index = index
        return this
      }`
  const source = `return class RecordSnapshot {
    ${numbers.map((f) => `#v${f.k} = 0`).join('\n    ')}
    #u32
    #i32
    #f64
    #u64
    #i64
    #load
    #count
    #isClosed
    #path
    #index = -1
    constructor(count, bind, isClosed, path) {
      const scratch = new ArrayBuffer(64)
      this.#u32 = new Uint32Array(scratch)
      this.#i32 = new Int32Array(scratch)
      this.#f64 = new Float64Array(scratch)
      this.#u64 = new BigUint64Array(scratch)
      this.#i64 = new BigInt64Array(scratch)
      this.#load = bind(scratch).load
      this.#count = count
      this.#isClosed = isClosed
      this.#path = path
    }
    /** Reads record \`index\` into this snapshot (one consistent copy); returns this. */
    load(index) {
      const count = this.#count
      if (typeof index !== 'number' || index >>> 0 !== index || index >= count) throw indexError(index, count, this.#isClosed())
      const p = this.#path
      ${inline}
      return this.#loadNative(index)
    }
    // The native read: the index in word 0, the fields back in words 1..${fields.length}. A method of
    // its own so that \`load\`'s bytecode stays small enough for V8 to inline into the caller's loop.
    #loadNative(index) {
      this.#u32[0] = index
      this.#load()
      this.#fromScratch()
      this.#index = index
      return this
    }
    #fromScratch() {
      ${fromScratch}
    }
    /** The index last loaded, or -1. */
    get index() {
      return this.#index
    }
    /** The loaded record as a plain object. */
    toObject() {
      const o = {}
      for (let k = 0; k < NAMES.length; k++) o[NAMES[k]] = this[NAMES[k]]
      return o
    }
    toJSON() {
      const o = {}
      for (let k = 0; k < NAMES.length; k++) o[NAMES[k]] = BIG[k] ? String(this[NAMES[k]]) : this[NAMES[k]]
      return o
    }
    ${numbers.map((f) => `get [NAMES[${f.k}]]() { return this.#v${f.k} }`).join('\n    ')}
    ${bigs.map((f) => `get [NAMES[${f.k}]]() { return this.#${f.type}[${f.w}] }`).join('\n    ')}
  }`
  const NAMES = fields.map((f) => f.name)
  const BIG = fields.map((f) => deps.BIGINT_TYPES.has(f.type))
  const make = new Function('NAMES', 'BIG', 'readLine', 'indexError', source)
  const RecordSnapshot = make(NAMES, BIG, deps.readLine, deps.indexError)
  // Field getters are enumerable, as own fields of a plain record would be, and fixed.
  for (const name of NAMES) Object.defineProperty(RecordSnapshot.prototype, name, { enumerable: true, configurable: false })
  return RecordSnapshot
}

module.exports = { compileSnapshotClass }
