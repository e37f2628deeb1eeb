//! Raw N-API functions for the per-read hot path: no JS arguments, no napi-rs glue.
//!
//! The JS wrapper (index.js) owns a 32-byte `ArrayBuffer` per Slayer ("scratch") and views it as
//! Uint32Array / Float64Array / BigUint64Array. It writes the slot index into word 0 (low half) and,
//! for writes, the value bits into word 1, then calls `read()` or `write()` with no arguments; a
//! read leaves the value bits in word 1. This avoids argument conversion and heap numbers/BigInts
//! created natively: the field notes measured ~12 ns per f64 read this way against ~40 ns for a
//! raw function that takes a u32 and returns a double.
//!
//! The scratch buffer is attached to each function object as a property, so it lives at least as
//! long as the functions that write through its pointer.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;

use napi::sys;

use crate::errors::{check, throw_message, throw_raw, CLOSED, CLOSED_CODE, PANIC_CODE};
use crate::Instance;
use ultraslayer::error::Error;

pub(crate) type RawCallback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

/// Bytes of scratch the JS side must provide.
pub(crate) const SCRATCH_BYTES: usize = 32;

/// Why a fast-path call throws instead of answering (the C ABI's `Failure` is its own thing: a
/// status code and a message).
pub(crate) enum Refusal {
    Engine(Error),
    /// The object is closed; the message (`errors::CLOSED`, `errors::RECORDS_CLOSED`) names it.
    Closed(&'static str),
}

/// Runs `op` on the instance behind this callback's data pointer, mapping failures to exceptions.
///
/// # Safety
/// `env`/`info` must be those of the current callback, whose data pointer was set by `create` to an
/// `Rc<T>` (this very `T`) that the function's finalizer has not yet released.
#[inline(always)]
pub(crate) unsafe fn with_instance<T>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    op: impl FnOnce(&T) -> Result<(), Refusal>,
) -> sys::napi_value {
    let mut data: *mut c_void = ptr::null_mut();
    // SAFETY: env/info are this callback's; we ask for no arguments, only the data pointer.
    let status = unsafe { sys::napi_get_cb_info(env, info, ptr::null_mut(), ptr::null_mut(), ptr::null_mut(), &mut data) };
    if status != sys::Status::napi_ok || data.is_null() {
        // SAFETY: env is live for this callback.
        return unsafe { missing_instance(env) };
    }
    // SAFETY: data is the pointer `create` made with Rc::into_raw; the function object holding it
    // is being called, so its finalizer (which releases the Rc) has not run.
    let inst = unsafe { &*(data as *const T) };
    // SAFETY: env is live for this callback.
    unsafe { settle(env, catch_unwind(AssertUnwindSafe(|| op(inst))), "a read or write") }
}

/// Turns an operation's outcome into the callback's result: undefined, or a thrown exception.
///
/// # Safety
/// `env` must be the live environment of the current callback.
unsafe fn settle(env: sys::napi_env, outcome: std::thread::Result<Result<(), Refusal>>, what: &str) -> sys::napi_value {
    match outcome {
        Ok(Ok(())) => {}
        // SAFETY: env is live for this callback (caller's contract).
        Ok(Err(Refusal::Engine(e))) => unsafe { throw_raw(env, &e) },
        // SAFETY: as above.
        Ok(Err(Refusal::Closed(message))) => unsafe { throw_message(env, CLOSED_CODE, message) },
        // SAFETY: as above.
        Err(_) => unsafe {
            throw_message(
                env,
                PANIC_CODE,
                &format!("ultraslayer: internal panic during {what} (please report it); the object is still usable"),
            )
        },
    }
    ptr::null_mut()
}

/// Throws the error for a raw function called without the instance pointer `create` gave it.
///
/// # Safety
/// `env` must be the live environment of the current callback.
unsafe fn missing_instance(env: sys::napi_env) -> sys::napi_value {
    // SAFETY: caller's contract.
    unsafe { throw_message(env, PANIC_CODE, "ultraslayer: internal error: native function without its instance") };
    ptr::null_mut()
}

