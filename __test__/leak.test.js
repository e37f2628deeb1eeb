'use strict'
// Nothing leaks: a Slayer that is never closed but becomes garbage stops its replica threads and
// unmaps its slab when V8 collects it, and many create/close cycles leave memory where it was.
// Runs in a child process with --expose-gc so forcing collections does not disturb other tests.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')

const child = `
const fs = require('node:fs')
const { Slayer } = require(${JSON.stringify(path.join(__dirname, '..'))})
const { replicaThreads: threads, rssMiB, collectedThreads } = require(${JSON.stringify(path.join(__dirname, 'threads.js'))})
;(async () => {
  // Garbage without close(): finalizers must stop the threads and unmap. (Made in a function so
  // no block scope of this async function keeps the last one alive.)
  function garbage(k) {
    // placement 'offset': this is about finalizers and unmapping, not about timing pages (tested elsewhere)
    const s = new Slayer({ slots: 1 << 20, spin: 'sleep', lock: false, strategy: 'hedge', placement: 'offset' })
    s.writeU64(k, BigInt(k))
  }
  for (let k = 0; k < 8; k++) garbage(k)
  const during = threads()
  const after = await collectedThreads()
  // Many create/close cycles of 16 MiB slabs: RSS must not grow by their sum.
  const before = rssMiB()
  for (let k = 0; k < 64; k++) {
    const s = new Slayer({ slots: 1 << 20, spin: 'sleep', lock: false, strategy: 'hedge', placement: 'offset' })
    s.readManyF64(new Uint32Array(256), new Float64Array(256))
    s.close()
  }
  global.gc()
  console.log(JSON.stringify({ during, after, before, grown: rssMiB() - before }))
})()
`

test('garbage Slayers stop their threads and unmap; create/close cycles do not grow memory', () => {
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', child], { encoding: 'utf8', timeout: 60_000 })
  assert.equal(r.status, 0, r.stderr)
  const m = JSON.parse(r.stdout.trim().split('\n').pop())
  assert.equal(m.during, 16, 'eight slabs, two replica threads each')
  assert.equal(m.after, 0, 'collected slabs joined their threads')
  // 64 cycles of 2 x 8 MiB would be 1 GiB if nothing were unmapped; allow allocator noise.
  assert.ok(m.grown < 64, `RSS grew by ${m.grown} MiB over 64 create/close cycles`)
})
