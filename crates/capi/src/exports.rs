//! The entry points of `include/ultraslayer.h`, one `#[no_mangle] extern "C"` function each.
//!
//! Each one is thin: `run(|| ...)` (no unwinding into C, the message of a failure recorded),
//! pointer checks (`marshal`), the handle (`handles`), then one engine call. Every symbol here is
//! declared in the header and nothing else this crate defines is exported (the test
//! `header_declares_exactly_the_exported_functions` holds the two to each other).

use std::ffi::{c_char, c_int};
use std::ptr;

use ultraslayer::error::{Error, Front};
use ultraslayer::slayer::{Info, Slayer};

use crate::error::{last_error, run, status_name, Failure};
use crate::handles::{handle, us_slayer};
use crate::marshal::{array, out_ptr, overlap, read_versioned, slice_in, slice_out, write_versioned};
use crate::options::{default_options, engine_options};
use crate::types::*;

/// Runs `body` (inside `run`) on the handle behind `h`: the shape of every entry point that
/// takes a handle.
///
/// # Safety
/// `h` is NULL or a live handle (see `handles::handle`).
unsafe fn on_handle(h: *mut us_slayer, body: impl FnOnce(&us_slayer) -> Result<(), Failure>) -> c_int {
    // SAFETY: per this function's contract.
    run(|| body(unsafe { handle(h)? }))
}

/// The single reads: checks the out pointer `out`, runs `read` on the handle behind `h`, and
/// stores its value through `out`.
///
/// # Safety
/// `h` is NULL or a live handle; `out` is NULL or writable.
unsafe fn answer<T>(h: *mut us_slayer, out: *mut T, read: impl FnOnce(&us_slayer) -> Result<T, Failure>) -> c_int {
    let body = |h: &us_slayer| {
        let out = out_ptr(out, "out")?;
        let v = read(h)?;
        // SAFETY: non-NULL and aligned (checked), writable per the contract.
        unsafe { ptr::write(out, v) };
        Ok(())
    };
    // SAFETY: per this function's contract.
    unsafe { on_handle(h, body) }
}

/// `us_get_info` and `us_get_stats`: checks the out pointer `out` (`what` names it), runs `make`
/// on the handle behind `h`, and writes its report into the caller's versioned struct (`name`).
///
/// # Safety
/// `h` is NULL or a live handle; `out` is NULL or a writable `T` of `out->size` bytes.
unsafe fn fill<T: Copy>(
    h: *mut us_slayer,
    out: *mut T,
    what: &str,
    name: &str,
    make: impl FnOnce(&us_slayer) -> Result<T, Failure>,
) -> c_int {
    let body = |h: &us_slayer| {
        let out = out_ptr(out, what)?;
        let report = make(h)?;
        // SAFETY: non-NULL and aligned (checked), writable for out->size bytes per the contract.
        unsafe { write_versioned(out, report, name) }
    };
    // SAFETY: per this function's contract.
    unsafe { on_handle(h, body) }
}

/// The ABI version this library implements (`US_ABI_VERSION` in the header it was built with).
#[no_mangle]
pub extern "C" fn us_abi_version() -> u32 {
    US_ABI_VERSION
}

/// Fills `*opts` with the defaults (slots = 0 must still be set). NULL is ignored.
///
/// # Safety
/// `opts` is NULL or points at a writable `us_options`.
#[no_mangle]
pub unsafe extern "C" fn us_options_default(opts: *mut us_options) {
    if let Ok(p) = out_ptr(opts, "opts") {
        // SAFETY: non-NULL and aligned (checked), writable per the contract.
        unsafe { ptr::write(p, default_options()) };
    }
}

/// Maps the slab (and starts the threads if `opts->start`); `*out` gets the handle, or NULL.
///
/// # Safety
/// `opts` is NULL or points at a readable `us_options` of `opts->size` bytes whose `cores` is NULL
/// or points at `core_count` readable `uint32_t`; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn us_create(opts: *const us_options, out: *mut *mut us_slayer) -> c_int {
    run(|| {
        let out = out_ptr(out, "out (us_slayer**)")?;
        // SAFETY: non-NULL and aligned (checked), writable per the contract.
        unsafe { ptr::write(out, ptr::null_mut()) };
        let opts = out_ptr(opts as *mut us_options, "opts")?;
        let mut c = default_options();
        // SAFETY: non-NULL and aligned (checked); readable for opts->size bytes per the contract.
        unsafe { read_versioned(opts as *const us_options, &mut c, "us_options")? };
        // SAFETY: `c.cores` comes from the caller's options, covered by the contract.
        let o = unsafe { engine_options(&c)? };
        let h = Box::new(us_slayer::new(Slayer::new(o)?));
        // SAFETY: checked above; the caller now owns the handle and frees it with us_destroy.
        unsafe { ptr::write(out, Box::into_raw(h)) };
        Ok(())
    })
}

