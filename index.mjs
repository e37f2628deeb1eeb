// ESM entry: the same class as the CommonJS entry (one native instance per process).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const cjs = require('./index.js')

export const Slayer = cjs.Slayer
export const Records = cjs.Records
export const probe = cjs.probe
export default cjs
