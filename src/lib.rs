//! The Node binding: translates JS values to engine calls and engine errors to JS exceptions.
//!
//! Holds no logic of its own. The per-read hot path lives in `fast` (raw N-API functions driven
//! through a scratch buffer by the JS wrapper in index.js); everything else is napi-rs glue whose
//! doc comments generate native.d.ts (internal: users get index.d.ts, which re-exports the report
//! types from it).

// The C ABI's `us_*` exports, linked in so the `.node` file is the C library too (docs/c-abi.md).
extern crate ultraslayer_capi;

#[cfg(feature = "bench")]
mod bench;
#[cfg(feature = "bench")]
mod bench_raw;
mod create;
mod errors;
mod fast;
mod options;
mod probe;
mod records;
mod view;

use std::cell::{Cell, UnsafeCell};
use std::rc::Rc;

use napi::bindgen_prelude::*;
use napi::{Env, JsValue};
use napi_derive::napi;

use errors::{closed, to_napi, CLOSED};
use options::{open_options, slab_options, JsOptions};
use ultraslayer::error::{spell, Error, Front};

/// Per-Slayer native state, shared by the class object and its raw fast-path functions.
///
/// Lives on the JS thread that created it: every access comes from a call on that thread, and no
/// engine call re-enters JS, so there is never more than one borrow of `engine` at a time.
pub(crate) struct Instance {
    engine: UnsafeCell<Option<ultraslayer::Slayer>>,
    scratch: Cell<*mut u64>,
    /// The direct view's buffer (see `view`), weakly; null when there is none.
    view: view::ViewRef,
}

impl Instance {
    /// The engine, or None once closed.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    pub(crate) fn engine(&self) -> Option<&mut ultraslayer::Slayer> {
        // SAFETY: see the type's docs: single JS thread, no re-entrancy, so this is the only live
        // borrow for the duration of the call that asked for it.
        unsafe { (*self.engine.get()).as_mut() }
    }
    #[inline(always)]
    pub(crate) fn scratch(&self) -> *mut u64 {
        self.scratch.get()
    }
    pub(crate) fn set_scratch(&self, p: *mut u64) {
        self.scratch.set(p)
    }
    pub(crate) fn view_ref(&self) -> &view::ViewRef {
        &self.view
    }
    fn close(&self, env: &Env) {
        // SAFETY: env is this call's, on the thread that owns the instance. The view goes first:
        // JS must never read memory the engine is about to unmap.
        unsafe { view::detach(env.raw(), &self.view) };
        // SAFETY: as in `engine`; dropping the engine stops and joins its threads and unmaps.
        unsafe { *self.engine.get() = None };
    }
}

/// The named segment behind a shared slab.
#[napi(object)]
pub struct SharedSegmentInfo {
    pub name: String,
    /// The segment file.
    pub path: String,
    /// 'hugetlbfs' (huge pages) or 'shm' (/dev/shm, 4 KiB pages).
    #[napi(ts_type = "'hugetlbfs' | 'shm'")]
    pub backing: String,
    pub page_size: f64,
    pub creator_pid: u32,
    /// When the segment was created (ms since the Unix epoch).
    pub created_unix_ms: f64,
    /// True in the process that created it.
    pub created_here: bool,
    /// Why the segment is not on huge pages, when it is not.
    pub note: Option<String>,
}