/// Copy 0 read directly, whatever the strategy: the benchmark's same-slab baseline for steering,
/// through the same kind of raw call as `shared_read_op`, so the two cost the same.
fn read_copy0_op(inst: &Instance) -> Result<(), Refusal> {
    let s = inst.scratch();
    // SAFETY: `scratch` points at SCRATCH_BYTES of a live, 8-byte aligned ArrayBuffer (see module
    // docs); only this thread touches it, and JS is waiting for this call to return.
    let i = unsafe { ptr::read(s as *const u32) } as u64;
    let engine = inst.engine().ok_or(Refusal::Closed(CLOSED))?;
    let v = engine.read_replica(0, i).map_err(Refusal::Engine)?;
    // SAFETY: as above; word 1 is inside the 32 bytes.
    unsafe { ptr::write(s.add(1), v) };
    Ok(())
}

unsafe extern "C" fn read_copy0(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: forwarded callback arguments; `bind` set this function's data (see `with_instance`).
    unsafe { with_instance(env, info, read_copy0_op) }
}

unsafe extern "C" fn release<T>(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the Rc::<T>::into_raw pointer `create::<T>` attached to exactly one
    // function object; N-API calls this finalizer once, when that object is collected.
    drop(unsafe { Rc::from_raw(data as *const T) });
}

/// Creates one raw function bound to `inst`, with the scratch buffer attached as `scratch`.
///
/// # Safety
/// `env` must be live and `scratch` an ArrayBuffer value in it.
pub(crate) unsafe fn create<T>(
    env: sys::napi_env,
    name: &str,
    cb: RawCallback,
    inst: &Rc<T>,
    scratch: sys::napi_value,
) -> napi::Result<sys::napi_value> {
    let data = Rc::into_raw(inst.clone()) as *mut c_void;
    let mut f = ptr::null_mut();
    // SAFETY: env live; name is valid UTF-8 of the given length; cb has the N-API callback type.
    let st = unsafe { sys::napi_create_function(env, name.as_ptr().cast(), name.len() as isize, Some(cb), data, &mut f) };
    if let Err(e) = check(st, "napi_create_function") {
        // SAFETY: the function was not created, so nothing else owns this Rc.
        drop(unsafe { Rc::from_raw(data as *const T) });
        return Err(e);
    }
    // SAFETY: f is a live function object; the finalizer releases the Rc exactly once.
    check(unsafe { sys::napi_add_finalizer(env, f, data, Some(release::<T>), ptr::null_mut(), ptr::null_mut()) }, "napi_add_finalizer")?;
    // SAFETY: f and scratch are live values; the key is a static NUL-terminated string.
    check(unsafe { sys::napi_set_named_property(env, f, c"scratch".as_ptr(), scratch) }, "napi_set_named_property")?;
    Ok(f)
}

/// The data of `scratch` when it is an 8-byte aligned ArrayBuffer of at least `bytes` bytes.
///
/// # Safety
/// `env` must be live and `scratch` a value in it.
pub(crate) unsafe fn scratch_words(env: sys::napi_env, scratch: sys::napi_value, bytes: usize) -> napi::Result<*mut u64> {
    let mut is_ab = false;
    // SAFETY: env and value are live.
    check(unsafe { sys::napi_is_arraybuffer(env, scratch, &mut is_ab) }, "napi_is_arraybuffer")?;
    if !is_ab {
        return Err(napi::Error::new(napi::Status::InvalidArg, "scratch must be an ArrayBuffer"));
    }
    let mut data: *mut c_void = ptr::null_mut();
    let mut len = 0usize;
    // SAFETY: scratch is an ArrayBuffer (checked); N-API fills in its data pointer and length.
    check(unsafe { sys::napi_get_arraybuffer_info(env, scratch, &mut data, &mut len) }, "napi_get_arraybuffer_info")?;
    if len < bytes || data.is_null() || !(data as usize).is_multiple_of(8) {
        return Err(napi::Error::new(napi::Status::InvalidArg, format!("scratch must be an aligned ArrayBuffer of {bytes} bytes")));
    }
    Ok(data as *mut u64)
}

