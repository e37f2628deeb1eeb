//! The C ABI: `libultraslayer.so` for programs that are not Node (C, C++, Python ctypes, ...).
//!
//! Owns the translation between C and the engine: plain-old-data structs with a leading `size`
//! field for versioning, integer status codes, a thread-local error message, and an opaque handle
//! that turns the engine's `&mut self` reads into a try-lock (`US_ERR_BUSY`) so no C caller can
//! break Rust's aliasing rules. The header is `include/ultraslayer.h`; keep the two in step (the
//! `const` size asserts here and the `_Static_assert`s there pin the struct layouts).
//!
//! What it must never do: unwind into C (every entry point runs inside `catch_unwind`), abort on
//! bad input, or allocate or touch the error message on a successful read or write.

#![allow(non_camel_case_types)]

use std::cell::{RefCell, UnsafeCell};
use std::ffi::{c_char, c_int, CStr, CString};
use std::mem::{align_of, size_of};
use std::ops::{Deref, DerefMut};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ultraslayer::error::{Error, ErrorKind, Front};
use ultraslayer::layout::MAX_REPLICAS;
use ultraslayer::options::{ChannelOffset, CopyPlacement, Options, Strategy};
use ultraslayer::region::{LockRequest, PageKind, PageRequest};
use ultraslayer::slab::Slab;
use ultraslayer::slayer::Slayer;
use ultraslayer::SpinPolicy;

/// Bumped when a struct grows or a function changes meaning; `us_abi_version()` returns it.
pub const US_ABI_VERSION: u32 = 2;

// Status codes. Every function that can fail returns one; `us_last_error()` says why.
pub const US_OK: c_int = 0;
/// A bad option (any `us_options` field, as the engine reports) or argument: unknown enum value,
/// bad `size`, misaligned or overlapping arrays.
pub const US_ERR_TYPE: c_int = 1;
/// A value out of range (slot index, replica number, a batch too large for memory).
pub const US_ERR_RANGE: c_int = 2;
/// The system refused (no huge pages, mlock refused, core not allowed, thread spawn failed).
pub const US_ERR_SYSTEM: c_int = 3;
/// A required pointer (handle, options, out pointer, non-empty batch array) was NULL.
pub const US_ERR_NULL: c_int = 4;
/// Another thread is inside a read, start, stop, info or stats call on the same handle.
pub const US_ERR_BUSY: c_int = 5;
/// A bug: the library panicked. The handle is poisoned; destroy it.
pub const US_ERR_PANIC: c_int = 6;

// us_options.huge_pages
pub const US_PAGES_AUTO: i32 = 0;
pub const US_PAGES_1G: i32 = 1;
pub const US_PAGES_2M: i32 = 2;
pub const US_PAGES_THP: i32 = 3;
pub const US_PAGES_OFF: i32 = 4;

// us_info.page_kind: the same numbers as the request that forces that kind.
pub const US_PAGE_KIND_1G: i32 = 1;
pub const US_PAGE_KIND_2M: i32 = 2;
pub const US_PAGE_KIND_THP: i32 = 3;
pub const US_PAGE_KIND_4K: i32 = 4;

// us_options.lock
pub const US_LOCK_AUTO: i32 = -1;
pub const US_LOCK_OFF: i32 = 0;
pub const US_LOCK_REQUIRED: i32 = 1;

// us_options.spin / us_info.spin
pub const US_SPIN_BUSY: i32 = 0;
pub const US_SPIN_HYBRID: i32 = 1;
pub const US_SPIN_SLEEP: i32 = 2;

// us_options.strategy / us_info.strategy (us_info never reports AUTO: it says what was chosen)
pub const US_STRATEGY_AUTO: i32 = 0;
pub const US_STRATEGY_HEDGE: i32 = 1;
pub const US_STRATEGY_STEER: i32 = 2;
pub const US_STRATEGY_DIRECT: i32 = 3;

// us_options.placement
pub const US_PLACEMENT_AUTO: i32 = 0;
pub const US_PLACEMENT_REFRESH_GROUPS: i32 = 1;
pub const US_PLACEMENT_OFFSET: i32 = 2;

// us_options.channel_offset: a power of two >= 64, or one of these.
/// The engine's default for the strategy (256, or 64 for a steered slab).
pub const US_CHANNEL_OFFSET_DEFAULT: u32 = 0;
/// What `ultraslayer probe groups` recorded on this machine, else the default.
pub const US_CHANNEL_OFFSET_AUTO: u32 = 1;

