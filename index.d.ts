/*
 * Typings of what `require('ultraslayer')` / `import ... from 'ultraslayer'` gives: the JS classes of
 * index.js and records.js. Hand-written: the typings napi-rs generates (native.d.ts) describe the
 * internal native addon, not these classes. The reports (what info() and stats() return) are the
 * engine's report structs as they serialize (serde, camelCase) and are declared here too
 * (SlayerInfo, CopyPlacementInfo, PlacementFallback, SharedSegmentInfo, SlayerStats,
 * LatencyPercentiles, SteerStats, HugePagePlacement, BackgroundLearning); __test__/typings.test.js
 * checks that every public method of the JS classes, and every key of those reports, is declared
 * here.
 */
/* eslint-disable */

export type { RecordedGroups } from './native'

declare global {
  /**
   * `Symbol.dispose` (TC39 explicit resource management), which the typings below rely on. Declared
   * here so they compile for any target (lib es2022 lacks it); merges with the identical
   * declaration in lib esnext.disposable or @types/node (20 and 22 declare it themselves, 24
   * references lib esnext.disposable) when those are in use. At run time Node has had
   * `Symbol.dispose` since 20.4 (18.18).
   */
  interface SymbolConstructor {
    readonly dispose: unique symbol
  }
  /**
   * What `using x = new Slayer(…)` needs: tsc looks up this global type for every `using`
   * declaration (TS2318 "Cannot find global type 'Disposable'" without it under lib es2022).
   * Identical to, and merged with, the declaration in lib esnext.disposable and @types/node.
   */
  interface Disposable {
    [Symbol.dispose](): void
  }
}

/**
 * A verdict of the refresh analysis. 'Insufficient': too few slow reads to look for a period at all
 * (no periodogram, no chance baseline) — inconclusive for a flushed-read run, the clean outcome for
 * the cached-read control.
 */
export type PeriodVerdict = 'Periodic' | 'Weak' | 'None' | 'Insufficient'

/** One timed run of the refresh probe. */
export interface RefreshRun {
  kind: 'FixedLine' | 'RandomLines' | 'CachedControl'
  samples: number
  analysis: {
    verdict: PeriodVerdict
    /** Why, in words. */
    reason: string
    fundamental?: { periodNs: number; score: number } | null
    stallNs?: number
    spikesPerS: number
    /** The same score at shuffled spike times: how high chance reaches; null when the verdict is 'Insufficient'. */
    baseline: { shuffles: number; meanMax: number; stdMax: number; maxMax: number; z: number; pValue: number } | null
  } & Record<string, unknown>
}

export interface RefreshReport {
  fixed: RefreshRun
  random: RefreshRun
  control?: RefreshRun | null
  /**
   * The period of one line's stalls, when periodic and the cached-load control is clean; null when
   * the control is periodic too (the period may be the machine's, not DRAM's: `fixed.analysis`
   * still shows it).
   */
  refreshPeriodNs?: number | null
  /** The cached-load negative control showed no period (as it must); false: it did, see `summary`. */
  controlClean?: boolean | null
  summary: string
  /** Human-readable report. */
  text: string
}

export interface GroupsReport {
  periodNs: number
  groups: Array<{ index: number; offsetNs: number; spanNs: number; lines: number }>
  /**
   * Per address bit flipped: pairs whose stalls were both clear, pairs whose stall windows did not
   * overlap (`apart`: what placement and the recommendation go by), pairs in different phase
   * clusters (`different`: descriptive only), the mean phase distance and the mean clearance
   * between windows (periods; negative: overlapping).
   */
  bits: Array<{
    bit: number
    pairs: number
    apart: number
    different: number
    fractionDifferent: number
    meanDistanceCycles: number
    meanClearanceCycles: number
    withinPage: boolean
  }>
  /** Smallest channel offset whose copies' stall windows were always apart, or null. */
  recommendedOffset: number | null
  /** An offset whose copies' stall windows always overlapped (a control), or null. */
  sameGroupOffset: number | null
  note: string
  /** Where the result was recorded for `channelOffset: 'auto'`, when it was. */
  recordedAt?: string | null
  text: string
}

export interface PlacementReport {
  /** 'DifferentChannels' | 'SameChannel' | { CannotKnow: { reason } } */
  verdict: 'DifferentChannels' | 'SameChannel' | { CannotKnow: { reason: string } }
  text: string
  [key: string]: unknown
}

export interface MachineReport {
  cpuModel: string | null
  allowedCores: number[]
  hypervisor: boolean
  hypervisorVendor: string | null
  thpMode: string | null
  tscHz: number
  tscInvariant: boolean | null
  /** The counter the cycle clock reads. */
  clockSource: 'rdtsc' | 'cntvct_el0' | 'Instant'
  /** The smallest step the cycle clock was seen to take (ns): the finest interval a timed read resolves. */
  clockResolutionNs: number
  text: string
  [key: string]: unknown
}