/// Stops the threads, unmaps the slab and frees the handle. NULL is ignored.
///
/// # Safety
/// `h` is NULL or a live handle from `us_create`, and no other thread is using it or will.
#[no_mangle]
pub unsafe extern "C" fn us_destroy(h: *mut us_slayer) {
    if h.is_null() {
        return;
    }
    // Dropping joins the replica threads; a panic there must not unwind into C.
    let _ = run(|| {
        // SAFETY: per the contract `h` came from Box::into_raw in us_create and is used by no one else.
        drop(unsafe { Box::from_raw(h) });
        Ok(())
    });
}

/// Starts the replica threads (no-op when running).
///
/// # Safety
/// `h` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn us_start(h: *mut us_slayer) -> c_int {
    // SAFETY: per the contract.
    unsafe { on_handle(h, |h| Ok(h.exclusive()?.start()?)) }
}

/// Stops and joins the replica threads (no-op when stopped). Reads still work, directly.
///
/// # Safety
/// `h` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn us_stop(h: *mut us_slayer) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        on_handle(h, |h| {
            h.exclusive()?.stop();
            Ok(())
        })
    }
}

/// Reads slot `idx`: hedged while the threads run, from replica 0 when stopped.
///
/// # Safety
/// `h` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn us_read_u64(h: *mut us_slayer, idx: u64, out: *mut u64) -> c_int {
    // SAFETY: per the contract.
    unsafe { answer(h, out, |h| Ok(h.exclusive()?.read(idx)?)) }
}

/// `us_read_u64`, with the bits returned as a double (bit-exact, NaN payloads included).
///
/// # Safety
/// As `us_read_u64`.
#[no_mangle]
pub unsafe extern "C" fn us_read_f64(h: *mut us_slayer, idx: u64, out: *mut f64) -> c_int {
    // SAFETY: per the contract.
    unsafe { answer(h, out, |h| Ok(f64::from_bits(h.exclusive()?.read(idx)?))) }
}

/// Reads replica `replica`'s copy of slot `idx` directly (no threads, no lock).
///
/// # Safety
/// As `us_read_u64`.
#[no_mangle]
pub unsafe extern "C" fn us_read_replica_u64(h: *mut us_slayer, replica: u32, idx: u64, out: *mut u64) -> c_int {
    // SAFETY: per the contract.
    unsafe { answer(h, out, |h| Ok(h.slab().read_replica(replica as usize, idx)?)) }
}

/// Stores `value` in every replica of slot `idx`. Any thread, any time (no lock).
///
/// # Safety
/// `h` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn us_write_u64(h: *mut us_slayer, idx: u64, value: u64) -> c_int {
    // SAFETY: per the contract.
    unsafe { on_handle(h, |h| Ok(h.slab().write(idx, value)?)) }
}

/// `us_write_u64` of a double's bits (bit-exact).
///
/// # Safety
/// As `us_write_u64`.
#[no_mangle]
pub unsafe extern "C" fn us_write_f64(h: *mut us_slayer, idx: u64, value: f64) -> c_int {
    // SAFETY: per the contract.
    unsafe { on_handle(h, |h| Ok(h.slab().write(idx, value.to_bits())?)) }
}

/// Shared body of the batch reads: `out` is `n` u64-sized, u64-aligned cells.
///
/// # Safety
/// As `us_read_many_u64`.
unsafe fn read_many(h: *mut us_slayer, idx: *const u32, n: usize, out: *mut u64) -> Result<(), Failure> {
    // SAFETY: per the contract.
    let h = unsafe { handle(h)? };
    let ri = array(idx, n, "idx")?;
    let ro = array(out as *const u64, n, "out")?;
    overlap(&ri, &ro, "idx and out")?;
    // SAFETY: checked by `array`, disjoint (checked), readable/writable per the contract.
    let (idx, out) = unsafe { (slice_in(idx, n, &ri), slice_out(out, n, &ro)) };
    h.exclusive()?.read_many(idx, out)?;
    Ok(())
}