/// Options for `us_create`. Fill with `us_options_default`, then change fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct us_options {
    /// `sizeof(us_options)` as the caller compiled it; set by `us_options_default`.
    pub size: usize,
    pub slots: u64,
    pub replicas: u32,
    pub channel_offset: u32,
    pub huge_pages: i32,
    pub lock: i32,
    /// One core per replica, or NULL / `core_count == 0` to let the library choose.
    pub cores: *const u32,
    pub core_count: usize,
    /// Idle microseconds before hybrid/sleep threads park; -1 = the policy's default.
    pub idle_us: i64,
    pub spin: i32,
    pub start: i32,
    pub record_latency: i32,
    /// `US_STRATEGY_*`; default AUTO.
    pub strategy: i32,
    /// `US_PLACEMENT_*`; default AUTO.
    pub placement: i32,
    /// Time refresh-group placement may spend timing pages; -1 = the default (3000 ms).
    pub placement_budget_ms: i64,
}

/// What a slab got and how it runs. Set `size = sizeof(us_info)` before `us_get_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct us_info {
    pub size: usize,
    pub slots: u64,
    pub replicas: u32,
    pub channel_offset: u32,
    pub page_kind: i32,
    pub locked: i32,
    pub running: i32,
    pub shared_cores: i32,
    pub spin: i32,
    pub recording: i32,
    pub page_size: u64,
    pub mapped_bytes: u64,
    pub thp_bytes: u64,
    /// `UINT64_MAX` = threads never park (busy).
    pub idle_us: u64,
    /// `cores[r]` is replica r's core, for r < replicas.
    pub cores: [u32; MAX_REPLICAS],
    /// `US_STRATEGY_*` the slab reads with (never AUTO), and the one asked for.
    pub strategy: i32,
    pub strategy_requested: i32,
}

/// What reads did since creation or `us_reset_stats`. Set `size = sizeof(us_stats)` first.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct us_stats {
    pub size: usize,
    pub hedged: u64,
    pub direct: u64,
    pub direct_while_parked: u64,
    pub direct_after_timeout: u64,
    /// Hedged wins per replica, for r < replicas.
    pub wins: [u64; MAX_REPLICAS],
    /// Latency percentiles in ns; all zero unless `record_latency` was set.
    pub latency_count: u64,
    pub latency_min_ns: u64,
    pub latency_mean_ns: f64,
    pub latency_p50_ns: u64,
    pub latency_p90_ns: u64,
    pub latency_p99_ns: u64,
    pub latency_p999_ns: u64,
    pub latency_p9999_ns: u64,
    pub latency_max_ns: u64,
}

// The header's _Static_asserts state the same sizes; a change here is an ABI change.
const _: () = assert!(size_of::<us_options>() == 88 && align_of::<us_options>() == 8);
const _: () = assert!(size_of::<us_info>() == 120 && align_of::<us_info>() == 8);
const _: () = assert!(size_of::<us_stats>() == 176 && align_of::<us_stats>() == 8);
const _: () = assert!(size_of::<usize>() == 8, "the C ABI is defined for 64-bit targets");

/// The opaque handle C holds as `us_slayer*`.
pub struct us_slayer {
    /// Held by every call that needs the `Slayer` itself: reads (`&mut`), start/stop, info, stats.
    busy: AtomicBool,
    /// Set when a panic unwound while `busy` was held; the `Slayer` may be half-updated.
    poisoned: AtomicBool,
    slayer: UnsafeCell<Slayer>,
    /// The same slab the `Slayer` owns: writes and direct replica reads go here, lock-free.
    slab: Arc<Slab>,
}

// SAFETY: `slayer` is only reached through `Exclusive`, which holds `busy` (a mutual-exclusion
// flag with Acquire/Release hand-over), so at most one thread touches it at a time; `Slayer` is
// `Send` (asserted below). Everything else in the struct is `Sync` on its own.
unsafe impl Sync for us_slayer {}
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Slayer>();
    send::<Arc<Slab>>();
};

/// Exclusive access to a handle's `Slayer` for the length of one call.
struct Exclusive<'a> {
    handle: &'a us_slayer,
}