/** Machine probes (the same as the `ultraslayer` CLI). */
export declare const probe: {
  /** CPU, cores and SMT siblings, hypervisor, NUMA, huge pages, THP, memlock limit, pagemap access, TSC. */
  machine(): MachineReport
  /** Finds the DRAM refresh period by timing flushed loads, against a chance baseline (≤ 60 s; default 3 s). */
  refresh(options?: { seconds?: number; onProgress?: (fraction: number) => void }): RefreshReport
  /** Finds which address bits put copies in different refresh groups, by timing; records the result unless record: false. */
  groups(options?: { seconds?: number; periodNs?: number; record?: boolean; onProgress?: (fraction: number) => void }): GroupsReport
  /** Where each replica's copies land under a channel model ('6' = address bit 6, or 'xor:MASK,MASK'). */
  placement(options?: { replicas?: number; channelOffset?: number; channelBits?: string; hugePages?: 'auto' | '1g' | '2m' | 'thp' | 'off' }): PlacementReport
  /** What the last `probe groups` recorded on this machine, or null. */
  recorded(): { recommendedChannelOffset?: number; sameGroupOffset?: number; periodNs?: number; measuredAt?: string; path: string } | null
}

/** What the slab got and how it runs: the engine's Info, serialized. */
export interface SlayerInfo {
  slots: number
  replicas: number
  channelOffset: number
  /** Where channelOffset came from: 'given', 'default', or what 'auto' found. */
  channelOffsetSource: string
  /** '1g' | '2m' | 'thp' | '4k': the page kind actually mapped. */
  pageKind: string
  pageSize: number
  mappedBytes: number
  /** With 'thp': bytes the kernel really backed with huge pages. */
  thpBytes: number
  locked: boolean
  /** Why an automatic lock did not happen. */
  lockError?: string
  /** Page kinds passed over, each with its reason. */
  pageFallbacks: Array<string>
  /** Core of each replica thread (chosen even when the strategy runs none). */
  cores: Array<number>
  /** Core each running thread reported from inside itself (-1 unknown); empty when stopped. */
  threadCpus: Array<number>
  /** Replica threads share cores with each other or the caller: correct, not fast. */
  sharedCores: boolean
  /**
   * How the replica threads' cores were chosen, when they had to share or the spin policy was
   * changed to keep a busy thread off the caller's core.
   */
  coresNote?: string
  spin: string
  idleUs: number
  running: boolean
  /** Cores this process may run on. */
  allowedCpus: Array<number>
  cpuCount: number
  recording: boolean
  /** 'hedge' | 'steer' | 'direct': the strategy reads use (never 'auto'). */
  strategy: string
  /** The strategy asked for ('auto' unless one was given). */
  strategyRequested: string
  /**
   * Why this strategy, in one sentence, e.g. "direct: hedge needs 3 free cores (2 replica
   * threads + the caller), 2 allowed; steering cannot help: …".
   */
  strategyReason: string
  /** Set when an explicitly asked-for strategy is expected to lose against reading directly. */
  strategyWarning?: string
  /** Where the copies of each slot went (see the `placement` option). */
  placement: CopyPlacementInfo
  /** For shared slabs (Slayer.create / Slayer.open): the segment. */
  shared?: SharedSegmentInfo
  /**
   * For a steered slab learned in the background (`placement: 'background'`): how far the
   * learning of its frames has come.
   */
  learning?: BackgroundLearning | null
}

/** Where the copies of each slot went. */
export interface CopyPlacementInfo {
  /** 'refresh-groups' (each replica on pages of its own refresh groups) | 'offset'. */
  kind: string
  /** Why refresh groups were not used, when they were tried and not had. */
  note?: string
  /**
   * Set when placement 'auto' tried to place the copies by refresh group, was refused, and put
   * them on an offset instead: what was tried, what the slab got, and the refusal's message.
   */
  fallback?: PlacementFallback
  /**
   * With placement on the slab's own (huge) pages ('huge-pages', or 'auto' for a hedged slab of
   * 2 MiB or more per replica): what was measured, what was inferred, and what it cost.
   */
  hugePages?: HugePagePlacement | null
  /**
   * In a process that opened a shared slab (Slayer.open) whose creator placed its copies by
   * refresh group: where the copies come from (the segment's frame table), in words.
   */
  fromSegment?: string
  /** With 'refresh-groups': one line's refresh period (ns) and how it was found. */
  periodNs?: number
  periodSource?: string
  /**
   * Refresh groups found: stall phase of each (ns after group 0), pages in each, and the
   * replica each group's pages serve.
   */
  groupOffsetsNs?: Array<number>
  groupPages?: Array<number>
  groupReplica?: Array<number>
  /** Smallest distance between two replicas' stalls, in ns. */
  separationNs?: number
  /** Pages in the slab, pages mapped to choose from, pages timed, pages with a clear group. */
  slabPages?: number
  poolPages?: number
  measuredPages?: number
  clearPages?: number
  /** Timed reads and time spent learning the groups. */
  reads?: number
  learnMs?: number
}

