//! Every refusal the engine can make, as a value with a message that says what to do.
//!
//! The binding maps `Error::kind()` to TypeError / RangeError / Error once, in one place; the
//! engine never panics on bad input. Messages are neutral to their front end: where one names an
//! option, a setting or a call, it writes a marker — `⟦opt:channelOffset⟧`, `⟦set:lock=false⟧`,
//! `⟦call:start⟧` — and `Error::message(front)` (or `spell`) renders it the way that front end
//! spells it: `channelOffset` / `lock: false` / `start()` for JavaScript, `channel_offset` /
//! `lock = US_LOCK_OFF` / `us_start()` for C. `Display` renders the Rust spelling. This module
//! knows no other module's names.

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

/// A refusal: what failed, the value involved, and (in its message) what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// An option is malformed (wrong type or shape). `option` names it, `message` says what is allowed.
    BadOption {
        /// The option's name.
        option: &'static str,
        /// What is allowed.
        message: String,
    },
    /// An option's value is outside what is allowed. `option` names it, `message` says the range.
    OptionOutOfRange {
        /// The option's name.
        option: &'static str,
        /// The range allowed.
        message: String,
    },
    /// An argument of the wrong type (e.g. a slot index that is not an integer).
    BadArgument {
        /// The argument's name.
        name: &'static str,
        /// What was expected.
        message: String,
    },
    /// A slot index at or beyond the slot count.
    SlotOutOfRange {
        /// The index asked for.
        index: u64,
        /// The slab's slot count.
        slots: u64,
    },
    /// A record index at or beyond the record count (`Records`).
    RecordOutOfRange {
        /// The index asked for.
        index: u64,
        /// The record count.
        count: u64,
    },
    /// A replica number at or beyond the replica count.
    ReplicaOutOfRange {
        /// The replica asked for.
        replica: usize,
        /// The replica count.
        replicas: usize,
    },
    /// An explicitly requested core does not exist or is not in the process's allowed set.
    CoreNotAllowed {
        /// The core asked for.
        core: usize,
        /// The cores this process may run on.
        allowed: Vec<usize>,
    },
    /// The same core listed twice.
    CoreListedTwice {
        /// The repeated core.
        core: usize,
    },
    /// A thread could not be pinned, spawned or named.
    Thread {
        /// What the system said.
        message: String,
    },
    /// A bug inside the library (a report that could not be serialised, an invariant broken).
    Internal {
        /// What broke.
        message: String,
    },
    /// The page kind asked for could not be had.
    HugePages {
        /// What was asked for and what the system has.
        message: String,
    },
    /// mlock was asked for and refused.
    LockRefused {
        /// The bytes asked to be locked.
        bytes: usize,
        /// mlock's errno.
        errno: i32,
    },
    /// mmap of plain pages failed (out of memory or address space).
    MapFailed {
        /// The bytes asked for.
        bytes: usize,
        /// mmap's errno.
        errno: i32,
    },
    /// An operation that needs running replica threads found them stopped, or the object closed.
    Stopped {
        /// The operation that was refused.
        what: &'static str,
    },
    /// A batch whose input and output lengths differ.
    LengthMismatch {
        /// How many indices were given.
        indices: usize,
        /// How many values (or output places) were given.
        values: usize,
    },
    /// A probe cannot run here (wrong architecture, missing kernel interface).
    Unsupported {
        /// What cannot run, and why.
        what: String,
    },
    /// A file could not be read or written.
    Io {
        /// The file.
        path: String,
        /// What the system said.
        message: String,
    },
    /// A shared-slab name that is empty, too long, or has characters outside the allowed set.
    BadSegmentName {
        /// The name given.
        name: String,
        /// What is allowed.
        message: String,
    },
    /// `create` found a segment of that name and was not asked to overwrite it.
    SegmentExists {
        /// The segment's name.
        name: String,
        /// Where it lives.
        path: String,
        /// What the caller creates (a slab or records).
        of: Segment,
    },
    /// `open`/`unlink` found no segment of that name in any place segments live.
    SegmentMissing {
        /// The name looked for.
        name: String,
        /// The places looked in.
        searched: Vec<String>,
        /// What the caller opens (a slab or records).
        of: Segment,
    },
    /// The file is there but is not a usable segment: truncated, foreign, wrong version, corrupt.
    SegmentInvalid {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
        /// What the caller opens (a slab or records).
        of: Segment,
    },
    /// The segment is being created, or its creator died before finishing it.
    SegmentNotReady {
        /// The file.
        path: String,
        /// The process that is creating it.
        creator_pid: u32,
        /// Whether that process is still running.
        creator_alive: bool,
        /// What the caller opens (a slab or records).
        of: Segment,
    },
    /// The segment is valid but its layout is not the one the caller expected.
    SegmentIncompatible {
        /// The file.
        path: String,
        /// What differs from what was expected.
        message: String,
    },
    /// A system call on a segment file failed.
    SegmentIo {
        /// The file.
        path: String,
        /// The system call that failed.
        op: &'static str,
        /// Its errno.
        errno: i32,
    },
    /// Every copy of record `index` was mid-update on every one of `attempts` reads (a writer
    /// rewriting it back to back); nothing was returned rather than a mix of two writes.
    RecordInconsistent {
        /// The record.
        index: u64,
        /// How many times every copy was read.
        attempts: u32,
    },
    /// A record field's value outside its type's range (`u32`, `i32`, `int53`); nothing was written.
    FieldOutOfRange {
        /// The field's name.
        field: String,
        /// The field's type.
        ty: &'static str,
        /// The range that type holds.
        range: &'static str,
        /// The value given, as its 64-bit word.
        word: u64,
    },
    /// Another writer holds the record segment's writer lock (one writer process at a time).
    WriterBusy {
        /// The segment's file.
        path: String,
    },
    /// Refresh-group placement could not be had (no periodic stall, too few groups, budget spent,
    /// too many mappings); `hint` says what to do instead.
    Placement {
        /// What could not be had.
        message: String,
        /// What to do instead.
        hint: String,
    },
    /// The creation was cancelled through its `Job` (in `phase`, when it had reported one);
    /// everything it had made was freed first.
    Cancelled {
        /// The phase the creation was in, when it had reported one.
        phase: Option<&'static str>,
    },
}

