'use strict'
// Which channel offsets the benchmark uses: what `ultraslayer probe groups` recorded on this
// machine when it has been run, otherwise the library default (256 B) and 2048 B as the control.

const { probe } = require('..')

function recordedOffsets() {
  const rec = probe.recorded()
  const control = rec && rec.sameGroupOffset
    ? { value: rec.sameGroupOffset, source: `copies there always refreshed together per \`ultraslayer probe groups\` at ${rec.measuredAt}` }
    : { value: 2048, source: 'not measured: assumed to share a refresh group (run `npx ultraslayer probe groups`)' }
  if (rec && rec.recommendedChannelOffset) {
    return {
      main: { value: rec.recommendedChannelOffset, source: `measured by \`ultraslayer probe groups\` on ${rec.measuredAt}` },
      control,
    }
  }
  const main = rec
    ? { value: 256, source: `library default: \`ultraslayer probe groups\` (${rec.measuredAt}) found no offset whose copies refresh apart on this machine` }
    : { value: 256, source: 'library default; run `npx ultraslayer probe groups` to measure which offset hedges on this machine' }
  return { main, control }
}

module.exports = { recordedOffsets }
