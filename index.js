'use strict'
// The public entry point: a thin JS class over the native addon.
//
// Hand-written (the generated loader is native.js, never edited). It validates arguments, so bad
// input becomes a TypeError/RangeError that names the value, and it drives the per-read hot path
// through two raw N-API functions and a 32-byte scratch buffer: the index goes in word 0, the value
// comes back in word 1, with no argument conversion in native code. index.d.ts (hand-written)
// describes exactly this class; __test__/typings.test.js checks every public method is declared.

const native = loadNative()

// The generated loader (native.js) tries the local build, then the per-platform package
// (ultraslayer-<platform>). When neither loads, the error names this platform, what was tried, and
// the one thing to do in the situation found: build (a clone), install the platform package (an
// install that skipped or lost it), or use a supported platform (none published for this one).
// Windows x64 binaries are built with mingw-w64 (x86_64-pc-windows-gnu) and load in the official
// Node, which is built with MSVC; the generated loader tries '-gnu' only in a Node built with
// mingw, so they are tried here after it (the local build, then the platform package).

function loadNative() {
  try {
    return require('./native.js')
  } catch (e) {
    let last = e
    if (process.platform === 'win32' && process.arch === 'x64') {
      for (const p of ['./ultraslayer.win32-x64-gnu.node', 'ultraslayer-win32-x64-gnu']) {
        try {
          return require(p)
        } catch (e2) {
          last = Object.assign(new Error(e2.message.split('\n')[0]), { cause: last })
        }
      }
    }
    const err = new Error(noBinaryMessage(last))
    err.code = 'ERR_ULTRASLAYER_NO_BINARY'
    err.cause = last
    throw err
  }
}

/** What went wrong when no binary loaded, and what to do about it. */
function noBinaryMessage(loadError) {
  const fs = require('node:fs')
  const path = require('node:path')
  const pkg = require('./package.json')
  let libc = ''
  if (process.platform === 'linux') {
    try {
      libc = process.report.getReport().header.glibcVersionRuntime ? '-gnu' : '-musl'
    } catch {
      libc = ''
    }
  } else if (process.platform === 'win32') {
    libc = '-gnu' // the Windows binary is built with mingw-w64 (see loadNative)
  }
  const platform = `${process.platform}-${process.arch}${libc}`
  const platformPackage = `${pkg.name}-${platform}`
  const tried = []
  for (let c = loadError; c; c = c.cause) if (c.message) tried.push(`  - ${c.message.split('\n')[0]}`)
  const head = `ultraslayer: no native binary loaded for ${platform} (Node ${process.version}).\nTried:\n${tried.join('\n')}\n`
  // A clone of the repository (the Rust sources are here): the binary is built, not installed.
  if (fs.existsSync(path.join(__dirname, 'Cargo.toml'))) {
    return `${head}This is a source checkout: build the binary with \`npm run build\` in ${__dirname} (needs Rust >= 1.88 and a C compiler).`
  }
  // An installed package: its manifest names the platform packages a release publishes.
  const published = Object.keys(pkg.optionalDependencies || {}).map((n) => n.slice(pkg.name.length + 1))
  if (!published.includes(platform)) {
    return (
      `${head}No prebuilt binary is published for ${platform}; ultraslayer ${pkg.version} ships ${published.join(', ') || 'none'}.` +
      ' Run it on one of those platforms.'
    )
  }
  let installed = null
  try {
    installed = require(`${platformPackage}/package.json`).version
  } catch {
    installed = null
  }
  if (installed === null) {
    return (
      `${head}The package ${platformPackage}, which holds the binary for this platform, is not installed: npm leaves optional ` +
      'dependencies out with --omit=optional or --no-optional, and a lockfile made on another platform can lack it. ' +
      `Install it: \`npm install ${platformPackage}@${pkg.version}\`.`
    )
  }
  if (installed !== pkg.version) {
    return `${head}${platformPackage} ${installed} is installed, but ultraslayer ${pkg.version} needs the same version: \`npm install ${platformPackage}@${pkg.version}\`.`
  }
  return (
    `${head}${platformPackage} ${installed} is installed but its binary did not load (the first line above says why: ` +
    `a libc or CPU the binary was not built for, or a damaged file). Reinstall it: \`npm install --force ${platformPackage}@${pkg.version}\`.`
  )
}

