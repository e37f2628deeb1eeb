//! The direct view: copy 0 of a slab whose reads can be plain loads of copy 0 (strategy 'direct',
//! or a hedged slab while its threads are stopped; see `Slayer::direct_view`), handed to JS as an
//! external ArrayBuffer, so index.js reads a slot from a typed array with no native call at all
//! (an N-API call alone costs more than the read). index.js uses it only while the engine says
//! reads are direct (`_readsDirect`, asked again after start/stop).
//!
//! Soundness rests on two things. The buffer is never reachable once the memory is unmapped:
//! `close` detaches it before dropping the engine (a detached buffer has no bytes, and typed arrays
//! over it read `undefined`), and without `close` the engine is only dropped when the native Slayer
//! is collected, which the JS wrapper holding the view keeps alive. And JS only reads through it:
//! writes stay native calls (they must reach every replica), and the view is never given to users.
//!
//! Records use the same view (records.js reads copy 0 of a record line itself, checking its
//! sequence word in JS: see records.js `readLine`), for shared segments too, since every value is
//! checked against concurrent writes; their binding (`records`) keeps its own `ViewRef`.
//!
//! The weak reference `create` makes is deleted by `detach` (at close); a Slayer collected without
//! close() leaves it to the environment's teardown (N-API offers no env in a Rust `Drop`).

use std::cell::Cell;
use std::ptr;

use napi::sys;

use crate::errors::check;
use ultraslayer::slayer::DirectView;

/// Where an object keeps its view's buffer (weakly) for `detach`; null when there is none.
pub(crate) type ViewRef = Cell<sys::napi_ref>;

/// Creates the view over `view` (None: the engine offers none): `{ buffer, shift, mask, stride }`
/// (copy 0 of slot i is word `(i >>> shift) * stride + (i & mask)` of `buffer`), else `null`. The
/// buffer is remembered in `slot` (weakly) so that `detach` can empty it; one view per object.
///
/// # Safety
/// `env` must be live, on the thread that owns the object; `view` describes memory that stays
/// mapped until `detach(env, slot)` runs or the object's engine is dropped, and the object keeps
/// the engine alive while JS can reach the buffer (see the module notes).
pub(crate) unsafe fn create(env: sys::napi_env, view: Option<DirectView>, slot: &ViewRef) -> napi::Result<sys::napi_value> {
    let mut out = ptr::null_mut();
    let Some(v) = view.filter(|_| slot.get().is_null()) else {
        // SAFETY: env is live.
        check(unsafe { sys::napi_get_null(env, &mut out) }, "napi_get_null")?;
        return Ok(out);
    };
    let mut buffer = ptr::null_mut();
    // SAFETY: `v.base` points at `v.words` mapped 8-byte words that stay mapped until `detach`
    // runs or the engine is dropped (see the module notes for why JS cannot read it after either).
    // No finalizer: the memory is the engine's to unmap, never V8's to free.
    let st = unsafe { sys::napi_create_external_arraybuffer(env, v.base.cast(), v.words * 8, None, ptr::null_mut(), &mut buffer) };
    if st != sys::Status::napi_ok {
        // Some embedders refuse external buffers (a V8 sandbox): reads then take the native call.
        // SAFETY: env is live; a pending exception from the refusal is cleared first.
        unsafe {
            let mut e = ptr::null_mut();
            sys::napi_get_and_clear_last_exception(env, &mut e);
            check(sys::napi_get_null(env, &mut out), "napi_get_null")?;
        }
        return Ok(out);
    }
    let mut r = ptr::null_mut();
    // SAFETY: env and buffer are live; a weak reference (count 0) does not keep the buffer alive.
    check(unsafe { sys::napi_create_reference(env, buffer, 0, &mut r) }, "napi_create_reference")?;
    slot.set(r);
    // SAFETY: env is live.
    check(unsafe { sys::napi_create_object(env, &mut out) }, "napi_create_object")?;
    let fields: [(&std::ffi::CStr, f64); 3] = [(c"shift", v.shift as f64), (c"mask", v.mask as f64), (c"stride", v.stride_words as f64)];
    // SAFETY: env, out and buffer are live; keys are NUL-terminated.
    unsafe {
        check(sys::napi_set_named_property(env, out, c"buffer".as_ptr(), buffer), "napi_set_named_property")?;
        for (key, n) in fields {
            let mut js = ptr::null_mut();
            check(sys::napi_create_double(env, n, &mut js), "napi_create_double")?;
            check(sys::napi_set_named_property(env, out, key.as_ptr(), js), "napi_set_named_property")?;
        }
    }
    Ok(out)
}

/// Empties the view (if there is one and it was not collected) before the memory behind it goes.
///
/// # Safety
/// `env` must be live, on the thread that owns the object `slot` belongs to.
pub(crate) unsafe fn detach(env: sys::napi_env, slot: &ViewRef) {
    let r = slot.get();
    if r.is_null() {
        return;
    }
    let mut buffer = ptr::null_mut();
    // SAFETY: env is live and r is the reference `create` made, not yet deleted. A collected buffer
    // gives null: nothing can read it, so nothing to detach.
    unsafe {
        if sys::napi_get_reference_value(env, r, &mut buffer) == sys::Status::napi_ok && !buffer.is_null() {
            sys::napi_detach_arraybuffer(env, buffer);
        }
        sys::napi_delete_reference(env, r);
    }
    slot.set(ptr::null_mut());
}
