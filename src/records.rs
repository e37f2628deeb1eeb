//! The Node binding of `Records`: translates, holds no logic.
//!
//! The JS class (records.js) validates every argument and owns the field names and types; this
//! class takes the schema as its canonical text ("bid:f64,ask:f64") and the very options object
//! a Slayer takes (with `slots` = count × 8, read by `options`), so record stores get the same option rules.
//! `load` and `write` are raw N-API functions over a 64-byte scratch buffer per binding (word 0 the
//! record index, words 1..8 the fields), like the Slayer fast path in `fast`.

use std::cell::UnsafeCell;
use std::ptr;
use std::rc::Rc;

use napi::bindgen_prelude::*;
use napi::{sys, Env, JsValue};
use napi_derive::napi;

use crate::errors::{self, closed, to_napi, RECORDS_CLOSED};
use crate::fast::{self, Refusal};
use crate::options::{open_options, slab_options, JsOptions};
use crate::view::{self, ViewRef};
use ultraslayer::records::line::MAX_FIELDS;
use ultraslayer::records::Schema;

/// Bytes of scratch each binding needs: the index word and the 7 field words.
const SCRATCH_BYTES: usize = 64;

/// The engine store, shared by the class object and its raw functions. Lives on the JS thread that
/// created it; no engine call re-enters JS, so there is never more than one borrow at a time.
struct Store {
    engine: UnsafeCell<Option<ultraslayer::Records>>,
    /// The copy-0 view's buffer (`_bindView`), weakly, for `close` to detach.
    view: ViewRef,
}

impl Store {
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    fn engine(&self) -> Option<&mut ultraslayer::Records> {
        // SAFETY: see the type's docs: single JS thread, no re-entrancy.
        unsafe { (*self.engine.get()).as_mut() }
    }
}

/// What one set of raw functions works on: the store and its own scratch buffer.
struct Bound {
    store: Rc<Store>,
    scratch: *mut u64,
}

fn load_op(b: &Bound) -> std::result::Result<(), Refusal> {
    // SAFETY: `scratch` points at SCRATCH_BYTES of a live, 8-byte aligned ArrayBuffer that the
    // function objects keep alive (`fast::create` attaches it); only this thread touches it, and
    // JS waits for this call. Words 1..8 are 7 aligned u64s inside it.
    let (i, out) = unsafe { (ptr::read(b.scratch as *const u32) as u64, &mut *(b.scratch.add(1) as *mut [u64; MAX_FIELDS])) };
    let engine = b.store.engine().ok_or(Refusal::Closed(RECORDS_CLOSED))?;
    if i >= engine.count() {
        return Err(Refusal::Engine(ultraslayer::Error::RecordOutOfRange { index: i, count: engine.count() }));
    }
    // Straight into the scratch words the getters read: no intermediate copy.
    engine.read_line(i, out).map_err(Refusal::Engine)
}

fn write_op(b: &Bound) -> std::result::Result<(), Refusal> {
    // SAFETY: as in `load_op`, read-only.
    let (i, fields) = unsafe { (ptr::read(b.scratch as *const u32) as u64, std::slice::from_raw_parts(b.scratch.add(1), MAX_FIELDS)) };
    let engine = b.store.engine().ok_or(Refusal::Closed(RECORDS_CLOSED))?;
    let n = engine.schema().len();
    engine.write(i, &fields[..n]).map_err(Refusal::Engine)
}

unsafe extern "C" fn load(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: forwarded callback arguments; `bind_fast` set this function's data to an Rc<Bound>.
    unsafe { fast::with_instance(env, info, load_op) }
}

unsafe extern "C" fn write(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: as in `load`.
    unsafe { fast::with_instance(env, info, write_op) }
}

/// Internal: the native side of the JS `Records` class (records.js), which is what users get. Its
/// methods are left out of the generated native.d.ts: index.d.ts declares the JS class by hand.
#[napi(js_name = "NativeRecords")]
pub struct NativeRecords {
    store: Rc<Store>,
}

fn schema(env: &Env, text: &str) -> Result<Schema> {
    Schema::parse(text).map_err(|e| to_napi(env, e))
}

slab_controls!(NativeRecords);

#[napi]
impl NativeRecords {
    #[napi(skip_typescript, constructor, catch_unwind)]
    pub fn new(env: Env, fields: String, options: Object) -> Result<Self> {
        let schema = schema(&env, &fields)?;
        let opts = slab_options(JsOptions::new(&options)).map_err(|e| to_napi(&env, e))?;
        let count = opts.slots / 8;
        let engine = ultraslayer::Records::new(count, schema, opts).map_err(|e| to_napi(&env, e))?;
        Ok(NativeRecords::wrap(engine))
    }

    pub(crate) fn wrap(engine: ultraslayer::Records) -> NativeRecords {
        NativeRecords { store: Rc::new(Store { engine: UnsafeCell::new(Some(engine)), view: ViewRef::new(ptr::null_mut()) }) }
    }

    #[napi(skip_typescript, factory, catch_unwind)]
    pub fn create(env: Env, name: String, overwrite: bool, fields: String, options: Object) -> Result<Self> {
        let schema = schema(&env, &fields)?;
        let opts = slab_options(JsOptions::create(&options)).map_err(|e| to_napi(&env, e))?;
        let count = opts.slots / 8;
        let shared = ultraslayer::SharedOptions { overwrite, dir: None };
        let engine = ultraslayer::Records::create_shared(&name, count, schema, opts, shared).map_err(|e| to_napi(&env, e))?;
        Ok(NativeRecords::wrap(engine))
    }