/** A refused placement the slab went on without (`info().placement.fallback`). */
export interface PlacementFallback {
  /** The placement tried: 'huge-pages' (on the slab's own pages) or 'refresh-groups' (single 4 KiB pages). */
  from: 'huge-pages' | 'refresh-groups'
  /** What the slab got instead: copies channelOffset bytes apart. */
  to: 'offset'
  /** Bytes between the copies the slab got (the same as info().channelOffset). */
  channelOffset: number
  /** The refusal, as the error would have said it (what was found and what to do). */
  reason: string
}

/** The named segment behind a shared slab. */
export interface SharedSegmentInfo {
  name: string
  /** The segment file. */
  path: string
  /** 'hugetlbfs' (huge pages) or 'shm' (/dev/shm, 4 KiB pages). */
  backing: 'hugetlbfs' | 'shm'
  pageSize: number
  creatorPid: number
  /** When the segment was created (ms since the Unix epoch). */
  createdUnixMs: number
  /** True in the process that created it. */
  createdHere: boolean
  /** Why the segment is not on huge pages, when it is not. */
  note?: string
}

/** What reads did since creation or the last resetStats(): the engine's Stats, serialized. */
export interface SlayerStats {
  /** Reads answered by a replica thread (a batch counts each slot). */
  hedged: number
  /** Reads served from copy 0 by the caller (strategy 'direct', or threads stopped). */
  direct: number
  /** Reads served by steering (strategy 'steer'). */
  steered: number
  /** Reads that found every thread parked, were served directly and woke the threads. */
  directWhileParked: number
  /** Reads no thread answered in time (descheduled), served directly. */
  directAfterTimeout: number
  /** Hedged wins per replica. */
  wins: number[]
  /** Per-read latency, when created with stats: true. */
  latency?: LatencyPercentiles
  /** The steering tracker's state (strategy 'steer'). */
  steer?: SteerStats
}

/** Latency percentiles in nanoseconds. */
export interface LatencyPercentiles {
  count: number
  min: number
  mean: number
  p50: number
  p90: number
  p99: number
  p999: number
  p9999: number
  max: number
}

/**
 * What the steering tracker knows (strategy 'steer'): `stats().steer`, the engine's SteerReport as
 * it serializes it. Shares are fractions (0..1).
 */
export interface SteerStats {
  state: 'calibrating' | 'locked' | 'no-signal'
  /** Timed reads, slow ones (> ~290 ns) and hypervisor-scale outliers (> 1 µs, not learned from). */
  reads: number
  slowReads: number
  outliers: number
  /** Reads steered while locked, and how many of them were slow. */
  steeredReads: number
  steeredSlow: number
  /**
   * Exploring reads (1 in 32 while locked reads the copies in turn, unsteered) and how many
   * were slow: a live unsteered baseline to hold steeredSlow / steeredReads against.
   */
  exploredReads: number
  exploredSlow: number
  /**
   * The same two pairs over a systematic sample of the locked reads: one read in 32 of every
   * read made, whether the schedule or a resync observed it. A resync observes every read for a
   * block just when the phase may be lost, which weighs steeredSlow / steeredReads toward those
   * moments; sampledSteeredSlow / sampledSteeredReads estimates the slow share over all steered
   * reads, the figure to hold against expectedSteeredShare.
   */
  sampledSteeredReads: number
  sampledSteeredSlow: number
  sampledExploredReads: number
  sampledExploredSlow: number
  /**
   * The sampled exploring reads that fell away from the stall window of the copy they read (a
   * bin where its learned profile is at or below its median), and the slow ones among them: the
   * floor of slow reads no steering avoids, measured while serving. On real hosts this floor
   * moves between minutes while the stall windows stay, so the steered share to expect now is
   * sampledQuietSlow / sampledQuietReads + stallExcessShare.
   */
  sampledQuietReads: number
  sampledQuietSlow: number
  /** Times steered reads were found slower than exploring ones (the tracker calibrated again). */
  notHelping: number
  /** Slow share over the last completed window. */
  windowSlowShare: number
  /** Phase jumps followed (the slow share rose and another phase explained the reads). */
  reacquisitions: number
  /** Times every read was observed for a block to find a moved phase quickly: after a pause between reads (over 50 ms) or a run of slow steered reads. */
  resyncs: number
  calibrations: number
  /** Drift corrections (one phase bin) and period corrections made while locked. */
  driftSteps: number
  periodUpdates: number
  /** Current phase offset, as a fraction of the period (0..1). */
  phaseOffset: number
  /** Refresh period the tracker follows, in ns. */
  periodNs: number
  /** Per copy: highest minus lowest smoothed slow probability across the period's bins. */
  contrast: number[]
  /** Per copy: chi-square z-score of its slow counts across bins (chance is about 0). */
  signalZ: number[]
  /** How far apart the copies' stalls are, as a fraction of the period (0.5 = opposite). */
  stallDistance: number
  /** Whether the copies stall apart (if not, steering reads a fixed copy: no gain possible). */
  copiesApart: boolean
  /** A read slower than this (ns) counts as slow in every share and count here. */
  slowNs: number
  /** Slow share the learned profiles predict with steering and without. */
  expectedSteeredShare: number
  expectedUnsteeredShare: number
  /** expectedSteeredShare split: the floor calibration saw (slow reads away from any stall window) and the stall excess over it. */
  floorShare: number
  stallExcessShare: number
  /**
   * The reads are cache-resident now (nearly every timed read was a cache hit, so there is no
   * refresh stall to steer around): copy 0 is read, untimed, until the tracker looks again.
   */
  resident: boolean
  /** Cache-resident spells found, and reads served by copy 0 during them. */
  residentSpells: number
  residentReads: number
}

