#!/usr/bin/env node
'use strict'
// Makes the tarballs a release publishes, here: one per platform binary (ultraslayer-<platform>,
// holding the .node) and the main package (JS, typings, CLI, bench, C header) whose package.json
// names every platform package as an optionalDependency at this version, so `npm install
// ultraslayer` brings the one binary that fits. The release workflow publishes exactly these
// tarballs (`npm run pack:release`); `npm run pack:local` builds this machine's binary first.
//
// The published manifest is the repository's package.json minus what only a clone needs: its
// scripts (`prepare` builds from source on `npm install` in a clone; shipped, it would make npm
// list the package under install scripts for every user, who must run none), devDependencies and
// overrides. Platform packages take the main package's version, engines, license and repository.
//
// Usage: node scripts/pack.js [--out DIR] [--artifacts DIR] [--release] [--only PLATFORM]
//   --out DIR        where the tarballs go (default: dist/)
//   --artifacts DIR  where the ultraslayer.<platform>.node files are (default: the repository)
//   --release        every platform in package.json's napi.targets must have its binary
//   --only PLATFORM  pack just this platform's package (and the main package)
// Without --release, a platform is packed when its binary is present and not older than the
// sources (a stale cross-built binary is skipped with a note); the host's must be present.
// Prints one JSON line per tarball on stdout ({ name, version, file, files, size }); notes go to stderr.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')

function parseArgs(argv) {
  const args = { out: path.join(root, 'dist'), artifacts: root, release: false, only: null }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`)
      return argv[++i]
    }
    if (a === '--out') args.out = path.resolve(value())
    else if (a === '--artifacts') args.artifacts = path.resolve(value())
    else if (a === '--release') args.release = true
    else if (a === '--only') args.only = value()
    else throw new Error(`unknown argument ${a} (usage: node scripts/pack.js [--out DIR] [--artifacts DIR] [--release] [--only PLATFORM])`)
  }
  return args
}

/** The platform directory napi-rs names for a Rust target triple (npm/<platform>). */
function platformOf(triple) {
  const [arch, , sys, abi] = triple.split('-')
  const cpu = { x86_64: 'x64', aarch64: 'arm64', i686: 'ia32', armv7: 'arm' }[arch] || arch
  const osName = { linux: 'linux', darwin: 'darwin', windows: 'win32' }[sys] || sys
  return abi ? `${osName}-${cpu}-${abi}` : `${osName}-${cpu}`
}

/** This process's platform as napi-rs names it (the glibc/musl split only on Linux). */
function hostPlatform() {
  if (process.platform === 'win32') return `win32-${process.arch}-gnu` // built with mingw-w64 (scripts/win.sh)
  if (process.platform !== 'linux') return `${process.platform}-${process.arch}`
  const glibc = process.report.getReport().header.glibcVersionRuntime
  return `linux-${process.arch}-${glibc ? 'gnu' : 'musl'}`
}

/** Newest modification time among the files a binary is built from. */
function newestSource() {
  let newest = 0
  const walk = (p) => {
    const st = fs.statSync(p)
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) walk(path.join(p, e))
    else newest = Math.max(newest, st.mtimeMs)
  }
  for (const p of ['src', 'crates', 'Cargo.toml', 'Cargo.lock', 'build.rs']) if (fs.existsSync(path.join(root, p))) walk(path.join(root, p))
  return newest
}

/** `npm pack` of a directory into `out`, with no lifecycle scripts; returns npm's report of it. */
function npmPack(dir, out) {
  const json = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', out], {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const [r] = JSON.parse(json)
  return { name: r.name, version: r.version, file: path.join(out, r.filename), files: r.files.map((f) => f.path).sort(), size: r.size }
}

function writeJson(file, value) {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`)
}

/** The main package's published manifest: the repository's, for users. */
function publishedManifest(pkg, platforms) {
  const m = { ...pkg }
  delete m.scripts
  delete m.devDependencies
  delete m.overrides
  m.optionalDependencies = Object.fromEntries(platforms.map((p) => [`${pkg.name}-${p}`, pkg.version]))
  return m
}

function main() {
  const args = parseArgs(process.argv.slice(2))
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
  const binaryName = pkg.napi.binaryName
  const platforms = pkg.napi.targets.map(platformOf)
  const host = hostPlatform()
  if (args.only && !platforms.includes(args.only)) throw new Error(`--only ${args.only}: not one of package.json's napi targets (${platforms.join(', ')})`)

  const sourcesAt = newestSource()
  const chosen = []
  for (const p of platforms) {
    if (args.only && p !== args.only) continue
    const node = path.join(args.artifacts, `${binaryName}.${p}.node`)
    const present = fs.existsSync(node)
    if (!present) {
      if (args.release || p === host || p === args.only) {
        throw new Error(`${node} is missing: ${p === host ? 'run `npm run build`' : 'build it for this target first'}${args.release ? ' (--release needs every target)' : ''}`)
      }
      console.error(`pack: ${p}: no binary here, not packed (a release builds it on its own runner)`)
      continue
    }
    if (!args.release && args.artifacts === root && fs.statSync(node).mtimeMs < sourcesAt) {
      if (p === host || p === args.only) throw new Error(`${node} is older than the sources: run \`npm run build\` first`)
      console.error(`pack: ${p}: ${path.basename(node)} is older than the sources, not packed (rebuild it to include it)`)
      continue
    }
    chosen.push({ platform: p, node })
  }

  fs.mkdirSync(args.out, { recursive: true })
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-pack-stage-'))
  const results = []
  try {
    for (const { platform, node } of chosen) {
      const dir = path.join(stage, platform)
      fs.mkdirSync(dir)
      const manifest = JSON.parse(fs.readFileSync(path.join(root, 'npm', platform, 'package.json'), 'utf8'))
      for (const k of ['version', 'license', 'repository', 'engines', 'description', 'keywords']) if (pkg[k] !== undefined) manifest[k] = pkg[k]
      writeJson(path.join(dir, 'package.json'), manifest)
      fs.copyFileSync(path.join(root, 'npm', platform, 'README.md'), path.join(dir, 'README.md'))
      fs.copyFileSync(node, path.join(dir, path.basename(node)))
      results.push(npmPack(dir, args.out))
    }
    // The main package: exactly the files `npm pack` takes from the repository (its `files` list),
    // unpacked into the stage, with the published manifest in place of the repository's.
    const raw = path.join(stage, 'raw')
    fs.mkdirSync(raw)
    const packed = npmPack(root, raw)
    execFileSync('tar', ['xzf', packed.file, '-C', raw])
    const dir = path.join(raw, 'package')
    writeJson(path.join(dir, 'package.json'), publishedManifest(pkg, platforms))
    results.push(npmPack(dir, args.out))
  } finally {
    fs.rmSync(stage, { recursive: true, force: true })
  }
  for (const r of results) console.log(JSON.stringify(r))
  console.error(`pack: ${results.length} tarballs in ${path.relative(process.cwd(), args.out) || '.'}: ${results.map((r) => path.basename(r.file)).join(', ')}`)
}

if (require.main === module) {
  try {
    main()
  } catch (e) {
    console.error(`pack: ${e.message}`)
    process.exit(1)
  }
}

module.exports = { platformOf, publishedManifest }