/// What a shared segment holds, so that a refusal about it names the class (and the calls) the
/// caller holds: `Slayer.open()` for a slab of slots, `Records.open()` for records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    /// A slab of slots (`Slayer`).
    Slab,
    /// A record segment (`Records`).
    Records,
}

impl Segment {
    /// The class whose calls open, create and unlink this kind of segment.
    fn class(self) -> &'static str {
        match self {
            Segment::Slab => "Slayer",
            Segment::Records => "Records",
        }
    }

    /// What the segment is called in a message: "shared slab" / "shared record segment".
    fn noun(self) -> &'static str {
        match self {
            Segment::Slab => "shared slab",
            Segment::Records => "shared record segment",
        }
    }
}

impl Error {
    /// The same refusal, reworded for a caller that holds `Records` (the segment calls it names
    /// become `Records.open()` and the like); other errors pass unchanged.
    pub(crate) fn of_records(mut self) -> Error {
        if let Error::SegmentExists { of, .. }
        | Error::SegmentMissing { of, .. }
        | Error::SegmentInvalid { of, .. }
        | Error::SegmentNotReady { of, .. } = &mut self
        {
            *of = Segment::Records;
        }
        self
    }

    /// Which class of error this is: a bad type or shape, a value out of range, or the system.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BadOption { .. } | Error::BadArgument { .. } => ErrorKind::Type,
            Error::SlotOutOfRange { .. }
            | Error::RecordOutOfRange { .. }
            | Error::OptionOutOfRange { .. }
            | Error::ReplicaOutOfRange { .. }
            | Error::LengthMismatch { .. }
            | Error::FieldOutOfRange { .. }
            | Error::BadSegmentName { .. } => ErrorKind::Range,
            _ => ErrorKind::System,
        }
    }

    /// An [`Error::BadOption`] naming `option`.
    pub fn bad_option(option: &'static str, message: impl Into<String>) -> Self {
        Error::BadOption { option, message: message.into() }
    }

    /// An [`Error::OptionOutOfRange`] naming `option`.
    pub fn option_range(option: &'static str, message: impl Into<String>) -> Self {
        Error::OptionOutOfRange { option, message: message.into() }
    }
}