/** How far the background learning of a steered slab's frames has come (info().learning). */
export interface BackgroundLearning {
  /** Frames of the slab (4 KiB each), learned so far, and of those not steerable (read from copy 0). */
  framesTotal: number
  framesLearned: number
  framesUnsteerable: number
  /** Every frame learned (the learner then only audits a few now and then), or the learner stopped (`stopped` says why). */
  done: boolean
  /** Why the learner stopped without learning the frames (null while it runs or once every frame is learned): its own structure sample, taken when the slab was laid out by what an earlier sample this boot found, no longer showed that split. The slab then reads copy 0. */
  stopped: string | null
  /** Once every frame is known, the learner re-times a few learned frames every 10 s (audits), or sooner when the slab's reader finds steering falling short of its prediction (auditsRequested, at most one a second); when a third of them come out the other way round, it samples the structure afresh and learns every frame again, hot first (relearnings). */
  audits: number
  auditsRequested: number
  relearnings: number
  /** Frames the audits compared (steerable when learned and when re-timed) and of them those that came out the other way round: on a host that did not change, about twice the share of frames one timing misjudges. */
  auditCompared: number
  auditFlipped: number
  linesTimed: number
  /** Milliseconds since learning started and of CPU time the learning thread used; their ratio, and the duty cycle it keeps to. */
  elapsedMs: number
  cpuMs: number
  cpuShare: number
  duty: number
  framesPerSecond: number
  /** Of the reads since the last info(), the share whose frame was learned and steerable (null with no reads). */
  hotCoverage: number | null
}

/** What placement on the slab's own (huge) pages measured, inferred and cost (info().placement.hugePages). */
export interface HugePagePlacement {
  /** 'within-frame' (copies channelOffset apart: a low address bit separates groups in every frame), 'paired' (copies in the two lines of a pair, a table choosing per frame which is copy 0, so copy r is in group r everywhere: what steering needs there) or 'frames' (a frame table: whole frames share a group). */
  layout: 'within-frame' | 'paired' | 'frames' | 'background'
  /** How stalls fell on addresses in the sample: a bit that moves a line's stall window clear of its partner's in at least 90% of the sampled frames ('withinFrame': the share of pairs apart, and their mean phase distance in periods), lines of a frame stalling together ('wholeFrame'), neither ('mixed'), or too few clear lines to tell ('unclear'). */
  structure:
    | { kind: 'withinFrame'; bit: number; agreement: number; distance: number }
    | { kind: 'wholeFrame' | 'mixed'; agreement: number }
    | { kind: 'unclear'; clear: number; sampled: number }
  /** What flipping each sampled address bit (6 to 11) did: pairs with both stalls clear, pairs whose stall windows did not overlap, the mean distance between their phases and the mean clearance between their windows (both in periods; a negative clearance: overlapping). */
  bits: Array<{ bit: number; pairs: number; apart: number; meanDistance: number; meanClearance: number }>
  /** Where `structure` comes from: 'sampled at creation', or, for a slab learned in the background, what an earlier sample this boot found (its learner samples again before its first frame; `bits` is then empty). */
  structureSource: string
  channelOffset: number
  /** 'paired': half the width of the arc of the period copy 0 stalls in (ns), around the first of groupOffsetsNs; copy 1 stalls outside it. Null for other layouts. */
  arcHalfNs?: number | null
  periodNs: number
  periodSource: string
  /** Frames mapped, used, timed, inferred from the repeating pattern, and left unused. */
  framesPool: number
  framesUsed: number
  framesTimed: number
  framesInferred: number
  framesUnused: number
  /** Slots whose copies were timed after placement, how many showed every copy's stall (a weak refresh signal leaves some unclear), and how many had their copies' stall windows apart (not overlapping); placement is refused unless at least 4 were clear and 90% of those apart. */
  copiesChecked: number
  copiesClear: number
  copiesApart: number
  /** Milliseconds mapping, measuring the period, learning; in all; and per GiB of slab. */
  mapMs: number
  periodMs: number
  learnMs: number
  totalMs: number
  msPerGib: number
  /** Bytes of the frame table (0 for 'within-frame'). */
  tableBytes: number
  [more: string]: unknown
}

/**
 * A record field's type; every field is one 64-bit word. 'f64', and the integer types 'u32' (0 to
 * 2^32 - 1), 'i32' (-2^31 to 2^31 - 1) and 'int53' (±(2^53 - 1), every integer a number holds
 * exactly) read as numbers; 'u64' and 'i64' (two's complement) as bigints. The integer types are the
 * u64/i64 word of their value, so other front ends (Rust, C) read them as such.
 */
