'use strict'
// Creation off the event loop: `Slayer.create` / `Records.create` return Promises (local without a
// name, shared with one), `createSync` blocks, progress reaches `onProgress`, and an AbortSignal
// stops the work, frees what it made and rejects with an AbortError. Behaviour only: how long any
// of it takes is measured by bench/startup.js.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { Slayer, Records } = require('..')
const { segmentName } = require('./scratch')
const { replicaThreadsSettled } = require('./threads')

const PHASES = ['map', 'prefault', 'period', 'place', 'check', 'calibrate', 'start']
const UNITS = { map: 'bytes', prefault: 'bytes', period: 'ms', place: 'ms', check: 'ms', calibrate: 'ms', start: 'threads' }

/** Checks a progress sequence: known phases and units, done within total and never decreasing within a phase. */
function checkProgress(seen) {
  const last = new Map()
  for (const p of seen) {
    assert.ok(PHASES.includes(p.phase), `phase ${p.phase}`)
    assert.equal(p.unit, UNITS[p.phase])
    assert.ok(Number.isFinite(p.done) && Number.isFinite(p.total) && p.done >= 0 && p.done <= p.total, JSON.stringify(p))
    const before = last.get(p.phase)
    if (before) {
      assert.ok(p.done >= before.done, `done decreased within ${p.phase}: ${before.done} then ${p.done}`)
      assert.equal(p.total, before.total, `total changed within ${p.phase}`)
    }
    last.set(p.phase, p)
  }
}

test('Slayer.create resolves to a local slab, and reports progress on the way', async () => {
  const seen = []
  const pending = Slayer.create({ slots: 1 << 22, strategy: 'direct', hugePages: 'off' }, { onProgress: (p) => seen.push(p) })
  assert.ok(pending instanceof Promise)
  const s = await pending
  try {
    assert.ok(s instanceof Slayer)
    assert.equal(s.slots, 1 << 22)
    assert.equal(s.info().strategy, 'direct')
    assert.equal(s.info().shared ?? null, null)
    s.writeF64(7, 1.25)
    s.writeU64(8, 2n ** 64n - 1n)
    assert.equal(s.readF64(7), 1.25)
    assert.equal(s.readU64(8), 2n ** 64n - 1n)
  } finally {
    s.close()
  }
  assert.ok(seen.length >= 1, 'onProgress is called at least once')
  checkProgress(seen)
})

test('Slayer.create with a name resolves to a shared slab another handle opens', async () => {
  const name = segmentName('create', 'async')
  const s = await Slayer.create({ name, slots: 64, hugePages: 'off', lock: false, strategy: 'direct' })
  try {
    assert.equal(s.info().shared.name, name)
    s.writeU64(3, 42n)
    const o = Slayer.open(name, { strategy: 'direct' })
    assert.equal(o.readU64(3), 42n)
    o.close()
  } finally {
    s.close()
    Slayer.unlink(name)
  }
})

test('createSync makes the same slabs and stores, blocking', () => {
  const local = Slayer.createSync({ slots: 16, strategy: 'direct' })
  assert.equal(local.info().shared ?? null, null)
  local.close()
  const name = segmentName('create', 'sync')
  const shared = Slayer.createSync({ name, slots: 16, hugePages: 'off', lock: false, strategy: 'direct' })
  assert.equal(shared.info().shared.name, name)
  shared.close()
  assert.equal(Slayer.unlink(name), true)
  const r = Records.createSync({ count: 4, fields: { bid: 'f64', qty: 'u64' }, strategy: 'direct' })
  r.write(1, { bid: 1.5, qty: 3n })
  assert.deepEqual(r.read(1), { bid: 1.5, qty: 3n })
  r.close()
})

test('Records.create resolves to a local or a shared store', async () => {
  const local = await Records.create({ count: 8, fields: { bid: 'f64', qty: 'u64' }, strategy: 'direct' })
  local.write(2, { bid: 2.5, qty: 7n })
  assert.deepEqual(local.read(2), { bid: 2.5, qty: 7n })
  local.close()
  const name = segmentName('create', 'records')
  const shared = await Records.create({ name, count: 8, fields: { bid: 'f64' }, hugePages: 'off', lock: false, strategy: 'direct' })
  try {
    shared.write(0, { bid: 9.5 })
    const reader = Records.open(name, { fields: { bid: 'f64' } })
    assert.equal(reader.read(0).bid, 9.5)
    reader.close()
  } finally {
    shared.close()
    Records.unlink(name)
  }
})

