//! The hardware `Timer`: the stall phase of lines of a pool relative to one reference line, by
//! reading them flushed at random instants in short sessions (`arrange::read_session`) and
//! accumulating reference-relative phasors (`pages::add_session`) until each is clear.
//!
//! Touches memory and the clock (x86_64 only); never decides anything from what it measures.

use std::time::{Duration, Instant};

use super::frames::Timer;
// The reading itself is x86_64 only (`LineTimer::phases`); elsewhere the timer answers "unclear".
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_imports))]
use crate::steer::pages::{self, Evidence, SessionOptions};

/// How the timer reads.
#[derive(Clone, Debug, PartialEq)]
pub struct TimerOptions {
    /// Lines read in one session (with the reference).
    pub session_lines: usize,
    pub session: Duration,
    /// Sessions a line may get before it is left unclear.
    pub max_sessions: u8,
    /// Evidence score a line needs before its phase is trusted (see `pages::Evidence`).
    pub min_score: f64,
}

impl Default for TimerOptions {
    fn default() -> Self {
        // 10 ms sessions: every line gets ~550 reads (host A). 2 ms sessions halve the time per
        // line, but on host A they left a few percent of paired frames in the wrong group (the
        // copy check failed 15 of 18 on a 128 MiB slab), so they are not the default.
        TimerOptions { session_lines: 63, session: Duration::from_millis(10), max_sessions: 8, min_score: 6.0 }
    }
}

impl TimerOptions {
    /// The options for a refresh period of `period_ns`: `max_sessions` is set for host A's
    /// 1.95 µs period; a line shows stalls in proportion to 1 / period, so a longer period gets
    /// proportionally more sessions (host B, 7.8 µs: 32; with 8 almost no line became clear there).
    pub fn for_period(&self, period_ns: f64) -> TimerOptions {
        let scale = (period_ns / REFERENCE_PERIOD_NS).clamp(1.0, 8.0);
        TimerOptions { max_sessions: (self.max_sessions as f64 * scale).ceil().min(u8::MAX as f64) as u8, ..self.clone() }
    }
}

/// The refresh period the defaults were tuned on (host A, DDR5 fine-granularity refresh).
const REFERENCE_PERIOD_NS: f64 = 1950.8;

/// What every phase of one placement is measured against: the session options (the period
/// among them), the tick all sample times count from, and when timing must stop.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub so: SessionOptions,
    pub origin: u64,
    pub inv_tpn: f64,
    pub deadline: Instant,
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub struct LineTimer {
    base: usize,
    len: usize,
    reference: usize,
    clock: Clock,
    rng: crate::rng::SplitMix64,
    o: TimerOptions,
    /// Timed reads so far.
    pub reads: u64,
    pub sessions: usize,
}

impl LineTimer {
    /// A timer for lines of `[base, base + len)` relative to the line at `reference` (which must
    /// have the refresh period `clock.so.period_ns`), reading until `clock.deadline`.
    ///
    /// # Safety
    /// `[base, base + len)` and the line at `reference` must stay mapped and readable for as
    /// long as the timer is used.
    pub unsafe fn new(base: usize, len: usize, reference: usize, clock: Clock, seed: u64, o: TimerOptions) -> LineTimer {
        LineTimer { base, len, reference, clock, rng: crate::rng::SplitMix64::new(seed), o, reads: 0, sessions: 0 }
    }
}

impl Timer for LineTimer {
    fn out_of_time(&self) -> bool {
        Instant::now() >= self.clock.deadline
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn phases(&mut self, offsets: &[usize]) -> Vec<Option<f64>> {
        vec![None; offsets.len()]
    }

    #[cfg(target_arch = "x86_64")]
    fn phases(&mut self, offsets: &[usize]) -> Vec<Option<f64>> {
        use crate::steer::arrange::read_session;
        use crate::tsc;
        let n = offsets.len();
        let mut evidence = vec![Evidence::default(); n];
        let mut visits = vec![0u8; n];
        let ticks = tsc::from_ns(self.o.session.as_nanos() as u64);
        let per = self.o.session_lines.max(1);
        let mut next = 0usize;
        loop {
            // The first `per` lines, in order, still unclear and under the session cap: a line
            // stays in the working set until it is clear or given up on.
            let mut chunk = Vec::with_capacity(per);
            let mut k = next;
            while chunk.len() < per && k < n {
                if visits[k] < self.o.max_sessions && evidence[k].score() < self.o.min_score {
                    chunk.push(k);
                } else if chunk.is_empty() {
                    next = k + 1;
                }
                k += 1;
            }
            if chunk.is_empty() || self.out_of_time() {
                break;
            }
            let addrs: Vec<usize> = std::iter::once(self.reference)
                .chain(chunk.iter().map(|&k| (self.base + offsets[k].min(self.len.saturating_sub(64))) & !63))
                .collect();
            // SAFETY: the reference and every line (clamped into [base, base + len)) are readable
            // for as long as the timer is used (the contract of `new`).
            let traces = unsafe { read_session(&addrs, ticks, self.clock.origin, self.clock.inv_tpn, &mut self.rng) };
            self.reads += traces.iter().map(|t| t.len() as u64).sum::<u64>();
            self.sessions += 1;
            let mut ev: Vec<Evidence> = chunk.iter().map(|&k| evidence[k]).collect();
            pages::add_session(&traces, &mut ev, &self.clock.so);
            for (&k, e) in chunk.iter().zip(ev) {
                evidence[k] = e;
                visits[k] += 1;
            }
        }
        evidence.iter().map(|e| e.clear_phase(self.o.min_score)).collect()
    }
}