export type RecordFieldType = 'f64' | 'u64' | 'i64' | 'u32' | 'i32' | 'int53'
/** A record schema: field names to types, 1 to 7 fields, in storage order. */
export type RecordSchema = Record<string, RecordFieldType>
/**
 * What a field of type `T` reads as: 'u64' and 'i64' a bigint, every other type a number. It
 * distributes over a union, so a field whose type is not known (`RecordFieldType`) is `number | bigint`.
 */
export type RecordFieldValue<T extends RecordFieldType> = T extends 'u64' | 'i64' ? bigint : number
/**
 * The typed arrays `readColumns` fills for a field of type `T`: the field's own type bit for bit
 * (Float64Array, BigUint64Array, BigInt64Array, Uint32Array, Int32Array), or a Float64Array of
 * numbers (a u64/i64 beyond 2^53 is the nearest one).
 */
export type RecordColumn<T extends RecordFieldType> = T extends 'f64' | 'int53'
  ? Float64Array
  : T extends 'u64'
    ? BigUint64Array | Float64Array
    : T extends 'i64'
      ? BigInt64Array | Float64Array
      : T extends 'u32'
        ? Uint32Array | Float64Array
        : Int32Array | Float64Array
/** `readColumns`' second argument: some of the fields (at least one), each with its column. */
export type RecordColumns<S extends RecordSchema> = { [K in keyof S]?: RecordColumn<S[K]> }
/**
 * One record's values, typed by its schema. For an unstated schema (`RecordSchema`, the default of
 * `Records.open`), every field is `number | bigint`: what it can be at run time.
 */
export type RecordValue<S extends RecordSchema> = { [K in keyof S]: RecordFieldValue<S[K]> }

/** A reusable snapshot: `load(i)` reads record i (one consistent copy), then a getter per field. */
export type RecordSnapshot<S extends RecordSchema> = Readonly<RecordValue<S>> & {
  /**
   * Reads record `index` into this snapshot (one consistent copy) and returns it: in JS while the
   * store's reads are direct (`info().readPath === 'js'`), else with one native call.
   */
  load(index: number): RecordSnapshot<S>
  /** The index last loaded, or -1. */
  readonly index: number
  /** The loaded record as a new plain object. */
  toObject(): RecordValue<S>
}

/** `new Records(options)`: the Slayer options (except `slots`), plus the record count and schema. */
export type RecordsOptions<S extends RecordSchema> = Omit<SlayerOptions, 'slots'> & {
  /** Records in the store (1 to 2^29); each takes 8 slots (one 64-byte line) per replica. */
  count: number
  /** Field names (identifiers, not `load`, `index`, `toObject`, `toJSON` or an Object.prototype name) to types. */
  fields: S
}

/** `Records.create(options)`: a named shared record segment other processes can open. */
export type RecordsCreateOptions<S extends RecordSchema> = Omit<RecordsOptions<S>, 'placement' | 'placementBudgetMs' | 'strategy'> & {
  name: string
  /** Replace an existing segment of that name (default false). */
  overwrite?: boolean
  /** As for a shared Slayer: shared records are hedged or read directly, never steered. */
  strategy?: 'auto' | 'hedge' | 'direct'
}

/** `Records.open(name, options)`: this process's threads, and what it expects of the segment. */
export type RecordsOpenOptions<S extends RecordSchema> = Omit<SharedOpenOptions, 'slots'> & {
  /** Refuse the segment unless its schema is exactly this one (same names, types and order). */
  fields?: S
  /** Refuse the segment unless it holds this many records. */
  count?: number
}

/** `Records.info()`: the slab's info plus what the record store adds. */
export type RecordsInfo<S extends RecordSchema> = SlayerInfo & {
  count: number
  fields: Readonly<S>
  /** Bytes per record in `readMany` output (8 per field). */
  recordBytes: number
  /** Records whose copies this process's writer repaired when it took the segment's writer lock. */
  repaired: number
  /** True once this process holds the shared segment's writer lock (it has written). */
  writerLocked: boolean
  /**
   * 'js' while snapshots and `readColumns` read copy 0 from JS, checking each record's sequence
   * word there (strategy 'direct', or a hedged store with its threads stopped; local or shared),
   * 'native' while each read is a native call (hedged threads running, steering, latency recorded).
   */
  readPath: 'js' | 'native'
}

/** Progress of an asynchronous creation (`Slayer.create`, `Records.create`). */
export interface CreationProgress {
  /** The step running: mapping, pre-faulting, measuring the refresh period, placing the copies, checking them, calibrating steering, starting threads. */
  phase: 'map' | 'prefault' | 'period' | 'place' | 'check' | 'calibrate' | 'start'
  /** How far the step is, in `unit`; never decreases within a step. */
  done: number
  /** The step's size, in `unit` (for 'place', 'check' and 'calibrate' the time allowed, which it may not need). */
  total: number
  unit: 'bytes' | 'ms' | 'threads'
}

/**
 * An `AbortSignal` (from an `AbortController`, or `AbortSignal.timeout(ms)`), described by the two
 * members these typings need, so they compile without the DOM or Node's types; at run time it
 * must be a real AbortSignal.
 */
