'use strict'
// Ships like a napi-rs package: the main tarball (JS, typings, loader, C header) and the platform
// tarball of the Node running this test (linux-x64-gnu natively; linux-arm64-gnu under the arm64
// Node in qemu, `npm run test:arm64`) install into an empty directory with the network cut off
// (--offline), with no cargo on the PATH, and there require() and import both work. The
// tarballs carry no build leftovers. A machine with no fitting binary gets an error that names
// the platform, what was tried and how to build from source.

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

function packInto(dir, from) {
  const out = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dir], from))
  return out[0]
}

test('tarballs install offline without cargo, and require + import work', { skip: !builtHere && 'linux-x64-gnu and linux-arm64-gnu are the binaries built and tested here' }, () => {
  assert.ok(fs.existsSync(path.join(root, nodeFile)), `build the addon first (${process.arch === 'arm64' ? 'npm run build:arm64' : 'npm run build'})`)
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-pack-'))
  // The platform package gets the freshly built binary, as `napi artifacts` would do in CI.
  const plat = path.join(work, 'platform')
  fs.mkdirSync(plat)
  for (const f of fs.readdirSync(platformDir)) fs.copyFileSync(path.join(platformDir, f), path.join(plat, f))
  fs.copyFileSync(path.join(root, nodeFile), path.join(plat, nodeFile))
  const tarballs = path.join(work, 'tarballs')
  fs.mkdirSync(tarballs)
  const main = packInto(tarballs, root)
  const platform = packInto(tarballs, plat)

  const mainFiles = main.files.map((f) => f.path).sort()
  for (const f of ['README.md', 'include/ultraslayer.h', 'index.d.ts', 'index.js', 'index.mjs', 'native.js', 'native.d.ts', 'package.json', 'bin/ultraslayer.js', 'bench/run.js']) {
    assert.ok(mainFiles.includes(f), `main tarball carries ${f}`)
  }
  assert.ok(!mainFiles.some((f) => f.endsWith('.node')), 'binaries go in the platform package')
  assert.deepEqual(platform.files.map((f) => f.path).sort(), ['README.md', nodeFile, 'package.json'].sort())
  for (const f of [...mainFiles, ...platform.files.map((x) => x.path)]) {
    assert.ok(!/^(target|src|tests?|__test__|node_modules|npm)\//.test(f) && !/Cargo\.(toml|lock)$|\.rs$/.test(f), `build leftover ${f}`)
  }
  console.log(`# main tarball ${main.filename}: ${main.size} B packed, ${main.unpackedSize} B unpacked`)
  console.log(`# platform tarball ${platform.filename}: ${platform.size} B packed, ${platform.unpackedSize} B unpacked`)

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
  npm(['install', '--offline', '--no-audit', '--no-fund', path.join(tarballs, main.filename), path.join(tarballs, platform.filename)], app, env)

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
  fs.rmSync(work, { recursive: true, force: true })
})

test('no fitting binary: the error names the platform, what was tried and how to build', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uslayer-nobin-'))
  for (const f of ['index.js', 'native.js', 'package.json']) fs.copyFileSync(path.join(root, f), path.join(dir, f))
  const r = spawnSync(process.execPath, ['-e', `try { require(${JSON.stringify(dir)}) } catch (e) { console.log(e.code); console.log(e.message) }`], { encoding: 'utf8' })
  assert.match(r.stdout, /ERR_ULTRASLAYER_NO_BINARY/)
  assert.match(r.stdout, new RegExp(`${process.platform}-${process.arch}`))
  assert.match(r.stdout, /Tried:\n\s+- /)
  assert.match(r.stdout, new RegExp(`ultraslayer-${process.platform}-${process.arch}`))
  assert.match(r.stdout, /npm run build/)
  fs.rmSync(dir, { recursive: true, force: true })
})