/// What the slab got and how it runs.
#[napi(object)]
pub struct SlayerInfo {
    pub slots: f64,
    pub replicas: u32,
    pub channel_offset: f64,
    /// Where channelOffset came from: 'given', 'default', or what 'auto' found.
    pub channel_offset_source: String,
    /// '1g' | '2m' | 'thp' | '4k': the page kind actually mapped.
    pub page_kind: String,
    pub page_size: f64,
    pub mapped_bytes: f64,
    /// With 'thp': bytes the kernel really backed with huge pages.
    pub thp_bytes: f64,
    pub locked: bool,
    /// Why an automatic lock did not happen.
    pub lock_error: Option<String>,
    /// Page kinds passed over, each with its reason.
    pub page_fallbacks: Vec<String>,
    /// Core of each replica thread (chosen even when the strategy runs none).
    pub cores: Vec<u32>,
    /// Core each running thread reported from inside itself (-1 unknown); empty when stopped.
    pub thread_cpus: Vec<i32>,
    /// Replica threads share cores with each other or the caller: correct, not fast.
    pub shared_cores: bool,
    /// How the replica threads' cores were chosen, when they had to share or the spin policy was
    /// changed to keep a busy thread off the caller's core.
    pub cores_note: Option<String>,
    pub spin: String,
    pub idle_us: f64,
    pub running: bool,
    /// Cores this process may run on.
    pub allowed_cpus: Vec<u32>,
    pub cpu_count: u32,
    pub recording: bool,
    /// 'hedge' | 'steer' | 'direct': the strategy reads use (never 'auto').
    pub strategy: String,
    /// The strategy asked for ('auto' unless one was given).
    pub strategy_requested: String,
    /// Why this strategy, in one sentence, e.g. "direct: hedge needs 3 free cores (2 replica
    /// threads + the caller), 2 allowed; steering cannot help: …".
    pub strategy_reason: String,
    /// Set when an explicitly asked-for strategy is expected to lose against reading directly.
    pub strategy_warning: Option<String>,
    /// Where the copies of each slot went (see the `placement` option).
    pub placement: CopyPlacementInfo,
    /// For shared slabs (Slayer.create / Slayer.open): the segment.
    pub shared: Option<SharedSegmentInfo>,
    /// For a steered slab learned in the background (`placement: 'background'`): how far the
    /// learning of its frames has come.
    #[napi(ts_type = "BackgroundLearning | null")]
    pub learning: Option<serde_json::Value>,
}

/// Where the copies of each slot went.
#[napi(object)]
pub struct CopyPlacementInfo {
    /// 'refresh-groups' (each replica on pages of its own refresh groups) | 'offset'.
    pub kind: String,
    /// Why refresh groups were not used, when they were tried and not had.
    pub note: Option<String>,
    /// Set when placement 'auto' tried to place the copies by refresh group, was refused, and put
    /// them on an offset instead: what was tried, what the slab got, and the refusal's message.
    pub fallback: Option<PlacementFallback>,
    /// With placement on the slab's own (huge) pages ('huge-pages', or 'auto' for a hedged slab of
    /// 2 MiB or more per replica): what was measured, what was inferred, and what it cost.
    #[napi(ts_type = "HugePagePlacement | null")]
    pub huge_pages: Option<serde_json::Value>,
    /// In a process that opened a shared slab (Slayer.open) whose creator placed its copies by
    /// refresh group: where the copies come from (the segment's frame table), in words.
    pub from_segment: Option<String>,
    /// With 'refresh-groups': one line's refresh period (ns) and how it was found.
    pub period_ns: Option<f64>,
    pub period_source: Option<String>,
    /// Refresh groups found: stall phase of each (ns after group 0), pages in each, and the
    /// replica each group's pages serve.
    pub group_offsets_ns: Option<Vec<f64>>,
    pub group_pages: Option<Vec<f64>>,
    pub group_replica: Option<Vec<u32>>,
    /// Smallest distance between two replicas' stalls, in ns.
    pub separation_ns: Option<f64>,
    /// Pages in the slab, pages mapped to choose from, pages timed, pages with a clear group.
    pub slab_pages: Option<f64>,
    pub pool_pages: Option<f64>,
    pub measured_pages: Option<f64>,
    pub clear_pages: Option<f64>,
    /// Timed reads and time spent learning the groups.
    pub reads: Option<f64>,
    pub learn_ms: Option<f64>,
}

/// A refused placement the slab went on without (`info().placement.fallback`).
#[napi(object)]
pub struct PlacementFallback {
    /// The placement tried: 'huge-pages' (on the slab's own pages) or 'refresh-groups' (single 4 KiB pages).
    #[napi(ts_type = "'huge-pages' | 'refresh-groups'")]
    pub from: String,
    /// What the slab got instead: copies channelOffset bytes apart.
    #[napi(ts_type = "'offset'")]
    pub to: String,
    /// Bytes between the copies the slab got (the same as info().channelOffset).
    pub channel_offset: f64,
    /// The refusal, as the error would have said it (what was found and what to do).
    pub reason: String,
}

/// An engine report as a JS object: its serde form with every integer made a JS number (napi-rs
/// would turn integers above 2^32 into BigInts, so a counter's type would change as it grows).
fn report<T: serde::Serialize>(r: &T) -> serde_json::Value {
    fn numbers(v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::Number(n) => n.as_f64().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number),
            Value::Array(a) => Value::Array(a.into_iter().map(numbers).collect()),
            Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, numbers(v))).collect()),
            v => v,
        }
    }
    // Serializing plain report structs (numbers, strings, vectors) cannot fail.
    numbers(serde_json::to_value(r).unwrap_or_default())
}

