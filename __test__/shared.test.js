'use strict'
// Named shared slabs across real processes: create / open / unlink, validation of names and
// headers, file permissions, and a writer streaming self-checking values to readers in other
// processes, killed with SIGKILL mid-stream. Asserts behaviour, never speed. Bounded to a few
// seconds; replica threads use 'hybrid' and 'sleep' (2 vCPUs). Every segment is removed after.

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { Slayer } = require('..')
const { segmentName } = require('./scratch')

const PKG = path.resolve(__dirname, '..')
const created = new Set()

function segName(tag) {
  const name = segmentName('test', tag)
  created.add(name)
  return name
}

after(() => {
  for (const name of created) Slayer.unlink(name)
})

// Segments left by an earlier run of this file that died before `after` (pid no longer alive).
for (const f of fs.readdirSync('/dev/shm')) {
  const m = /^ultraslayer\.(test-[a-z0-9]+-[a-z0-9]+-(\d+)-\d+)$/.exec(f)
  if (!m) continue
  try {
    process.kill(Number(m[2]), 0)
  } catch {
    Slayer.unlink(m[1])
  }
}

function create(tag, extra = {}) {
  const name = segName(tag)
  const s = Slayer.createSync({ name, slots: 1024, hugePages: 'off', lock: false, spin: 'hybrid', ...extra })
  return { name, s, file: s.info().shared.path }
}

