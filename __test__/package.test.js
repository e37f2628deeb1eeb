'use strict'
// Ships like a napi-rs package, made by the release path itself (scripts/pack.js, `npm run
// pack:local`): the main tarball (JS, typings, loader, C header; every platform package as an
// optional dependency; no scripts) and the platform tarball of the Node running this test
// (linux-x64-gnu natively; linux-arm64-gnu under the arm64 Node in qemu, `npm run test:arm64`)
// install into an empty directory with the network cut off (--offline) and no cargo on the PATH,
// with no warning, and there require(), import and the CLI work. CI runs this file on Node 20, 22,
// 24 and 26. A machine where no binary loads gets an error that names the platform, what was tried
// and the one thing to do in its situation.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
// The gnu targets are the ones built and tested here (x64 natively, arm64 emulated).
const platformName = `${process.platform}-${process.arch}-gnu`
const platformDir = path.join(root, 'npm', platformName)
const nodeFile = `ultraslayer.${platformName}.node`
const builtHere = process.platform === 'linux' && ['x64', 'arm64'].includes(process.arch)

/** npm's own entry script, from the npm on PATH. */
function findNpmCli() {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const p = path.join(dir, 'npm')
    if (fs.existsSync(p)) {
      const real = fs.realpathSync(p)
      const cli = real.endsWith('.js') ? real : path.join(path.dirname(real), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js')
      if (fs.existsSync(cli)) return cli
    }
  }
  throw new Error('npm not found on PATH')
}

