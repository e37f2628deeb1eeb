'use strict'
// Per-call cost of the binding, measured in tight loops in this run: readF64/readU64 on cached
// slots with threads stopped, beside a bare raw N-API function taking a u32 and returning a double
// (the yardstick), a bare no-op N-API function and a plain Float64Array read. Each op has its own
// loop function so every call site stays monomorphic.

const { Slayer, native, readF64Copy0Of } = require('./arms')

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s[s.length >> 1]
}

function timeOnce(loop, calls) {
  const t0 = process.hrtime.bigint()
  loop(calls)
  return Number(process.hrtime.bigint() - t0) / calls
}

/**
 * ns per call for every loop. Rounds interleave the loops (A B C … A B C …) so a change of
 * regime on a noisy VM (the host moving vCPUs) lands on every op alike instead of on whichever
 * was running; each op's median over rounds is reported.
 */
function nsPerCall(loops, calls, rounds) {
  for (const loop of Object.values(loops)) loop(Math.min(calls, 200000)) // warm up: let V8 optimise
  const per = Object.fromEntries(Object.keys(loops).map((k) => [k, []]))
  for (let r = 0; r < rounds; r++) {
    for (const [name, loop] of Object.entries(loops)) per[name].push(timeOnce(loop, calls))
  }
  return Object.fromEntries(Object.entries(per).map(([k, xs]) => [k, { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) }]))
}

function measureBindingCost({ calls = 500_000, rounds = 15 } = {}) {
  const bare = native._bareFunctions()
  const s = new Slayer({ slots: 4096, start: false, hugePages: 'auto', strategy: 'hedge' })
  for (let i = 0; i < 64; i++) s.writeF64(i, i * 1.5)
  const steer = new Slayer({ slots: 4096, strategy: 'steer' })
  for (let i = 0; i < 64; i++) steer.writeF64(i, i * 1.5)
  // What a 2-4 vCPU user gets by default when nothing pays: strategy 'direct'.
  const direct = new Slayer({ slots: 4096, strategy: 'direct' })
  for (let i = 0; i < 64; i++) direct.writeF64(i, i * 1.5)
  const arr = new Float64Array(4096)
  for (let i = 0; i < 64; i++) arr[i] = i * 1.5
  let sink = 0
  let sinkBig = 0n

  const loops = {
    'bare N-API no-op': (n) => {
      const f = bare.noop
      for (let k = 0; k < n; k++) f()
    },
    'bare N-API u32 -> f64 (yardstick)': (n) => {
      const f = bare.u32ToF64
      for (let k = 0; k < n; k++) sink += f(k & 63)
    },
    'readF64 (threads stopped, cached)': (n) => {
      for (let k = 0; k < n; k++) sink += s.readF64(k & 63)
    },
    "readF64 (strategy 'direct', cached)": (n) => {
      for (let k = 0; k < n; k++) sink += direct.readF64(k & 63)
    },
    'copy 0 of the direct slab, same raw call (cached)': (n) => {
      const copy0 = readF64Copy0Of(direct)
      for (let k = 0; k < n; k++) sink += copy0(k & 63)
    },
    'readU64 (threads stopped, cached)': (n) => {
      for (let k = 0; k < n; k++) sinkBig ^= s.readU64(k & 63)
    },
    "readF64 (strategy 'steer', cached)": (n) => {
      for (let k = 0; k < n; k++) sink += steer.readF64(k & 63)
    },
    'copy 0 of the steer slab, same raw call (cached)': (n) => {
      const copy0 = readF64Copy0Of(steer)
      for (let k = 0; k < n; k++) sink += copy0(k & 63)
    },
    'writeF64 (every replica)': (n) => {
      for (let k = 0; k < n; k++) s.writeF64(k & 63, k)
    },
    'Float64Array[i] in JS (cached)': (n) => {
      for (let k = 0; k < n; k++) sink += arr[k & 63]
    },
  }
  const rows = nsPerCall(loops, calls, rounds)
  const tracker = steer.stats().steer
  s.close()
  steer.close()
  direct.close()
  const yard = rows['bare N-API u32 -> f64 (yardstick)'].median
  const result = {
    rows,
    readF64VsBare: rows['readF64 (threads stopped, cached)'].median / yard,
    readU64VsBare: rows['readU64 (threads stopped, cached)'].median / yard,
    directVsBare: rows["readF64 (strategy 'direct', cached)"].median / yard,
    // The strategy dispatch of a direct read: the same slab, the same raw call, through the
    // engine's read (counted, strategy checked) or straight to copy 0.
    directExtraNs: rows["readF64 (strategy 'direct', cached)"].median - rows['copy 0 of the direct slab, same raw call (cached)'].median,
    // Steering's own cost: the same slab, the same raw call, with and without the choice.
    steerExtraNs: rows["readF64 (strategy 'steer', cached)"].median - rows['copy 0 of the steer slab, same raw call (cached)'].median,
    // Whether that was the steering path (locked, copies apart: a clock read per call) or the
    // untimed fixed-copy path a tracker takes when there is nothing to steer.
    steerPath: tracker.state === 'locked' && tracker.copiesApart ? 'steering' : `fixed copy (${tracker.state}, copies apart: ${tracker.copiesApart})`,
    sink: sink + Number(sinkBig & 1n),
  }
  return result
}

module.exports = { measureBindingCost, nsPerCall }