fn copy_placement_info(c: ultraslayer::CopyPlacementInfo) -> CopyPlacementInfo {
    let a = c.arrangement;
    let p = a.as_ref().map(|a| a.period_ns).unwrap_or(0.0);
    let c0 = a.as_ref().and_then(|a| a.partition.centers.first().copied()).unwrap_or(0.0);
    CopyPlacementInfo {
        kind: c.kind.to_string(),
        note: c.note.map(|n| spell(&n, Front::Js)),
        fallback: c.fallback.map(|f| PlacementFallback {
            from: f.from.to_string(),
            to: f.to.to_string(),
            channel_offset: f.channel_offset as f64,
            reason: spell(&f.reason, Front::Js),
        }),
        huge_pages: c.huge.as_ref().map(report),
        from_segment: c.from_segment,
        period_ns: a.as_ref().map(|a| a.period_ns),
        period_source: a.as_ref().map(|a| a.period_source.clone()),
        group_offsets_ns: a.as_ref().map(|a| a.partition.centers.iter().map(|&x| ultraslayer::refresh::phase::wrap(x - c0) * p).collect()),
        group_pages: a.as_ref().map(|a| a.partition.group_pages.iter().map(|&n| n as f64).collect()),
        group_replica: a.as_ref().map(|a| a.partition.class_of_group.iter().map(|&r| r as u32).collect()),
        separation_ns: a.as_ref().map(|a| a.partition.separation * p),
        slab_pages: a.as_ref().map(|a| a.slab_pages as f64),
        pool_pages: a.as_ref().map(|a| a.pool_pages as f64),
        measured_pages: a.as_ref().map(|a| a.measured_pages as f64),
        clear_pages: a.as_ref().map(|a| a.clear_pages as f64),
        reads: a.as_ref().map(|a| a.reads as f64),
        learn_ms: a.as_ref().map(|a| a.learn_ms),
    }
}

fn slot_index(inst_slots: u64, v: f64) -> std::result::Result<u64, Error> {
    if !v.is_finite() || v.fract() != 0.0 {
        return Err(Error::BadArgument {
            name: "index",
            message: format!("slot index must be an integer, got {} (this slab has {inst_slots} slots)", ultraslayer::error::js_number(v)),
        });
    }
    if v < 0.0 || v >= inst_slots as f64 {
        return Err(Error::SlotOutOfRange { index: if v < 0.0 { u64::MAX } else { v as u64 }, slots: inst_slots });
    }
    Ok(v as u64)
}

fn shared_info(s: ultraslayer::shm::SharedInfo) -> SharedSegmentInfo {
    SharedSegmentInfo {
        name: s.name,
        path: s.path,
        backing: s.backing.name().to_string(),
        page_size: s.page_size as f64,
        creator_pid: s.creator_pid,
        created_unix_ms: s.created_unix_ms as f64,
        created_here: s.created_here,
        note: s.note.map(|n| spell(&n, Front::Js)),
    }
}

/// `info()` of a slab, as JS sees it (Slayer and Records).
fn slayer_info(i: ultraslayer::Info) -> SlayerInfo {
    SlayerInfo {
        slots: i.slots as f64,
        replicas: i.replicas as u32,
        channel_offset: i.channel_offset as f64,
        channel_offset_source: spell(&i.channel_offset_source, Front::Js),
        page_kind: i.page_kind.name().to_string(),
        page_size: i.page_size as f64,
        mapped_bytes: i.mapped_bytes as f64,
        thp_bytes: i.thp_bytes as f64,
        locked: i.locked,
        lock_error: i.lock_error,
        page_fallbacks: i.page_fallbacks,
        cores: i.cores.iter().map(|&c| c as u32).collect(),
        thread_cpus: i.thread_cpus.iter().map(|c| c.map_or(-1, |c| c as i32)).collect(),
        shared_cores: i.shared_cores,
        cores_note: i.cores_note.map(|n| spell(&n, Front::Js)),
        spin: i.spin.name().to_string(),
        idle_us: if i.idle_us == u64::MAX { -1.0 } else { i.idle_us as f64 },
        running: i.running,
        cpu_count: i.allowed_cpus.len() as u32,
        allowed_cpus: i.allowed_cpus.iter().map(|&c| c as u32).collect(),
        recording: i.recording,
        strategy: i.strategy.name().to_string(),
        strategy_requested: i.choice.requested.name().to_string(),
        strategy_reason: spell(&i.choice.reason, Front::Js),
        strategy_warning: i.choice.warning.map(|w| spell(&w, Front::Js)),
        placement: copy_placement_info(i.copies),
        shared: i.shared.map(shared_info),
        learning: i.learning.as_ref().map(report),
    }
}