const U64_MAX = (1n << 64n) - 1n
// Which options each constructor takes and their JS types: the engine's one option table.
const OPTIONS = JSON.parse(native._optionTable())
const typesFor = (call) => Object.fromEntries(OPTIONS.filter((o) => o.takes.includes(call)).map((o) => [o.name, o.type]))
const OPTION_TYPES = typesFor('new')
const SHARED_CREATE_TYPES = typesFor('create')
const SHARED_OPEN_TYPES = typesFor('open')
// Lets the static factories hand a native object to the constructor; not reachable from outside.
const ADOPT = Symbol('adopt')
// The single-value hot path of every Slayer on this thread: one `read` and one `write` raw
// function over one shared 32-byte scratch (index in u32 word 0, the Slayer's id in u32 word 1,
// the value in word 1), so the calls inside readF64/readU64/writeF64/writeU64 have one target
// however many Slayers there are (a function per Slayer made them polymorphic).
const SHARED = new ArrayBuffer(32)
const SU32 = new Uint32Array(SHARED)
const SF64 = new Float64Array(SHARED)
const SU64 = new BigUint64Array(SHARED)
const { read: sharedRead, write: sharedWrite } = native._sharedFast(SHARED)

// Internals of each Slayer for the benchmark and the CLI (never on the public class): its native
// object, and a read of copy 0 whatever the strategy (the benchmark's same-slab baseline).
const INTERNALS = new WeakMap()

// A value as a message quotes it, in JS terms: `the string "10"`, `42n`, `-0`, `Infinity`, `null`,
// `an array`, `a Map`.
function describe(v) {
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`
  if (Object.is(v, -0)) return '-0'
  if (typeof v === 'bigint') return `${v}n`
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') return `a ${v.constructor ? v.constructor.name : 'object'}`
  if (typeof v === 'function') return 'a function'
  return String(v)
}

function withCode(err, code) {
  err.code = code
  return err
}

function optionError(name, want, got) {
  return withCode(new TypeError(`option \`${name}\`: must be ${want}, got ${describe(got)}`), 'ERR_ULTRASLAYER_BAD_OPTION')
}

// `known`: the option names the caller's own call takes, for the message (Records take `count` and
// `fields` where a Slayer takes `slots`).
function validateOptions(options, types = OPTION_TYPES, call = 'new Slayer(options)', example = '{ slots: 1024 }', known = Object.keys(types)) {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw withCode(new TypeError(`${call}: options must be an object such as ${example}, got ${describe(options)}`), 'ERR_ULTRASLAYER_BAD_OPTION')
  }
  for (const key of Object.keys(options)) {
    const want = types[key]
    if (want === undefined) {
      throw withCode(new TypeError(`unknown option \`${key}\`: known options are ${known.join(', ')}`), 'ERR_ULTRASLAYER_BAD_OPTION')
    }
    const v = options[key]
    if (v === undefined) continue
    if (want === 'number|auto') {
      if (typeof v !== 'number' && v !== 'auto') throw optionError(key, "a number or 'auto'", v)
    } else if (want === 'array') {
      if (!Array.isArray(v)) throw optionError(key, 'an array of integer core ids such as [0, 1]', v)
      // Name the element that is wrong (the engine checks each id's range).
      for (let k = 0; k < v.length; k++) {
        if (typeof v[k] !== 'number' || !Number.isInteger(v[k])) {
          throw withCode(new TypeError(`option \`${key}\`: ${key}[${k}] must be an integer core id, got ${describe(v[k])}`), 'ERR_ULTRASLAYER_BAD_OPTION')
        }
      }
    } else if (typeof v !== want) {
      throw optionError(key, `a ${want}`, v)
    }
  }
  if (options.slots === undefined && types !== SHARED_OPEN_TYPES) {
    throw withCode(new TypeError('option `slots` is required: the number of 64-bit slots per replica'), 'ERR_ULTRASLAYER_BAD_OPTION')
  }
}