/// Reads `n` slots: `out[k]` = slot `idx[k]`. All indices are checked before anything is read.
///
/// # Safety
/// `h` is NULL or a live handle; for n > 0, `idx` and `out` point at `n` elements, readable and
/// writable respectively, and nothing else writes them during the call.
#[no_mangle]
pub unsafe extern "C" fn us_read_many_u64(h: *mut us_slayer, idx: *const u32, n: usize, out: *mut u64) -> c_int {
    // SAFETY: the same contract.
    run(|| unsafe { read_many(h, idx, n, out) })
}

/// `us_read_many_u64` into doubles (bit-exact).
///
/// # Safety
/// As `us_read_many_u64`.
#[no_mangle]
pub unsafe extern "C" fn us_read_many_f64(h: *mut us_slayer, idx: *const u32, n: usize, out: *mut f64) -> c_int {
    // SAFETY: the same contract; f64 and u64 have the same size and alignment, and every bit
    // pattern is a valid value of both.
    run(|| unsafe { read_many(h, idx, n, out as *mut u64) })
}

/// Shared body of the batch writes.
///
/// # Safety
/// As `us_write_many_u64`.
unsafe fn write_many(h: *mut us_slayer, idx: *const u32, n: usize, values: *const u64) -> Result<(), Failure> {
    // SAFETY: per the contract.
    let h = unsafe { handle(h)? };
    let ri = array(idx, n, "idx")?;
    let rv = array(values, n, "values")?;
    // SAFETY: checked by `array`, readable per the contract.
    let (idx, values) = unsafe { (slice_in(idx, n, &ri), slice_in(values, n, &rv)) };
    h.slab().write_many(idx, values)?;
    Ok(())
}

/// Writes `n` slots: slot `idx[k]` = `values[k]`. All indices are checked before anything is
/// stored. Any thread, any time (no lock).
///
/// # Safety
/// `h` is NULL or a live handle; for n > 0, `idx` and `values` point at `n` readable elements.
#[no_mangle]
pub unsafe extern "C" fn us_write_many_u64(h: *mut us_slayer, idx: *const u32, n: usize, values: *const u64) -> c_int {
    // SAFETY: the same contract.
    run(|| unsafe { write_many(h, idx, n, values) })
}

/// `us_write_many_u64` of doubles' bits (bit-exact).
///
/// # Safety
/// As `us_write_many_u64`.
#[no_mangle]
pub unsafe extern "C" fn us_write_many_f64(h: *mut us_slayer, idx: *const u32, n: usize, values: *const f64) -> c_int {
    // SAFETY: the same contract; f64 and u64 have the same size and alignment.
    run(|| unsafe { write_many(h, idx, n, values as *const u64) })
}

/// Why the slab reads with its strategy, in one sentence (then "; warning: …" when an explicit
/// strategy is expected to lose): at most `cap` bytes, NUL-terminated, into `buf`; the full
/// length (without the NUL) into `*len`.
///
/// # Safety
/// `h` is NULL or a live handle; `buf` is NULL (with `cap == 0`) or `cap` writable bytes; `len` is
/// NULL or a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn us_strategy_reason(h: *mut us_slayer, buf: *mut c_char, cap: usize, len: *mut usize) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        text_answer(h, buf, cap, len, |info| match info.choice.warning {
            Some(w) => format!("{}; warning: {w}", info.choice.reason),
            None => info.choice.reason,
        })
    }
}

/// The text-returning calls: `make` turns the slab's report into a sentence, which is spelled for
/// C and written as they all write it: at most `cap` bytes, NUL-terminated, into `buf`, and its
/// full length (without the NUL) into `*len`.
///
/// # Safety
/// `h` is NULL or a live handle; `buf` is NULL (with `cap == 0`) or `cap` writable bytes; `len` is
/// NULL or a writable `size_t`.
unsafe fn text_answer(h: *mut us_slayer, buf: *mut c_char, cap: usize, len: *mut usize, make: impl FnOnce(Info) -> String) -> c_int {
    run(|| {
        // SAFETY: per this function's contract.
        let h = unsafe { handle(h)? };
        let len = out_ptr(len, "len (size_t*)")?;
        let text = ultraslayer::error::spell(&make(h.exclusive()?.info()), Front::C);
        let range = array(buf as *const u8, cap, "buf (with cap > 0)")?;
        // SAFETY: checked by `array`; `cap` writable bytes per the contract.
        let out = unsafe { slice_out(buf as *mut u8, cap, &range) };
        if let Some(room) = cap.checked_sub(1) {
            let n = text.len().min(room);
            out[..n].copy_from_slice(&text.as_bytes()[..n]);
            out[n] = 0;
        }
        // SAFETY: non-NULL and aligned (checked by `out_ptr`), writable per the contract.
        unsafe { *len = text.len() };
        Ok(())
    })
}