/// `stats()` of a slab, as JS sees it (Slayer and Records): the engine's `Stats` with the steering
/// tracker's report as `steer`, serialized (index.d.ts declares it as `SlayerStats`).
fn slayer_stats(stats: ultraslayer::Stats, steer: Option<ultraslayer::steer::SteerReport>) -> serde_json::Value {
    #[derive(serde::Serialize)]
    struct Out {
        #[serde(flatten)]
        stats: ultraslayer::Stats,
        #[serde(skip_serializing_if = "Option::is_none")]
        steer: Option<ultraslayer::steer::SteerReport>,
    }
    report(&Out { stats, steer })
}

/// The native side of the JS `Slayer` class (index.js). Its methods are left out of the generated
/// native.d.ts: users get the JS class, declared by hand in index.d.ts.
#[napi]
pub struct Slayer {
    inst: Rc<Instance>,
    slots: u64,
    replicas: u32,
    /// Index in this thread's registry of Slayers (the shared fast path finds it by this id).
    id: u32,
}

#[napi]
impl Slayer {
    /// Maps and pre-faults the slab, chooses the read strategy (see `strategy`), and for a hedged
    /// slab (unless `start: false`) starts one pinned thread per replica.
    #[napi(skip_typescript, constructor, catch_unwind)]
    pub fn new(env: Env, options: Object) -> Result<Self> {
        let made = slab_options(JsOptions::new(&options)).and_then(ultraslayer::Slayer::new);
        Ok(Slayer::wrap(made.map_err(|e| to_napi(&env, e))?))
    }

    pub(crate) fn wrap(engine: ultraslayer::Slayer) -> Slayer {
        let slots = engine.slots();
        let replicas = engine.replica_count() as u32;
        let inst = Rc::new(Instance {
            engine: UnsafeCell::new(Some(engine)),
            scratch: Cell::new(std::ptr::null_mut()),
            view: Cell::new(std::ptr::null_mut()),
        });
        let id = fast::register(&inst);
        Slayer { inst, slots, replicas, id }
    }

    /// Internal: this Slayer's id for the shared fast path (see `_sharedFast`).
    #[napi(getter, skip_typescript, js_name = "_id")]
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Creates the named shared slab `options.name` (a 0600 file on hugetlbfs or in /dev/shm) and,
    /// when the strategy hedges, starts this process's replica threads over it. Refuses an existing name unless
    /// `overwrite: true`. The segment outlives this process until `Slayer.unlink(name)`.
    /// Each slot is read and written as one whole 8-byte value; there is no multi-slot atomicity.
    #[napi(skip_typescript, factory, catch_unwind)]
    pub fn create(env: Env, options: Object) -> Result<Self> {
        let o = JsOptions::create(&options);
        let made = (|| {
            let shared = ultraslayer::SharedOptions { overwrite: o.overwrite()?, dir: None };
            ultraslayer::Slayer::create_shared(&o.name()?, slab_options(o)?, shared)
        })();
        Ok(Slayer::wrap(made.map_err(|e| to_napi(&env, e))?))
    }

    /// Opens the shared slab `name` that another process created, after validating its header,
    /// and, when the strategy hedges, starts this process's own replica threads (own cores, spin
    /// policy and stats) over it.
    #[napi(skip_typescript, factory, catch_unwind)]
    pub fn open(env: Env, name: String, options: Option<Object>) -> Result<Self> {
        let made = open_options(JsOptions::open(options.as_ref())).and_then(|o| ultraslayer::Slayer::open_shared(&name, o));
        Ok(Slayer::wrap(made.map_err(|e| to_napi(&env, e))?))
    }

    /// Removes the shared slab `name`; returns false when there was none. Processes that have it
    /// open keep using it; its memory is freed when the last one closes.
    #[napi(skip_typescript, catch_unwind)]
    pub fn unlink(env: Env, name: String) -> Result<bool> {
        ultraslayer::shm::unlink(&name, None).map_err(|e| to_napi(&env, e))
    }

    /// Internal: whether reads are plain loads of copy 0 now, so index.js may serve them from the
    /// direct view (see `view`).
    #[napi(getter, skip_typescript, js_name = "_readsDirect")]
    pub fn reads_direct(&self) -> bool {
        self.inst.engine().is_some_and(|e| e.reads_direct())
    }