impl us_slayer {
    fn exclusive(&self) -> Result<Exclusive<'_>, Failure> {
        // Acquire: pairs with the Release store in `Exclusive::drop`, so this call sees every
        // change the previous holder made to the `Slayer`.
        if self.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            return Err(Failure::new(
                US_ERR_BUSY,
                "another thread is using this handle (read, start, stop, info or stats): a handle has \
                 one requester at a time; give each reading thread its own handle, or serialize the calls",
            ));
        }
        let guard = Exclusive { handle: self };
        // Relaxed: `poisoned` is only written while `busy` is held; the Acquire above orders it.
        if self.poisoned.load(Ordering::Relaxed) {
            return Err(Failure::new(
                US_ERR_PANIC,
                "this handle is poisoned by an earlier panic inside ultraslayer: us_destroy it and create a new one",
            ));
        }
        Ok(guard)
    }
}

impl Deref for Exclusive<'_> {
    type Target = Slayer;
    fn deref(&self) -> &Slayer {
        // SAFETY: this guard holds `busy`, so no other reference to the `Slayer` exists.
        unsafe { &*self.handle.slayer.get() }
    }
}

impl DerefMut for Exclusive<'_> {
    fn deref_mut(&mut self) -> &mut Slayer {
        // SAFETY: as in `deref`; `&mut self` keeps this the only reference from this guard.
        unsafe { &mut *self.handle.slayer.get() }
    }
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Relaxed: published by the Release store of `busy` just below.
            self.handle.poisoned.store(true, Ordering::Relaxed);
        }
        // Release: pairs with the Acquire compare_exchange in `us_slayer::exclusive`.
        self.handle.busy.store(false, Ordering::Release);
    }
}

/// A refusal on its way to C: a status code and the message `us_last_error` will return.
struct Failure {
    code: c_int,
    message: String,
}

