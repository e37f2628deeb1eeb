'use strict'
// Which channel offsets the benchmark uses: what `ultraslayer probe groups` recorded on this
// machine when it has been run, otherwise the library default (256 B) and 2048 B as the control.

const { _internal } = require('..')

function recordedOffsets() {
  let rec = null
  try {
    rec = _internal.native._recordedGroups ? _internal.native._recordedGroups() : null
  } catch {
    rec = null
  }
  if (rec && rec.recommendedChannelOffset) {
    return {
      main: { value: rec.recommendedChannelOffset, source: `measured by \`ultraslayer probe groups\` on ${rec.measuredAt}` },
      control: rec.sameGroupOffset
        ? { value: rec.sameGroupOffset, source: `same refresh group per \`ultraslayer probe groups\` on ${rec.measuredAt}` }
        : { value: 2048, source: 'not measured: assumed' },
      steer: { value: rec.recommendedChannelOffset, source: `measured by \`ultraslayer probe groups\` on ${rec.measuredAt}` },
    }
  }
  return {
    main: { value: 256, source: 'library default; run `npx ultraslayer probe groups` to measure which offset hedges on this machine' },
    control: { value: 2048, source: 'not measured: assumed to share a refresh group (run `npx ultraslayer probe groups`)' },
    steer: { value: 64, source: 'not measured: address bit 6, the DDR5 sub-channel bit on Zen 4; calibration checks whether the copies stall apart' },
  }
}

module.exports = { recordedOffsets }