test('bad options and bad controls reject with the errors the synchronous forms throw', async () => {
  await assert.rejects(Slayer.create({ slots: -1 }), (e) => e instanceof RangeError && e.code === 'ERR_ULTRASLAYER_OPTION_RANGE')
  await assert.rejects(Slayer.create({ slots: 16, bogus: 1 }), (e) => e instanceof TypeError && /unknown option `bogus`/.test(e.message))
  await assert.rejects(Slayer.create(null), TypeError)
  await assert.rejects(Slayer.create({ slots: 16 }, { signal: 5 }), (e) => e instanceof TypeError && /signal must be an AbortSignal/.test(e.message))
  await assert.rejects(Slayer.create({ slots: 16 }, { onProgress: 'x' }), (e) => e instanceof TypeError && /onProgress must be a function/.test(e.message))
  await assert.rejects(Slayer.create({ slots: 16 }, { signl: 1 }), (e) => e instanceof TypeError && /unknown key `signl`/.test(e.message))
  await assert.rejects(Records.create({ count: 0, fields: { a: 'f64' } }), RangeError)
  // An engine refusal found on the worker keeps its class and code.
  await assert.rejects(Slayer.create({ slots: 16, cores: [100000] }), (e) => e.code !== undefined && e.code.startsWith('ERR_ULTRASLAYER_'))
})

test('an already aborted signal rejects at once with an AbortError carrying the reason', async () => {
  const reason = new Error('shutting down')
  const ac = new AbortController()
  ac.abort(reason)
  await assert.rejects(Slayer.create({ slots: 16 }, { signal: ac.signal }), (e) => e.name === 'AbortError' && e.cause === reason)
  await assert.rejects(Records.create({ count: 1, fields: { a: 'f64' } }, { signal: AbortSignal.abort() }), (e) => e.name === 'AbortError')
})

test('aborting mid-creation rejects with an AbortError and leaves no thread or segment behind', async (t) => {
  const name = segmentName('create', 'abort')
  const ac = new AbortController()
  const phases = []
  // Large enough that pre-faulting is still going when the first progress report arrives (which
  // aborts it), whatever the machine; hedged, so it would start threads if it got that far.
  const pending = Slayer.create(
    { name, slots: 1 << 26, hugePages: 'off', lock: false, strategy: 'hedge', spin: 'sleep' },
    {
      signal: ac.signal,
      onProgress: (p) => {
        phases.push(p.phase)
        ac.abort(new Error('stop'))
      },
    },
  )
  let made = null
  try {
    made = await pending
  } catch (e) {
    assert.equal(e.name, 'AbortError')
    assert.equal(e.code, 'ABORT_ERR')
    assert.match(e.message, /Slayer\.create\(options\) was aborted/)
    assert.equal(e.cause.message, 'stop')
  }
  if (made) {
    made.close()
    Slayer.unlink(name)
    return t.skip(`the creation finished (${phases.join(', ')}) before the abort reached it`)
  }
  assert.equal(fs.existsSync(`/dev/shm/ultraslayer.${name}`), false, 'no segment file left')
  assert.equal(Slayer.unlink(name), false, 'nothing to unlink')
  assert.equal(replicaThreadsSettled(0), 0, 'no replica thread left')
})

test('a throwing onProgress rejects with what it threw, also when its only call is the final one', async () => {
  // A small slab is made before the first 100 ms poll: the final call is the only one, and its
  // throw must reach the caller too (it used to be lost, and the promise resolved).
  const boom = new Error('final progress handler failed')
  await assert.rejects(
    Slayer.create({ slots: 64, strategy: 'direct', hugePages: 'off' }, {
      onProgress: () => {
        throw boom
      },
    }),
    (e) => e === boom,
  )
})

test('a throwing onProgress stops the creation and rejects with what it threw', async () => {
  const boom = new Error('progress handler failed')
  await assert.rejects(
    Slayer.create({ slots: 1 << 24, strategy: 'direct', hugePages: 'off' }, {
      onProgress: () => {
        throw boom
      },
    }),
    (e) => e === boom,
  )
})

test('on Windows a name is refused as unsupported (no segment is made), and the same slab without one works', { skip: process.platform !== 'win32' && 'Windows only: elsewhere a name makes a shared slab (the tests above)' }, async () => {
  const refused = (e) => e.code === 'ERR_ULTRASLAYER_UNSUPPORTED' && /Linux-only in this build/.test(e.message) && /without a name/.test(e.message)
  await assert.rejects(Slayer.create({ name: 'win', slots: 64, hugePages: 'off', lock: false, strategy: 'direct' }), refused)
  assert.throws(() => Slayer.createSync({ name: 'win', slots: 64 }), refused)
  assert.throws(() => Slayer.open('win', { waitMs: 0 }), refused)
  await assert.rejects(Records.create({ name: 'win', count: 8, fields: { bid: 'f64' }, hugePages: 'off', lock: false }), refused)
  assert.throws(() => Records.open('win', { fields: { bid: 'f64' } }), refused)
  const s = await Slayer.create({ slots: 64, hugePages: 'off', lock: false, strategy: 'direct' })
  try {
    s.writeU64(3, 42n)
    assert.equal(s.readU64(3), 42n)
    assert.ok(!s.info().shared)
  } finally {
    s.close()
  }
})