function validateName(call, name) {
  if (typeof name !== 'string') {
    throw withCode(new TypeError(`${call}: the shared slab name must be a string such as 'prices', got ${describe(name)}`), 'ERR_ULTRASLAYER_BAD_ARGUMENT')
  }
}

// Creation off the JS thread (`Slayer.create`, `Records.create`): the native side runs the work on
// a libuv worker under a CreationJob (src/create.rs); this side wires an AbortSignal to
// job.cancel(), polls job.progress() for onProgress, and turns the result into the object or the
// error. The work is the synchronous constructor's, the same options and the same errors.

// `{ signal, onProgress }`, checked: a TypeError for anything else.
function creationControl(call, control) {
  if (control === undefined) return {}
  if (control === null || typeof control !== 'object' || Array.isArray(control)) {
    throw withCode(new TypeError(`${call}: the second argument must be an object such as { signal, onProgress }, got ${describe(control)}`), 'ERR_ULTRASLAYER_BAD_ARGUMENT')
  }
  for (const key of Object.keys(control)) {
    if (key !== 'signal' && key !== 'onProgress') {
      throw withCode(new TypeError(`${call}: unknown key \`${key}\` in the second argument: it takes signal and onProgress`), 'ERR_ULTRASLAYER_BAD_ARGUMENT')
    }
  }
  const { signal, onProgress } = control
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw withCode(new TypeError(`${call}: signal must be an AbortSignal (e.g. AbortSignal.timeout(5000)), got ${describe(signal)}`), 'ERR_ULTRASLAYER_BAD_ARGUMENT')
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw withCode(new TypeError(`${call}: onProgress must be a function ({ phase, done, total, unit }) => void, got ${describe(onProgress)}`), 'ERR_ULTRASLAYER_BAD_ARGUMENT')
  }
  return { signal, onProgress }
}

// The error an aborted creation rejects with, as fetch and fs do: name 'AbortError', the signal's
// reason (and the native error, when the work stopped) as its cause.
function abortError(call, signal, stopped) {
  const reason = signal && signal.reason
  const e = new DOMException(stopped ? `${call} was aborted: ${stopped.message}` : `${call} was aborted before it started`, 'AbortError')
  Object.defineProperty(e, 'cause', { value: reason !== undefined ? reason : stopped, writable: true, configurable: true })
  Object.defineProperty(e, 'code', { value: 'ABORT_ERR', writable: true, configurable: true })
  return e
}

// How often onProgress is polled, and the longest it goes unheard while the work runs.
const PROGRESS_POLL_MS = 100
const PROGRESS_EVERY_MS = 1000

