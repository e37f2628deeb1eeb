'use strict'
// The shipped typings compile for users who do not target ESNext: strict tsc with a plain es2022
// config and no @types/node (`"types": []`, lib es2022) accepts a program that uses every type and
// value index.d.ts exports (the list is read from index.d.ts, so a new export is covered by itself)
// and `using`, and so do configs that declare `Symbol.dispose` and `Disposable` themselves (lib
// esnext, @types/node), where the header's declarations must merge without a clash. Every
// TypeScript block of the README and docs compiles the same way, with and without @types/node
// (the last test; how a fragment names what it needs is described there).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
const dts = fs.readFileSync(path.join(root, 'index.d.ts'), 'utf8')

/** Every exported name, and whether it is a value (class, const, function, enum) or a type only. */
function exportsOf(text) {
  const out = new Map()
  for (const m of text.matchAll(/^export (?:declare )?(interface|type|class|const|function|enum) (\w+)/gm)) {
    const value = !['interface', 'type'].includes(m[1])
    out.set(m[2], (out.get(m[2]) ?? false) || value)
  }
  // Re-exported report types: `export type { A, B } from './native'`.
  for (const m of text.matchAll(/^export type \{([^}]*)\} from/gm)) {
    for (const name of m[1].split(',').map((n) => n.trim()).filter(Boolean)) out.set(name, out.get(name) ?? false)
  }
  return out
}

/** How many type parameters an exported generic type takes without a default (0 if none). */
function typeArity(name) {
  const m = dts.match(new RegExp(`^export (?:declare )?(?:interface|type|class) ${name}<([^>]*(?:<[^>]*>[^>]*)*)>`, 'm'))
  if (!m) return 0
  let depth = 0
  const params = ['']
  for (const ch of m[1]) {
    if (ch === '<' || ch === '{' || ch === '(') depth++
    else if (ch === '>' || ch === '}' || ch === ')') depth--
    if (ch === ',' && depth === 0) params.push('')
    else params[params.length - 1] += ch
  }
  return params.filter((p) => !p.includes('=')).length
}

/** `U.Name`, with `any` for each type parameter that has no default. */
function typeRef(name) {
  const n = typeArity(name)
  return n ? `U.${name}<${Array(n).fill('any').join(', ')}>` : `U.${name}`
}

function program(rel, names) {
  const lines = [`import * as U from '${rel}'`, '']
  for (const [name, value] of names) {
    lines.push(value ? `export type Use${name} = typeof U.${name}` : `export type Use${name} = ${typeRef(name)}`)
    if (new RegExp(`^export declare class ${name}\\b`, 'm').test(dts)) {
      lines.push(`export type Instance${name} = ${typeRef(name)}`)
    }
  }
  // What the header adds by hand: disposal through Symbol.dispose, and `using` (which needs the
  // global type Disposable, absent from lib es2022).
  lines.push('', 'export function dispose(s: U.Slayer): void {', '  s[Symbol.dispose]()', '}')
  lines.push('export function scoped(): number {', '  using s = new U.Slayer({ slots: 1 })', '  using r = new U.Records({ count: 1, fields: { a: \'f64\' } })', '  return s.slots + r.count', '}', '')
  return lines.join('\n')
}

