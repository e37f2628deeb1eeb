//! The Node binding: translates JS values to engine calls and engine errors to JS exceptions.
//!
//! Holds no logic of its own. The per-read hot path lives in `fast` (raw N-API functions driven
//! through a scratch buffer by the JS wrapper in index.js); everything else is napi-rs glue whose
//! doc comments generate native.d.ts (internal: users get index.d.ts). Reports (`info()`,
//! `stats()`) are the engine's report structs through serde (`report`), declared in index.d.ts.

/// The report and thread-control methods of every native slab class (`Slayer`, `NativeRecords`),
/// written once and given to each class as an `#[napi] impl` block of its own. The class's
/// `engine(&self, &Env)` gives its engine object, whose `info()`, `stats()`, `steer_report()`,
/// `reset_stats()`, `start()` and `stop()` these call.
macro_rules! slab_controls {
    ($class:ident) => {
        #[napi]
        impl $class {
            /// What was mapped (page kind and size, bytes, locked), where the threads run, and how.
            #[napi(skip_typescript, catch_unwind)]
            pub fn info(&self, env: Env) -> Result<serde_json::Value> {
                Ok($crate::report(&self.engine(&env)?.info()))
            }

            /// Read counters, wins per replica and (with stats: true) latency percentiles.
            #[napi(skip_typescript, catch_unwind)]
            pub fn stats(&self, env: Env) -> Result<serde_json::Value> {
                let e = self.engine(&env)?;
                Ok($crate::slayer_stats(e.stats(), e.steer_report()))
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
                self.engine(&env)?.start().map_err(|e| $crate::errors::to_napi(&env, e))
            }

            /// Stops and joins the replica threads; reads keep working, from one copy.
            #[napi(skip_typescript, catch_unwind)]
            pub fn stop(&self, env: Env) -> Result<()> {
                self.engine(&env)?.stop();
                Ok(())
            }

            /// The background learner's share of one core, in percent (index.js checks it is
            /// an integer from 1 to 100); false for a slab that learns nothing in the background.
            #[napi(skip_typescript, catch_unwind)]
            pub fn set_learn_duty_percent(&self, env: Env, percent: u32) -> Result<bool> {
                self.engine(&env)?.set_learn_duty_percent(percent).map_err(|e| $crate::errors::to_napi(&env, e))
            }
        }
    };
}

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
use ultraslayer::error::{spell, Front};

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

/// An engine report (`Info`, `RecordsInfo`, `Stats`, ...) as a JS object: its serde form, with
/// every integer made a JS number (napi-rs would turn integers above 2^32 into BigInts, so a
/// counter's type would change as it grows) and every message spelled for JS (`spell`: the
/// engine's notes and reasons carry option markers; other strings have none and stay as they are).
fn report<T: serde::Serialize>(r: &T) -> serde_json::Value {
    fn for_js(v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::Number(n) => n.as_f64().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number),
            Value::String(s) => Value::String(spell(&s, Front::Js)),
            Value::Array(a) => Value::Array(a.into_iter().map(for_js).collect()),
            Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, for_js(v))).collect()),
            v => v,
        }
    }
    // Serializing plain report structs (numbers, strings, vectors) cannot fail.
    for_js(serde_json::to_value(r).unwrap_or_default())
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

slab_controls!(Slayer);

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
