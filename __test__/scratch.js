'use strict'
// Names the tests give what they put in /dev/shm, which every run on this machine shares: tagged
// with the run (USLAYER_TEST_RUN, set by scripts/test.js for `npm test`) and the test process, so
// that `npm test` can tell this run's leftovers from another run's files. Not a test file.

const RUN = process.env.USLAYER_TEST_RUN || 'solo'

/** A shared-segment name: `<prefix>-<tag>-<run>-<pid>-<n>`. */
let seq = 0
function segmentName(prefix, tag) {
  return `${prefix}-${tag}-${RUN}-${process.pid}-${seq++}`
}

module.exports = { RUN, segmentName }
