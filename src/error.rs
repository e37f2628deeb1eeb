//! Every refusal the engine can make, as a value with a message that says what to do.
//!
//! The binding maps `Error::kind()` to TypeError / RangeError / Error once, in one place; the
//! engine never panics on bad input.

use std::fmt;

/// Which JavaScript error class (or C error code) a refusal belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// An option or argument of the wrong type or shape.
    Type,
    /// A value outside what is allowed (slot index, replica count, ...).
    Range,
    /// The system refused (no huge pages, lock refused, core not allowed) or the object is closed.
    System,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// An option is malformed (wrong type or shape). `option` names it, `message` says what is allowed.
    BadOption { option: &'static str, message: String },
    /// An option's value is outside what is allowed. `option` names it, `message` says the range.
    OptionOutOfRange { option: &'static str, message: String },
    /// An argument of the wrong type (e.g. a slot index that is not an integer).
    BadArgument { name: &'static str, message: String },
    /// A slot index at or beyond the slot count.
    SlotOutOfRange { index: u64, slots: u64 },
    /// A replica number at or beyond the replica count.
    ReplicaOutOfRange { replica: usize, replicas: usize },
    /// An explicitly requested core does not exist or is not in the process's allowed set.
    CoreNotAllowed { core: usize, allowed: Vec<usize> },
    /// The same core listed twice.
    CoreListedTwice { core: usize },
    /// A thread could not be pinned, spawned or named.
    Thread { message: String },
    /// The page kind asked for could not be had.
    HugePages { message: String },
    /// mlock was asked for and refused.
    LockRefused { bytes: usize, errno: i32 },
    /// mmap of plain pages failed (out of memory or address space).
    MapFailed { bytes: usize, errno: i32 },
    /// An operation that needs running replica threads found them stopped, or the object closed.
    Stopped { what: &'static str },
    /// A batch whose input and output lengths differ.
    LengthMismatch { indices: usize, values: usize },
    /// A probe cannot run here (wrong architecture, missing kernel interface).
    Unsupported { what: String },
    /// A file could not be read or written.
    Io { path: String, message: String },
    /// A shared-slab name that is empty, too long, or has characters outside the allowed set.
    BadSegmentName { name: String, message: String },
    /// `create` found a segment of that name and was not asked to overwrite it.
    SegmentExists { name: String, path: String },
    /// `open`/`unlink` found no segment of that name in any place segments live.
    SegmentMissing { name: String, searched: Vec<String> },
    /// The file is there but is not a usable segment: truncated, foreign, wrong version, corrupt.
    SegmentInvalid { path: String, message: String },
    /// The segment is being created, or its creator died before finishing it.
    SegmentNotReady { path: String, creator_pid: u32, creator_alive: bool },
    /// The segment is valid but its layout is not the one the caller expected.
    SegmentIncompatible { path: String, message: String },
    /// A system call on a segment file failed.
    SegmentIo { path: String, op: &'static str, errno: i32 },
    /// Every copy of record `index` was mid-update on every one of `attempts` reads (a writer
    /// rewriting it back to back); nothing was returned rather than a mix of two writes.
    RecordInconsistent { index: u64, attempts: u32 },
    /// Another writer holds the record segment's writer lock (one writer process at a time).
    WriterBusy { path: String },
    /// Refresh-group placement could not be had (no periodic stall, too few groups, budget spent,
    /// too many mappings); `hint` says what to do instead.
    Placement { message: String, hint: String },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BadOption { .. } | Error::BadArgument { .. } => ErrorKind::Type,
            Error::SlotOutOfRange { .. }
            | Error::OptionOutOfRange { .. }
            | Error::ReplicaOutOfRange { .. }
            | Error::LengthMismatch { .. }
            | Error::BadSegmentName { .. } => ErrorKind::Range,
            _ => ErrorKind::System,
        }
    }

    pub fn bad_option(option: &'static str, message: impl Into<String>) -> Self {
        Error::BadOption { option, message: message.into() }
    }

    pub fn option_range(option: &'static str, message: impl Into<String>) -> Self {
        Error::OptionOutOfRange { option, message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadOption { option, message } | Error::OptionOutOfRange { option, message } => {
                write!(f, "option `{option}`: {message}")
            }
            Error::BadArgument { name, message } => write!(f, "{name}: {message}"),
            Error::SlotOutOfRange { index, slots } => write!(
                f,
                "slot index {index} is out of range: this slab has {slots} slots (valid indices 0..={})",
                slots.saturating_sub(1)
            ),
            Error::ReplicaOutOfRange { replica, replicas } => write!(
                f,
                "replica {replica} is out of range: this slab has {replicas} replicas (0..={})",
                replicas.saturating_sub(1)
            ),
            Error::CoreNotAllowed { core, allowed } => write!(
                f,
                "core {core} does not exist or is not in this process's allowed CPU set {allowed:?}: \
                 pick cores from that set, or leave `cores` out to let ultraslayer choose"
            ),
            Error::CoreListedTwice { core } => write!(
                f,
                "core {core} is listed twice in `cores`: each replica thread needs its own core \
                 (leave `cores` out to share cores automatically on small machines)"
            ),
            Error::Thread { message } => write!(f, "replica thread: {message}"),
            Error::HugePages { message } => f.write_str(message),
            Error::LockRefused { bytes, errno } => write!(
                f,
                "mlock of {bytes} bytes refused ({}): raise the memlock limit (`ulimit -l unlimited`, \
                 LimitMEMLOCK= in a systemd unit, or run with CAP_IPC_LOCK), or pass lock: false",
                errno_text(*errno)
            ),
            Error::MapFailed { bytes, errno } => write!(
                f,
                "could not map {bytes} bytes ({}): ask for fewer slots or replicas",
                errno_text(*errno)
            ),
            Error::Stopped { what } => f.write_str(what),
            Error::LengthMismatch { indices, values } => write!(
                f,
                "batch length mismatch: {indices} indices but {values} values: pass arrays of equal length"
            ),
            Error::Unsupported { what } => write!(f, "not supported on this machine: {what}"),
            Error::Placement { message, hint } => write!(f, "refresh-group placement failed: {message}; {hint}"),
            Error::Io { path, message } => write!(f, "{path}: {message}"),
            Error::BadSegmentName { name, message } => write!(
                f,
                "shared slab name {name:?} {message}: use 1 to {} characters from A-Z a-z 0-9 . _ - (not starting with '.')",
                crate::shm::MAX_NAME_LEN
            ),
            Error::SegmentExists { name, path } => write!(
                f,
                "a shared slab named {name:?} already exists ({path}): open it with Slayer.open, remove it with \
                 Slayer.unlink, or pass overwrite: true to replace it (processes that have it open keep the old one)"
            ),
            Error::SegmentMissing { name, searched } => write!(
                f,
                "no shared slab named {name:?} (looked in {}): create it first with Slayer.create, or check the name",
                searched.join(", ")
            ),
            Error::SegmentInvalid { path, message } => write!(
                f,
                "{path} is not a usable ultraslayer shared slab: {message}; if it is stale, remove it with \
                 Slayer.unlink and create it again"
            ),
            Error::SegmentNotReady { path, creator_pid, creator_alive } => {
                if *creator_alive {
                    write!(f, "shared slab {path} is still being created by pid {creator_pid}: retry in a moment")
                } else {
                    write!(
                        f,
                        "shared slab {path} was never finished: its creator (pid {creator_pid}) is gone; remove it with \
                         Slayer.unlink or create it again with overwrite: true"
                    )
                }
            }
            Error::SegmentIncompatible { path, message } => {
                write!(f, "shared slab {path} does not match what was asked for: {message}")
            }
            Error::RecordInconsistent { index, attempts } => write!(
                f,
                "record {index} was being rewritten in every copy on all {attempts} read attempts, so no consistent \
                 snapshot could be taken (nothing torn was returned): retry, or write that record less often"
            ),
            Error::WriterBusy { path } => write!(
                f,
                "another writer holds the writer lock of {path}: a record segment takes one writer process at a \
                 time (it may be this process through another handle); close that writer first, or only read here"
            ),
            Error::SegmentIo { path, op, errno } => {
                write!(f, "{op} {path} failed ({})", errno_text(*errno))?;
                match *errno {
                    libc::EACCES | libc::EPERM => f.write_str(
                        ": segments are created with mode 0600, so open it as the user that created it",
                    ),
                    libc::ENOSPC | libc::ENOMEM => f.write_str(
                        ": not enough room in the backing filesystem; ask for fewer slots, free space in /dev/shm, \
                         or reserve more huge pages (sysctl vm.nr_hugepages=N)",
                    ),
                    _ => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// `strerror` text for an errno, e.g. "ENOMEM: Cannot allocate memory".
pub(crate) fn errno_text(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno).to_string()
}

/// The errno of the last failed libc call.
pub(crate) fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}
