//! The one place engine errors become JavaScript exceptions.
//!
//! `ErrorKind::Type` → TypeError, `ErrorKind::Range` → RangeError, everything else → Error; each
//! carries a `code` (`ERR_ULTRASLAYER_…`) scripts can match on.

use std::ffi::CString;

use napi::{sys, Env, Status};

use ultraslayer::error::{Error, ErrorKind, Front};

pub(crate) fn code(e: &Error) -> &'static str {
    match e {
        Error::BadOption { .. } => "ERR_ULTRASLAYER_BAD_OPTION",
        Error::OptionOutOfRange { .. } => "ERR_ULTRASLAYER_OPTION_RANGE",
        Error::BadArgument { .. } => "ERR_ULTRASLAYER_BAD_ARGUMENT",
        // A record index out of range keeps the slot code records.js gives it too.
        Error::SlotOutOfRange { .. } | Error::RecordOutOfRange { .. } => "ERR_ULTRASLAYER_SLOT_RANGE",
        Error::ReplicaOutOfRange { .. } => "ERR_ULTRASLAYER_REPLICA_RANGE",
        Error::CoreNotAllowed { .. } | Error::CoreListedTwice { .. } => "ERR_ULTRASLAYER_CORE",
        Error::Thread { .. } => "ERR_ULTRASLAYER_THREAD",
        Error::Internal { .. } => "ERR_ULTRASLAYER_INTERNAL",
        Error::HugePages { .. } => "ERR_ULTRASLAYER_HUGE_PAGES",
        Error::LockRefused { .. } => "ERR_ULTRASLAYER_LOCK",
        Error::MapFailed { .. } => "ERR_ULTRASLAYER_MAP",
        Error::Stopped { .. } => "ERR_ULTRASLAYER_STOPPED",
        Error::LengthMismatch { .. } => "ERR_ULTRASLAYER_LENGTH",
        Error::Unsupported { .. } => "ERR_ULTRASLAYER_UNSUPPORTED",
        Error::Placement { .. } => "ERR_ULTRASLAYER_PLACEMENT",
        Error::Io { .. } => "ERR_ULTRASLAYER_IO",
        Error::BadSegmentName { .. } => "ERR_ULTRASLAYER_SHM_NAME",
        Error::SegmentExists { .. } => "ERR_ULTRASLAYER_SHM_EXISTS",
        Error::SegmentMissing { .. } => "ERR_ULTRASLAYER_SHM_MISSING",
        Error::SegmentInvalid { .. } => "ERR_ULTRASLAYER_SHM_INVALID",
        Error::SegmentNotReady { .. } => "ERR_ULTRASLAYER_SHM_NOT_READY",
        Error::SegmentIncompatible { .. } => "ERR_ULTRASLAYER_SHM_INCOMPATIBLE",
        Error::SegmentIo { .. } => "ERR_ULTRASLAYER_SHM_IO",
        Error::RecordInconsistent { .. } => "ERR_ULTRASLAYER_RECORD_BUSY",
        Error::WriterBusy { .. } => "ERR_ULTRASLAYER_WRITER_BUSY",
        Error::FieldOutOfRange { .. } => "ERR_ULTRASLAYER_VALUE_RANGE",
        Error::Cancelled { .. } => "ERR_ULTRASLAYER_ABORTED",
    }
}

/// Throws `e` into `env` as the matching JS error class.
///
/// # Safety
/// `env` must be the live environment of the current callback.
pub(crate) unsafe fn throw_raw(env: sys::napi_env, e: &Error) {
    let msg = CString::new(e.message(Front::Js).replace('\0', " ")).unwrap_or_default();
    let code = CString::new(code(e)).unwrap_or_default();
    // SAFETY: env is live (caller's contract); both strings are NUL-terminated and outlive the call.
    unsafe {
        match e.kind() {
            ErrorKind::Type => sys::napi_throw_type_error(env, code.as_ptr(), msg.as_ptr()),
            ErrorKind::Range => sys::napi_throw_range_error(env, code.as_ptr(), msg.as_ptr()),
            ErrorKind::System => sys::napi_throw_error(env, code.as_ptr(), msg.as_ptr()),
        };
    }
}

/// Throws a plain Error with a code.
///
/// # Safety
/// `env` must be the live environment of the current callback.
pub(crate) unsafe fn throw_message(env: sys::napi_env, code: &str, msg: &str) {
    let msg = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    let code = CString::new(code).unwrap_or_default();
    // SAFETY: as in `throw_raw`.
    unsafe { sys::napi_throw_error(env, code.as_ptr(), msg.as_ptr()) };
}

/// For `#[napi]` methods: throw `e` and return the error napi-rs leaves alone because an
/// exception is already pending.
pub(crate) fn to_napi(env: &Env, e: Error) -> napi::Error {
    // SAFETY: `env` comes from napi-rs for the current call.
    unsafe { throw_raw(env.raw(), &e) };
    napi::Error::from_status(Status::PendingException)
}

/// What a call on a closed object says, for the object the caller holds (index.js and records.js
/// say the same for the calls they refuse themselves).
pub(crate) const CLOSED: &str = "this Slayer is closed: create a new one (close() unmaps the slab and stops its threads)";
pub(crate) const RECORDS_CLOSED: &str = "these Records are closed: create new ones (close() unmaps the records and stops their threads)";
pub(crate) const CLOSED_CODE: &str = "ERR_ULTRASLAYER_CLOSED";
pub(crate) const PANIC_CODE: &str = "ERR_ULTRASLAYER_PANIC";

/// Throws the closed error `message` (`CLOSED` or `RECORDS_CLOSED`).
pub(crate) fn closed(env: &Env, message: &str) -> napi::Error {
    // SAFETY: `env` comes from napi-rs for the current call.
    unsafe { throw_message(env.raw(), CLOSED_CODE, message) };
    napi::Error::from_status(Status::PendingException)
}

/// A raw N-API call's status as a Result (`what` names the call in the message).
pub(crate) fn check(status: sys::napi_status, what: &str) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::from_reason(format!("ultraslayer: {what} failed (napi status {status})")))
    }
}
