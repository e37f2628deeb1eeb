//! How this machine's DRAM refreshes, in one model that measures what it uses: every timed line
//! gets a stall (the phase of its stall window in the refresh period, the window's width, and a
//! confidence), two copies are apart when their windows do not overlap, and the structure (which
//! address bits move a line's stall, and how far) is inferred from those numbers without a list
//! of known patterns.
//!
//! - `timing`: timing one flushed or cached load, and a session of interleaved reads;
//! - `spikes`: which reads stalled, and whether the stalls recur with a period (the periodogram
//!   against a chance baseline);
//! - `period`: one line's refresh period, measured and sharpened;
//! - `boot_cache`: what was measured of this machine, remembered for the boot across processes;
//! - `phase`: fixed-point phases and circular statistics;
//! - `evidence`: what timed reads say about one line (phase, width, confidence);
//! - `stall`: one line's stall and when two are apart;
//! - `lines`: the sequential test that times lines until each is clear, over any source of reads;
//! - `structure`: what address bits do to stalls, and the structure that follows;
//! - `hosts`: synthetic copies of every host seen, a test fixture.
//!
//! Plain Rust, no Node types. `timing` and `period::measure_period` touch memory and the clock;
//! the rest is pure. The hardware source of sessions is `placement::learn`.

pub(crate) mod boot_cache;
pub(crate) mod evidence;
#[cfg(test)]
pub(crate) mod hosts;
pub(crate) mod lines;
pub(crate) mod period;
pub mod phase;
pub(crate) mod spikes;
pub(crate) mod stall;
pub(crate) mod structure;
pub(crate) mod timing;

/// This machine's refresh period (ns) as one line shows it: measured once per process (300 ms)
/// or taken from what an earlier process measured this boot. For tools and examples.
///
/// # Errors
///
/// `Unsupported` where loads cannot be timed; `Placement` when one line's reads show no period.
pub fn period_of_this_machine_ns() -> crate::Result<f64> {
    period::of_this_machine(None, 0x51EE).map(|m| m.period_ns)
}

pub(crate) use lines::Timer;
pub(crate) use stall::Stall;
pub(crate) use structure::BitEffect;