async function runCreation(call, control, start, made) {
  const { signal, onProgress } = control
  if (signal && signal.aborted) throw abortError(call, signal)
  const job = new native.CreationJob()
  const pending = start(job)
  const onAbort = () => job.cancel()
  if (signal) signal.addEventListener('abort', onAbort, { once: true })
  let timer = null
  let thrown = null
  let last = ''
  let lastAt = 0
  const tick = (final) => {
    const p = job.progress()
    if (p === null || thrown !== null) return
    const key = `${p.phase}:${p.done}:${p.total}`
    const now = Date.now()
    // Unchanged progress is repeated once a second while the work runs, never as the final call.
    if (key === last && (final || now - lastAt < PROGRESS_EVERY_MS)) return
    last = key
    lastAt = now
    try {
      onProgress({ phase: p.phase, done: p.done, total: p.total, unit: p.unit })
    } catch (e) {
      // A throwing callback stops the creation, which then rejects with what it threw.
      thrown = { error: e }
      job.cancel()
    }
  }
  if (onProgress) timer = setInterval(tick, PROGRESS_POLL_MS)
  let result
  try {
    result = await pending
  } finally {
    if (timer !== null) clearInterval(timer)
    if (signal) signal.removeEventListener('abort', onAbort)
  }
  if (thrown !== null) {
    if (made(result)) result.close()
    throw thrown.error
  }
  if (!made(result)) {
    const err = result.kind === 'type' ? new TypeError(result.message) : result.kind === 'range' ? new RangeError(result.message) : new Error(result.message)
    withCode(err, result.code)
    if (result.code === 'ERR_ULTRASLAYER_ABORTED') throw abortError(call, signal, err)
    throw err
  }
  if (onProgress) {
    tick(true)
    // The final call threw: the slab is made, but the caller is told what was thrown, as when
    // any earlier call throws (a creation that finished before the first poll has only this one).
    if (thrown !== null) {
      result.close()
      throw thrown.error
    }
  }
  return result
}

function closedError() {
  return withCode(new Error('this Slayer is closed: create a new one (close() unmaps the slab and stops its threads)'), 'ERR_ULTRASLAYER_CLOSED')
}

// Out of the hot path: works out which error an index that failed the fast check deserves.
function indexError(index, slots, closed) {
  if (closed) return closedError()
  if (typeof index !== 'number' || !Number.isInteger(index)) {
    return withCode(new TypeError(`slot index must be an integer number, got ${describe(index)} (this slab has ${slots} slots)`), 'ERR_ULTRASLAYER_BAD_ARGUMENT')
  }
  return withCode(new RangeError(`slot index ${describe(index)} is out of range: this slab has ${slots} slots (valid indices 0 to ${slots - 1})`), 'ERR_ULTRASLAYER_SLOT_RANGE')
}

function checkBatch(indices, values, ValuesType, valuesName) {
  if (!(indices instanceof Uint32Array)) {
    throw withCode(new TypeError(`indices must be a Uint32Array, got ${describe(indices)}`), 'ERR_ULTRASLAYER_BAD_ARGUMENT')
  }
  if (!(values instanceof ValuesType)) {
    throw withCode(new TypeError(`${valuesName} must be a ${ValuesType.name}, got ${describe(values)}`), 'ERR_ULTRASLAYER_BAD_ARGUMENT')
  }
  if (indices.length !== values.length) {
    throw withCode(new RangeError(`batch length mismatch: ${indices.length} indices but ${values.length} ${valuesName}: pass arrays of equal length`), 'ERR_ULTRASLAYER_LENGTH')
  }
}

// The controls Slayer and Records forward unchanged to their native object: stats(), resetStats(),
// start(), stop(), close() and [Symbol.dispose]() (= close()). `nativeOf` reads the class's private
// native field, so calling one on anything else throws the TypeError a private field access does.
function forwardControls(cls, nativeOf) {
  const methods = {
    stats() {
      return nativeOf(this).stats()
    },
    resetStats() {
      nativeOf(this).resetStats()
    },
    start() {
      nativeOf(this).start()
    },
    stop() {
      nativeOf(this).stop()
    },
    // The background learner's share of one core, in percent; false when nothing is learned in
    // the background (a slab placed up front or not steered, or learning that has ended).
    setLearnDutyPercent(percent) {
      const n = nativeOf(this)
      if (typeof percent !== 'number' || !Number.isInteger(percent)) {
        throw withCode(new TypeError(`setLearnDutyPercent: percent must be an integer from 1 to 100, got ${describe(percent)}`), 'ERR_ULTRASLAYER_BAD_ARGUMENT')
      }
      if (percent < 1 || percent > 100) {
        throw withCode(new RangeError(`setLearnDutyPercent: percent must be from 1 to 100 (a share of one core), got ${percent}`), 'ERR_ULTRASLAYER_OPTION_RANGE')
      }
      return n.setLearnDutyPercent(percent)
    },
    close() {
      nativeOf(this).close()
    },
    [Symbol.dispose]() {
      nativeOf(this).close()
    },
  }
  for (const key of Reflect.ownKeys(methods)) {
    // A class that does more than forward one of them defines it itself.
    if (!Object.hasOwn(cls.prototype, key)) Object.defineProperty(cls.prototype, key, { value: methods[key], writable: true, configurable: true })
  }
}