    /// 64-bit slots per replica.
    #[napi(skip_typescript, getter)]
    pub fn slots(&self) -> f64 {
        self.slots as f64
    }

    /// Copies of every slot.
    #[napi(skip_typescript, getter)]
    pub fn replicas(&self) -> u32 {
        self.replicas
    }

    fn engine(&self, env: &Env) -> Result<&mut ultraslayer::Slayer> {
        self.inst.engine().ok_or_else(|| closed(env, CLOSED))
    }

    /// Reads slot `index` as an unsigned 64-bit BigInt (hedged when threads run).
    #[napi(skip_typescript, catch_unwind)]
    pub fn read_u64(&self, env: Env, index: f64) -> Result<BigInt> {
        let i = slot_index(self.slots, index).map_err(|e| to_napi(&env, e))?;
        let v = self.engine(&env)?.read(i).map_err(|e| to_napi(&env, e))?;
        Ok(BigInt::from(v))
    }

    /// Stores `value` (0 ≤ value < 2^64) in every replica of slot `index`; returns once all hold it.
    #[napi(skip_typescript, catch_unwind)]
    pub fn write_u64(&self, env: Env, index: f64, value: BigInt) -> Result<()> {
        let i = slot_index(self.slots, index).map_err(|e| to_napi(&env, e))?;
        let (negative, v, lossless) = value.get_u64();
        if negative || !lossless {
            return Err(to_napi(&env, Error::option_range("value", "must be a BigInt from 0n to 2n ** 64n - 1n")));
        }
        self.engine(&env)?.write(i, v).map_err(|e| to_napi(&env, e))
    }

    /// Reads slot `index` as a float64 (the slot's 64 bits, bit-exact).
    #[napi(skip_typescript, catch_unwind)]
    pub fn read_f64(&self, env: Env, index: f64) -> Result<f64> {
        let i = slot_index(self.slots, index).map_err(|e| to_napi(&env, e))?;
        Ok(f64::from_bits(self.engine(&env)?.read(i).map_err(|e| to_napi(&env, e))?))
    }

    /// Stores the bits of `value` in every replica of slot `index` (NaN payloads and -0 survive).
    #[napi(skip_typescript, catch_unwind)]
    pub fn write_f64(&self, env: Env, index: f64, value: f64) -> Result<()> {
        let i = slot_index(self.slots, index).map_err(|e| to_napi(&env, e))?;
        self.engine(&env)?.write(i, value.to_bits()).map_err(|e| to_napi(&env, e))
    }

    /// Reads `indices.length` slots into `out` (same length); equal to reading them one by one.
    #[napi(skip_typescript, catch_unwind)]
    pub fn read_many_u64(&self, env: Env, indices: Uint32ArraySlice, mut out: BigUint64ArraySlice) -> Result<()> {
        // SAFETY: `out` views a JS BigUint64Array; JS does not run while this call holds the slice.
        let out = unsafe { out.as_mut() };
        self.engine(&env)?.read_many(&indices, out).map_err(|e| to_napi(&env, e))
    }