/// Fills `*out` with how far the slab's background learning has come (set `out->size =
/// sizeof(us_learning)` first); every field 0 (and `hot_coverage` -1) for a slab that learns
/// nothing in the background.
///
/// # Safety
/// `h` is NULL or a live handle; `out` is NULL or a writable `us_learning` of `out->size` bytes.
#[no_mangle]
pub unsafe extern "C" fn us_get_learning(h: *mut us_slayer, out: *mut us_learning) -> c_int {
    // SAFETY: per the contract.
    unsafe { fill(h, out, "out (us_learning*)", "us_learning", |h| Ok(us_learning::from_engine(&h.exclusive()?.info()))) }
}

/// Why the background learner stopped without learning the frames ("" while it learns, once it
/// has learned them, or for a slab that learns nothing in the background), as `us_strategy_reason`
/// writes its sentence.
///
/// # Safety
/// As `us_strategy_reason`.
#[no_mangle]
pub unsafe extern "C" fn us_learning_stopped_reason(h: *mut us_slayer, buf: *mut c_char, cap: usize, len: *mut usize) -> c_int {
    // SAFETY: per the contract.
    unsafe { text_answer(h, buf, cap, len, |info| info.learning.and_then(|l| l.stopped).unwrap_or_default()) }
}

/// Fills `*out` (set `out->size = sizeof(us_info)` first).
///
/// # Safety
/// `h` is NULL or a live handle; `out` is NULL or a writable `us_info` of `out->size` bytes.
#[no_mangle]
pub unsafe extern "C" fn us_get_info(h: *mut us_slayer, out: *mut us_info) -> c_int {
    // SAFETY: per the contract.
    unsafe { fill(h, out, "out (us_info*)", "us_info", |h| Ok(us_info::from_engine(&h.exclusive()?.info()))) }
}

/// Fills `*out` (set `out->size = sizeof(us_stats)` first).
///
/// # Safety
/// `h` is NULL or a live handle; `out` is NULL or a writable `us_stats` of `out->size` bytes.
#[no_mangle]
pub unsafe extern "C" fn us_get_stats(h: *mut us_slayer, out: *mut us_stats) -> c_int {
    // SAFETY: per the contract.
    unsafe { fill(h, out, "out (us_stats*)", "us_stats", |h| Ok(us_stats::from_engine(h.exclusive()?.stats()))) }
}

/// Zeroes the read counters and the latency histogram.
///
/// # Safety
/// `h` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn us_reset_stats(h: *mut us_slayer) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        on_handle(h, |h| {
            h.exclusive()?.reset_stats();
            Ok(())
        })
    }
}

/// Sets the share of one core (`percent`, 1 to 100) that the slab's background learning thread
/// keeps busy, at once; `*applied` (when not NULL) gets 1, or 0 for a slab that learns nothing in
/// the background or has finished learning (then nothing changes).
///
/// # Safety
/// `h` is NULL or a live handle; `applied` is NULL or a writable `int`.
#[no_mangle]
pub unsafe extern "C" fn us_set_learn_duty_percent(h: *mut us_slayer, percent: u32, applied: *mut c_int) -> c_int {
    let body = |h: &us_slayer| {
        let out = if applied.is_null() { None } else { Some(out_ptr(applied, "applied")?) };
        // A percent outside 1..=100 is an argument out of range here, not a bad option (which the
        // engine's error would map to US_ERR_TYPE, as in us_options).
        let done = h.exclusive()?.set_learn_duty_percent(percent).map_err(|e| match e {
            Error::OptionOutOfRange { message, .. } => Failure::new(US_ERR_RANGE, format!("percent: {message}")),
            e => e.into(),
        })?;
        if let Some(out) = out {
            // SAFETY: non-NULL and aligned (checked by `out_ptr`), writable per the contract.
            unsafe { ptr::write(out, c_int::from(done)) };
        }
        Ok(())
    };
    // SAFETY: per the contract.
    unsafe { on_handle(h, body) }
}

/// The message of the most recent failed call on this thread ("" if none has failed). Owned by
/// the library; valid until the next failed call on this thread. Successful calls leave it alone.
#[no_mangle]
pub extern "C" fn us_last_error() -> *const c_char {
    last_error()
}

/// The name of a status code ("US_OK", "US_ERR_RANGE", ...); "US_ERR_UNKNOWN" for others.
#[no_mangle]
pub extern "C" fn us_status_name(code: c_int) -> *const c_char {
    status_name(code).as_ptr()
}