/// Validates `scratch` (an ArrayBuffer of at least SCRATCH_BYTES, 8-byte aligned), points the
/// instance at it and returns `{ readCopy0, readMany, writeMany }` (single reads and writes go
/// through the shared functions, `shared_functions`).
///
/// # Safety
/// `env` must be live and `scratch` a value in it.
pub(crate) unsafe fn bind(env: sys::napi_env, inst: &Rc<Instance>, scratch: sys::napi_value) -> napi::Result<sys::napi_value> {
    if !inst.scratch().is_null() {
        // Rebinding would leave the first functions writing through a pointer they no longer keep alive.
        return Err(napi::Error::new(napi::Status::InvalidArg, "fast path already bound for this Slayer"));
    }
    // SAFETY: env and scratch are live (caller's contract).
    inst.set_scratch(unsafe { scratch_words(env, scratch, SCRATCH_BYTES)? });
    let mut obj = ptr::null_mut();
    // SAFETY: env is live.
    check(unsafe { sys::napi_create_object(env, &mut obj) }, "napi_create_object")?;
    // SAFETY: env live; scratch is the buffer validated above.
    let fns: [(&str, &std::ffi::CStr, RawCallback); 3] =
        [("readCopy0", c"readCopy0", read_copy0), ("readMany", c"readMany", read_many), ("writeMany", c"writeMany", write_many)];
    for (name, key, cb) in fns {
        // SAFETY: env live; scratch is the buffer validated above.
        let f = unsafe { create(env, name, cb, inst, scratch)? };
        // SAFETY: obj and f live; key is NUL-terminated.
        check(unsafe { sys::napi_set_named_property(env, obj, key.as_ptr(), f) }, "napi_set_named_property")?;
    }
    // SAFETY: env is live, on the instance's thread (the caller's contract).
    // The engine keeps copy 0 mapped until `Instance::close` detaches the view (see `view`).
    let view = unsafe { crate::view::create(env, inst.engine().and_then(|e| e.direct_view()), inst.view_ref())? };
    // SAFETY: obj and view are live; the key is NUL-terminated.
    check(unsafe { sys::napi_set_named_property(env, obj, c"view".as_ptr(), view) }, "napi_set_named_property")?;
    Ok(obj)
}

// ---------------------------------------------------------------------------------------------
// Batch reads and writes: `readMany(indices, out)` / `writeMany(indices, values)` with a
// Uint32Array and an 8-byte typed array (Float64Array or BigUint64Array; the slot's bits either
// way). Raw, so a short batch does not pay napi-rs glue; the JS wrapper has already checked the
// array types and lengths, and this checks them again.

struct TypedArray {
    kind: sys::napi_typedarray_type,
    len: usize,
    data: *mut c_void,
}

/// # Safety
/// `env` live, `v` a value in it.
unsafe fn typed_array(env: sys::napi_env, v: sys::napi_value) -> Option<TypedArray> {
    let mut is_ta = false;
    // SAFETY: env and v are live.
    if unsafe { sys::napi_is_typedarray(env, v, &mut is_ta) } != sys::Status::napi_ok || !is_ta {
        return None;
    }
    let mut t = TypedArray { kind: 0, len: 0, data: ptr::null_mut() };
    let mut ab = ptr::null_mut();
    let mut off = 0usize;
    // SAFETY: v is a typed array (checked); N-API fills the out-parameters.
    let st = unsafe { sys::napi_get_typedarray_info(env, v, &mut t.kind, &mut t.len, &mut t.data, &mut ab, &mut off) };
    (st == sys::Status::napi_ok).then_some(t)
}

fn batch_arrays(a: &TypedArray, b: &TypedArray) -> Result<(), Refusal> {
    use sys::TypedarrayType::{biguint64_array, float64_array, uint32_array};
    let bad = |m: &str| Refusal::Engine(Error::BadArgument { name: "batch", message: m.to_string() });
    if a.kind != uint32_array {
        return Err(bad("indices must be a Uint32Array"));
    }
    if b.kind != float64_array && b.kind != biguint64_array {
        return Err(bad("values must be a Float64Array or a BigUint64Array"));
    }
    if a.len != b.len {
        return Err(Refusal::Engine(Error::LengthMismatch { indices: a.len, values: b.len }));
    }
    let (a0, a1) = (a.data as usize, a.data as usize + a.len * 4);
    let (b0, b1) = (b.data as usize, b.data as usize + b.len * 8);
    if a.len > 0 && a0 < b1 && b0 < a1 {
        return Err(bad("indices and values must not share memory"));
    }
    if (a.len > 0 && a0 % 4 != 0) || (b.len > 0 && b0 % 8 != 0) {
        return Err(bad("typed arrays must be aligned to their element size"));
    }
    Ok(())
}