function throwsCode(fn, cls, code, re) {
  assert.throws(fn, (e) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e && e.constructor && e.constructor.name}: ${e && e.message}`)
    assert.equal(e.code, code, e.message)
    if (re) assert.match(e.message, re)
    return true
  })
}

function pokeWord(file, word, value) {
  const fd = fs.openSync(file, 'r+')
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(value)
  fs.writeSync(fd, b, 0, 8, word * 8)
  fs.closeSync(fd)
}

test('create, open from the same process, unlink; info says where the segment lives', () => {
  const { name, s, file } = create('basic')
  const info = s.info().shared
  assert.equal(info.name, name)
  assert.equal(info.backing, 'shm')
  assert.equal(file, `/dev/shm/ultraslayer.${name}`)
  assert.equal(info.createdHere, true)
  assert.equal(info.creatorPid, process.pid)
  s.writeU64(7, 0xdeadbeefcafen)
  const r = Slayer.open(name, { spin: 'sleep', lock: false })
  assert.equal(r.slots, 1024)
  assert.equal(r.replicas, 2)
  assert.equal(r.readU64(7), 0xdeadbeefcafen)
  assert.equal(r.info().shared.createdHere, false)
  r.writeF64(8, -0)
  assert.ok(Object.is(s.readF64(8), -0))
  r.close()
  s.close()
  assert.equal(Slayer.unlink(name), true)
  assert.equal(Slayer.unlink(name), false)
  throwsCode(() => Slayer.open(name), Error, 'ERR_ULTRASLAYER_SHM_MISSING', /create it first with Slayer\.create/)
})

test('segment files are 0600 and create never clobbers unless overwrite: true', () => {
  const { name, s, file } = create('perm')
  assert.equal(fs.statSync(file).mode & 0o777, 0o600)
  s.writeU64(1, 11n)
  throwsCode(() => Slayer.createSync({ name, slots: 8, hugePages: 'off' }), Error, 'ERR_ULTRASLAYER_SHM_EXISTS', /overwrite: true/)
  assert.equal(s.readU64(1), 11n, 'the refused create changed nothing')
  const s2 = Slayer.createSync({ name, slots: 16, hugePages: 'off', overwrite: true, spin: 'sleep' })
  assert.equal(s2.readU64(1), 0n, 'a new, zeroed segment')
  assert.equal(s.readU64(1), 11n, 'the old mapping keeps working')
  const r = Slayer.open(name, { spin: 'sleep' })
  assert.equal(r.slots, 16)
  r.close()
  s.close()
  s2.close()
})

test('bad names and bad arguments are refused with TypeError / RangeError', () => {
  for (const bad of ['', '..', '../etc', 'a/b', '/abs', 'nul\0x', 'sp ace', '.hidden', 'x'.repeat(201)]) {
    throwsCode(() => Slayer.open(bad), RangeError, 'ERR_ULTRASLAYER_SHM_NAME', /A-Z a-z 0-9/)
    throwsCode(() => Slayer.createSync({ name: bad, slots: 8 }), RangeError, 'ERR_ULTRASLAYER_SHM_NAME')
    throwsCode(() => Slayer.unlink(bad), RangeError, 'ERR_ULTRASLAYER_SHM_NAME')
  }
  throwsCode(() => Slayer.open(42), TypeError, 'ERR_ULTRASLAYER_BAD_ARGUMENT', /must be a string/)
  throwsCode(() => Slayer.unlink(undefined), TypeError, 'ERR_ULTRASLAYER_BAD_ARGUMENT')
  throwsCode(() => Slayer.createSync({ name: 5, slots: 8 }), TypeError, 'ERR_ULTRASLAYER_BAD_OPTION', /option `name`: must be a string/)
  throwsCode(() => Slayer.createSync({ name: 'n', slots: 8, bogus: 1 }), TypeError, 'ERR_ULTRASLAYER_BAD_OPTION', /unknown option `bogus`/)
  throwsCode(() => Slayer.createSync(null), TypeError, 'ERR_ULTRASLAYER_BAD_OPTION')
  throwsCode(() => Slayer.open('x', { slots: '8' }), TypeError, 'ERR_ULTRASLAYER_BAD_OPTION')
  throwsCode(() => Slayer.open('x', { overwrite: true }), TypeError, 'ERR_ULTRASLAYER_BAD_OPTION', /unknown option/)
  throwsCode(() => Slayer.open('x', { waitMs: -1 }), RangeError, 'ERR_ULTRASLAYER_OPTION_RANGE')
  throwsCode(() => Slayer.createSync({ name: segName('thp'), slots: 8, hugePages: 'thp' }), RangeError, 'ERR_ULTRASLAYER_OPTION_RANGE', /does not apply to shared/)
  throwsCode(() => Slayer.createSync({ name: segName('rep'), slots: 8, replicas: 9 }), RangeError, 'ERR_ULTRASLAYER_OPTION_RANGE')
  // Checked as for a local slab: learning in the background (never steered), an offset beside
  // huge-page placement.
  throwsCode(() => Slayer.createSync({ name: segName('bg'), slots: 8, placement: 'background' }), RangeError, 'ERR_ULTRASLAYER_OPTION_RANGE', /never steered/)
  throwsCode(() => Slayer.createSync({ name: segName('hpo'), slots: 8, placement: 'huge-pages', channelOffset: 4096 }), RangeError, 'ERR_ULTRASLAYER_OPTION_RANGE', /channelOffset/)
})

test('huge pages: hugetlbfs when mounted, else /dev/shm with a note saying how to mount one', (t) => {
  const mounted = fs.readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[2] === 'hugetlbfs')
  t.diagnostic(mounted ? 'branch: a hugetlbfs mount exists' : 'branch: no hugetlbfs mount (the /dev/shm fallback is checked)')
  const { s } = create('auto', { hugePages: 'auto' })
  const info = s.info().shared
  if (!mounted) {
    assert.equal(info.backing, 'shm')
    assert.match(info.note, /no hugetlbfs mount .*mount -t hugetlbfs/)
    throwsCode(() => Slayer.createSync({ name: segName('2m'), slots: 8, hugePages: '2m' }), Error, 'ERR_ULTRASLAYER_HUGE_PAGES', /mount -t hugetlbfs -o pagesize=2M/)
  } else {
    assert.ok(info.backing === 'hugetlbfs' || /hugetlbfs|room/.test(info.note), JSON.stringify(info))
  }
  s.close()
})

test('open refuses missing, truncated, foreign, wrong-version, corrupt and mismatched segments', () => {
  const { name, s, file } = create('corrupt')
  s.writeU64(3, 3n)
  // Layout expectations.
  // (Every Slayer over the file is closed before the file is cut short below: truncating a file
  // that a process has mapped turns its accesses past the new end into SIGBUS, as with any
  // shared file mapping. ultraslayer itself never truncates a segment.)
  const same = Slayer.open(name, { slots: 1024, replicas: 2, channelOffset: 256, spin: 'sleep' })
  assert.equal(same.readU64(3), 3n)
  same.close()
  throwsCode(() => Slayer.open(name, { replicas: 3 }), Error, 'ERR_ULTRASLAYER_SHM_INCOMPATIBLE', /replicas: expected 3, segment has 2/)
  // Foreign magic.
  pokeWord(file, 0, 0x4141414141414141n)
  throwsCode(() => Slayer.open(name), Error, 'ERR_ULTRASLAYER_SHM_INVALID', /bad magic .*not an ultraslayer segment/)
  pokeWord(file, 0, 0x4d485359414c5355n) // "USLAYSHM"
  // Wrong format version.
  pokeWord(file, 1, 7n)
  throwsCode(() => Slayer.open(name), Error, 'ERR_ULTRASLAYER_SHM_INVALID', /format version 7/)
  pokeWord(file, 1, 1n)
  // A layout word changed without its checksum.
  pokeWord(file, 2, 1n << 40n)
  throwsCode(() => Slayer.open(name), Error, 'ERR_ULTRASLAYER_SHM_INVALID', /checksum/)
  pokeWord(file, 2, 1024n)
  const again = Slayer.open(name, { spin: 'sleep' })
  assert.equal(again.readU64(3), 3n, 'restored header opens again')
  again.close()
  s.close()
  // Truncated.
  const size = fs.statSync(file).size
  fs.truncateSync(file, size - 4096)
  throwsCode(() => Slayer.open(name), Error, 'ERR_ULTRASLAYER_SHM_INVALID', /truncated/)
  fs.truncateSync(file, 10)
  throwsCode(() => Slayer.open(name, { waitMs: 0 }), Error, 'ERR_ULTRASLAYER_SHM_INVALID', /shorter than its 4096-byte header/)
  // A foreign file under a segment's name.
  const foreign = segName('foreign')
  fs.writeFileSync(`/dev/shm/ultraslayer.${foreign}`, Buffer.alloc(16384, 'x'), { mode: 0o600 })
  throwsCode(() => Slayer.open(foreign), Error, 'ERR_ULTRASLAYER_SHM_INVALID', /bad magic/)
  throwsCode(() => Slayer.createSync({ name: foreign, slots: 8, hugePages: 'off' }), Error, 'ERR_ULTRASLAYER_SHM_EXISTS')
})

// ---- Across processes ------------------------------------------------------------------------

// Runs in child processes. A value for counter k (k ≥ 1) lives in slot k % slots and is
// (k << 32) | mix(k): a torn value, a value in the wrong slot or one never written fails the check.
function worker() {
  const [role, pkg, name, slotsArg, arg] = process.argv.slice(1)
  const { Slayer } = require(pkg)
  const slots = Number(slotsArg)
  const mix = (k) => {
    let h = (k ^ 0x9e3779b9) >>> 0
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
    return (h ^ (h >>> 16)) >>> 0
  }
  const value = (k) => (BigInt(k) << 32n) | BigInt(mix(k))
  if (role === 'writer') {
    const s = Slayer.open(name, { start: false, lock: false })
    const idx = new Uint32Array(64)
    const vals = new BigUint64Array(64)
    const stopAt = Date.now() + 20000 // never outlive a failed test for long
    let k = 0
    process.stdout.write('ready\n')
    while (Date.now() < stopAt) {
      for (let n = 0; n < 1000; n++) {
        k++
        s.writeU64(k % slots, value(k))
      }
      for (let n = 0; n < 64; n++) {
        k++
        idx[n] = k % slots
        vals[n] = value(k)
      }
      s.writeManyU64(idx, vals)
    }
    return
  }
  // reader: arg = "spin,writerPid,durationMs"
  const [spin, writerPidArg, durationArg] = arg.split(',')
  const writerPid = Number(writerPidArg)
  // The readers hedge (the test is about replica threads in another process); 'auto' would read
  // directly on a 2-vCPU machine.
  const s = Slayer.open(name, { spin, lock: false, waitMs: 2000, strategy: 'hedge' })
  const r = { reads: 0, bad: 0, firstBad: null, zeros: 0, maxK: 0, readsAfterKill: 0, maxKAfterKill: 0, writerDeadAt: null }
  const check = (slot, v) => {
    r.reads++
    if (v === 0n) {
      r.zeros++
      return
    }
    const k = Number(v >> 32n)
    const ok = (v & 0xffffffffn) === BigInt(mix(k)) && k % slots === slot
    if (!ok) {
      r.bad++
      if (r.firstBad === null) r.firstBad = { slot, value: v.toString(16) }
    }
    if (k > r.maxK) r.maxK = k
    if (r.writerDeadAt !== null) {
      r.readsAfterKill++
      if (k > r.maxKAfterKill) r.maxKAfterKill = k
    }
  }
  const alive = () => {
    try {
      process.kill(writerPid, 0)
      return true
    } catch {
      return false
    }
  }
  const idx = new Uint32Array(128)
  const out = new BigUint64Array(128)
  const t0 = Date.now()
  const end = t0 + Number(durationArg)
  process.stdout.write('ready\n')
  let slot = 0
  while (Date.now() < end) {
    for (let n = 0; n < 256; n++) {
      slot = (slot + 7) % slots
      check(slot, s.readU64(slot))
    }
    for (let n = 0; n < idx.length; n++) idx[n] = (slot + n * 13) % slots
    s.readManyU64(idx, out)
    for (let n = 0; n < idx.length; n++) check(idx[n], out[n])
    if (r.writerDeadAt === null && !alive()) r.writerDeadAt = Date.now() - t0
  }
  r.stats = s.stats()
  r.running = s.info().running
  s.close()
  process.stdout.write(JSON.stringify(r) + '\n')
}

function run(role, name, slots, arg = '') {
  const child = spawn(process.execPath, ['-e', `(${worker.toString()})()`, role, PKG, name, String(slots), arg], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  const ready = new Promise((resolve, reject) => {
    const poll = setInterval(() => {
      if (out.startsWith('ready\n')) {
        clearInterval(poll)
        resolve()
      }
    }, 5)
    child.on('exit', (code) => {
      clearInterval(poll)
      if (!out.startsWith('ready\n')) reject(new Error(`${role} exited (${code}) before it was ready: ${err}`))
    })
  })
  const done = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, out, err })))
  return { child, ready, done: done.then((d) => ({ ...d, out, err })) }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// The same mix as the worker's (the worker is serialized into its own process).
function mix(k) {
  let h = (k ^ 0x9e3779b9) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

test('readers in other processes never see a torn or unwritten value, even after the writer is SIGKILLed', async () => {
  const slots = 4096
  const name = segName('stream')
  const owner = Slayer.createSync({ name, slots, replicas: 3, hugePages: 'off', lock: false, start: false })
  const writer = run('writer', name, slots)
  await writer.ready
  const readers = [run('reader', name, slots, `hybrid,${writer.child.pid},2500`), run('reader', name, slots, `sleep,${writer.child.pid},2500`)]
  await Promise.all(readers.map((r) => r.ready))
  await sleep(1000)
  writer.child.kill('SIGKILL')
  const w = await writer.done
  assert.equal(w.signal, 'SIGKILL', 'the writer was killed mid-stream')
  const results = await Promise.all(readers.map((r) => r.done))
  const reports = results.map(({ code, out, err }) => {
    assert.equal(code, 0, err)
    return JSON.parse(out.split('\n')[1])
  })
  // The owner (no threads: direct reads) checks every slot after the kill, with the same rule.
  let ownerBad = 0
  for (let i = 0; i < slots; i++) {
    const v = owner.readU64(i)
    if (v !== 0n && !(Number(v >> 32n) % slots === i && (v & 0xffffffffn) === BigInt(mix(Number(v >> 32n))))) ownerBad++
  }
  // Every replica of every slot, straight from the segment file: each copy must pass the check;
  // copies may disagree only where the kill landed between the stores of one write.
  const page = owner.info().shared.pageSize
  const data = fs.readFileSync(owner.info().shared.path).subarray(page)
  const replicas = 3
  const co = 256
  let copyBad = 0
  let split = 0
  for (let i = 0; i < slots; i++) {
    const base = Math.floor(i / (co / 8)) * replicas * co + (i % (co / 8)) * 8
    const copies = []
    for (let r = 0; r < replicas; r++) copies.push(data.readBigUInt64LE(base + r * co))
    for (const v of copies) if (v !== 0n && !(Number(v >> 32n) % slots === i && (v & 0xffffffffn) === BigInt(mix(Number(v >> 32n))))) copyBad++
    if (copies.some((v) => v !== copies[0])) split++
  }
  owner.close()
  const summary = reports.map((r) => ({
    reads: r.reads,
    bad: r.bad,
    firstBad: r.firstBad,
    readsAfterKill: r.readsAfterKill,
    writerDeadAtMs: r.writerDeadAt,
    maxK: r.maxK,
    hedged: r.stats.hedged,
    direct: r.stats.direct + r.stats.directWhileParked + r.stats.directAfterTimeout,
    wins: r.stats.wins,
  }))
  // Reported so the numbers can be quoted.
  console.log(`# shared stream: ${JSON.stringify(summary)} owner: bad ${ownerBad}; copies in the file: bad ${copyBad}, slots whose copies differ ${split}`)
  for (const r of reports) {
    assert.equal(r.bad, 0, `a reader saw a torn or unwritten value: ${JSON.stringify(r.firstBad)}`)
    assert.ok(r.reads > 1000, `reader made progress (${r.reads} reads)`)
    assert.ok(r.maxK > 1000, 'reader saw the writer\'s stream')
    assert.notEqual(r.writerDeadAt, null, 'reader outlived the writer')
    assert.ok(r.readsAfterKill > 0, 'reader kept reading after the kill')
  }
  assert.ok(reports[0].stats.hedged > 0, 'the hybrid reader\'s own replica threads answered')
  assert.equal(ownerBad, 0)
  assert.equal(copyBad, 0, 'every copy of every slot is a value the writer wrote')
  assert.ok(split <= 65, `at most the slots of the interrupted write(s) differ between copies (${split})`)
})