impl Failure {
    fn new(code: c_int, message: impl Into<String>) -> Failure {
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

thread_local! {
    /// The message of the most recent failed call on this thread.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: String) {
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // A thread being torn down has no message slot left; the status code still says what failed.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = c);
}

/// Runs one entry point's body: never unwinds into C, records the message of any failure.
fn run(body: impl FnOnce() -> Result<(), Failure>) -> c_int {
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

fn null(what: &str) -> Failure {
    Failure::new(US_ERR_NULL, format!("{what} is NULL"))
}

/// The handle behind a C pointer.
///
/// # Safety
/// `h` is NULL or a pointer `us_create` returned that has not been passed to `us_destroy`.
unsafe fn handle<'a>(h: *const us_slayer) -> Result<&'a us_slayer, Failure> {
    // SAFETY: per this function's contract, a non-NULL `h` points at a live `us_slayer`.
    unsafe { h.as_ref() }.ok_or_else(|| null("the handle"))
}

/// Checks a pointer the library will write one `T` through.
fn out_ptr<T>(p: *mut T, what: &str) -> Result<*mut T, Failure> {
    if p.is_null() {
        return Err(null(what));
    }
    if (p as usize) % align_of::<T>() != 0 {
        return Err(Failure::new(US_ERR_TYPE, format!("{what} {p:p} is not aligned to {} bytes", align_of::<T>())));
    }
    Ok(p)
}

/// Checks a C array of `n` elements and returns its address range in bytes.
fn array<T>(p: *const T, n: usize, what: &str) -> Result<std::ops::Range<usize>, Failure> {
    if n == 0 {
        return Ok(0..0);
    }
    if p.is_null() {
        return Err(null(what));
    }
    if (p as usize) % align_of::<T>() != 0 {
        return Err(Failure::new(US_ERR_TYPE, format!("{what} {p:p} is not aligned to {} bytes", align_of::<T>())));
    }
    let bytes = n
        .checked_mul(size_of::<T>())
        .filter(|&b| b <= isize::MAX as usize && (p as usize).checked_add(b).is_some())
        .ok_or_else(|| Failure::new(US_ERR_RANGE, format!("a batch of {n} elements does not fit in memory")))?;
    Ok(p as usize..p as usize + bytes)
}

/// A checked C array as a slice.
///
/// # Safety
/// `range` came from `array(p, n, ..)`, and the caller of the entry point promised `p` points at
/// `n` readable elements that no one writes during the call.
unsafe fn slice_in<'a, T>(p: *const T, n: usize, range: &std::ops::Range<usize>) -> &'a [T] {
    if range.is_empty() {
        return &[];
    }
    // SAFETY: non-NULL, aligned, size fits isize (checked by `array`); readable per the contract.
    unsafe { std::slice::from_raw_parts(p, n) }
}

/// A checked C array as a mutable slice.
///
/// # Safety
/// As `slice_in`, for `n` writable elements no one else reads or writes during the call.
unsafe fn slice_out<'a, T>(p: *mut T, n: usize, range: &std::ops::Range<usize>) -> &'a mut [T] {
    if range.is_empty() {
        return &mut [];
    }
    // SAFETY: non-NULL, aligned, size fits isize (checked by `array`); writable per the contract.
    unsafe { std::slice::from_raw_parts_mut(p, n) }
}

fn overlap(a: &std::ops::Range<usize>, b: &std::ops::Range<usize>, what: &str) -> Result<(), Failure> {
    if a.start < b.end && b.start < a.end {
        return Err(Failure::new(US_ERR_TYPE, format!("{what} overlap: pass separate arrays")));
    }
    Ok(())
}

/// No version of a struct will ever be this large; a bigger `size` is an uninitialized field, and
/// reading that many bytes would run off the caller's struct.
const MAX_STRUCT_SIZE: usize = 4096;

/// Reads a caller's versioned struct of which we know `size_of::<T>()` bytes into `known`.
/// Bytes the caller has beyond ours (a newer header) must be zero: we cannot honour them.
///
/// # Safety
/// `p` is non-NULL, aligned, and points at a struct whose first field is its own `size` in bytes,
/// all of them readable.
unsafe fn read_versioned<T: Copy>(p: *const T, known: &mut T, name: &str) -> Result<(), Failure> {
    // SAFETY: every versioned struct starts with a `size_t size` field; `p` is readable and aligned.
    let size = unsafe { ptr::read(p as *const usize) };
    let ours = size_of::<T>();
    if !(ours..=MAX_STRUCT_SIZE).contains(&size) {
        return Err(Failure::new(
            US_ERR_TYPE,
            format!("{name}.size is {size}, expected {ours} (sizeof({name})): fill it with {name}_default or set size = sizeof({name})"),
        ));
    }
    // SAFETY: the caller's struct is `size >= ours` readable bytes; bytes past `ours` are read as u8.
    let extra = unsafe { std::slice::from_raw_parts((p as *const u8).add(ours), size - ours) };
    if extra.iter().any(|&b| b != 0) {
        return Err(Failure::new(
            US_ERR_TYPE,
            format!(
                "{name} has fields past byte {ours} that this libultraslayer (ABI {US_ABI_VERSION}) does not know: \
                 leave them zero, or load a newer libultraslayer"
            ),
        ));
    }
    // SAFETY: `ours` bytes are readable at `p` and `T` is plain-old-data (repr(C), Copy).
    *known = unsafe { ptr::read(p) };
    Ok(())
}

/// Writes `value` into a caller's versioned struct, after checking its `size`.
///
/// # Safety
/// `p` is non-NULL, aligned, and points at a writable struct whose first field is its `size`.
unsafe fn write_versioned<T: Copy>(p: *mut T, value: T, name: &str) -> Result<(), Failure> {
    // SAFETY: every versioned struct starts with a `size_t size` field; `p` is readable and aligned.
    let size = unsafe { ptr::read(p as *const usize) };
    let ours = size_of::<T>();
    if size < ours {
        return Err(Failure::new(
            US_ERR_TYPE,
            format!("{name}.size is {size}, expected {ours}: set size = sizeof({name}) before the call"),
        ));
    }
    // SAFETY: the caller's struct has at least `ours` writable bytes; a larger (newer) struct keeps
    // its own `size` and its unknown tail untouched.
    unsafe { ptr::write(p, value) };
    // SAFETY: as above; restore the caller's size so a newer caller can see what it got.
    unsafe { ptr::write(p as *mut usize, size) };
    Ok(())
}

fn default_options() -> us_options {
    // The engine's defaults, spelled in C: every default lives in `ultraslayer::options`.
    let o = Options::new(0);
    us_options {
        size: size_of::<us_options>(),
        slots: 0,
        replicas: o.replicas as u32,
        channel_offset: match o.channel_offset {
            ChannelOffset::Given(b) => b as u32,
            ChannelOffset::Auto => US_CHANNEL_OFFSET_AUTO,
            ChannelOffset::Default => US_CHANNEL_OFFSET_DEFAULT,
        },
        huge_pages: US_PAGES_AUTO,
        lock: US_LOCK_AUTO,
        cores: ptr::null(),
        core_count: 0,
        idle_us: o.threads.idle_us.map_or(-1, |v| v as i64),
        spin: spin_number(o.threads.spin),
        start: o.threads.start as i32,
        record_latency: o.threads.record_latency as i32,
        strategy: strategy_number(o.strategy),
        placement: US_PLACEMENT_AUTO,
        placement_budget_ms: -1,
    }
}

fn strategy_number(s: Strategy) -> i32 {
    match s {
        Strategy::Auto => US_STRATEGY_AUTO,
        Strategy::Hedge => US_STRATEGY_HEDGE,
        Strategy::Steer => US_STRATEGY_STEER,
        Strategy::Direct => US_STRATEGY_DIRECT,
    }
}

fn bad_option(option: &str, message: String) -> Failure {
    Failure::new(US_ERR_TYPE, format!("option `{option}`: {message}"))
}

/// Turns C options into engine options.
///
/// # Safety
/// `c.cores` is NULL or points at `c.core_count` readable `uint32_t`.
unsafe fn engine_options(c: &us_options) -> Result<Options, Failure> {
    let mut o = Options::new(c.slots);
    o.replicas = c.replicas as usize;
    o.channel_offset = match c.channel_offset {
        US_CHANNEL_OFFSET_DEFAULT => ChannelOffset::Default,
        US_CHANNEL_OFFSET_AUTO => ChannelOffset::Auto,
        b => ChannelOffset::Given(b as usize),
    };
    o.strategy = match c.strategy {
        US_STRATEGY_AUTO => Strategy::Auto,
        US_STRATEGY_HEDGE => Strategy::Hedge,
        US_STRATEGY_STEER => Strategy::Steer,
        US_STRATEGY_DIRECT => Strategy::Direct,
        v => return Err(bad_option("strategy", format!("must be US_STRATEGY_AUTO, _HEDGE, _STEER or _DIRECT (0 to 3), got {v}"))),
    };
    o.placement = match c.placement {
        US_PLACEMENT_AUTO => CopyPlacement::Auto,
        US_PLACEMENT_REFRESH_GROUPS => CopyPlacement::RefreshGroups,
        US_PLACEMENT_OFFSET => CopyPlacement::Offset,
        v => return Err(bad_option("placement", format!("must be US_PLACEMENT_AUTO, _REFRESH_GROUPS or _OFFSET (0 to 2), got {v}"))),
    };
    o.placement_budget = match c.placement_budget_ms {
        -1 => o.placement_budget,
        v if v >= 0 => std::time::Duration::from_millis(v as u64),
        v => return Err(bad_option("placement_budget_ms", format!("must be -1 (the default) or >= 0, got {v}"))),
    };
    let t = &mut o.threads;
    o.pages = match c.huge_pages {
        US_PAGES_AUTO => PageRequest::Auto,
        US_PAGES_1G => PageRequest::Huge1G,
        US_PAGES_2M => PageRequest::Huge2M,
        US_PAGES_THP => PageRequest::Transparent,
        US_PAGES_OFF => PageRequest::Off,
        v => return Err(bad_option("huge_pages", format!("must be US_PAGES_AUTO, _1G, _2M, _THP or _OFF (0 to 4), got {v}"))),
    };
    t.lock = match c.lock {
        US_LOCK_AUTO => LockRequest::Auto,
        US_LOCK_OFF => LockRequest::Off,
        US_LOCK_REQUIRED => LockRequest::Required,
        v => return Err(bad_option("lock", format!("must be US_LOCK_AUTO (-1), US_LOCK_OFF (0) or US_LOCK_REQUIRED (1), got {v}"))),
    };
    t.spin = spin_policy(c.spin)?;
    t.idle_us = match c.idle_us {
        -1 => None,
        v if v >= 0 => Some(v as u64),
        v => return Err(bad_option("idle_us", format!("must be -1 (the policy's default) or >= 0, got {v}"))),
    };
    t.cores = if c.core_count == 0 {
        None
    } else {
        let range = array(c.cores, c.core_count, "options.cores (with core_count > 0)")?;
        // SAFETY: checked by `array`; readable per this function's contract.
        let list = unsafe { slice_in(c.cores, c.core_count, &range) };
        Some(list.iter().map(|&k| k as usize).collect())
    };
    t.start = c.start != 0;
    t.record_latency = c.record_latency != 0;
    Ok(o)
}

fn spin_policy(v: i32) -> Result<SpinPolicy, Failure> {
    match v {
        US_SPIN_BUSY => Ok(SpinPolicy::Busy),
        US_SPIN_HYBRID => Ok(SpinPolicy::Hybrid),
        US_SPIN_SLEEP => Ok(SpinPolicy::Sleep),
        v => Err(bad_option("spin", format!("must be US_SPIN_BUSY (0), US_SPIN_HYBRID (1) or US_SPIN_SLEEP (2), got {v}"))),
    }
}

fn spin_number(s: SpinPolicy) -> i32 {
    match s {
        SpinPolicy::Busy => US_SPIN_BUSY,
        SpinPolicy::Hybrid => US_SPIN_HYBRID,
        SpinPolicy::Sleep => US_SPIN_SLEEP,
    }
}

fn page_kind_number(k: PageKind) -> i32 {
    match k {
        PageKind::Huge1G => US_PAGE_KIND_1G,
        PageKind::Huge2M => US_PAGE_KIND_2M,
        PageKind::Transparent => US_PAGE_KIND_THP,
        PageKind::Base => US_PAGE_KIND_4K,
    }
}

// ---------------------------------------------------------------------------------------------
// Entry points. Each one: `run(|| ...)`, pointer checks, then one engine call.

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
        let slayer = Slayer::new(o)?;
        let h = Box::new(us_slayer {
            busy: AtomicBool::new(false),
            poisoned: AtomicBool::new(false),
            slab: slayer.slab(),
            slayer: UnsafeCell::new(slayer),
        });
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
    run(|| {
        // SAFETY: per the contract.
        let h = unsafe { handle(h)? };
        h.exclusive()?.start()?;
        Ok(())
    })
}

/// Stops and joins the replica threads (no-op when stopped). Reads still work, directly.
///
/// # Safety
/// `h` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn us_stop(h: *mut us_slayer) -> c_int {
    run(|| {
        // SAFETY: per the contract.
        let h = unsafe { handle(h)? };
        h.exclusive()?.stop();
        Ok(())
    })
}

/// Reads slot `idx`: hedged while the threads run, from replica 0 when stopped.
///
/// # Safety
/// `h` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn us_read_u64(h: *mut us_slayer, idx: u64, out: *mut u64) -> c_int {
    run(|| {
        // SAFETY: per the contract.
        let h = unsafe { handle(h)? };
        let out = out_ptr(out, "out")?;
        let v = h.exclusive()?.read(idx)?;
        // SAFETY: non-NULL and aligned (checked), writable per the contract.
        unsafe { ptr::write(out, v) };
        Ok(())
    })
}

