//! Timing one load: a cold read (line flushed first) or a warm read, in cycle-clock ticks.
//!
//! Built on the crate's primitives (`tsc` stamps, `cache` eviction), so it works wherever both
//! exist: x86_64 (clflush + lfence/rdtsc) and aarch64 (dc civac + dsb/isb, cntvct_el0). Elsewhere
//! `supported()` is false and the probes return `Error::Unsupported`. Never allocates; never writes
//! the line it times.

use crate::{cache, tsc};

/// Whether this build can time flushed loads.
pub(crate) const fn supported() -> bool {
    cache::CAN_EVICT
}

/// Flushes the line at `p` from every cache level, then times one load of it.
/// Returns (tick at the start, ticks taken).
///
/// # Safety
/// `p` must be valid for a 1-byte read for the duration of the call.
#[inline(always)]
pub(crate) unsafe fn flushed_load(p: *const u8) -> (u64, u64) {
    // SAFETY: the caller guarantees `p` is readable; `flush_line` waits for the eviction and orders
    // it before the load below, so the load goes to DRAM.
    unsafe {
        cache::flush_line(p);
        timed_load(p)
    }
}

/// Times one load of `p` without flushing it (an L1 hit once the line is cached).
///
/// # Safety
/// `p` must be valid for a 1-byte read for the duration of the call.
#[inline(always)]
pub(crate) unsafe fn cached_load(p: *const u8) -> (u64, u64) {
    // SAFETY: forwarded from the caller.
    unsafe { timed_load(p) }
}

/// # Safety
/// `p` must be valid for a 1-byte read for the duration of the call.
#[inline(always)]
unsafe fn timed_load(p: *const u8) -> (u64, u64) {
    // The fenced start stamp lets nothing earlier run into the interval; the end stamp waits for
    // the load's value, so the two bracket exactly the load.
    let t0 = tsc::stamp();
    // SAFETY: the caller guarantees `p` is readable.
    let v = unsafe { core::ptr::read_volatile(p) };
    let t1 = tsc::after_loads();
    core::hint::black_box(v);
    (t0, t1.saturating_sub(t0))
}

/// Starts evicting the line at `p` (used to start a measurement with every line cold; the next
/// `flushed_load` waits for it).
///
/// # Safety
/// `p` must be valid for a 1-byte read.
#[inline(always)]
pub(crate) unsafe fn flush(p: *const u8) {
    // SAFETY: the caller guarantees `p` is readable.
    unsafe { cache::evict(p) }
}

/// Converts raw (start tick, ticks) pairs to samples in ns from `origin`, clamping latencies to
/// u32.
#[cfg(test)]
fn to_samples(raw: &[(u64, u64)], origin: u64, ticks_per_ns: f64) -> Vec<crate::refresh::spikes::Sample> {
    let inv = 1.0 / ticks_per_ns.max(1e-9);
    raw.iter()
        .map(|&(t, d)| crate::refresh::spikes::Sample {
            t_ns: (t.saturating_sub(origin) as f64 * inv) as u64,
            latency_ns: (d as f64 * inv).min(u32::MAX as f64) as u32,
        })
        .collect()
}

/// One session: `addrs[0]` (the reference) and the other lines read flushed at random instants
/// for `ticks`, one trace per address. One read in eight is the reference (it anchors each
/// sub-window's phase); the rest go to random lines of the session, so no line is read at a
/// fixed rhythm.
///
/// # Safety
/// Every address in `addrs` must be readable for the whole call.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn read_session(
    addrs: &[usize],
    ticks: u64,
    origin: u64,
    inv_tpn: f64,
    rng: &mut crate::rng::SplitMix64,
) -> Vec<Vec<crate::refresh::spikes::Sample>> {
    use crate::refresh::spikes::Sample;
    use crate::tsc;
    let mut traces: Vec<Vec<Sample>> = addrs.iter().map(|_| Vec::new()).collect();
    if addrs.len() < 2 {
        return traces;
    }
    let end = tsc::now() + ticks;
    while tsc::now() < end {
        for _ in 0..256 {
            let k = if rng.below(8) == 0 { 0 } else { 1 + rng.below(addrs.len() as u64 - 1) as usize };
            // SAFETY: the caller guarantees every address in `addrs` is readable.
            let (t0, d) = unsafe { flushed_load(addrs[k] as *const u8) };
            traces[k].push(Sample {
                t_ns: (t0.saturating_sub(origin) as f64 * inv_tpn) as u64,
                latency_ns: (d as f64 * inv_tpn).min(u32::MAX as f64) as u32,
            });
        }
    }
    traces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_are_timed_and_converted() {
        let line = [7u8; 64];
        // SAFETY: `line` is a live local array.
        let raw: Vec<(u64, u64)> = (0..100).map(|_| unsafe { flushed_load(line.as_ptr()) }).collect();
        // SAFETY: as above.
        let warm = unsafe { cached_load(line.as_ptr()) };
        assert!(warm.0 >= raw[0].0);
        let s = to_samples(&raw, raw[0].0, 2.0);
        assert_eq!(s.len(), 100);
        assert_eq!(s[0].t_ns, 0);
        assert!(s.windows(2).all(|w| w[1].t_ns >= w[0].t_ns));
    }
}
