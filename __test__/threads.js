'use strict'
// Helpers the tests share (this file is not a test: `node --test __test__/*.test.js` skips it):
// how many replica threads this process has, once settled, its resident memory, and (in a child
// run with --expose-gc) forcing collections until garbage slabs' finalizers stopped their threads.

const fs = require('node:fs')

/** Threads of this process whose name starts with `prefix` (replica threads: `uslayer-r`). */
function threadsNamed(prefix) {
  return fs
    .readdirSync('/proc/self/task')
    .map((t) => {
      try {
        return fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim()
      } catch {
        return ''
      }
    })
    .filter((n) => n.startsWith(prefix)).length
}

/** Threads of this process named `uslayer-r…` (replica threads). */
const replicaThreads = () => threadsNamed('uslayer-r')

// The count of threads named `prefix…` once it has settled at `want` (or after 2 s, whatever it is
// then). A joined thread can stay listed in /proc/self/task for a moment: join returns when the
// kernel clears its tid, before the task is reaped (under qemu-user, for longer).
function threadsNamedSettled(prefix, want) {
  const nap = new Int32Array(new SharedArrayBuffer(4))
  const until = Date.now() + 2000
  for (;;) {
    const n = threadsNamed(prefix)
    if (n === want || Date.now() > until) return n
    Atomics.wait(nap, 0, 0, 5)
  }
}

const replicaThreadsSettled = (want) => threadsNamedSettled('uslayer-r', want)

/** Resident set size in MiB. */
const rssMiB = () => Math.round(process.memoryUsage().rss / 2 ** 20)

/** Collects garbage (needs --expose-gc) until no replica thread is left, at most 20 × 50 ms; the count then. */
async function collectedThreads() {
  for (let k = 0; k < 20 && replicaThreads() > 0; k++) {
    global.gc()
    await new Promise((r) => setTimeout(r, 50))
  }
  return replicaThreads()
}

module.exports = { threadsNamed, threadsNamedSettled, replicaThreads, replicaThreadsSettled, rssMiB, collectedThreads }