/// `us_read_u64`, with the bits returned as a double (bit-exact, NaN payloads included).
///
/// # Safety
/// As `us_read_u64`.
#[no_mangle]
pub unsafe extern "C" fn us_read_f64(h: *mut us_slayer, idx: u64, out: *mut f64) -> c_int {
    run(|| {
        // SAFETY: per the contract.
        let h = unsafe { handle(h)? };
        let out = out_ptr(out, "out")?;
        let v = h.exclusive()?.read(idx)?;
        // SAFETY: non-NULL and aligned (checked), writable per the contract.
        unsafe { ptr::write(out, f64::from_bits(v)) };
        Ok(())
    })
}

/// Reads replica `replica`'s copy of slot `idx` directly (no threads, no lock).
///
/// # Safety
/// As `us_read_u64`.
#[no_mangle]
pub unsafe extern "C" fn us_read_replica_u64(h: *mut us_slayer, replica: u32, idx: u64, out: *mut u64) -> c_int {
    run(|| {
        // SAFETY: per the contract.
        let h = unsafe { handle(h)? };
        let out = out_ptr(out, "out")?;
        let v = h.slab.read_replica(replica as usize, idx)?;
        // SAFETY: non-NULL and aligned (checked), writable per the contract.
        unsafe { ptr::write(out, v) };
        Ok(())
    })
}

