'use strict'
// A slab or record store made off the event loop for the bench (`Slayer.create` /
// `Records.create`), with a progress bar on stderr once the work has run a second: on a terminal
// one line redrawn in place, elsewhere a line every five seconds. Creation is where a run can
// wait longest (placing a large steered slab by timing takes tens of seconds on some hosts).

const SHOW_AFTER_MS = 1000
const LOG_EVERY_MS = 5000
const WIDTH = 24

/** `done` and `total` in the unit the library reports them in, for a person. */
function amount(p) {
  if (p.unit === 'bytes') return `${(p.done / 2 ** 20).toFixed(0)}/${(p.total / 2 ** 20).toFixed(0)} MiB`
  if (p.unit === 'ms') return `${(p.done / 1000).toFixed(1)}/${(p.total / 1000).toFixed(1)} s`
  return `${p.done}/${p.total} ${p.unit}`
}

const WHAT = {
  map: 'mapping',
  prefault: 'pre-faulting',
  period: 'measuring the refresh period',
  place: 'placing copies by refresh group',
  check: 'checking the placed copies',
  calibrate: 'calibrating steering',
  start: 'starting replica threads',
  learn: 'frames learned',
}

/** An onProgress for creating `label`, and `done()` to end its line. */
function progressBar(label, stream = process.stderr) {
  const start = Date.now()
  let lastLog = 0
  let drawn = false
  const onProgress = (p) => {
    const now = Date.now()
    if (now - start < SHOW_AFTER_MS) return
    const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 0
    const filled = Math.round(frac * WIDTH)
    const line = `${label}: [${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${WHAT[p.phase] || p.phase} ${amount(p)}, ${((now - start) / 1000).toFixed(0)} s so far`
    if (stream.isTTY) {
      stream.write(`\r\x1b[K${line}`)
      drawn = true
    } else if (now - lastLog >= LOG_EVERY_MS) {
      stream.write(`${line}\n`)
      lastLog = now
    }
  }
  const done = () => {
    if (drawn) stream.write('\r\x1b[K')
  }
  return { onProgress, done }
}

/** `await Class.create(options)` with a progress bar labelled `label`. */
async function create(Class, label, options) {
  const bar = progressBar(label)
  try {
    return await Class.create(options, { onProgress: bar.onProgress })
  } finally {
    bar.done()
  }
}

/**
 * Waits for the frames of `slab` (a slab or record store learned in the background, named `label`)
 * to be learned, at most `limitMs`, with a progress bar on stderr; returns the note the run reports.
 * While it waits nothing is measured, so the learner may have a whole core (`setLearnDutyPercent`);
 * the duty it had goes back before the arms, which measure the slab as a service would have it.
 */
async function awaitLearning(slab, label, limitMs) {
  const bar = progressBar(`${label}: learning its frames in the background`)
  const t0 = Date.now()
  let l = slab.info().learning
  const duty = Math.round(l.duty * 100)
  slab.setLearnDutyPercent(100)
  try {
    while (!l.done && Date.now() - t0 < limitMs) {
      bar.onProgress({ phase: 'learn', done: l.framesLearned, total: l.framesTotal, unit: 'frames' })
      await new Promise((r) => setTimeout(r, 250))
      l = slab.info().learning
    }
  } finally {
    slab.setLearnDutyPercent(duty)
  }
  bar.done()
  const share = l.framesTotal ? ((100 * (l.framesLearned - l.framesUnsteerable)) / l.framesTotal).toFixed(1) : '0'
  return `${label} learned in the background: ${l.framesLearned} of ${l.framesTotal} frames (${l.framesUnsteerable} not steerable) in ${(l.elapsedMs / 1000).toFixed(1)} s, at a whole core while the bench waited (${(l.cpuShare * 100).toFixed(0)}% of one overall), ${duty}% during the arms${l.done ? '' : `; stopped waiting after ${(limitMs / 1000).toFixed(0)} s`}: ${share}% of its frames steered during the arms`
}

module.exports = { create, progressBar, awaitLearning }