/// # Safety
/// As `with_instance`; the callback's two arguments are JS values.
unsafe fn with_batch(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    op: impl FnOnce(&mut ultraslayer::Slayer, &[u32], *mut u64, usize) -> Result<(), Refusal>,
) -> sys::napi_value {
    let mut argc = 2usize;
    let mut argv = [ptr::null_mut(); 2];
    let mut data: *mut c_void = ptr::null_mut();
    // SAFETY: env/info are this callback's; argv has room for argc values.
    let st = unsafe { sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), &mut data) };
    if st != sys::Status::napi_ok || data.is_null() {
        // SAFETY: env is live for this callback.
        return unsafe { missing_instance(env) };
    }
    // SAFETY: as in `with_instance`.
    let inst = unsafe { &*(data as *const Instance) };
    // SAFETY: argv holds live values (missing arguments are `undefined`).
    let arrays = unsafe { (typed_array(env, argv[0]), typed_array(env, argv[1])) };
    let run = || -> Result<(), Refusal> {
        let (Some(a), Some(b)) = arrays else {
            return Err(Refusal::Engine(Error::BadArgument {
                name: "batch",
                message: "expects (Uint32Array, Float64Array | BigUint64Array)".into(),
            }));
        };
        batch_arrays(&a, &b)?;
        let engine = inst.engine().ok_or(Refusal::Closed(CLOSED))?;
        // SAFETY: a is a Uint32Array of a.len elements, aligned and not overlapping b (checked);
        // no JS runs while this call holds the slice.
        let idx: &[u32] = if a.len == 0 { &[] } else { unsafe { std::slice::from_raw_parts(a.data as *const u32, a.len) } };
        op(engine, idx, b.data as *mut u64, b.len)
    };
    // SAFETY: env is live for this callback.
    unsafe { settle(env, catch_unwind(AssertUnwindSafe(run)), "a batch") }
}

unsafe extern "C" fn read_many(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: forwarded callback arguments.
    unsafe {
        with_batch(env, info, |e, idx, out, n| {
            // SAFETY: out is an aligned, non-overlapping 8-byte typed array of n elements, every bit
            // pattern of which is a valid u64; nothing else accesses it during this call.
            let out = if n == 0 { &mut [][..] } else { std::slice::from_raw_parts_mut(out, n) };
            e.read_many(idx, out).map_err(Refusal::Engine)
        })
    }
}