export interface AbortSignalLike {
  readonly aborted: boolean
  readonly reason?: unknown
}

/** How an asynchronous creation is watched and stopped. */
export interface CreationControl {
  /**
   * Stops the creation: it frees every byte and thread it made and rejects with a DOMException
   * named 'AbortError' whose `cause` is the signal's reason (as `fetch` and `fs` do).
   */
  signal?: AbortSignalLike
  /** Called on the event loop as the work goes on: on each step, and at least once a second while one runs. A throw stops the creation, which rejects with it. */
  onProgress?: (progress: CreationProgress) => void
}

/**
 * Records: a fixed schema of up to 7 named 64-bit fields, each record one 64-byte cache line in
 * every replica, read in one call as one consistent snapshot (hedged, steered or direct as one unit).
 * One writer at a time: within a process writes are serialized; across processes the first write
 * takes the segment's writer lock (another writing process gets ERR_ULTRASLAYER_WRITER_BUSY).
 */
export declare class Records<S extends RecordSchema = RecordSchema> {
  constructor(options: RecordsOptions<S>)
  readonly count: number
  readonly fields: Readonly<S>
  readonly recordBytes: number
  readonly replicas: number
  readonly closed: boolean
  /** Record `index` as a new object: one consistent snapshot. */
  read(index: number): RecordValue<S>
  /** A reusable snapshot, allocation-free for number fields (a getter per field; assigning one throws in strict code). */
  snapshot(): RecordSnapshot<S>
  /** Reads `indices.length` records into `out` (≥ indices.length × recordBytes bytes), field words in schema order. */
  readMany(indices: Uint32Array, out: ArrayBuffer): void
  /**
   * Reads records `indices` into one typed array per field named in `columns` (element r of each
   * gets record `indices[r]`'s field, each record one consistent snapshot; every array at least
   * `indices.length` long). Everything is checked before anything is read.
   */
  readColumns(indices: Uint32Array, columns: RecordColumns<S>): void
  /**
   * Stores every field of `record` in every copy of record `index`; a missing, unknown or mistyped
   * field throws (a TypeError), a value outside its type's range too (a RangeError naming field and
   * range), and nothing is written.
   */
  write(index: number, record: RecordValue<S>): void
  info(): RecordsInfo<S>
  stats(): SlayerStats
  resetStats(): void
  start(): void
  stop(): void
  /** As Slayer.setLearnDutyPercent, for a steered store learned in the background. */
  setLearnDutyPercent(percent: number): boolean
  /** Makes every record's copies agree now; returns how many records were rewritten. */
  repair(): number
  close(): void
  [Symbol.dispose](): void
  /**
   * Makes a record store off the event loop: local (like `new Records`) without `name`, a named
   * shared segment with it. Resolves when it is ready; see `CreationControl` for `signal` and
   * `onProgress`.
   */
  static create<S extends RecordSchema>(options: RecordsOptions<S> | RecordsCreateOptions<S>, control?: CreationControl): Promise<Records<S>>
  /** `Records.create`, blocking the calling thread until the store is ready. */
  static createSync<S extends RecordSchema>(options: RecordsOptions<S> | RecordsCreateOptions<S>): Records<S>
  /**
   * Opens the shared records `name` that another process created. The schema types the results:
   * give `fields` (checked against the segment: another schema throws, naming both), or state it
   * as the type parameter, `Records.open<{ bid: 'f64'; qty: 'u64' }>(name)` (a claim tsc takes
   * and nothing checks at run time: `info().fields` is the segment's own). With neither, every field
   * is `number | bigint`.
   */
  static open<S extends RecordSchema = RecordSchema>(name: string, options?: RecordsOpenOptions<S>): Records<S>
  static unlink(name: string): boolean
}

/** How this process's replica threads run: the options `new Slayer`, `Slayer.create` and `Slayer.open` share. */
export interface ThreadOptions {
  /** mlock the slab (this process's mapping). Left out: try, and report a refusal in info(); true: a refusal is an error. */
  lock?: boolean
  /** One core per replica thread; default: chosen from the allowed set, avoiding the caller's core. */
  cores?: Array<number>
  /**
   * How replica threads wait: 'hybrid' (default: spin, yield, park after idleUs, so no core
   * burns while the slab is idle), 'busy' (a full core each, always; never on the caller's core
   * unless `cores` names it), 'sleep' (park when idle; reads that find them parked are served
   * directly).
   */
  spin?: 'busy' | 'hybrid' | 'sleep'
  /** Idle microseconds before 'hybrid'/'sleep' threads park (defaults 2000 / 0). */
  idleUs?: number
  /** Start the replica threads now (default true; hedged slabs). */
  start?: boolean
  /** Record per-read latency into a histogram (default false). */
  stats?: boolean
}

