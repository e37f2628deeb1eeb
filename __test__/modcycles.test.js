'use strict'
// scripts/modcycles.js, the lint that keeps the crates free of import cycles: tested on small
// synthetic crates (the real crates are checked by `npm run lint`).
const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('fs')
const os = require('os')
const path = require('path')
const { crateGraph, cycles } = require('../scripts/modcycles.js')

function crate(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ultraslayer-modcycles-'))
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    fs.writeFileSync(path.join(dir, name), text)
  }
  return dir
}

function cyclesOf(files) {
  const dir = crate(files)
  try {
    return cycles(crateGraph(dir).graph)
  } finally {
    fs.rmSync(dir, { recursive: true })
  }
}

test('two modules that use each other through crate:: paths are a cycle', () => {
  assert.deepEqual(cyclesOf({ 'lib.rs': 'mod a; mod b;', 'a.rs': 'use crate::b::B;', 'b.rs': 'pub fn f() { crate::a::g() }' }), [['a', 'b']])
})

test('a child climbing to its parent with super:: is a cycle only if the parent reaches back by a path', () => {
  const up = { 'lib.rs': 'mod p;', 'p/mod.rs': 'mod c;\npub fn f() { c::g() }', 'p/c.rs': 'use super::f;' }
  assert.deepEqual(cyclesOf(up), [])
  assert.deepEqual(cyclesOf({ ...up, 'p/mod.rs': 'mod c;\nuse crate::p::c::g;' }), [['p', 'p::c']])
})

test('use groups are followed, and names in comments and strings are not paths', () => {
  const files = {
    'lib.rs': 'mod a; mod b; mod c;',
    'a.rs': 'use crate::{b::X, c::{Y, Z}};',
    'b.rs': '// crate::a::nothing\nconst S: &str = "crate::a::x";',
    'c.rs': 'use crate::{a as _};',
  }
  assert.deepEqual(cyclesOf(files), [['a', 'c']])
})

test('a test module using a fixture that uses its parent is no cycle', () => {
  const files = {
    'lib.rs': 'mod m; mod fixture;',
    'm.rs': 'pub struct S;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::fixture::make;\n}\n',
    'fixture.rs': 'use crate::m::S;\npub fn make() -> S { S }',
  }
  assert.deepEqual(cyclesOf(files), [])
})