const configs = [
  ['es2022, no @types/node', { target: 'es2022', lib: ['es2022'], types: [] }],
  ['es2022 with lib esnext (declares Symbol.dispose too)', { target: 'es2022', lib: ['esnext'], types: [] }],
  ['es2022 with @types/node (declares Symbol.dispose too)', { target: 'es2022', module: 'node16', moduleResolution: 'node16', types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')] }],
]

test('strict tsc compiles a program using every exported type, with and without esnext/@types/node', { skip: !fs.existsSync(tsc) && 'typescript is a dev dependency: npm install' }, () => {
  const names = exportsOf(dts)
  assert.ok(names.size >= 10 && names.has('Slayer') && names.has('SlayerOptions'), [...names.keys()].join(', '))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-typings-'))
  try {
    const rel = path.relative(dir, path.join(root, 'index')).split(path.sep).join('/')
    fs.writeFileSync(path.join(dir, 'uses.ts'), program(rel.startsWith('.') ? rel : `./${rel}`, names))
    for (const [label, options] of configs) {
      const compilerOptions = { strict: true, noEmit: true, skipLibCheck: false, noUnusedLocals: true, ...options }
      fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['uses.ts'] }, null, 2))
      const r = spawnSync(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.json')], { encoding: 'utf8', timeout: 300_000 })
      assert.equal(r.status, 0, `${label}: tsc failed:\n${r.stdout}${r.stderr}`)
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

/** The members `declare class Name` lists in index.d.ts: methods, getters and statics. */
function declaredMembers(name) {
  const m = dts.match(new RegExp(`^export declare class ${name}\\b[^{]*\\{\\n([\\s\\S]*?)^\\}`, 'm'))
  assert.ok(m, `index.d.ts declares class ${name}`)
  const members = new Set()
  for (const line of m[1].split('\n')) {
    const d = line.match(/^  (?:static )?(?:get |set )?(\w+)\s*[(<]/) ?? line.match(/^  readonly (\w+):/)
    if (d) members.add(d[1])
  }
  return members
}

/** Public members of a JS class: prototype methods/getters and statics, without internals (`_x`). */
function publicMembers(cls) {
  const names = new Set()
  for (const n of [...Object.getOwnPropertyNames(cls.prototype), ...Object.getOwnPropertyNames(cls)]) {
    if (!['constructor', 'prototype', 'length', 'name'].includes(n) && !n.startsWith('_')) names.add(n)
  }
  return names
}

test('index.d.ts declares every public member of the JS classes users get, and nothing they lack', () => {
  const lib = require('..')
  for (const name of ['Slayer', 'Records']) {
    const declared = declaredMembers(name)
    const actual = publicMembers(lib[name])
    assert.deepEqual([...actual].filter((n) => !declared.has(n)).sort(), [], `${name}: members index.js has and index.d.ts does not declare`)
    assert.deepEqual([...declared].filter((n) => !actual.has(n) && n !== 'constructor').sort(), [], `${name}: members index.d.ts declares and index.js lacks`)
  }
})

/** The members `interface Name` lists in index.d.ts, without an index signature (`[more: string]`). */
function interfaceKeys(name) {
  const m = dts.match(new RegExp(`^export interface ${name} \\{\\n([\\s\\S]*?)^\\}`, 'm'))
  assert.ok(m, `index.d.ts declares interface ${name}`)
  return [...m[1].matchAll(/^  (\w+)\??:/gm)].map((d) => d[1]).sort()
}

/** Checks that `report` has only the keys `interface name` declares, and each one it requires. */
function hasDeclaredKeys(report, name) {
  const m = dts.match(new RegExp(`^export interface ${name} \\{\\n([\\s\\S]*?)^\\}`, 'm'))
  assert.ok(m, `index.d.ts declares interface ${name}`)
  const members = [...m[1].matchAll(/^  (\w+)(\??):/gm)].map((d) => ({ key: d[1], optional: d[2] === '?' }))
  const declared = new Set(members.map((d) => d.key))
  assert.deepEqual(Object.keys(report).filter((k) => !declared.has(k)).sort(), [], `${name}: keys reported and not declared`)
  assert.deepEqual(members.filter((d) => !d.optional && !(d.key in report)).map((d) => d.key), [], `${name}: required keys not reported`)
  for (const [k, v] of Object.entries(report)) assert.ok(typeof v !== 'bigint', `${name}.${k} is a number, not a BigInt`)
}

test('info(), info().placement (with a fallback) and info().shared have the keys index.d.ts declares', () => {
  const { Slayer } = require('..')
  const name = `typings-info-${process.pid}`
  // A placement budget of 0 refuses placement by timing at once: 'auto' falls back to an offset.
  const slabs = [new Slayer({ slots: 1 << 18, strategy: 'hedge', start: false, placementBudgetMs: 0 })]
  // Shared slabs are refused on Windows (docs/platforms.md): there only the local slab is checked.
  const shared = process.platform !== 'win32'
  try {
    if (shared) slabs.push(Slayer.createSync({ name, overwrite: true, slots: 64, strategy: 'direct' }))
    for (const s of slabs) {
      const i = s.info()
      hasDeclaredKeys(i, 'SlayerInfo')
      hasDeclaredKeys(i.placement, 'CopyPlacementInfo')
      if (i.placement.fallback) hasDeclaredKeys(i.placement.fallback, 'PlacementFallback')
      if (i.shared) hasDeclaredKeys(i.shared, 'SharedSegmentInfo')
    }
    if (shared) assert.ok(slabs[1].info().shared, 'a shared slab reports its segment')
  } finally {
    for (const s of slabs) s.close()
    if (shared) Slayer.unlink(name)
  }
})

test('stats() and stats().steer have exactly the keys index.d.ts declares, info().placement.hugePages every one it declares', (t) => {
  const { Slayer } = require('..')
  // Steering, with latency recorded, on a slab read long enough to calibrate; the huge-page
  // placement report where the slab got one (it needs 2 MiB per replica placed by timing). Where
  // placement by timing or steering is not supported (aarch64, a coarse clock), what is: the
  // reason is in the skip.
  const attempts = [
    { slots: 1 << 18, strategy: 'steer', placement: 'huge-pages', stats: true },
    { slots: 1 << 18, strategy: 'steer', placement: 'offset', stats: true },
    { slots: 1 << 18, strategy: 'direct', stats: true },
  ]
  const refused = []
  let s
  for (const o of attempts) {
    try {
      s = new Slayer(o)
      break
    } catch (e) {
      if (e.code !== 'ERR_ULTRASLAYER_UNSUPPORTED' && e.code !== 'ERR_ULTRASLAYER_PLACEMENT') throw e
      refused.push(`${o.strategy}/${o.placement ?? 'auto'}: ${e.message}`)
    }
  }
  try {
    for (let i = 0; i < 100_000; i++) s.readF64((i * 7919) & ((1 << 18) - 1))
    const stats = s.stats()
    const steered = s.info().strategy === 'steer'
    assert.deepEqual(Object.keys(stats).sort(), interfaceKeys('SlayerStats').filter((k) => steered || k !== 'steer'))
    assert.deepEqual(Object.keys(stats.latency).sort(), interfaceKeys('LatencyPercentiles'))
    if (steered) assert.deepEqual(Object.keys(stats.steer).sort(), interfaceKeys('SteerStats'))
    for (const [k, v] of Object.entries({ ...stats, ...stats.latency, ...stats.steer })) {
      assert.ok(typeof v !== 'bigint', `${k} is a number, not a BigInt`)
    }
    const huge = s.info().placement.hugePages
    if (huge) {
      const declared = interfaceKeys('HugePagePlacement')
      assert.deepEqual(declared.filter((k) => !(k in huge)), [], 'HugePagePlacement keys declared but not reported')
    }
    if (refused.length) t.skip(`checked without ${steered ? 'huge-page placement' : 'steering'} here: ${refused.join('; ')}`)
    else if (!huge) t.skip(`no huge-page placement report here (${s.info().placement.note}): the stats reports checked only`)
  } finally {
    s.close()
  }
})

// The documentation's TypeScript compiles as a user would paste it: every ```ts (or ```typescript)
// block of README.md, docs/*.md and examples/*.md, each as its own module in an app that depends on
// ultraslayer (node_modules/ultraslayer → this package, resolved through its "exports"), under
// strict tsc with target and lib es2022 and module nodenext: once with `types: []` (no
// @types/node) and once with @types/node. examples/*.ts are Node programs (node:http, process):
// they are compiled in the @types/node run only.
//
// A block that is a fragment (uses a name an earlier block imported) says what it needs in an HTML
// comment right before its fence, which renders as nothing:
//
//   <!-- ts-prelude: import { Slayer } from 'ultraslayer' -->
//   ```ts
//
// The comment's text is compiled before the block; nothing else is added, and no block is skipped.
// Without @types/node and without lib dom there is no `console`; the host a user runs such code on
// declares it, and so does the run without @types/node here (host.d.ts below), nothing else.

const SNIPPET_RE = /(<!--\s*ts-prelude:([\s\S]*?)-->[ \t]*\r?\n)?^```(?:ts|typescript)[ \t]*\r?\n([\s\S]*?)^```[ \t]*$/gm

/** The TypeScript blocks of one markdown file: { where: 'README.md:48', fenceLine, prelude, code }. */
function snippetsOf(rel) {
  const text = fs.readFileSync(path.join(root, rel), 'utf8')
  const out = []
  for (const m of text.matchAll(SNIPPET_RE)) {
    const fenceLine = text.slice(0, m.index + (m[1]?.length ?? 0)).split('\n').length
    out.push({ where: `${rel}:${fenceLine}`, fenceLine, prelude: (m[2] ?? '').trim(), code: m[3] })
  }
  return out
}

function markdownFiles() {
  const files = ['README.md']
  for (const dir of ['docs', 'examples']) {
    if (!fs.existsSync(path.join(root, dir))) continue
    for (const f of fs.readdirSync(path.join(root, dir)).sort()) if (f.endsWith('.md')) files.push(`${dir}/${f}`)
  }
  return files
}

const HOST_WITHOUT_NODE = `// What a host without @types/node or lib dom declares for the snippets' logging.
declare var console: { log(...data: unknown[]): void; error(...data: unknown[]): void }
`

/**
 * Compiles `files` ({ name: text }) in a fresh app directory that depends on ultraslayer; returns
 * tsc's status and output. `extra` are absolute paths compiled along with them.
 */
function compileApp(files, compilerOptions, extra = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-snippets-'))
  try {
    fs.mkdirSync(path.join(dir, 'node_modules'))
    fs.symlinkSync(root, path.join(dir, 'node_modules', 'ultraslayer'), 'dir')
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { ultraslayer: '*' } }))
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text)
    const tsconfig = { compilerOptions, files: [...Object.keys(files), ...extra] }
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2))
    const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8', timeout: 300_000 })
    return { status: r.status, output: `${r.stdout}${r.stderr}${r.error ? r.error.message : ''}` }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

test('every TypeScript block of the README and docs compiles under strict es2022, with and without @types/node', { skip: !fs.existsSync(tsc) && 'typescript is a dev dependency: npm install' }, () => {
  const snippets = markdownFiles().flatMap(snippetsOf)
  assert.ok(snippets.length >= 1, 'README.md has TypeScript blocks')
  const files = {}
  const origin = new Map()
  snippets.forEach((s, k) => {
    const name = `snippet-${k}.ts`
    const prelude = s.prelude ? `${s.prelude}\n` : ''
    files[name] = `${prelude}${s.code}`
    origin.set(name, { ...s, preludeLines: prelude ? prelude.split('\n').length - 1 : 0 })
  })
  // tsc's `snippet-3.ts(5,7)` as `README.md:52:7` (or the prelude of README.md:48).
  const located = (output) =>
    output.replace(/^(snippet-\d+\.ts)\((\d+),(\d+)\)/gm, (all, file, line, col) => {
      const s = origin.get(file)
      const n = Number(line) - s.preludeLines
      return n >= 1 ? `${s.where.split(':')[0]}:${s.fenceLine + n}:${col}` : `the ts-prelude of ${s.where}`
    })
  const base = { strict: true, target: 'es2022', lib: ['es2022'], module: 'nodenext', moduleResolution: 'nodenext', moduleDetection: 'force', noEmit: true, skipLibCheck: false }
  const examples = fs.existsSync(path.join(root, 'examples'))
    ? fs.readdirSync(path.join(root, 'examples')).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).map((f) => path.join(root, 'examples', f))
    : []
  const runs = [
    ['without @types/node (types: [])', { ...files, 'host.d.ts': HOST_WITHOUT_NODE }, { ...base, types: [] }, []],
    ['with @types/node', files, { ...base, types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')] }, examples],
  ]
  for (const [label, sources, options, extra] of runs) {
    const r = compileApp(sources, options, extra)
    assert.equal(r.status, 0, `${label}: tsc failed on ${snippets.map((s) => s.where).join(', ')}${extra.length ? ` and ${extra.map((f) => path.relative(root, f)).join(', ')}` : ''}:\n${located(r.output)}`)
  }
})

test('the Records schema types what reads give (stated: number for f64, bigint for u64; unstated: number | bigint), with and without @types/node', { skip: !fs.existsSync(tsc) && 'typescript is a dev dependency: npm install' }, () => {
  // __test__/types/records.ts holds the assertions (each `@ts-expect-error` must be an error);
  // records.test.js compiles it with @types/node as its own tsconfig says, this without too.
  const base = { strict: true, target: 'es2022', lib: ['es2022'], module: 'nodenext', moduleResolution: 'nodenext', noEmit: true, skipLibCheck: false }
  const checks = path.join(root, '__test__', 'types', 'records.ts')
  for (const [label, options] of [
    ['without @types/node (types: [])', { ...base, types: [] }],
    ['with @types/node', { ...base, types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')] }],
  ]) {
    const r = compileApp({}, options, [checks])
    assert.equal(r.status, 0, `${label}: tsc failed on __test__/types/records.ts:\n${r.output}`)
  }
})
