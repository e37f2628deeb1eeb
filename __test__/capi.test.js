'use strict'
// The shipped binary is also a C library: the very .node that Node loads (napi-rs resolves its
// napi_* symbols at module init, so nothing is left undefined for a C program) links into the C
// round-trip program and loads from Python's ctypes. (cargo test covers the same C program
// against a build without the Node binding.)

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const nodeFile = path.join(root, `ultraslayer.${process.platform}-${process.arch}-gnu.node`)
const haveGcc = spawnSync('gcc', ['--version']).status === 0
const skip = (!fs.existsSync(nodeFile) && 'build the addon first') || (!haveGcc && 'gcc is needed')

test('the .node Node loads is also the C library: the C round-trip program links and passes', { skip }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-capi-'))
  fs.copyFileSync(nodeFile, path.join(dir, 'libultraslayer.so'))
  const exe = path.join(dir, 'roundtrip')
  execFileSync('gcc', ['-std=c11', '-O1', '-Wall', '-Wextra', '-Werror', '-pthread', '-I', path.join(root, 'include'), path.join(root, 'crates/capi/tests/c/roundtrip.c'), '-o', exe, '-L', dir, `-Wl,-rpath,${dir}`, '-lultraslayer'])
  const out = execFileSync(exe, { encoding: 'utf8', env: { ...process.env, LD_LIBRARY_PATH: '' } })
  assert.equal(out.trim().split('\n').pop(), 'ok')
  fs.rmSync(dir, { recursive: true, force: true })
})

test('the ctypes example (examples/ctypes_example.py) runs against the shipped .node', { skip: !fs.existsSync(nodeFile) && 'build the addon first' }, () => {
  const out = execFileSync('python3', [path.join(root, 'examples/ctypes_example.py')], { encoding: 'utf8', env: { ...process.env, ULTRASLAYER_LIB: nodeFile } })
  assert.equal(out.trim().split('\n').pop(), 'ok')
})

test('the Python ctypes example in docs/c-abi.md runs as written', { skip: !fs.existsSync(nodeFile) && 'build the addon first' }, () => {
  const readme = fs.readFileSync(path.join(root, 'docs', 'c-abi.md'), 'utf8')
  const block = readme.match(/```python\n([\s\S]*?)```/)
  assert.ok(block, 'docs/c-abi.md has a python example')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-readme-'))
  const file = path.join(dir, 'example.py')
  fs.writeFileSync(file, block[1])
  const out = execFileSync('python3', [file], { encoding: 'utf8', env: { ...process.env, ULTRASLAYER_LIB: nodeFile } })
  assert.equal(out.trim(), '101.25')
  fs.rmSync(dir, { recursive: true, force: true })
})