/// Which front end a message is rendered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Front {
    /// JavaScript: `channelOffset`, `lock: false`, `start()`.
    Js,
    /// The C ABI: `channel_offset`, `lock = US_LOCK_OFF`, `us_start()`.
    C,
    /// Rust: `channel_offset`, `lock = false`, `Slayer::start()`.
    Rust,
}

/// `channelOffset` → `channel_offset`.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A setting `option=value` as the front end writes it.
fn setting(body: &str, front: Front) -> String {
    let (opt, value) = body.split_once('=').unwrap_or((body, ""));
    let literal = matches!(value, "true" | "false") || value.parse::<f64>().is_ok();
    match front {
        Front::Js if literal => format!("{opt}: {value}"),
        Front::Js => format!("{opt}: '{value}'"),
        Front::C => {
            let constant = match (opt, value) {
                ("lock", "false") => "US_LOCK_OFF".to_string(),
                ("lock", "true") => "US_LOCK_REQUIRED".to_string(),
                (_, v) if literal => v.to_string(),
                ("hugePages", v) => format!("US_PAGES_{}", v.to_ascii_uppercase()),
                (o, v) => format!("US_{}_{}", o.to_ascii_uppercase(), v.replace('-', "_").to_ascii_uppercase()),
            };
            format!("{} = {constant}", snake(opt))
        }
        Front::Rust if literal => format!("{} = {value}", snake(opt)),
        Front::Rust => format!("{} = {value:?}", snake(opt)),
    }
}

/// A call as the front end writes it: `start` → `start()` / `us_start()`; `Slayer.open`,
/// `Records.open` and the other shared-segment calls exist only in the Node and Rust APIs.
fn call(name: &str, front: Front) -> String {
    // The shared-segment calls of the two classes that have them (`Records.open` and the like).
    let shared = ["Slayer", "Records"].into_iter().find_map(|ty| name.strip_prefix(ty).and_then(|f| f.strip_prefix('.')).map(|f| (ty, f)));
    match (front, shared) {
        (Front::Js, _) => format!("{name}()"),
        (Front::C, None) => format!("us_{}()", snake(name)),
        (Front::C, Some(_)) => format!("{name}() (Node API)"),
        (Front::Rust, Some((ty, f))) => format!("{ty}::{}_shared()", snake(f)),
        (Front::Rust, None) => format!("Slayer::{}()", snake(name)),
    }
}

/// Renders the markers in an engine message for `front` (see the module docs). Text without
/// markers comes back unchanged; an unknown marker kind is left as written.
pub fn spell(text: &str, front: Front) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('⟦') {
        out.push_str(&rest[..start]);
        let after = &rest[start + '⟦'.len_utf8()..];
        let Some(end) = after.find('⟧') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let marker = &after[..end];
        match marker.split_once(':') {
            Some(("opt", name)) if front == Front::Js => out.push_str(name),
            Some(("opt", name)) => out.push_str(&snake(name)),
            Some(("set", body)) => out.push_str(&setting(body, front)),
            Some(("call", name)) => out.push_str(&call(name, front)),
            _ => out.push_str(&rest[start..start + '⟦'.len_utf8() + end + '⟧'.len_utf8()]),
        }
        rest = &after[end + '⟧'.len_utf8()..];
    }
    out.push_str(rest);
    out
}

impl Error {
    /// The message, spelled for `front`.
    pub fn message(&self, front: Front) -> String {
        spell(&self.marked(), front)
    }

    /// The message with its markers, for text that reaches a front end by another road (an
    /// `info()` note quoting why something fell back).
    pub(crate) fn marked(&self) -> String {
        MarkedMessage(self).to_string()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message(Front::Rust))
    }
}

struct MarkedMessage<'a>(&'a Error);

