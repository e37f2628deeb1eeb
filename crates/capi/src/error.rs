//! How a call fails in C: a `Failure` (status code and message) per refusal, the thread-local
//! message `us_last_error` returns, and `run`, the wrapper every entry point's body runs in.
//!
//! What it must never do: let a panic unwind into C, or touch the message on a successful call.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use ultraslayer::error::{Error, ErrorKind, Front};

use crate::types::*;

/// A refusal on its way to C: a status code and the message `us_last_error` will return.
pub(crate) struct Failure {
    code: c_int,
    message: String,
}

impl Failure {
    /// A refusal with status `code` (`US_ERR_*`) and `message`.
    pub(crate) fn new(code: c_int, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let code = match e.kind() {
            // C has one code for a bad option, whether its type or its value is off.
            _ if matches!(e, Error::OptionOutOfRange { .. }) => US_ERR_TYPE,
            ErrorKind::Type => US_ERR_TYPE,
            ErrorKind::Range => US_ERR_RANGE,
            ErrorKind::System => US_ERR_SYSTEM,
        };
        Failure { code, message: e.message(Front::C) }
    }
}

/// The refusal of a required pointer that was NULL; `what` names it.
pub(crate) fn null(what: &str) -> Failure {
    Failure::new(US_ERR_NULL, format!("{what} is NULL"))
}

thread_local! {
    /// The message of the most recent failed call on this thread.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: String) {
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // A thread being torn down has no message slot left; the status code still says what failed.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = c);
}

/// The message of the most recent failed call on this thread, valid until the next failure here;
/// "" if none has failed, or if the thread's slot is gone (thread teardown).
pub(crate) fn last_error() -> *const c_char {
    static EMPTY: &CStr = c"";
    catch_unwind(|| LAST_ERROR.try_with(|slot| slot.borrow().as_ptr()).unwrap_or(EMPTY.as_ptr())).unwrap_or(EMPTY.as_ptr())
}

/// Runs one entry point's body: never unwinds into C, records the message of any failure.
pub(crate) fn run(body: impl FnOnce() -> Result<(), Failure>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => US_OK,
        Ok(Err(f)) => {
            set_last_error(f.message);
            f.code
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic payload".into());
            set_last_error(format!("ultraslayer panicked (a bug, please report it): {what}"));
            US_ERR_PANIC
        }
    }
}

/// The name of a status code ("US_OK", "US_ERR_RANGE", ...); "US_ERR_UNKNOWN" for others.
pub(crate) fn status_name(code: c_int) -> &'static CStr {
    match code {
        US_OK => c"US_OK",
        US_ERR_TYPE => c"US_ERR_TYPE",
        US_ERR_RANGE => c"US_ERR_RANGE",
        US_ERR_SYSTEM => c"US_ERR_SYSTEM",
        US_ERR_NULL => c"US_ERR_NULL",
        US_ERR_BUSY => c"US_ERR_BUSY",
        US_ERR_PANIC => c"US_ERR_PANIC",
        _ => c"US_ERR_UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{last_error_text, quietly};

    #[test]
    fn a_panic_becomes_a_status_code_not_an_abort() {
        let rc = quietly(|| run(|| panic!("boom {}", 7)));
        assert_eq!(rc, US_ERR_PANIC);
        assert!(last_error_text().contains("boom 7"), "{}", last_error_text());
    }
}
