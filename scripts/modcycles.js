#!/usr/bin/env node
// Import cycles between the modules of each crate: exits 1 and names them when there are any.
//
// A module is a file (`a.rs` or `a/mod.rs`). Module A reaches module B when A's code names a
// path into B through `crate::` or `super::` (in a `use` or in an expression; `{…}` groups are
// followed). A cycle is a set of modules that reach each other (a strongly connected component
// of more than one module). A child reaching its parent through `super::` is an edge like any
// other; a parent naming its child by its bare name (`child::f()`, after `mod child;`) is not,
// so a parent that owns its children stays acyclic unless a child climbs back and the parent
// reaches down through `crate::`/`super::` paths.
//
// Usage: node scripts/modcycles.js [crate-src-dir …]   (default: the workspace's three crates)
'use strict'

const fs = require('fs')
const path = require('path')

const ROOT = path.join(__dirname, '..')
const DEFAULT_CRATES = ['src', 'crates/engine/src', 'crates/capi/src']

/** Blanks comments, string and char literals (keeping offsets and newlines). */
function stripNoise(text) {
  let out = ''
  let i = 0
  const n = text.length
  const blank = (s) => s.replace(/[^\n]/g, ' ')
  while (i < n) {
    const c = text[i]
    const d = text[i + 1]
    if (c === '/' && d === '/') {
      const j = text.indexOf('\n', i)
      const end = j < 0 ? n : j
      out += blank(text.slice(i, end))
      i = end
    } else if (c === '/' && d === '*') {
      let depth = 1
      let j = i + 2
      while (j < n && depth > 0) {
        if (text[j] === '/' && text[j + 1] === '*') (depth++, (j += 2))
        else if (text[j] === '*' && text[j + 1] === '/') (depth--, (j += 2))
        else j++
      }
      out += blank(text.slice(i, j))
      i = j
    } else if (c === 'r' && /^r#*"/.test(text.slice(i, i + 10)) && !/[A-Za-z0-9_]/.test(text[i - 1] || '')) {
      const hashes = text.slice(i + 1).match(/^#*/)[0]
      const close = '"' + hashes
      const start = i + 2 + hashes.length
      const j = text.indexOf(close, start)
      const end = j < 0 ? n : j + close.length
      out += blank(text.slice(i, end))
      i = end
    } else if (c === '"') {
      let j = i + 1
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1
      out += blank(text.slice(i, j + 1))
      i = j + 1
    } else if (c === "'" && /^'(\\.|[^\\'])'/.test(text.slice(i, i + 12))) {
      // A char literal ('a', '\n', '\''); a lifetime ('a) has no closing quote and is kept.
      const m = text.slice(i).match(/^'(\\(x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'])'/)
      const len = m ? m[0].length : 1
      out += blank(text.slice(i, i + len))
      i += len
    } else {
      out += c
      i++
    }
  }
  return out
}

/** Every .rs file under dir, as [module path (array of names), file]. */
function modulesOf(dir) {
  const mods = []
  const walk = (d, prefix) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p, [...prefix, e.name])
      else if (e.name.endsWith('.rs')) {
        const base = e.name.slice(0, -3)
        const isRoot = prefix.length === 0 && (base === 'lib' || base === 'main')
        const mp = isRoot || base === 'mod' ? prefix : [...prefix, base]
        mods.push([mp, p])
      }
    }
  }
  walk(dir, [])
  return mods
}