class Slayer {
  #n
  #id
  #slots
  #readMany
  #writeMany
  // The direct view (see src/view.rs): copy 0 of the slab as typed arrays, so a direct
  // read (strategy 'direct', or hedged threads stopped) is one typed-array load with no native
  // call; copy 0 of slot i is element `(i >>> #shift) * #stride + (i & #mask)`. #views holds the
  // arrays when the slab offers them; #f64/#u64 are set only while reads are direct (#useView).
  #views = null
  #f64 = null
  #u64 = null
  #shift = 0
  #mask = 0
  #stride = 0
  // Reads served through the view, added to stats().direct ([0], a double: no Smi overflow).
  #viewReads = new Float64Array(1)

  constructor(options, adopted) {
    if (options === ADOPT) {
      this.#n = adopted
    } else {
      validateOptions(options)
      this.#n = new native.Slayer(options)
    }
    this.#slots = this.#n.slots
    this.#id = this.#n._id
    const scratch = new ArrayBuffer(32)
    const u32 = new Uint32Array(scratch)
    const f64 = new Float64Array(scratch)
    const fast = this.#n._bindFast(scratch)
    this.#readMany = fast.readMany
    this.#writeMany = fast.writeMany
    if (fast.view) {
      try {
        this.#views = [new Float64Array(fast.view.buffer), new BigUint64Array(fast.view.buffer)]
      } catch {
        // A buffer longer than this V8's typed arrays allow: reads take the native call.
        this.#views = null
      }
      this.#shift = fast.view.shift
      this.#mask = fast.view.mask
      this.#stride = fast.view.stride
      this.#useView()
    }
    const n = this.#n
    const slots = this.#slots
    const readCopy0 = fast.readCopy0
    INTERNALS.set(this, {
      native: n,
      readF64Copy0(index) {
        if (typeof index !== 'number' || index >>> 0 !== index || index >= slots) throw indexError(index, slots, n.closed)
        u32[0] = index
        readCopy0()
        return f64[1]
      },
    })
  }

  get slots() {
    return this.#slots
  }

  get replicas() {
    return this.#n.replicas
  }

  get closed() {
    return this.#n.closed
  }

  // The read paths of readF64/readU64, shared; V8 inlines these small private methods into each.
  // The word of copy 0 that holds slot `index` in the direct views (a read through them is counted).
  #viewWord(index) {
    this.#viewReads[0]++
    return (index >>> this.#shift) * this.#stride + (index & this.#mask)
  }

