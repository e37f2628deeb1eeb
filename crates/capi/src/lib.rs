//! The C ABI: `libultraslayer.so` for programs that are not Node (C, C++, Python ctypes, ...).
//!
//! Owns the translation between C and the engine: plain-old-data structs with a leading `size`
//! field for versioning, integer status codes, a thread-local error message, and an opaque handle
//! that turns the engine's `&mut self` reads into a try-lock (`US_ERR_BUSY`) so no C caller can
//! break Rust's aliasing rules. The header is `include/ultraslayer.h`; keep the two in step (the
//! `const` size asserts in `types` and the `_Static_assert`s there pin the struct layouts).
//!
//! What it must never do: unwind into C (every entry point runs inside `catch_unwind`), abort on
//! bad input, or allocate or touch the error message on a successful read or write.
//!
//! Modules: `types` (the header's numbers and structs), `error` (status codes on their way out,
//! the last-error message), `handles` (the opaque handle and its try-lock), `marshal` (checks on
//! C pointers, arrays and versioned structs), `options` (C options to engine options), `exports`
//! (the `us_*` entry points).

#![allow(non_camel_case_types)]

mod error;
mod exports;
mod handles;
mod marshal;
mod options;
mod types;

pub use exports::*;
pub use handles::us_slayer;
pub use types::*;

#[cfg(test)]
mod test_support {
    use std::ffi::CStr;
    use std::ptr;

    use crate::exports::{us_create, us_last_error};
    use crate::handles::us_slayer;
    use crate::options::default_options;
    use crate::types::*;

    /// Runs `f` with panic messages silenced (the hook is process-wide, so one test at a time).
    pub(crate) fn quietly<T>(f: impl FnOnce() -> T) -> T {
        static HOOK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _g = HOOK.lock().unwrap_or_else(|e| e.into_inner());
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r = f();
        std::panic::set_hook(prev);
        r
    }

    /// `us_last_error()` as a Rust string.
    pub(crate) fn last_error_text() -> String {
        // SAFETY: us_last_error returns a NUL-terminated string valid until the next failure here.
        unsafe { CStr::from_ptr(us_last_error()) }.to_string_lossy().into_owned()
    }

    /// A 64-slot slab on ordinary pages with its threads stopped; `us_destroy` it.
    pub(crate) fn small_handle() -> *mut us_slayer {
        let mut o = default_options();
        o.slots = 64;
        o.strategy = US_STRATEGY_HEDGE; // threads stopped: reads are direct, nothing is measured
        o.start = 0;
        o.huge_pages = US_PAGES_OFF;
        o.lock = US_LOCK_OFF;
        let mut h = ptr::null_mut();
        // SAFETY: valid options and out pointer.
        assert_eq!(unsafe { us_create(&o, &mut h) }, US_OK, "{}", last_error_text());
        h
    }
}
