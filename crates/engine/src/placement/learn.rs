//! The hardware source of timed reads: lines of a pool read flushed at random instants beside one
//! reference line, in short sessions (`refresh::timing::read_session`), until a deadline. The sequential
//! test that turns them into stalls is `refresh::lines::SessionTimer`; this file only reads.
//!
//! Touches memory and the clock (x86_64 only); never decides anything from what it measures.

use std::time::Instant;

use crate::refresh::evidence::SessionOptions;
pub use crate::refresh::lines::TimerOptions;
use crate::refresh::lines::{SessionTimer, Sessions};

/// What every phase of one placement is measured against: the session options (the period
/// among them), the tick all sample times count from, and when timing must stop.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    pub(crate) so: SessionOptions,
    pub(crate) origin: u64,
    pub(crate) inv_tpn: f64,
    pub(crate) deadline: Instant,
}

/// Reads of lines of `[base, base + len)` beside the line at `reference`.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct Hardware {
    base: usize,
    len: usize,
    reference: usize,
    clock: Clock,
    session_ticks: u64,
    rng: crate::rng::SplitMix64,
}

/// The hardware timer.
pub(crate) type LineTimer = SessionTimer<Hardware>;

impl SessionTimer<Hardware> {
    /// A timer for lines of `[base, base + len)` relative to the line at `reference` (which must
    /// have the refresh period `clock.so.period_ns`), reading until `clock.deadline`.
    ///
    /// # Safety
    /// `[base, base + len)` and the line at `reference` must stay mapped and readable for as
    /// long as the timer is used.
    pub(crate) unsafe fn new_hardware(base: usize, len: usize, reference: usize, clock: Clock, seed: u64, o: TimerOptions) -> LineTimer {
        let session_ticks = crate::tsc::from_ns(o.session.as_nanos() as u64);
        let source = Hardware { base, len, reference, clock, session_ticks, rng: crate::rng::SplitMix64::new(seed) };
        SessionTimer::new(source, clock.so, o)
    }
}

impl Sessions for Hardware {
    fn out_of_time(&self) -> bool {
        Instant::now() >= self.clock.deadline
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn session(&mut self, offsets: &[usize]) -> Vec<Vec<crate::refresh::spikes::Sample>> {
        // No timed reads here: every line stays unclear.
        vec![Vec::new(); offsets.len() + 1]
    }

    #[cfg(target_arch = "x86_64")]
    fn session(&mut self, offsets: &[usize]) -> Vec<Vec<crate::refresh::spikes::Sample>> {
        let addrs: Vec<usize> = std::iter::once(self.reference)
            .chain(offsets.iter().map(|&o| (self.base + o.min(self.len.saturating_sub(64))) & !63))
            .collect();
        // SAFETY: the reference and every line (clamped into [base, base + len)) are readable for
        // as long as the timer is used (the contract of `new_hardware`).
        unsafe { crate::refresh::timing::read_session(&addrs, self.session_ticks, self.clock.origin, self.clock.inv_tpn, &mut self.rng) }
    }
}
