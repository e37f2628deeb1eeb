//! The C types of `include/ultraslayer.h`: the ABI version, status codes, enum numbers and the
//! `#[repr(C)]` structs, with the size asserts that pin their layouts to the header's
//! `_Static_assert`s, and how the engine's reports and enums are spelled in them.
//!
//! What it must never do: change a struct's layout or a number without bumping `US_ABI_VERSION`
//! and the header with it.

use std::ffi::c_int;
use std::mem::{align_of, size_of};

use ultraslayer::layout::MAX_REPLICAS;
use ultraslayer::options::Strategy;
use ultraslayer::region::PageKind;
use ultraslayer::slayer::Info;
use ultraslayer::stats::Stats;
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
pub const US_PLACEMENT_HUGE_PAGES: i32 = 3;
pub const US_PLACEMENT_BACKGROUND: i32 = 4;

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

/// How far a slab's background learning has come. Set `size = sizeof(us_learning)` before
/// `us_get_learning`; every field is 0 for a slab that learns nothing in the background.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct us_learning {
    pub size: usize,
    /// 1 if the slab learns its frames in the background.
    pub learns: i32,
    /// 1 once every frame is learned (the learner then only audits), or once it stopped.
    pub done: i32,
    /// 1 if the learner stopped without learning the frames (`us_learning_stopped_reason` says why).
    pub stopped: i32,
    /// The share of one core the learner keeps busy, in percent.
    pub duty_percent: u32,
    pub frames_total: u64,
    pub frames_learned: u64,
    /// Of the learned frames, those not steerable (read from copy 0).
    pub frames_unsteerable: u64,
    pub lines_timed: u64,
    /// Audits of learned frames, of them those the reader asked for, and the relearnings they led to.
    pub audits: u64,
    pub audits_requested: u64,
    pub relearnings: u64,
    /// Frames the audits compared, and of them those that came out the other way round.
    pub audit_compared: u64,
    pub audit_flipped: u64,
    /// Milliseconds since learning started, and of CPU time the learning thread used.
    pub elapsed_ms: f64,
    pub cpu_ms: f64,
    /// Of the reads since the previous call, the share on learned, steerable frames; -1 with none.
    pub hot_coverage: f64,
}

// The header's _Static_asserts state the same sizes; a change here is an ABI change.
const _: () = assert!(size_of::<us_options>() == 88 && align_of::<us_options>() == 8);
const _: () = assert!(size_of::<us_info>() == 120 && align_of::<us_info>() == 8);
const _: () = assert!(size_of::<us_stats>() == 176 && align_of::<us_stats>() == 8);
const _: () = assert!(size_of::<us_learning>() == 120 && align_of::<us_learning>() == 8);
const _: () = assert!(size_of::<usize>() == 8, "the C ABI is defined for 64-bit targets");

impl us_info {
    /// The engine's report of a slab, spelled in C.
    pub(crate) fn from_engine(i: &Info) -> us_info {
        let mut cores = [0u32; MAX_REPLICAS];
        for (c, &k) in cores.iter_mut().zip(&i.cores) {
            *c = k as u32;
        }
        us_info {
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
        }
    }
}

impl us_stats {
    /// The engine's read counters and latency percentiles, spelled in C.
    pub(crate) fn from_engine(s: Stats) -> us_stats {
        let mut wins = [0u64; MAX_REPLICAS];
        for (w, &k) in wins.iter_mut().zip(&s.wins) {
            *w = k;
        }
        let l = s.latency.unwrap_or_default();
        us_stats {
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
        }
    }
}

/// `US_STRATEGY_*` for an engine strategy.
pub(crate) fn strategy_number(s: Strategy) -> i32 {
    match s {
        Strategy::Auto => US_STRATEGY_AUTO,
        Strategy::Hedge => US_STRATEGY_HEDGE,
        Strategy::Steer => US_STRATEGY_STEER,
        Strategy::Direct => US_STRATEGY_DIRECT,
    }
}

/// `US_SPIN_*` for an engine spin policy.
pub(crate) fn spin_number(s: SpinPolicy) -> i32 {
    match s {
        SpinPolicy::Busy => US_SPIN_BUSY,
        SpinPolicy::Hybrid => US_SPIN_HYBRID,
        SpinPolicy::Sleep => US_SPIN_SLEEP,
    }
}

/// `US_PAGE_KIND_*` for the page kind a slab got.
fn page_kind_number(k: PageKind) -> i32 {
    match k {
        PageKind::Huge1G => US_PAGE_KIND_1G,
        PageKind::Huge2M => US_PAGE_KIND_2M,
        PageKind::Transparent => US_PAGE_KIND_THP,
        PageKind::Base => US_PAGE_KIND_4K,
    }
}

impl us_learning {
    /// The engine's report of a slab's background learning, spelled in C (all zero when none).
    pub(crate) fn from_engine(i: &Info) -> us_learning {
        let mut out = us_learning {
            size: size_of::<us_learning>(),
            learns: 0,
            done: 0,
            stopped: 0,
            duty_percent: 0,
            frames_total: 0,
            frames_learned: 0,
            frames_unsteerable: 0,
            lines_timed: 0,
            audits: 0,
            audits_requested: 0,
            relearnings: 0,
            audit_compared: 0,
            audit_flipped: 0,
            elapsed_ms: 0.0,
            cpu_ms: 0.0,
            hot_coverage: -1.0,
        };
        if let Some(l) = &i.learning {
            out.learns = 1;
            out.done = l.done as i32;
            out.stopped = l.stopped.is_some() as i32;
            out.duty_percent = (l.duty * 100.0).round() as u32;
            out.frames_total = l.frames_total;
            out.frames_learned = l.frames_learned;
            out.frames_unsteerable = l.frames_unsteerable;
            out.lines_timed = l.lines_timed;
            out.audits = l.audits;
            out.audits_requested = l.audits_requested;
            out.relearnings = l.relearnings;
            out.audit_compared = l.audit_compared;
            out.audit_flipped = l.audit_flipped;
            out.elapsed_ms = l.elapsed_ms;
            out.cpu_ms = l.cpu_ms;
            out.hot_coverage = l.hot_coverage.unwrap_or(-1.0);
        }
        out
    }
}