/// Stores `value` in every replica of slot `idx`. Any thread, any time (no lock).
///
/// # Safety
/// `h` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn us_write_u64(h: *mut us_slayer, idx: u64, value: u64) -> c_int {
    run(|| {
        // SAFETY: per the contract.
        let h = unsafe { handle(h)? };
        h.slab.write(idx, value)?;
        Ok(())
    })
}

/// `us_write_u64` of a double's bits (bit-exact).
///
/// # Safety
/// As `us_write_u64`.
#[no_mangle]
pub unsafe extern "C" fn us_write_f64(h: *mut us_slayer, idx: u64, value: f64) -> c_int {
    run(|| {
        // SAFETY: per the contract.
        let h = unsafe { handle(h)? };
        h.slab.write(idx, value.to_bits())?;
        Ok(())
    })
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
    h.slab.write_many(idx, values)?;
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
    run(|| {
        // SAFETY: per the contract.
        let h = unsafe { handle(h)? };
        let len = out_ptr(len, "len (size_t*)")?;
        let c = h.exclusive()?.info().choice;
        let text = ultraslayer::error::spell(
            &match &c.warning {
                Some(w) => format!("{}; warning: {w}", c.reason),
                None => c.reason,
            },
            Front::C,
        );
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

/// Fills `*out` (set `out->size = sizeof(us_info)` first).
///
/// # Safety
/// `h` is NULL or a live handle; `out` is NULL or a writable `us_info` of `out->size` bytes.
#[no_mangle]
pub unsafe extern "C" fn us_get_info(h: *mut us_slayer, out: *mut us_info) -> c_int {
    run(|| {
        // SAFETY: per the contract.
        let h = unsafe { handle(h)? };
        let out = out_ptr(out, "out (us_info*)")?;
        let i = h.exclusive()?.info();
        let mut cores = [0u32; MAX_REPLICAS];
        for (c, &k) in cores.iter_mut().zip(&i.cores) {
            *c = k as u32;
        }
        let info = us_info {
            size: size_of::<us_info>(),
            slots: i.slots,
            replicas: i.replicas as u32,
            channel_offset: i.channel_offset as u32,
            page_kind: page_kind_number(i.page_kind),
            locked: i.locked as i32,
            running: i.running as i32,
            shared_cores: i.shared_cores as i32,
            spin: spin_number(i.spin),
            recording: i.recording as i32,
            page_size: i.page_size as u64,
            mapped_bytes: i.mapped_bytes as u64,
            thp_bytes: i.thp_bytes as u64,
            idle_us: i.idle_us,
            cores,
            strategy: strategy_number(i.strategy),
            strategy_requested: strategy_number(i.choice.requested),
        };
        // SAFETY: non-NULL and aligned (checked), writable for out->size bytes per the contract.
        unsafe { write_versioned(out, info, "us_info") }
    })
}

/// Fills `*out` (set `out->size = sizeof(us_stats)` first).
///
/// # Safety
/// `h` is NULL or a live handle; `out` is NULL or a writable `us_stats` of `out->size` bytes.
#[no_mangle]
pub unsafe extern "C" fn us_get_stats(h: *mut us_slayer, out: *mut us_stats) -> c_int {
    run(|| {
        // SAFETY: per the contract.
        let h = unsafe { handle(h)? };
        let out = out_ptr(out, "out (us_stats*)")?;
        let s = h.exclusive()?.stats();
        let mut wins = [0u64; MAX_REPLICAS];
        for (w, &k) in wins.iter_mut().zip(&s.wins) {
            *w = k;
        }
        let l = s.latency.unwrap_or_default();
        let stats = us_stats {
            size: size_of::<us_stats>(),
            hedged: s.hedged,
            direct: s.direct,
            direct_while_parked: s.direct_while_parked,
            direct_after_timeout: s.direct_after_timeout,
            wins,
            latency_count: l.count,
            latency_min_ns: l.min,
            latency_mean_ns: l.mean,
            latency_p50_ns: l.p50,
            latency_p90_ns: l.p90,
            latency_p99_ns: l.p99,
            latency_p999_ns: l.p999,
            latency_p9999_ns: l.p9999,
            latency_max_ns: l.max,
        };
        // SAFETY: non-NULL and aligned (checked), writable for out->size bytes per the contract.
        unsafe { write_versioned(out, stats, "us_stats") }
    })
}

/// Zeroes the read counters and the latency histogram.
///
/// # Safety
/// `h` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn us_reset_stats(h: *mut us_slayer) -> c_int {
    run(|| {
        // SAFETY: per the contract.
        let h = unsafe { handle(h)? };
        h.exclusive()?.reset_stats();
        Ok(())
    })
}

/// The message of the most recent failed call on this thread ("" if none has failed). Owned by
/// the library; valid until the next failed call on this thread. Successful calls leave it alone.
#[no_mangle]
pub extern "C" fn us_last_error() -> *const c_char {
    static EMPTY: &CStr = c"";
    catch_unwind(|| LAST_ERROR.try_with(|slot| slot.borrow().as_ptr()).unwrap_or(EMPTY.as_ptr())).unwrap_or(EMPTY.as_ptr())
}

/// The name of a status code ("US_OK", "US_ERR_RANGE", ...); "US_ERR_UNKNOWN" for others.
#[no_mangle]
pub extern "C" fn us_status_name(code: c_int) -> *const c_char {
    let name: &'static CStr = match code {
        US_OK => c"US_OK",
        US_ERR_TYPE => c"US_ERR_TYPE",
        US_ERR_RANGE => c"US_ERR_RANGE",
        US_ERR_SYSTEM => c"US_ERR_SYSTEM",
        US_ERR_NULL => c"US_ERR_NULL",
        US_ERR_BUSY => c"US_ERR_BUSY",
        US_ERR_PANIC => c"US_ERR_PANIC",
        _ => c"US_ERR_UNKNOWN",
    };
    name.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` with panic messages silenced (the hook is process-wide, so one test at a time).
    fn quietly<T>(f: impl FnOnce() -> T) -> T {
        static HOOK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _g = HOOK.lock().unwrap_or_else(|e| e.into_inner());
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r = f();
        std::panic::set_hook(prev);
        r
    }

    fn last_error() -> String {
        // SAFETY: us_last_error returns a NUL-terminated string valid until the next failure here.
        unsafe { CStr::from_ptr(us_last_error()) }.to_string_lossy().into_owned()
    }

    fn small_handle() -> *mut us_slayer {
        let mut o = default_options();
        o.slots = 64;
        o.strategy = US_STRATEGY_HEDGE; // threads stopped: reads are direct, nothing is measured
        o.start = 0;
        o.huge_pages = US_PAGES_OFF;
        o.lock = US_LOCK_OFF;
        let mut h = ptr::null_mut();
        // SAFETY: valid options and out pointer.
        assert_eq!(unsafe { us_create(&o, &mut h) }, US_OK, "{}", last_error());
        h
    }

    #[test]
    fn a_panic_becomes_a_status_code_not_an_abort() {
        let rc = quietly(|| run(|| panic!("boom {}", 7)));
        assert_eq!(rc, US_ERR_PANIC);
        assert!(last_error().contains("boom 7"), "{}", last_error());
    }

    #[test]
    fn a_panic_inside_the_lock_poisons_the_handle_but_not_writes() {
        let h = small_handle();
        // SAFETY: `h` is live until us_destroy below.
        let handle = unsafe { &*h };
        let rc = quietly(|| {
            run(|| {
                let _g = handle.exclusive()?;
                panic!("inside the lock");
            })
        });
        assert_eq!(rc, US_ERR_PANIC);
        let mut v = 0;
        // SAFETY: live handle, valid out pointer.
        assert_eq!(unsafe { us_read_u64(h, 1, &mut v) }, US_ERR_PANIC);
        assert!(last_error().contains("poisoned"), "{}", last_error());
        // SAFETY: as above.
        unsafe {
            assert_eq!(us_write_u64(h, 1, 5), US_OK);
            assert_eq!(us_read_replica_u64(h, 1, 1, &mut v), US_OK);
            us_destroy(h);
        }
        assert_eq!(v, 5);
    }

    #[test]
    fn a_second_requester_is_told_busy() {
        let h = small_handle();
        // SAFETY: `h` is live until us_destroy below.
        let handle = unsafe { &*h };
        let guard = handle.exclusive().ok().unwrap();
        let mut v = 0;
        // SAFETY: live handle, valid out pointer.
        assert_eq!(unsafe { us_read_u64(h, 0, &mut v) }, US_ERR_BUSY);
        assert!(last_error().contains("another thread"));
        // SAFETY: as above.
        assert_eq!(unsafe { us_write_u64(h, 0, 9) }, US_OK, "writes never take the lock");
        drop(guard);
        // SAFETY: as above.
        unsafe {
            assert_eq!(us_read_u64(h, 0, &mut v), US_OK);
            us_destroy(h);
        }
        assert_eq!(v, 9);
    }

    #[test]
    fn engine_messages_use_c_names() {
        let mut o = default_options();
        o.slots = 8;
        o.channel_offset = 3;
        let mut h = ptr::null_mut();
        // SAFETY: valid options and out pointer.
        assert_eq!(unsafe { us_create(&o, &mut h) }, US_ERR_TYPE);
        assert!(h.is_null());
        assert!(last_error().starts_with("option `channel_offset`"), "{}", last_error());
    }
}