unsafe extern "C" fn write_many(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: forwarded callback arguments.
    unsafe {
        with_batch(env, info, |e, idx, vals, n| {
            // SAFETY: as in `read_many`, read-only here.
            let vals = if n == 0 { &[][..] } else { std::slice::from_raw_parts(vals as *const u64, n) };
            e.write_many(idx, vals).map_err(Refusal::Engine)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The shared fast path: one `read` and one `write` raw function for every Slayer of this thread's
// JS environment, so the call inside the JS class's `readF64` has one target however many
// Slayers a process holds (a function per instance made that call polymorphic with two or more,
// measured at +9–17 ns a call). The JS side writes the slot index into u32 word 0 and the
// Slayer's id into u32 word 1 of one shared 32-byte scratch buffer; the value travels in word 1.

thread_local! {
    /// Every Slayer created on this thread, by id (its index here). Weak: a collected or closed
    /// Slayer's slot stops upgrading and is reused by the next one.
    static REGISTRY: std::cell::RefCell<Vec<std::rc::Weak<Instance>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Registers `inst` on this thread; returns the id its JS object writes into the shared scratch.
pub(crate) fn register(inst: &Rc<Instance>) -> u32 {
    REGISTRY.with(|r| {
        let mut r = r.borrow_mut();
        let weak = Rc::downgrade(inst);
        match r.iter().position(|w| w.strong_count() == 0) {
            Some(k) => {
                r[k] = weak;
                k as u32
            }
            None => {
                r.push(weak);
                (r.len() - 1) as u32
            }
        }
    })
}

/// Runs `op` on the Slayer whose id is in u32 word 1 of the shared scratch (`data`).
///
/// # Safety
/// `env`/`info` are this callback's; `data` (the function's data) is the shared scratch pointer
/// `shared_functions` validated, kept alive by the function's `scratch` property.
#[inline(always)]
unsafe fn with_shared(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    op: fn(&Instance, *mut u64) -> Result<(), Refusal>,
) -> sys::napi_value {
    let mut data: *mut c_void = ptr::null_mut();
    // SAFETY: env/info are this callback's; only the data pointer is asked for.
    let status = unsafe { sys::napi_get_cb_info(env, info, ptr::null_mut(), ptr::null_mut(), ptr::null_mut(), &mut data) };
    if status != sys::Status::napi_ok || data.is_null() {
        // SAFETY: env is live for this callback.
        return unsafe { missing_instance(env) };
    }
    let s = data as *mut u64;
    // SAFETY: `s` points at 32 live, aligned bytes (see above); only this thread touches them.
    let id = unsafe { ptr::read((s as *const u32).add(1)) } as usize;
    let inst = REGISTRY.with(|r| r.borrow().get(id).and_then(std::rc::Weak::upgrade));
    let outcome = catch_unwind(AssertUnwindSafe(|| match &inst {
        Some(inst) => op(inst, s),
        None => Err(Refusal::Closed(CLOSED)),
    }));
    // SAFETY: env is live for this callback.
    unsafe { settle(env, outcome, "a read or write") }
}

fn shared_read_op(inst: &Instance, s: *mut u64) -> Result<(), Refusal> {
    // SAFETY: `s` is the shared scratch (see `with_shared`); word 0's low half is the index.
    let i = unsafe { ptr::read(s as *const u32) } as u64;
    let engine = inst.engine().ok_or(Refusal::Closed(CLOSED))?;
    let v = engine.read(i).map_err(Refusal::Engine)?;
    // SAFETY: as above; word 1 is inside the 32 bytes.
    unsafe { ptr::write(s.add(1), v) };
    Ok(())
}

fn shared_write_op(inst: &Instance, s: *mut u64) -> Result<(), Refusal> {
    // SAFETY: as in `shared_read_op`.
    let (i, v) = unsafe { (ptr::read(s as *const u32) as u64, ptr::read(s.add(1))) };
    let engine = inst.engine().ok_or(Refusal::Closed(CLOSED))?;
    engine.write(i, v).map_err(Refusal::Engine)
}

unsafe extern "C" fn shared_read(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: forwarded callback arguments; `shared_functions` set this function's data.
    unsafe { with_shared(env, info, shared_read_op) }
}

unsafe extern "C" fn shared_write(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: as in `shared_read`.
    unsafe { with_shared(env, info, shared_write_op) }
}

/// `{ read, write }` over the shared `scratch` (an aligned ArrayBuffer of SCRATCH_BYTES), for
/// every Slayer of this thread.
///
/// # Safety
/// `env` must be live and `scratch` a value in it.
pub(crate) unsafe fn shared_functions(env: sys::napi_env, scratch: sys::napi_value) -> napi::Result<sys::napi_value> {
    // SAFETY: env and scratch are live (caller's contract).
    let data = unsafe { scratch_words(env, scratch, SCRATCH_BYTES)? } as *mut c_void;
    let mut obj = ptr::null_mut();
    // SAFETY: env is live.
    check(unsafe { sys::napi_create_object(env, &mut obj) }, "napi_create_object")?;
    for (name, key, cb) in [("read", c"read", shared_read as RawCallback), ("write", c"write", shared_write as RawCallback)] {
        let mut f = ptr::null_mut();
        // SAFETY: env live; name valid; the data pointer stays valid while `f` holds the buffer
        // (the `scratch` property set just below keeps it from being collected).
        unsafe {
            check(
                sys::napi_create_function(env, name.as_ptr().cast(), name.len() as isize, Some(cb), data, &mut f),
                "napi_create_function",
            )?;
            check(sys::napi_set_named_property(env, f, c"scratch".as_ptr(), scratch), "napi_set_named_property")?;
            check(sys::napi_set_named_property(env, obj, key.as_ptr(), f), "napi_set_named_property")?;
        }
    }
    Ok(obj)
}