/** Options of `new Slayer(options)`. */
export interface SlayerOptions extends ThreadOptions {
  /** 64-bit slots per replica (1 to 2^32). Every index below it is valid, none beyond. */
  slots: number
  /** Copies of every slot, each read by its own thread: 2 to 8 (default 2). */
  replicas?: number
  /**
   * Bytes between the copies of one slot: a power of two from 64 (default 256; 64 for a slab
   * that steers), or 'auto': what `ultraslayer probe groups` measured on this machine (falls
   * back to the default, and info().channelOffsetSource says so).
   */
  channelOffset?: number | 'auto'
  /**
   * Page source: 'auto' (default) tries 1 GiB, 2 MiB, transparent, then 4 KiB pages; the others
   * ask for exactly one kind and fail with how to reserve it.
   */
  hugePages?: 'auto' | '1g' | '2m' | 'thp' | 'off'
  /**
   * How reads are served: 'auto' (default) hedges when every replica thread can have an allowed
   * core of its own besides the caller's, else reads directly through a typed-array view of copy 0
   * (never steers: a steered read is a native call with a clock read in it, slower at the median)
   * — info().strategy says what was chosen, info().strategyReason why.
   * 'hedge' (replica threads race, N cores), 'steer' (the calling thread predicts which copy is
   * not refreshing and reads only that one; no threads; calibrates for up to 300 ms at
   * construction), 'direct' (copy 0, no threads) are honoured as asked, with
   * info().strategyWarning when expected to lose.
   */
  strategy?: 'auto' | 'hedge' | 'steer' | 'direct'
  /**
   * Where the copies go. 'huge-pages': learn the DRAM refresh groups of the slab's own pages
   * (huge pages included, any size) by timing: copies split by a low address bit where one
   * separates groups in every 4 KiB frame, else frames chosen by group through a small table
   * (info().placement.hugePages says what was timed and inferred). 'refresh-groups': the same by
   * moving single 4 KiB pages into place (a 300 ms period measurement, then up to
   * placementBudgetMs; throws when it cannot be had). 'offset': copies channelOffset bytes
   * apart. 'auto' (default): 'huge-pages' for a slab that may steer and for a hedged slab of
   * 2 MiB or more per replica, unless channelOffset is given; when that placement is refused,
   * falling back to 'offset' (the default channelOffset) with the refusal in
   * info().placement.fallback ({ from, to, channelOffset, reason }) and info().placement.note;
   * 'offset' otherwise. 'background' (strategy 'steer', 2 replicas): the slab serves at once,
   * its copies split by the address bit that splits every frame here, and a thread of its own
   * learns each 4 KiB frame's orientation while it serves (hot frames first, at a quarter of one
   * core), each frame steered once learned (info().learning); with strategy 'steer', 'auto'
   * does this when placing up front is projected to take over the budget.
   */
  placement?: 'auto' | 'refresh-groups' | 'huge-pages' | 'background' | 'offset'
  /**
   * Time refresh-group placement may spend learning pages (default 3000 ms). 0 refuses that
   * placement at once, before anything is timed: 'auto' then puts the copies on an offset (see
   * info().placement.fallback); an explicit 'huge-pages' or 'refresh-groups' throws.
   */
  placementBudgetMs?: number
  /**
   * For a slab whose frames are learned in the background (placement 'background', or 'auto' of
   * a 'steer' slab over budget): the share of one core, in percent (1 to 100, default 25), its
   * learning thread keeps busy while the slab is being read; info().learning.duty says what
   * was asked. While nothing reads the slab (between two of the learner's pauses), it runs at
   * twice that, at most 50% (never less than asked): there is no read to slow down, and a slab
   * created and not yet read is learned twice as fast. On two vCPUs the thread shares a core
   * with the caller some of the time: the default is what cost the requester nothing
   * measurable (docs/steering.md). setLearnDutyPercent() changes it later.
   */
  learnDutyPercent?: number
}

/** Options of `Slayer.create(options)`: a named slab other processes can open. */
export interface SharedCreateOptions extends ThreadOptions {
  /** Segment name: 1 to 200 characters from A-Z a-z 0-9 . _ - (not starting with '.'). */
  name: string
  /**
   * Replace an existing segment of that name (default false: refuse). Processes that have the
   * old one open keep it; new opens get the new one.
   */
  overwrite?: boolean
  /** 64-bit slots per replica (1 to 2^32). */
  slots: number
  /** Copies of every slot: 2 to 8 (default 2). */
  replicas?: number
  /** Bytes between the copies of one slot: a power of two from 64 (default 256). */
  channelOffset?: number
  /**
   * 'auto' (default): a hugetlbfs mount when one has free pages, else /dev/shm (info().shared.note
   * says why); '2m' / '1g': a hugetlbfs mount of that page size or an error; 'off': /dev/shm.
   */
  hugePages?: 'auto' | '1g' | '2m' | 'off'
  /**
   * 'auto' (default: hedge when every replica thread gets a core besides the caller's, else
   * read directly), 'hedge' or 'direct'. Shared slabs are never steered.
   */
  strategy?: 'auto' | 'hedge' | 'direct'
  /**
   * 'auto' (default: 'huge-pages' for a hedged slab of 2 MiB or more per replica, else
   * 'offset'), 'huge-pages' (copies placed by refresh group, recorded in the segment so every
   * process that opens it agrees) or 'offset'.
   */
  placement?: 'auto' | 'huge-pages' | 'offset'
}

