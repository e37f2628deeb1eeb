//! Timing one load: a cold read (line flushed first) or a warm read, in cycle-clock ticks.
//!
//! x86_64 only (clflush, fences, rdtsc). Elsewhere `supported()` is false and the probes return
//! `Error::Unsupported`. Never allocates; never writes the line it times.

/// Whether this build can time flushed loads.
pub const fn supported() -> bool {
    cfg!(target_arch = "x86_64")
}

/// Flushes the line at `p` from every cache level, then times one load of it.
/// Returns (tick at the start, ticks taken).
///
/// # Safety
/// `p` must be valid for a 1-byte read for the duration of the call.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn flushed_load(p: *const u8) -> (u64, u64) {
    use core::arch::x86_64::{_mm_clflush, _mm_mfence};
    // SAFETY: the caller guarantees `p` is readable; clflush of a readable line and the fences
    // have no other preconditions.
    unsafe {
        _mm_clflush(p);
        // mfence orders the flush before the load below, so the load goes to DRAM.
        _mm_mfence();
        timed_load(p)
    }
}

/// Times one load of `p` without flushing it (an L1 hit once the line is cached).
///
/// # Safety
/// `p` must be valid for a 1-byte read for the duration of the call.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn cached_load(p: *const u8) -> (u64, u64) {
    // SAFETY: forwarded from the caller.
    unsafe { timed_load(p) }
}

/// # Safety
/// `p` must be valid for a 1-byte read for the duration of the call.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn timed_load(p: *const u8) -> (u64, u64) {
    use core::arch::x86_64::{_mm_lfence, _rdtsc};
    // SAFETY: the caller guarantees `p` is readable. lfence waits for earlier instructions
    // (including the load) to complete, so the two rdtsc reads bracket exactly the load.
    unsafe {
        _mm_lfence();
        let t0 = _rdtsc();
        _mm_lfence();
        let v = core::ptr::read_volatile(p);
        _mm_lfence();
        let t1 = _rdtsc();
        core::hint::black_box(v);
        (t0, t1.saturating_sub(t0))
    }
}

/// Flushes the line at `p` (used to start a measurement with every line cold).
///
/// # Safety
/// `p` must be valid for a 1-byte read.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub unsafe fn flush(p: *const u8) {
    // SAFETY: the caller guarantees `p` is readable.
    unsafe { core::arch::x86_64::_mm_clflush(p) }
}

/// Converts raw (start tick, ticks) pairs to samples in ns from `origin`, clamping latencies to
/// u32.
pub fn to_samples(raw: &[(u64, u64)], origin: u64, ticks_per_ns: f64) -> Vec<super::spikes::Sample> {
    let inv = 1.0 / ticks_per_ns.max(1e-9);
    raw.iter()
        .map(|&(t, d)| super::spikes::Sample {
            t_ns: (t.saturating_sub(origin) as f64 * inv) as u64,
            latency_ns: (d as f64 * inv).min(u32::MAX as f64) as u32,
        })
        .collect()
}

#[cfg(all(test, target_arch = "x86_64"))]
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
