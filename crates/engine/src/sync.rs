//! The atomics, fences, spin hint, thread parking and clock that the engine's two concurrency
//! protocols are written against: `records::line`'s seqlock and `replicas`' request/answer
//! hand-off. In every normal build each item here is std's (or the engine's own TSC clock), so
//! the protocols compile to exactly the code they would without this module. In this crate's own
//! test build under `RUSTFLAGS="--cfg loom"` (loom is a dev-dependency) they are loom's, and the
//! loom models in `records::line` and `replicas` run those protocols' own code under the
//! interleavings and weak-memory outcomes loom explores (docs/development.md says how to run
//! them). A program that depends on this crate and builds with `--cfg loom` for models of its own
//! still gets std's here.
//!
//! Owns no state and never adds work to a build without `--cfg loom`.

#[cfg(all(test, loom))]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64};
#[cfg(not(all(test, loom)))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64};
// loom re-exports std's `Ordering`, so one type serves both builds.
pub(crate) use std::sync::atomic::Ordering;

/// Thread spawning, parking and yielding (std's, or loom's under `--cfg loom`).
pub(crate) mod thread {
    #[cfg(all(test, loom))]
    pub(crate) use loom::thread::{park, yield_now, Builder, JoinHandle, Thread};
    #[cfg(not(all(test, loom)))]
    pub(crate) use std::thread::{park, yield_now, Builder, JoinHandle, Thread};
}

/// The spin-loop hint (std's, or loom's under `--cfg loom`, where it yields to other threads).
pub(crate) mod hint {
    #[cfg(all(test, loom))]
    pub(crate) use loom::hint::spin_loop;
    #[cfg(not(all(test, loom)))]
    pub(crate) use std::hint::spin_loop;
}

/// The clock the replica threads measure idle spells and the requester its answer timeout with:
/// the TSC (`crate::tsc`) in a normal build. Under `--cfg loom` it never moves (`now` is 0, a
/// tick is a nanosecond), since a loom model must be deterministic: an idle threshold of 0 makes
/// threads park at their first idle check, and the requester's timeout never fires, so a request
/// nobody answers shows up as a model that never ends instead of a timed-out read.
pub(crate) mod tsc {
    #[cfg(not(all(test, loom)))]
    pub(crate) use crate::tsc::{from_ns, now};

    /// The frozen clock: always 0.
    #[cfg(all(test, loom))]
    #[inline(always)]
    pub(crate) fn now() -> u64 {
        0
    }

    /// Nanoseconds to ticks of the frozen clock (one each).
    #[cfg(all(test, loom))]
    pub(crate) fn from_ns(ns: u64) -> u64 {
        ns
    }
}

/// A 64-bit atomic word a protocol loads, stores and orders with fences, so one protocol function
/// serves the slab's words (std's `AtomicU64` in mapped memory, which loom cannot model) and, under
/// `--cfg loom`, loom's `AtomicU64`. Each method is the atomic's own (or the matching `fence`), so
/// a function generic over `Word` and used with std's atomic compiles to the same code as one
/// written against `AtomicU64` directly.
pub(crate) trait Word {
    /// `AtomicU64::load`.
    fn load(&self, order: Ordering) -> u64;
    /// `AtomicU64::store`.
    fn store(&self, value: u64, order: Ordering);
    /// The `fence` of the atomics this word belongs to.
    fn fence(order: Ordering);
}

impl Word for std::sync::atomic::AtomicU64 {
    #[inline(always)]
    fn load(&self, order: Ordering) -> u64 {
        std::sync::atomic::AtomicU64::load(self, order)
    }
    #[inline(always)]
    fn store(&self, value: u64, order: Ordering) {
        std::sync::atomic::AtomicU64::store(self, value, order)
    }
    #[inline(always)]
    fn fence(order: Ordering) {
        std::sync::atomic::fence(order)
    }
}

#[cfg(all(test, loom))]
impl Word for loom::sync::atomic::AtomicU64 {
    fn load(&self, order: Ordering) -> u64 {
        loom::sync::atomic::AtomicU64::load(self, order)
    }
    fn store(&self, value: u64, order: Ordering) {
        loom::sync::atomic::AtomicU64::store(self, value, order)
    }
    fn fence(order: Ordering) {
        loom::sync::atomic::fence(order)
    }
}

/// Runs a loom model with at most `LOOM_MAX_PREEMPTIONS` preemptions per execution (2 unless the
/// environment says otherwise), which keeps each model to minutes on a small machine.
#[cfg(all(test, loom))]
pub(crate) fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}