function npm(args, cwd, env = process.env) {
  return execFileSync('npm', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** The release tarballs of this platform, made by the release path itself (scripts/pack.js). */
function packRelease(out) {
  const stdout = execFileSync(process.execPath, [path.join(root, 'scripts', 'pack.js'), '--out', out, '--only', platformName], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const packed = stdout.trim().split('\n').map((l) => JSON.parse(l))
  return { main: packed.find((p) => p.name === 'ultraslayer'), platform: packed.find((p) => p.name === `ultraslayer-${platformName}`) }
}

/** The manifest inside a tarball. */
function manifestOf(tarball) {
  return JSON.parse(execFileSync('tar', ['xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }))
}

test('tarballs install offline without cargo, with no install script, and require + import work', { skip: !builtHere && 'linux-x64-gnu and linux-arm64-gnu are the binaries built and tested here' }, (t) => {
  assert.ok(fs.existsSync(path.join(root, nodeFile)), `build the addon first (${process.arch === 'arm64' ? 'npm run build:arm64' : 'npm run build'})`)
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-pack-'))
  t.after(() => fs.rmSync(work, { recursive: true, force: true }))
  const tarballs = path.join(work, 'tarballs')
  const { main, platform } = packRelease(tarballs)
  assert.ok(main && platform, 'the main package and this platform\'s package are packed')

  const mainFiles = main.files
  for (const f of ['README.md', 'include/ultraslayer.h', 'index.d.ts', 'index.js', 'index.mjs', 'native.js', 'native.d.ts', 'package.json', 'bin/ultraslayer.js', 'bench/run.js']) {
    assert.ok(mainFiles.includes(f), `main tarball carries ${f}`)
  }
  assert.ok(!mainFiles.some((f) => f.endsWith('.node')), 'binaries go in the platform package')
  assert.deepEqual(platform.files, ['README.md', nodeFile, 'package.json'].sort())
  for (const f of [...mainFiles, ...platform.files]) {
    assert.ok(!/^(target|src|tests?|__test__|node_modules|npm|scripts)\//.test(f) && !/Cargo\.(toml|lock)$|\.rs$/.test(f), `build leftover ${f}`)
  }
  // The published manifest: every platform package at this version as an optional dependency, and
  // nothing that runs on a user's install (no scripts at all: `prepare` is for clones).
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
  const manifest = manifestOf(main.file)
  assert.equal(manifest.optionalDependencies[`ultraslayer-${platformName}`], pkg.version)
  assert.equal(Object.keys(manifest.optionalDependencies).length, pkg.napi.targets.length)
  for (const v of Object.values(manifest.optionalDependencies)) assert.equal(v, pkg.version)
  assert.equal(manifest.scripts, undefined)
  assert.equal(manifest.devDependencies, undefined)
  const platformManifest = manifestOf(platform.file)
  assert.equal(platformManifest.version, pkg.version)
  assert.deepEqual(platformManifest.engines, pkg.engines)
  console.log(`# main tarball ${path.basename(main.file)}: ${main.size} B packed`)
  console.log(`# platform tarball ${path.basename(platform.file)}: ${platform.size} B packed`)

  const app = path.join(work, 'app')
  fs.mkdirSync(app)
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }))
  // No cargo, rustc or network: PATH holds a directory with just `node` (the one running this test)
  // and `npm`, so the install and the app run on the Node under test and nothing can build.
  const shim = path.join(work, 'bin')
  fs.mkdirSync(shim)
  fs.symlinkSync(process.execPath, path.join(shim, 'node'))
  const npmCli = findNpmCli()
  fs.writeFileSync(path.join(shim, 'npm'), `#!/bin/sh\nexec "${process.execPath}" "${npmCli}" "$@"\n`, { mode: 0o755 })
  const env = { ...process.env, PATH: shim, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' }
  assert.equal(spawnSync('cargo', ['--version'], { env }).error?.code, 'ENOENT', 'cargo must not be reachable')
  // First the main package alone, as an install that left the optional dependency out: the error
  // names the platform package and the command that installs it.
  npm(['install', '--offline', '--no-audit', '--no-fund', main.file], app, env)
  const missing = spawnSync(process.execPath, ['-e', "try { require('ultraslayer') } catch (e) { console.log(e.code); console.log(e.message) }"], { cwd: app, env, encoding: 'utf8' })
  assert.match(missing.stdout, /ERR_ULTRASLAYER_NO_BINARY/)
  assert.match(missing.stdout, new RegExp(`npm install ultraslayer-${platformName}@${pkg.version.replace(/\./g, '\\.')}`))
  // Then both, as `npm install ultraslayer` brings them from a registry: no warning of any kind
  // (npm 11 lists packages with install scripts; ours has none).
  const both = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=warn', main.file, platform.file], { cwd: app, env, encoding: 'utf8' })
  assert.equal(both.status, 0, `npm install failed: ${both.stdout}${both.stderr}`)
  const log = `${both.stdout}${both.stderr}`
  assert.doesNotMatch(log, /warn|install-scripts|prepare/i, `npm install printed: ${log}`)

  const cjs = `const { Slayer } = require('ultraslayer');
const s = new Slayer({ slots: 16, spin: 'sleep' });
s.writeU64(3, 18446744073709551615n); s.writeF64(4, -0);
if (s.readU64(3) !== 18446744073709551615n || !Object.is(s.readF64(4), -0)) throw new Error('round trip');
s.close(); console.log('cjs ok');`
  assert.match(execFileSync(process.execPath, ['-e', cjs], { cwd: app, env, encoding: 'utf8' }), /cjs ok/)
  const esm = `import { Slayer } from 'ultraslayer';
const s = new Slayer({ slots: 16, strategy: 'direct' });
s.writeF64(1, 1.25); if (s.readF64(1) !== 1.25) throw new Error('round trip');
s.close(); console.log('esm ok');`
  assert.match(execFileSync(process.execPath, ['--input-type=module', '-e', esm], { cwd: app, env, encoding: 'utf8' }), /esm ok/)
  // The CLI is installed as a bin and runs from the installed package.
  const info = execFileSync(path.join(app, 'node_modules', '.bin', 'ultraslayer'), ['info', '--json'], { cwd: app, env, encoding: 'utf8' })
  assert.ok(JSON.parse(info).tscHz > 0)
})

// The loader's error in each situation a user can be in, each with its one thing to do. A fake
// package directory holds the real index.js and generated loader, a manifest, and what the
// situation has next to it (node_modules/ is where the loader looks for the platform package).
function loaderError(t, { cargo = false, optional = null, platformPackage = null }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-nobin-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const app = path.join(dir, 'node_modules', 'ultraslayer')
  fs.mkdirSync(app, { recursive: true })
  for (const f of ['index.js', 'native.js']) fs.copyFileSync(path.join(root, f), path.join(app, f))
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
  if (optional) pkg.optionalDependencies = Object.fromEntries(optional.map((p) => [`ultraslayer-${p}`, pkg.version]))
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify(pkg))
  if (cargo) fs.writeFileSync(path.join(app, 'Cargo.toml'), '')
  if (platformPackage) {
    const p = path.join(dir, 'node_modules', `ultraslayer-${platformName}`)
    fs.mkdirSync(p)
    fs.writeFileSync(path.join(p, 'package.json'), JSON.stringify({ name: `ultraslayer-${platformName}`, version: platformPackage.version, main: nodeFile }))
    if (platformPackage.garbage) fs.writeFileSync(path.join(p, nodeFile), 'not an ELF file')
  }
  const r = spawnSync(process.execPath, ['-e', "try { require('ultraslayer') } catch (e) { console.log(e.code); console.log(e.message) }"], { cwd: dir, encoding: 'utf8' })
  assert.match(r.stdout, /ERR_ULTRASLAYER_NO_BINARY/)
  assert.match(r.stdout, new RegExp(`no native binary loaded for ${process.platform}-${process.arch}`))
  assert.match(r.stdout, /Tried:\n\s+- /)
  return { message: r.stdout, version: pkg.version }
}

test('no binary in a source checkout: the error says to build', (t) => {
  const { message } = loaderError(t, { cargo: true })
  assert.match(message, /source checkout: build the binary with `npm run build`/)
})

test('no binary published for this platform: the error lists what is published', (t) => {
  const { message } = loaderError(t, { optional: ['darwin-arm64', 'darwin-x64'] })
  assert.match(message, new RegExp(`No prebuilt binary is published for ${process.platform}-${process.arch}.*ships darwin-arm64, darwin-x64`))
  assert.doesNotMatch(message, /npm run build/)
})

test('platform package left out of the install: the error gives the install command', { skip: !builtHere && 'the platform packages of this test are the gnu ones' }, (t) => {
  const { message, version } = loaderError(t, { optional: [platformName] })
  assert.match(message, new RegExp(`ultraslayer-${platformName}.*is not installed.*--omit=optional`))
  assert.ok(message.includes(`\`npm install ultraslayer-${platformName}@${version}\``))
})

test('platform package of another version: the error names both versions', { skip: !builtHere && 'the platform packages of this test are the gnu ones' }, (t) => {
  const { message, version } = loaderError(t, { optional: [platformName], platformPackage: { version: '0.0.1' } })
  assert.ok(message.includes(`ultraslayer-${platformName} 0.0.1 is installed, but ultraslayer ${version} needs the same version`))
})

test('platform package whose binary does not load: the error says to reinstall it', { skip: !builtHere && 'the platform packages of this test are the gnu ones' }, (t) => {
  const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
  const { message } = loaderError(t, { optional: [platformName], platformPackage: { version, garbage: true } })
  assert.match(message, /is installed but its binary did not load/)
  assert.ok(message.includes(`npm install --force ultraslayer-${platformName}@${version}`))
})