    /// Reads `indices.length` slots into `out` as float64 (bit-exact).
    #[napi(skip_typescript, catch_unwind)]
    pub fn read_many_f64(&self, env: Env, indices: Uint32ArraySlice, mut out: Float64ArraySlice) -> Result<()> {
        // SAFETY: as in read_many_u64.
        let out = unsafe { out.as_mut() };
        // SAFETY: the same memory as `out` (held exclusively by this call, see above) viewed as
        // u64s: f64 and u64 have the same size and alignment, and every bit pattern is a valid
        // value of both.
        let out = unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr() as *mut u64, out.len()) };
        self.engine(&env)?.read_many(&indices, out).map_err(|e| to_napi(&env, e))
    }

    /// Writes `values[k]` to slot `indices[k]`; every index is checked before anything is stored.
    #[napi(skip_typescript, catch_unwind)]
    pub fn write_many_u64(&self, env: Env, indices: Uint32ArraySlice, values: BigUint64ArraySlice) -> Result<()> {
        self.engine(&env)?.write_many(&indices, &values).map_err(|e| to_napi(&env, e))
    }

    /// Writes the bits of `values[k]` to slot `indices[k]`; all indices checked first.
    #[napi(skip_typescript, catch_unwind)]
    pub fn write_many_f64(&self, env: Env, indices: Uint32ArraySlice, values: Float64ArraySlice) -> Result<()> {
        // SAFETY: same size/alignment, every bit pattern valid (as in read_many_f64).
        let bits = unsafe { std::slice::from_raw_parts(values.as_ptr() as *const u64, values.len()) };
        self.engine(&env)?.write_many(&indices, bits).map_err(|e| to_napi(&env, e))
    }

    /// What was mapped (page kind and size, bytes, locked), where the threads run, and how.
    #[napi(skip_typescript, catch_unwind)]
    pub fn info(&self, env: Env) -> Result<SlayerInfo> {
        Ok(slayer_info(self.engine(&env)?.info()))
    }

    /// Read counters, wins per replica and (with stats: true) latency percentiles.
    #[napi(skip_typescript, catch_unwind)]
    pub fn stats(&self, env: Env) -> Result<serde_json::Value> {
        let e = self.engine(&env)?;
        Ok(slayer_stats(e.stats(), e.steer_report()))
    }

    /// Zeroes the counters and the latency histogram.
    #[napi(skip_typescript, catch_unwind)]
    pub fn reset_stats(&self, env: Env) -> Result<()> {
        self.engine(&env)?.reset_stats();
        Ok(())
    }

    /// Starts the replica threads (no-op when running).
    #[napi(skip_typescript, catch_unwind)]
    pub fn start(&self, env: Env) -> Result<()> {
        self.engine(&env)?.start().map_err(|e| to_napi(&env, e))
    }

    /// Stops and joins the replica threads; reads keep working, from one copy.
    #[napi(skip_typescript, catch_unwind)]
    pub fn stop(&self, env: Env) -> Result<()> {
        self.engine(&env)?.stop();
        Ok(())
    }

    /// Stops the threads and unmaps the slab. Idempotent; any other call afterwards throws.
    #[napi(skip_typescript)]
    pub fn close(&self, env: Env) {
        self.inst.close(&env);
    }

    /// True once close() has run.
    #[napi(skip_typescript, getter)]
    pub fn closed(&self) -> bool {
        self.inst.engine().is_none()
    }

    /// Internal: binds the raw fast-path functions to a scratch ArrayBuffer (see index.js).
    #[napi(skip_typescript, js_name = "_bindFast")]
    pub fn bind_fast<'env>(&self, env: &'env Env, scratch: Unknown<'env>) -> Result<Unknown<'env>> {
        // SAFETY: env is the live env of this call and scratch a value in it.
        let obj = unsafe { fast::bind(env.raw(), &self.inst, scratch.raw())? };
        // SAFETY: obj was just created in this env.
        Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), obj) })
    }
}

/// Internal: `{ read, write }` raw functions shared by every Slayer of this thread, over one
/// 32-byte scratch buffer (index in u32 word 0, the Slayer's `_id` in u32 word 1, value in word 1).
#[napi(skip_typescript, js_name = "_sharedFast")]
pub fn shared_fast<'env>(env: &'env Env, scratch: Unknown<'env>) -> Result<Unknown<'env>> {
    // SAFETY: env is the live env of this call and scratch a value in it.
    let obj = unsafe { fast::shared_functions(env.raw(), scratch.raw())? };
    // SAFETY: obj was just created in this env.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), obj) })
}

/// Internal: the engine's option table (`ultraslayer::options::OPTIONS`) as JSON, for the JS wrapper's
/// type checks: `[{ name, type, takes: ['new'|'create'|'open', …] }]`.
#[napi(skip_typescript, js_name = "_optionTable")]
pub fn option_table() -> String {
    use ultraslayer::options::{OptionKind, FOR_CREATE, FOR_NEW, FOR_OPEN, OPTIONS};
    let rows: Vec<serde_json::Value> = OPTIONS
        .iter()
        .map(|o| {
            let ty = match o.kind {
                OptionKind::Integer { .. } => "number",
                OptionKind::Choice(_) | OptionKind::Name => "string",
                OptionKind::Boolean => "boolean",
                OptionKind::Cores => "array",
                OptionKind::OffsetOrAuto => "number|auto",
            };
            let takes: Vec<&str> = [(FOR_NEW, "new"), (FOR_CREATE, "create"), (FOR_OPEN, "open")]
                .into_iter()
                .filter(|(bit, _)| o.takes & bit != 0)
                .map(|(_, n)| n)
                .collect();
            serde_json::json!({ "name": o.name, "type": ty, "takes": takes })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}
