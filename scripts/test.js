#!/usr/bin/env node
'use strict'
// `npm test`: the engine tests (cargo) and then the Node tests, and a check that they left nothing
// behind. Only what this run made is counted, never another run's files on the same machine:
//  - every test process gets a private TMPDIR (os.tmpdir(), std::env::temp_dir()), created here;
//    anything still in it at the end is this run's leftover (the machine cache is turned off);
//  - /dev/shm is shared by every run, so the tests tag the names they make there with
//    USLAYER_TEST_RUN (set here; see __test__/scratch.js and tests/common): a tagged entry still
//    there at the end is this run's leftover. New untagged ultraslayer entries are reported, not
//    counted: they may be another run's.
// The scratch TMPDIR is removed either way. Exit status: the tests', or 1 when they passed but
// left something behind.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const SHM = '/dev/shm'
const run = `t${process.pid.toString(36)}${Date.now().toString(36)}`
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `uslayer-${run}-`))
// The machine cache (crates/engine/src/refresh/boot_cache.rs) is off: the tests of it name their own files.
const env = { ...process.env, TMPDIR: tmp, USLAYER_TEST_RUN: run, ULTRASLAYER_MACHINE_CACHE: 'off' }

const list = (dir) => {
  try {
    return fs.readdirSync(dir)
  } catch {
    return []
  }
}
const ours = (name) => /ultraslayer|uslayer/.test(name)
const shmBefore = new Set(list(SHM))

const testFiles = list(path.join(ROOT, '__test__'))
  .filter((f) => f.endsWith('.test.js'))
  .sort()
  .map((f) => path.join('__test__', f))
const steps = [
  ['cargo', ['test', '-p', 'ultraslayer', '-p', 'ultraslayer-capi', '--features', 'ultraslayer/bench', ...process.argv.slice(2)]],
  [process.execPath, ['--test', '--test-concurrency=1', ...testFiles]],
]
let status = 0
for (const [cmd, args] of steps) {
  const r = spawnSync(cmd, args, { cwd: ROOT, env, stdio: 'inherit' })
  status = r.status ?? 1
  if (status !== 0) break
}

const left = list(tmp).map((f) => path.join(tmp, f))
const shmNew = list(SHM).filter((f) => !shmBefore.has(f) && ours(f))
const shmLeft = shmNew.filter((f) => f.includes(run)).map((f) => path.join(SHM, f))
const shmOther = shmNew.filter((f) => !f.includes(run)).map((f) => path.join(SHM, f))
fs.rmSync(tmp, { recursive: true, force: true })

if (shmOther.length) {
  console.error(`note: new in ${SHM} during this run, without its tag (another run's, or a test that does not tag its names):\n  ${shmOther.join('\n  ')}`)
}
if (left.length || shmLeft.length) {
  console.error(`the tests left these behind (removed from the scratch TMPDIR; ${SHM} entries are left as found):\n  ${[...left, ...shmLeft].join('\n  ')}`)
  if (status === 0) status = 1
} else if (status === 0) {
  console.error(`nothing left behind in the scratch TMPDIR or, under this run's tag (${run}), in ${SHM}`)
}
process.exitCode = status