impl fmt::Display for MarkedMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Error::BadOption { option, message } | Error::OptionOutOfRange { option, message } => {
                write!(f, "option `⟦opt:{option}⟧`: {message}")
            }
            Error::BadArgument { name, message } => write!(f, "{name}: {message}"),
            Error::SlotOutOfRange { index, slots } => {
                write!(f, "slot index {index} is out of range: this slab has {slots} slots (valid indices {})", span(*slots))
            }
            Error::RecordOutOfRange { index, count } => {
                write!(f, "record index {index} is out of range: there are {count} records (valid indices {})", span(*count))
            }
            Error::ReplicaOutOfRange { replica, replicas } => {
                write!(
                    f,
                    "replica {replica} is out of range: this slab has {replicas} replicas (valid replicas {})",
                    span(*replicas as u64)
                )
            }
            Error::CoreNotAllowed { core, allowed } => write!(
                f,
                "core {core} does not exist or is not in this process's allowed CPU set {allowed:?}: \
                 pick cores from that set, or leave `cores` unset to let ultraslayer choose"
            ),
            Error::CoreListedTwice { core } => write!(
                f,
                "core {core} is listed twice in `cores`: each replica thread needs its own core \
                 (leave `cores` unset to share cores automatically on small machines)"
            ),
            Error::Thread { message } => write!(f, "replica thread: {message}"),
            Error::Internal { message } => write!(f, "ultraslayer bug (please report it): {message}"),
            Error::HugePages { message } => f.write_str(message),
            #[cfg(not(windows))]
            Error::LockRefused { bytes, errno } => write!(
                f,
                "mlock of {bytes} bytes refused ({}): raise the memlock limit (`ulimit -l unlimited`, \
                 LimitMEMLOCK= in a systemd unit, or run with CAP_IPC_LOCK), or set ⟦set:lock=false⟧",
                errno_text(*errno)
            ),
            #[cfg(windows)]
            Error::LockRefused { bytes, errno } => write!(
                f,
                "VirtualLock of {bytes} bytes refused ({}): the process's working-set quota is too small (raise it \
                 with SetProcessWorkingSetSize, or grant 'Increase a process working set'), or set ⟦set:lock=false⟧",
                errno_text(*errno)
            ),
            Error::MapFailed { bytes, errno } => {
                write!(f, "could not map {bytes} bytes ({}): ask for fewer slots (or records) or replicas", errno_text(*errno))
            }
            Error::Stopped { what } => f.write_str(what),
            Error::LengthMismatch { indices, values } => {
                write!(f, "batch length mismatch: {indices} indices but {values} values: pass arrays of equal length")
            }
            Error::Unsupported { what } => write!(f, "not supported on this machine: {what}"),
            Error::Placement { message, hint } => write!(f, "refresh-group placement failed: {message}; {hint}"),
            Error::Io { path, message } => write!(f, "{path}: {message}"),
            Error::BadSegmentName { name, message } => write!(f, "shared slab name {name:?} {message}"),
            Error::SegmentExists { name, path, of } => write!(
                f,
                "a {} named {name:?} already exists ({path}): open it with ⟦call:{c}.open⟧, remove it with ⟦call:{c}.unlink⟧, \
                 or set ⟦set:overwrite=true⟧ to replace it (processes that have it open keep the old one)",
                of.noun(),
                c = of.class()
            ),
            Error::SegmentMissing { name, searched, of } => write!(
                f,
                "no {} named {name:?} (looked in {}): create it first with ⟦call:{}.create⟧, or check the name",
                of.noun(),
                searched.join(", "),
                of.class()
            ),
            Error::SegmentInvalid { path, message, of } => write!(
                f,
                "{path} is not a usable ultraslayer {}: {message}; if it is stale, remove it with ⟦call:{}.unlink⟧ and create it again",
                of.noun(),
                of.class()
            ),
            Error::SegmentNotReady { path, creator_pid, creator_alive, of } => {
                if *creator_alive {
                    write!(f, "{} {path} is still being created by pid {creator_pid}: retry in a moment", of.noun())
                } else {
                    write!(
                        f,
                        "{} {path} was never finished: its creator (pid {creator_pid}) is gone; remove it with \
                         ⟦call:{}.unlink⟧ or create it again with ⟦set:overwrite=true⟧",
                        of.noun(),
                        of.class()
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
            Error::FieldOutOfRange { field, ty, range, word } => write!(
                f,
                "field `{field}` is {ty}, which holds {range}; the value given (64-bit word {word:#x}, as i64 {}) is outside it, \
                 so nothing was written",
                *word as i64
            ),
            Error::WriterBusy { path } => write!(
                f,
                "another writer holds the writer lock of {path}: a record segment takes one writer process at a \
                 time (it may be this process through another handle); close that writer first, or only read here"
            ),
            Error::Cancelled { phase } => match phase {
                Some(p) => write!(f, "cancelled during '{p}': nothing was kept (memory unmapped, no thread started, no segment left)"),
                None => f.write_str("cancelled before it began: nothing was made"),
            },
            Error::SegmentIo { path, op, errno } => {
                write!(f, "{op} {path} failed ({})", errno_text(*errno))?;
                match *errno {
                    libc::EACCES | libc::EPERM => {
                        f.write_str(": segments are created with mode 0600, so open it as the user that created it")
                    }
                    libc::ENOSPC | libc::ENOMEM => f.write_str(
                        ": not enough room in the backing filesystem; ask for fewer slots (or records), free space in /dev/shm, \
                         or reserve more huge pages (sysctl vm.nr_hugepages=N)",
                    ),
                    _ => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for Error {}

/// The engine's result: a value, or the [`Error`] that refused it.
pub type Result<T> = std::result::Result<T, Error>;

/// The valid indices below `n`, in the one range notation every message uses: "0 to 15"
/// ("none" when there are none).
fn span(n: u64) -> String {
    match n {
        0 => "none".into(),
        n => format!("0 to {}", n - 1),
    }
}

/// A JS number as JavaScript prints it (`String(v)`): `Infinity`, `-Infinity`, `NaN`, `-0`, `1.5`,
/// `1e+30`, `1e-7` — never Rust's `inf` or `1000000000000000000000000000000` — for a message
/// that quotes a value a JS caller passed.
pub fn js_number(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let a = v.abs();
    if (1e-6..1e21).contains(&a) {
        // Rust's Display is the shortest round-trip digits without an exponent, as JS prints here.
        return format!("{v}");
    }
    // JS: mantissa, "e", and a signed exponent ("1e+30", "-1.5e-7").
    let e = format!("{v:e}");
    match e.split_once('e') {
        Some((m, x)) if !x.starts_with('-') => format!("{m}e+{x}"),
        _ => e,
    }
}

/// `strerror` text for an errno, e.g. "ENOMEM: Cannot allocate memory".
pub(crate) fn errno_text(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno).to_string()
}

/// The errno of the last failed libc call.
#[cfg_attr(windows, allow(dead_code))]
pub(crate) fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<Error> {
        vec![
            Error::bad_option("channelOffset", "must be a number"),
            Error::option_range("hugePages", "⟦set:placement=refresh-groups⟧ needs ⟦set:hugePages=off⟧"),
            Error::BadArgument { name: "index", message: "must be an integer".into() },
            Error::SlotOutOfRange { index: 9, slots: 3 },
            Error::ReplicaOutOfRange { replica: 3, replicas: 2 },
            Error::CoreNotAllowed { core: 9, allowed: vec![0, 1] },
            Error::CoreListedTwice { core: 1 },
            Error::Thread { message: "spawn".into() },
            Error::Internal { message: "json".into() },
            Error::HugePages { message: "reserve some, or use ⟦set:hugePages=auto⟧".into() },
            Error::LockRefused { bytes: 4096, errno: libc::EPERM },
            Error::MapFailed { bytes: 4096, errno: libc::ENOMEM },
            Error::Stopped { what: "call ⟦call:start⟧ first" },
            Error::LengthMismatch { indices: 1, values: 2 },
            Error::Unsupported { what: "x".into() },
            Error::Io { path: "/p".into(), message: "m".into() },
            Error::BadSegmentName { name: "a/b".into(), message: "contains '/'".into() },
            Error::SegmentExists { name: "n".into(), path: "/dev/shm/n".into(), of: Segment::Slab },
            Error::SegmentMissing { name: "n".into(), searched: vec!["/dev/shm".into()], of: Segment::Records },
            Error::SegmentInvalid { path: "/p".into(), message: "bad magic".into(), of: Segment::Slab },
            Error::SegmentNotReady { path: "/p".into(), creator_pid: 1, creator_alive: false, of: Segment::Records },
            Error::RecordOutOfRange { index: 9, count: 3 },
            Error::FieldOutOfRange { field: "qty".into(), ty: "u32", range: "0 to 2^32 - 1", word: 1 << 40 },
            Error::SegmentIncompatible { path: "/p".into(), message: "⟦opt:channelOffset⟧: expected 64".into() },
            Error::SegmentIo { path: "/p".into(), op: "open", errno: libc::EACCES },
            Error::Placement { message: "m".into(), hint: "use ⟦set:placement=offset⟧".into() },
            Error::Cancelled { phase: Some("prefault") },
            Error::Cancelled { phase: None },
        ]
    }

    #[test]
    fn every_message_renders_for_every_front_end_with_no_marker_left() {
        for e in every_variant() {
            for front in [Front::Js, Front::C, Front::Rust] {
                let m = e.message(front);
                assert!(!m.contains('⟦') && !m.contains('⟧'), "{front:?}: {m}");
                assert!(!m.is_empty());
            }
        }
    }

    #[test]
    fn ranges_read_from_a_to_b_and_never_as_rust_ranges() {
        for e in every_variant() {
            let m = e.message(Front::Js);
            assert!(!m.contains("..="), "{m}");
        }
        let slot = Error::SlotOutOfRange { index: 16, slots: 16 }.message(Front::Js);
        assert_eq!(slot, "slot index 16 is out of range: this slab has 16 slots (valid indices 0 to 15)");
        let rec = Error::RecordOutOfRange { index: 16, count: 16 }.message(Front::Js);
        assert_eq!(rec, "record index 16 is out of range: there are 16 records (valid indices 0 to 15)");
    }

    #[test]
    fn numbers_are_quoted_as_javascript_prints_them() {
        let cases = [
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
            (-0.0, "-0"),
            (0.0, "0"),
            (1.5, "1.5"),
            (-3.0, "-3"),
            (4294967296.0, "4294967296"),
            (1e21, "1e+21"),
            (1e30, "1e+30"),
            (-1.5e-7, "-1.5e-7"),
            (1e-6, "0.000001"),
            (123456789012345680000.0, "123456789012345680000"),
        ];
        for (v, want) in cases {
            assert_eq!(js_number(v), want, "{v:?}");
        }
    }

    #[test]
    fn segment_refusals_name_the_class_the_caller_holds() {
        let missing = Error::SegmentMissing { name: "q".into(), searched: vec!["/dev/shm".into()], of: Segment::Slab };
        assert!(missing.message(Front::Js).contains("create it first with Slayer.create()"));
        let missing = missing.of_records();
        let m = missing.message(Front::Js);
        assert!(m.starts_with("no shared record segment named \"q\"") && m.contains("Records.create()"), "{m}");
        assert!(missing.to_string().contains("Records::create_shared()"), "{missing}");
        let other = Error::LengthMismatch { indices: 1, values: 2 };
        assert_eq!(other.clone().of_records(), other);
    }

    #[test]
    fn each_front_end_gets_its_own_spelling() {
        let lock = Error::LockRefused { bytes: 1, errno: libc::EPERM };
        assert!(lock.message(Front::Js).ends_with("or set lock: false"));
        assert!(lock.message(Front::C).ends_with("or set lock = US_LOCK_OFF"));
        let opt = Error::option_range("channelOffset", "leave ⟦opt:channelOffset⟧ unset or use ⟦set:placement=offset⟧");
        assert_eq!(opt.message(Front::Js), "option `channelOffset`: leave channelOffset unset or use placement: 'offset'");
        assert_eq!(opt.message(Front::C), "option `channel_offset`: leave channel_offset unset or use placement = US_PLACEMENT_OFFSET");
        assert_eq!(opt.to_string(), "option `channel_offset`: leave channel_offset unset or use placement = \"offset\"");
        assert_eq!(
            spell("⟦set:hugePages=auto⟧ ⟦set:spin=hybrid⟧ ⟦call:start⟧", Front::C),
            "huge_pages = US_PAGES_AUTO spin = US_SPIN_HYBRID us_start()"
        );
        assert_eq!(spell("⟦set:hugePages=auto⟧ ⟦call:start⟧ ⟦call:Slayer.open⟧", Front::Js), "hugePages: 'auto' start() Slayer.open()");
        assert_eq!(spell("⟦set:placement=refresh-groups⟧", Front::C), "placement = US_PLACEMENT_REFRESH_GROUPS");
        assert_eq!(spell("no markers", Front::C), "no markers");
        assert_eq!(spell("unknown ⟦odd:x⟧ and open ⟦set", Front::Js), "unknown ⟦odd:x⟧ and open ⟦set");
    }
}
