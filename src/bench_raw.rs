//! The benchmark's raw N-API functions (built with the `bench` feature only): a bare u32 → f64
//! function and a no-op (the yardsticks the binding table measures readF64 against), and the
//! fenced clock the JS timing loops read. Never called by the library.

use std::ffi::c_void;
use std::ptr;

use napi::sys;

use crate::errors::check;

// ---------------------------------------------------------------------------------------------
// A bare raw N-API function for the benchmark's binding table: takes a u32, returns a double. It
// is the yardstick the per-call cost of readF64 is measured against in the same run.

unsafe extern "C" fn bare_u32_to_f64(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let mut argc = 1usize;
    let mut argv = [ptr::null_mut(); 1];
    let mut idx = 0u32;
    let mut out = ptr::null_mut();
    // SAFETY: env/info are this callback's; argv has room for argc values; the result pointer is valid.
    unsafe {
        sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), ptr::null_mut());
        sys::napi_get_value_uint32(env, argv[0], &mut idx);
        sys::napi_create_double(env, idx as f64 * 0.5, &mut out);
    }
    out
}

unsafe extern "C" fn bare_noop(_env: sys::napi_env, _info: sys::napi_callback_info) -> sys::napi_value {
    ptr::null_mut()
}

/// `{ u32ToF64, noop }`: bare raw functions for the benchmark.
///
/// # Safety
/// `env` must be live.
pub(crate) unsafe fn bare_functions(env: sys::napi_env) -> napi::Result<sys::napi_value> {
    let mut obj = ptr::null_mut();
    let mut f1 = ptr::null_mut();
    let mut f2 = ptr::null_mut();
    // SAFETY: env live; names valid; callbacks have the N-API type and need no data.
    unsafe {
        check(sys::napi_create_object(env, &mut obj), "napi_create_object")?;
        check(
            sys::napi_create_function(env, c"u32ToF64".as_ptr(), 8, Some(bare_u32_to_f64), ptr::null_mut(), &mut f1),
            "napi_create_function",
        )?;
        check(sys::napi_create_function(env, c"noop".as_ptr(), 4, Some(bare_noop), ptr::null_mut(), &mut f2), "napi_create_function")?;
        check(sys::napi_set_named_property(env, obj, c"u32ToF64".as_ptr(), f1), "napi_set_named_property")?;
        check(sys::napi_set_named_property(env, obj, c"noop".as_ptr(), f2), "napi_set_named_property")?;
    }
    Ok(obj)
}

// ---------------------------------------------------------------------------------------------
// The benchmark's clock: a raw function that writes the TSC (as a double) into word 0 of the
// scratch buffer it is bound to, fenced on both sides.

unsafe extern "C" fn clock(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let mut data: *mut c_void = ptr::null_mut();
    // SAFETY: env/info are this callback's; only the data pointer is asked for.
    unsafe { sys::napi_get_cb_info(env, info, ptr::null_mut(), ptr::null_mut(), ptr::null_mut(), &mut data) };
    if !data.is_null() {
        // A fenced stamp: every earlier instruction (the timed read's load included) has completed
        // before the TSC is read, and nothing later starts before it. A bare rdtsc may execute
        // while the load it is meant to close is still waiting for DRAM, which makes cold reads
        // look like cache hits now and then.
        let t = ultraslayer::tsc::stamp();
        // SAFETY: data points at word 0 of the ArrayBuffer `clock_function` validated and attached to
        // this function object, which is alive while it is being called.
        unsafe { ptr::write(data as *mut f64, t as f64) };
    }
    ptr::null_mut()
}

/// A raw `clock()` writing the TSC into `scratch` (an aligned ArrayBuffer of ≥ 8 bytes).
///
/// # Safety
/// `env` must be live and `scratch` a value in it.
pub(crate) unsafe fn clock_function(env: sys::napi_env, scratch: sys::napi_value) -> napi::Result<sys::napi_value> {
    let mut data: *mut c_void = ptr::null_mut();
    let mut len = 0usize;
    let mut is_ab = false;
    // SAFETY: env and value are live.
    check(unsafe { sys::napi_is_arraybuffer(env, scratch, &mut is_ab) }, "napi_is_arraybuffer")?;
    if !is_ab {
        return Err(napi::Error::new(napi::Status::InvalidArg, "scratch must be an ArrayBuffer"));
    }
    // SAFETY: scratch is an ArrayBuffer (checked).
    check(unsafe { sys::napi_get_arraybuffer_info(env, scratch, &mut data, &mut len) }, "napi_get_arraybuffer_info")?;
    if len < 8 || data.is_null() || !(data as usize).is_multiple_of(8) {
        return Err(napi::Error::new(napi::Status::InvalidArg, "scratch must be an aligned ArrayBuffer of at least 8 bytes"));
    }
    let mut f = ptr::null_mut();
    // SAFETY: env live; name valid; data is the validated buffer, kept alive by the property below.
    unsafe {
        check(sys::napi_create_function(env, c"clock".as_ptr(), 5, Some(clock), data, &mut f), "napi_create_function")?;
        check(sys::napi_set_named_property(env, f, c"scratch".as_ptr(), scratch), "napi_set_named_property")?;
    }
    Ok(f)
}