    #[napi(skip_typescript, factory, catch_unwind)]
    pub fn open(env: Env, name: String, fields: Option<String>, options: Option<Object>) -> Result<Self> {
        let expect = fields.map(|f| schema(&env, &f)).transpose()?;
        let opts = open_options(JsOptions::open(options.as_ref())).map_err(|e| to_napi(&env, e))?;
        let engine = ultraslayer::Records::open_shared(&name, expect.as_ref(), opts).map_err(|e| to_napi(&env, e))?;
        Ok(NativeRecords::wrap(engine))
    }

    pub(crate) fn engine(&self, env: &Env) -> Result<&mut ultraslayer::Records> {
        self.store.engine().ok_or_else(|| closed(env, RECORDS_CLOSED))
    }

    /// The schema as text ("name:type,..."), from the engine (for Records.open without fields).
    #[napi(skip_typescript, getter)]
    pub fn fields(&self, env: Env) -> Result<String> {
        Ok(self.engine(&env)?.schema().text())
    }

    #[napi(skip_typescript, getter)]
    pub fn count(&self, env: Env) -> Result<f64> {
        Ok(self.engine(&env)?.count() as f64)
    }

    /// Reads `indices.length` records into `out`, `fields` words each, record after record.
    #[napi(skip_typescript, catch_unwind)]
    pub fn read_many(&self, env: Env, indices: Uint32ArraySlice, mut out: BigUint64ArraySlice) -> Result<()> {
        // SAFETY: `out` views a JS BigUint64Array; JS does not run while this call holds the slice.
        let out = unsafe { out.as_mut() };
        self.engine(&env)?.read_many(&indices, out).map_err(|e| to_napi(&env, e))
    }

    /// Repairs every record now (a writer does it by itself on its first write); returns how many
    /// records had copies rewritten.
    #[napi(skip_typescript, catch_unwind)]
    pub fn repair(&self, env: Env) -> Result<f64> {
        let w = self.engine(&env)?.writer();
        w.repair().map(|n| n as f64).map_err(|e| to_napi(&env, e))
    }

    #[napi(skip_typescript)]
    pub fn close(&self, env: Env) {
        // SAFETY: env is this call's, on the store's thread. The view goes first: JS must never
        // read memory the engine is about to unmap.
        unsafe { view::detach(env.raw(), &self.store.view) };
        // SAFETY: as in `Store::engine`; dropping the store stops its threads, unmaps, and releases
        // the writer lock.
        unsafe { *self.store.engine.get() = None };
    }

    /// Internal: whether reads are direct now, so records.js may read copy 0 itself (asked again
    /// after start/stop).
    #[napi(skip_typescript, getter, js_name = "_readsDirect")]
    pub fn reads_direct(&self) -> bool {
        self.store.engine().is_some_and(|e| e.reads_direct())
    }

    /// Internal: copy 0 of the records as `{ buffer, shift, mask, stride }` (see `view`), or null
    /// when the store offers none (it steers or records latency, or its layout is not arithmetic)
    /// or a view was already made. records.js reads a record from it only with the sequence check
    /// of `records::line`, and only while `_readsDirect`.
    #[napi(skip_typescript, js_name = "_bindView")]
    pub fn bind_view<'env>(&self, env: &'env Env) -> Result<Unknown<'env>> {
        let v = self.store.engine().and_then(|e| e.copy0_view());
        // SAFETY: env is this call's, on the store's thread; the engine keeps copy 0 mapped until
        // `close` detaches the buffer, and every path to the buffer (the JS snapshots and the
        // Records object) also holds this store's raw functions or this object, which keep the
        // engine alive (an `Rc<Store>` each).
        let out = unsafe { view::create(env.raw(), v, &self.store.view)? };
        // SAFETY: out was just created in this env.
        Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), out) })
    }

    #[napi(skip_typescript, getter)]
    pub fn closed(&self) -> bool {
        self.store.engine().is_none()
    }

    /// Internal (benchmark): flushes every copy of record `index` from the caches.
    #[napi(skip_typescript, js_name = "_flush")]
    pub fn bench_flush(&self, index: u32) {
        if let Some(e) = self.store.engine() {
            if (index as u64) < e.count() {
                e.slab().flush_slot(index as u64 * 8);
            }
        }
    }

    /// Binds `{ load, write }` to `scratch` (an aligned 64-byte ArrayBuffer); one set per snapshot.
    #[napi(skip_typescript, js_name = "_bindFast")]
    pub fn bind_fast<'env>(&self, env: &'env Env, scratch: Unknown<'env>) -> Result<Unknown<'env>> {
        let raw = env.raw();
        // SAFETY: env is this call's live env and scratch a value in it.
        let words = unsafe { fast::scratch_words(raw, scratch.raw(), SCRATCH_BYTES)? };
        let bound = Rc::new(Bound { store: self.store.clone(), scratch: words });
        let mut obj = ptr::null_mut();
        // SAFETY: env is live.
        errors::check(unsafe { sys::napi_create_object(raw, &mut obj) }, "napi_create_object")?;
        let fns: [(&str, &std::ffi::CStr, fast::RawCallback); 2] = [("load", c"load", load), ("write", c"write", write)];
        for (name, key, cb) in fns {
            // SAFETY: env live; scratch is the buffer validated above, attached to the function
            // object so it outlives every call through `bound.scratch`.
            let f = unsafe { fast::create(raw, name, cb, &bound, scratch.raw())? };
            // SAFETY: obj and f live; key is NUL-terminated.
            errors::check(unsafe { sys::napi_set_named_property(raw, obj, key.as_ptr(), f) }, "napi_set_named_property")?;
        }
        // SAFETY: obj was just created in this env.
        Ok(unsafe { Unknown::from_raw_unchecked(raw, obj) })
    }
}