  // Reads slot `index` natively, by the slab's strategy: its bits land in SF64[1] / SU64[1].
  #readNative(index) {
    SU32[0] = index
    SU32[1] = this.#id
    sharedRead()
  }

  readF64(index) {
    // Covers non-numbers (BigInt too: `>>>` would throw its own TypeError), NaN, fractions,
    // negatives and indices past the end; the slow path works out which error it was.
    if (typeof index !== 'number' || index >>> 0 !== index || index >= this.#slots) throw indexError(index, this.#slots, this.#n.closed)
    const view = this.#f64
    if (view !== null) return view[this.#viewWord(index)]
    this.#readNative(index)
    return SF64[1]
  }

  readU64(index) {
    if (typeof index !== 'number' || index >>> 0 !== index || index >= this.#slots) throw indexError(index, this.#slots, this.#n.closed)
    const view = this.#u64
    if (view !== null) return view[this.#viewWord(index)]
    this.#readNative(index)
    return SU64[1]
  }

  writeF64(index, value) {
    if (typeof index !== 'number' || index >>> 0 !== index || index >= this.#slots) throw indexError(index, this.#slots, this.#n.closed)
    if (typeof value !== 'number') {
      throw withCode(new TypeError(`writeF64 value must be a number, got ${describe(value)}`), 'ERR_ULTRASLAYER_BAD_ARGUMENT')
    }
    SU32[0] = index
    SU32[1] = this.#id
    SF64[1] = value
    sharedWrite()
  }

  writeU64(index, value) {
    if (typeof index !== 'number' || index >>> 0 !== index || index >= this.#slots) throw indexError(index, this.#slots, this.#n.closed)
    if (typeof value !== 'bigint') {
      throw withCode(new TypeError(`writeU64 value must be a BigInt (e.g. 42n), got ${describe(value)}`), 'ERR_ULTRASLAYER_BAD_ARGUMENT')
    }
    if (value < 0n || value > U64_MAX) {
      throw withCode(new RangeError(`writeU64 value ${value}n is outside the u64 range, from 0n to 2n ** 64n - 1n (it would be truncated)`), 'ERR_ULTRASLAYER_VALUE_RANGE')
    }
    SU32[0] = index
    SU32[1] = this.#id
    SU64[1] = value
    sharedWrite()
  }

  readManyU64(indices, out) {
    checkBatch(indices, out, BigUint64Array, 'out')
    this.#readMany(indices, out)
  }

  readManyF64(indices, out) {
    checkBatch(indices, out, Float64Array, 'out')
    this.#readMany(indices, out)
  }

  writeManyU64(indices, values) {
    checkBatch(indices, values, BigUint64Array, 'values')
    this.#writeMany(indices, values)
  }

  writeManyF64(indices, values) {
    checkBatch(indices, values, Float64Array, 'values')
    this.#writeMany(indices, values)
  }

  info() {
    return this.#n.info()
  }

  stats() {
    const s = this.#n.stats()
    s.direct += this.#viewReads[0]
    return s
  }

  resetStats() {
    this.#n.resetStats()
    this.#viewReads[0] = 0
  }

  // Serves reads from the view exactly while the engine's reads are plain copy-0 loads.
  #useView() {
    const on = this.#views !== null && this.#n._readsDirect
    this.#f64 = on ? this.#views[0] : null
    this.#u64 = on ? this.#views[1] : null
  }

  start() {
    this.#f64 = this.#u64 = null
    try {
      this.#n.start()
    } finally {
      this.#useView()
    }
  }

  stop() {
    this.#n.stop()
    this.#useView()
  }

  close() {
    // The view first: after close() a read must throw, never touch unmapped memory (the native
    // close detaches the buffer too, for any other path to it).
    this.#f64 = this.#u64 = this.#views = null
    this.#n.close()
  }

  [Symbol.dispose]() {
    this.close()
  }

  static {
    forwardControls(Slayer, (s) => s.#n)
  }

  // Any slab, created off the JS thread: local without `options.name`, a named shared slab (one
  // process creates, others open; each runs its own replica threads) with it.
  static async create(options, control) {
    const call = 'Slayer.create(options)'
    const c = creationControl(call, control)
    const shared = isNamed(options)
    if (shared) {
      validateOptions(options, SHARED_CREATE_TYPES, call, "{ name: 'prices', slots: 1024 }")
      validateName(call, options.name)
    } else {
      validateOptions(options, OPTION_TYPES, call)
    }
    const n = await runCreation(call, c, (job) => (shared ? native._createSharedSlayer(options, job) : native._createSlayer(options, job)), (x) => x instanceof native.Slayer)
    return new Slayer(ADOPT, n)
  }

  // The same, blocking the calling thread until the slab is ready.
  static createSync(options) {
    const call = 'Slayer.createSync(options)'
    if (!isNamed(options)) {
      validateOptions(options, OPTION_TYPES, call)
      return new Slayer(ADOPT, new native.Slayer(options))
    }
    validateOptions(options, SHARED_CREATE_TYPES, call, "{ name: 'prices', slots: 1024 }")
    validateName(call, options.name)
    return new Slayer(ADOPT, native.Slayer.create(options))
  }

  static open(name, options) {
    validateName('Slayer.open(name, options)', name)
    if (options !== undefined) validateOptions(options, SHARED_OPEN_TYPES, 'Slayer.open(name, options)', "{ spin: 'hybrid' }")
    return new Slayer(ADOPT, native.Slayer.open(name, options))
  }

  static unlink(name) {
    validateName('Slayer.unlink(name)', name)
    return native.Slayer.unlink(name)
  }
}

// Whether creation options name a shared slab (`name` given).
function isNamed(options) {
  return options !== null && typeof options === 'object' && !Array.isArray(options) && options.name !== undefined
}

function optionalNumber(name, v) {
  if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) throw optionError(name, 'a finite number', v)
  return v
}

function optionalFunction(name, v) {
  if (v !== undefined && typeof v !== 'function') throw optionError(name, 'a function', v)
  return v
}

// Machine probes (also the `ultraslayer` CLI). Each returns the engine's report as a plain object,
// with a human summary in `text`.
const probe = {
  /** CPU, cores, hypervisor, NUMA, huge pages, THP, memlock limit, pagemap access, TSC. */
  machine() {
    return JSON.parse(native._probeMachine())
  },
  /** Times flushed loads and finds the refresh period against a chance baseline (≤ 60 s). */
  refresh(options = {}) {
    const seconds = optionalNumber('seconds', options.seconds)
    return JSON.parse(native._probeRefresh(seconds, optionalFunction('onProgress', options.onProgress)))
  },
  /** Finds, by timing alone, which address bits move a line to another refresh group. */
  groups(options = {}) {
    const seconds = optionalNumber('seconds', options.seconds)
    const periodNs = optionalNumber('periodNs', options.periodNs)
    const record = options.record === undefined ? true : options.record
    if (typeof record !== 'boolean') throw optionError('record', 'a boolean', record)
    return JSON.parse(native._probeGroups(seconds, periodNs, record, optionalFunction('onProgress', options.onProgress)))
  },
  /** Physical addresses of each replica's copies and the channel they land on under a model. */
  placement(options = {}) {
    const replicas = optionalNumber('replicas', options.replicas) ?? 2
    const channelOffset = optionalNumber('channelOffset', options.channelOffset) ?? 256
    const channelBits = options.channelBits === undefined ? '6' : String(options.channelBits)
    const hugePages = options.hugePages === undefined ? 'auto' : options.hugePages
    if (typeof hugePages !== 'string') throw optionError('hugePages', 'a string', hugePages)
    return JSON.parse(native._probePlacement(replicas, channelOffset, channelBits, hugePages))
  },
  /** What the last `probe groups` recorded here, or null. */
  recorded() {
    return native._recordedGroups() ?? null
  },
}

const Records = require('./records.js')({ native, describe, withCode, optionError, validateOptions, validateName, OPTION_TYPES, SHARED_CREATE_TYPES, SHARED_OPEN_TYPES, ADOPT, forwardControls, creationControl, runCreation, isNamed })

module.exports = { Slayer, Records, probe }
// Internal, for the benchmark and the CLI; not part of the API.
Object.defineProperty(module.exports, '_internal', {
  value: { native, nativeOf: (s) => INTERNALS.get(s).native, readF64Copy0Of: (s) => INTERNALS.get(s).readF64Copy0 },
  enumerable: false,
})