/** The inline `mod name { … }` blocks of a file: [name, start, end) of each body. */
function inlineModules(code) {
  const blocks = []
  const re = /\bmod\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{/g
  let m
  while ((m = re.exec(code))) {
    let depth = 1
    let j = m.index + m[0].length
    while (j < code.length && depth > 0) {
      if (code[j] === '{') depth++
      else if (code[j] === '}') depth--
      j++
    }
    blocks.push([m[1], m.index + m[0].length, j])
  }
  return blocks
}

/** The inline modules around offset `at`, outermost first (their names). */
function inlineChain(blocks, at) {
  return blocks
    .filter(([, s, e]) => s <= at && at < e)
    .sort((a, b) => a[1] - b[1])
    .map(([name]) => name)
}

/** Parses a path tree starting at `i` (after `crate::`/`super::`…): returns [paths, end]. */
function parseTree(code, i) {
  const paths = []
  const skipWs = () => {
    while (i < code.length && /\s/.test(code[i])) i++
  }
  skipWs()
  if (code[i] === '{') {
    i++
    for (;;) {
      skipWs()
      if (code[i] === '}') return [paths, i + 1]
      const [sub, end] = parseTree(code, i)
      paths.push(...sub)
      i = end
      skipWs()
      if (code[i] === ',') i++
      else if (code[i] === '}') return [paths, i + 1]
      else return [paths, i]
    }
  }
  const m = code.slice(i).match(/^[A-Za-z_][A-Za-z0-9_]*/)
  if (!m) return [[[]], i]
  const name = m[0]
  i += name.length
  skipWs()
  if (code.startsWith('::', i)) {
    const [rest, end] = parseTree(code, i + 2)
    return [rest.map((r) => [name, ...r]), end]
  }
  return [[[name]], i]
}

/**
 * What a file's modules reach: Map(module key → Set of module keys). An inline module (`mod tests
 * { … }`) is a module of its own, so a test module that uses a fixture which uses its parent is
 * no cycle: the parent does not reach its tests through a path.
 */
function reaches(file, modPath, known) {
  const code = stripNoise(fs.readFileSync(file, 'utf8'))
  const inline = inlineModules(code)
  const out = new Map()
  for (const [, s] of inline) out.set([...modPath, ...inlineChain(inline, s)].join('::'), new Set())
  out.set(modPath.join('::'), new Set())
  const re = /(?<![A-Za-z0-9_:])(crate|super)::/g
  let m
  while ((m = re.exec(code))) {
    const here = [...modPath, ...inlineChain(inline, m.index)]
    let base
    let at = m.index
    if (m[1] === 'crate') {
      base = []
      at += 'crate::'.length
    } else {
      let supers = 0
      while (code.startsWith('super::', at)) {
        supers++
        at += 'super::'.length
      }
      re.lastIndex = at
      base = here.slice(0, Math.max(0, here.length - supers))
    }
    const [paths] = parseTree(code, at)
    const from = out.get(here.join('::'))
    for (const p of paths) {
      const full = [...base, ...p.filter((x) => x !== 'self')]
      // The deepest module the path names.
      for (let k = full.length; k >= 0; k--) {
        const key = full.slice(0, k).join('::')
        if (known.has(key)) {
          from.add(key)
          break
        }
      }
    }
  }
  return out
}

/** Strongly connected components of more than one module (Tarjan). */
function cycles(graph) {
  let index = 0
  const idx = new Map()
  const low = new Map()
  const stack = []
  const on = new Set()
  const found = []
  const visit = (v) => {
    idx.set(v, index)
    low.set(v, index)
    index++
    stack.push(v)
    on.add(v)
    for (const w of graph.get(v) || []) {
      if (!idx.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v), low.get(w)))
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)))
    }
    if (low.get(v) === idx.get(v)) {
      const comp = []
      let w
      do {
        w = stack.pop()
        on.delete(w)
        comp.push(w)
      } while (w !== v)
      if (comp.length > 1) found.push(comp.sort())
    }
  }
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v)
  return found
}

/** The module graph of one crate's src dir: Map(module key → Set of module keys), files. */
function crateGraph(dir) {
  const mods = modulesOf(dir)
  const known = new Map(mods.map(([mp, f]) => [mp.join('::'), f]))
  for (const [mp, f] of mods) {
    const code = stripNoise(fs.readFileSync(f, 'utf8'))
    const inline = inlineModules(code)
    for (const [, s] of inline) known.set([...mp, ...inlineChain(inline, s)].join('::'), f)
  }
  const graph = new Map()
  for (const [mp, f] of mods) {
    for (const [key, r] of reaches(f, mp, known)) {
      r.delete(key)
      graph.set(key, r)
    }
  }
  return { graph, files: known }
}

function main(dirs) {
  let bad = 0
  for (const d of dirs) {
    const dir = path.resolve(ROOT, d)
    const { graph, files } = crateGraph(dir)
    const found = cycles(graph)
    for (const comp of found) {
      bad++
      const edges = []
      for (const a of comp) for (const b of graph.get(a)) if (comp.includes(b)) edges.push(`${a || 'crate'} → ${b || 'crate'}`)
      console.error(`import cycle in ${path.relative(ROOT, dir)}: ${comp.map((c) => `${c || 'crate'} (${path.relative(ROOT, files.get(c))})`).join(', ')}\n  ${edges.join('\n  ')}`)
    }
    if (!found.length) console.log(`${path.relative(ROOT, dir) || '.'}: ${graph.size} modules, no import cycles`)
  }
  return bad ? 1 : 0
}

module.exports = { crateGraph, cycles, stripNoise }

if (require.main === module) process.exitCode = main(process.argv.length > 2 ? process.argv.slice(2) : DEFAULT_CRATES)