/** Options of `Slayer.open(name, options)`: this process's threads, and what it expects. */
export interface SharedOpenOptions extends ThreadOptions {
  /** Refuse the segment unless it has this many slots. */
  slots?: number
  /** Refuse the segment unless it has this many replicas. */
  replicas?: number
  /** Refuse the segment unless its copies are this many bytes apart. */
  channelOffset?: number
  /** Milliseconds to wait for a segment another process is still creating (default 1000). */
  waitMs?: number
  /** 'auto' (default), 'hedge' or 'direct', as for Slayer.create. */
  strategy?: 'auto' | 'hedge' | 'direct'
}

/** A mirrored slab of 64-bit slots with replica threads racing to read every copy (or steered, or read directly: see `strategy`). */
export declare class Slayer {
  /**
   * Maps and pre-faults the slab, chooses the read strategy (see `strategy`), and for a hedged
   * slab (unless `start: false`) starts one pinned thread per replica — on the calling thread,
   * which it blocks meanwhile: seconds for a large slab, more when its copies are placed by
   * timing. `await Slayer.create(options)` does the same work off the event loop.
   */
  constructor(options: SlayerOptions)
  /**
   * Makes a slab off the event loop, and resolves when it is ready: mapping, pre-faulting,
   * placement, calibration and starting threads run on a worker thread. Without `name` it is the
   * slab `new Slayer(options)` makes; with `name`, the named shared slab `options.name` (a 0600
   * file on hugetlbfs or in /dev/shm; an existing name is refused unless `overwrite: true`; the
   * segment outlives this process until `Slayer.unlink(name)`; each slot is read and written as
   * one whole 8-byte value, with no multi-slot atomicity). See `CreationControl` for `signal`
   * (abort) and `onProgress`.
   */
  static create(options: SlayerOptions | SharedCreateOptions, control?: CreationControl): Promise<Slayer>
  /** `Slayer.create`, blocking the calling thread until the slab is ready (for a large slab, seconds). */
  static createSync(options: SlayerOptions | SharedCreateOptions): Slayer
  /**
   * Opens the shared slab `name` that another process created, after validating its header,
   * and, when the strategy hedges, starts this process's own replica threads (own cores, spin
   * policy and stats) over it.
   */
  static open(name: string, options?: SharedOpenOptions | undefined | null): Slayer
  /**
   * Removes the shared slab `name`; returns false when there was none. Processes that have it
   * open keep using it; its memory is freed when the last one closes.
   */
  static unlink(name: string): boolean
  /** 64-bit slots per replica. */
  get slots(): number
  /** Copies of every slot. */
  get replicas(): number
  /** Reads slot `index` as an unsigned 64-bit BigInt (hedged when threads run). */
  readU64(index: number): bigint
  /** Stores `value` (0 ≤ value < 2^64) in every replica of slot `index`; returns once all hold it. */
  writeU64(index: number, value: bigint): void
  /** Reads slot `index` as a float64 (the slot's 64 bits, bit-exact). */
  readF64(index: number): number
  /** Stores the bits of `value` in every replica of slot `index` (NaN payloads and -0 survive). */
  writeF64(index: number, value: number): void
  /** Reads `indices.length` slots into `out` (same length); equal to reading them one by one. */
  readManyU64(indices: Uint32Array, out: BigUint64Array): void
  /** Reads `indices.length` slots into `out` as float64 (bit-exact). */
  readManyF64(indices: Uint32Array, out: Float64Array): void
  /** Writes `values[k]` to slot `indices[k]`; every index is checked before anything is stored. */
  writeManyU64(indices: Uint32Array, values: BigUint64Array): void
  /** Writes the bits of `values[k]` to slot `indices[k]`; all indices checked first. */
  writeManyF64(indices: Uint32Array, values: Float64Array): void
  /** What was mapped (page kind and size, bytes, locked), where the threads run, and how. */
  info(): SlayerInfo
  /** Read counters, wins per replica and (with stats: true) latency percentiles. */
  stats(): SlayerStats
  /** Zeroes the counters and the latency histogram. */
  resetStats(): void
  /** Starts the replica threads (no-op when running). */
  start(): void
  /** Stops and joins the replica threads; reads keep working, from one copy. */
  stop(): void
  /**
   * The share of one core, in percent (an integer from 1 to 100), that the thread learning this
   * slab's frames in the background keeps busy (see `learnDutyPercent`), e.g. 100 while the
   * service has not started serving and back to 25 before it does. Takes effect at once. Returns
   * false, changing nothing, when no frame is being learned in the background (a slab placed up
   * front or not steered, or one whose frames are all learned). TypeError for a non-integer,
   * RangeError outside 1 to 100.
   */
  setLearnDutyPercent(percent: number): boolean
  /** Stops the threads and unmaps the slab. Idempotent; any other call afterwards throws. */
  close(): void
  /** True once close() has run. */
  get closed(): boolean
  /** Same as close(), for `using`. */
  [Symbol.dispose](): void
}
