'use strict'
// A CCDF plot of latency per arm as a self-contained SVG: x = latency (ns, log scale), y = share of
// reads slower than x (log scale, down to 1e-5), with p50 … p99.99 marked as horizontal guides.
// One panel per (condition, access). Hand-written SVG: no dependency, opens in any browser.

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22']
const GUIDES = [
  [0.5, 'p50'],
  [0.1, 'p90'],
  [0.01, 'p99'],
  [0.001, 'p99.9'],
  [0.0001, 'p99.99'],
]

/** Axis label for 10^e ns. */
function tickLabel(e) {
  if (e >= 6) return `${10 ** (e - 6)} ms`
  if (e >= 3) return `${10 ** (e - 3)} µs`
  return `${10 ** e} ns`
}

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])
}

/** CCDF points [ns, share slower] from HDR buckets [[ns, count], ...]. */
function ccdf(buckets) {
  const total = buckets.reduce((a, [, c]) => a + c, 0)
  const pts = []
  let above = total
  for (const [ns, c] of buckets) {
    above -= c
    pts.push([ns, above / total])
  }
  return pts
}

function panel(run, x0, y0, w, h, armNames, colorOf) {
  const yMin = 1e-5
  let lo = Infinity
  let hi = 0
  for (const name of armNames) {
    const a = run.arms[name]
    if (!a) continue
    lo = Math.min(lo, a.summary.min || 1)
    hi = Math.max(hi, a.summary.max || 1)
  }
  if (!Number.isFinite(lo)) return ''
  const lx0 = Math.floor(Math.log10(Math.max(1, lo)))
  const lx1 = Math.ceil(Math.log10(Math.max(hi, 10)))
  const X = (ns) => x0 + ((Math.log10(Math.max(ns, 1)) - lx0) / (lx1 - lx0)) * w
  const Y = (p) => y0 + (-Math.log10(Math.max(p, yMin)) / -Math.log10(yMin)) * h
  const out = []
  out.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="#fff" stroke="#999"/>`)
  out.push(`<text x="${x0 + w / 2}" y="${y0 - 8}" text-anchor="middle" font-size="14" font-weight="bold">${esc(run.condition)} / ${esc(run.access)}${run.gapNs ? ` / random arrivals (0–${run.gapNs} ns)` : ' / back to back'}</text>`)
  for (let e = lx0; e <= lx1; e++) {
    const x = X(10 ** e)
    out.push(`<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + h}" stroke="#eee"/>`)
    out.push(`<text x="${x}" y="${y0 + h + 14}" text-anchor="middle" font-size="11">${tickLabel(e)}</text>`)
  }
  for (const [p, label] of GUIDES) {
    const y = Y(p)
    out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + w}" y2="${y}" stroke="#ccc" stroke-dasharray="4 3"/>`)
    out.push(`<text x="${x0 - 4}" y="${y + 4}" text-anchor="end" font-size="11">${label}</text>`)
  }
  out.push(`<text x="${x0 + w / 2}" y="${y0 + h + 30}" text-anchor="middle" font-size="12">latency (log scale)</text>`)
  out.push(`<text x="${x0 - 42}" y="${y0 + h / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 - 42} ${y0 + h / 2})">share of reads slower (log)</text>`)
  for (const name of armNames) {
    const a = run.arms[name]
    if (!a || !a.summary.buckets || a.summary.buckets.length === 0) continue
    const pts = ccdf(a.summary.buckets)
    let d = `M${X(pts[0][0]).toFixed(1)},${Y(1).toFixed(1)}`
    for (const [ns, p] of pts) {
      if (p < yMin) {
        d += ` L${X(ns).toFixed(1)},${Y(yMin).toFixed(1)}`
        break
      }
      d += ` L${X(ns).toFixed(1)},${Y(p).toFixed(1)}`
    }
    const dash = a.upperBound ? ' stroke-dasharray="6 3"' : ''
    out.push(`<path d="${d}" fill="none" stroke="${colorOf(name)}" stroke-width="1.8"${dash}><title>${esc(name)}</title></path>`)
  }
  return out.join('\n')
}

/** The whole SVG for a benchmark result. */
function renderSvg(result) {
  const runs = result.runs
  const armNames = [...new Set(runs.flatMap((r) => Object.keys(r.arms)))]
  const colorOf = (name) => COLORS[armNames.indexOf(name) % COLORS.length]
  const pw = 560
  const ph = 340
  const cols = Math.min(2, runs.length)
  const rows = Math.ceil(runs.length / cols)
  const W = 90 + cols * (pw + 90)
  const legendH = 22 * Math.ceil(armNames.length / 3) + 20
  const headerH = 70
  const H = headerH + rows * (ph + 80) + legendH
  const out = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`)
  out.push(`<rect width="${W}" height="${H}" fill="#fafafa"/>`)
  out.push(`<text x="20" y="26" font-size="16" font-weight="bold">ultraslayer latency CCDF — ${esc(result.machine.cpuModel)} (${result.machine.cpuCount} cores allowed${result.machine.hypervisor ? ', VM' : ''})</text>`)
  out.push(`<text x="20" y="48" font-size="12">${esc(result.startedAt)} · slab ${esc(result.config.slots)} slots × ${esc(result.config.replicas)} replicas · ${esc(result.slabInfo.pageKind)} pages · ${esc(result.config.samples)} samples per arm${result.machine.sharedCores ? ' · hedged arms SHARE cores (not representative)' : ''}</text>`)
  runs.forEach((run, k) => {
    const cx = 90 + (k % cols) * (pw + 90)
    const cy = headerH + Math.floor(k / cols) * (ph + 80) + 20
    out.push(panel(run, cx, cy, pw, ph, armNames, colorOf))
  })
  const ly = headerH + rows * (ph + 80) + 10
  armNames.forEach((name, k) => {
    const x = 90 + (k % 3) * 330
    const y = ly + Math.floor(k / 3) * 22
    const upper = runs.some((r) => r.arms[name] && r.arms[name].upperBound)
    out.push(`<line x1="${x}" y1="${y}" x2="${x + 30}" y2="${y}" stroke="${colorOf(name)}" stroke-width="3"${upper ? ' stroke-dasharray="6 3"' : ''}/>`)
    out.push(`<text x="${x + 36}" y="${y + 4}" font-size="12">${esc(name)}${upper ? ' (upper bound, not delivered)' : ''}</text>`)
  })
  out.push('</svg>')
  return out.join('\n')
}

module.exports = { renderSvg, ccdf, esc }
