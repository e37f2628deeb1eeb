//! A cheap cycle clock for per-read timing, and its conversion to nanoseconds.
//!
//! On x86_64 this is the invariant TSC (calibrated once against the OS monotonic clock); elsewhere
//! it falls back to `Instant`. Never allocates after calibration.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Ticks of the cycle clock now.
#[inline(always)]
pub fn now() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no preconditions on x86_64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// Ticks per nanosecond, measured once (about 20 ms the first time it is asked for).
pub fn ticks_per_ns() -> f64 {
    static RATE: OnceLock<f64> = OnceLock::new();
    *RATE.get_or_init(|| {
        #[cfg(not(target_arch = "x86_64"))]
        {
            return 1.0;
        }
        #[allow(unreachable_code)]
        {
            // Take the median of a few short windows so one hypervisor pause cannot skew it.
            let mut rates: Vec<f64> = (0..5)
                .map(|_| {
                    let t0 = Instant::now();
                    let c0 = now();
                    while t0.elapsed() < Duration::from_millis(4) {}
                    let c1 = now();
                    (c1 - c0) as f64 / t0.elapsed().as_nanos() as f64
                })
                .collect();
            rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
            rates[2]
        }
    })
}

/// Converts a tick count to nanoseconds.
#[inline]
pub fn to_ns(ticks: u64) -> u64 {
    (ticks as f64 / ticks_per_ns()) as u64
}

/// Converts nanoseconds to ticks.
#[inline]
pub fn from_ns(ns: u64) -> u64 {
    (ns as f64 * ticks_per_ns()) as u64
}

/// Frequency in Hz of the cycle clock.
pub fn hz() -> f64 {
    ticks_per_ns() * 1e9
}

/// Whether the CPU says its TSC is invariant (constant rate across P-states and sleep).
pub fn invariant() -> Option<bool> {
    #[cfg(target_arch = "x86_64")]
    {
        // cpuid is always available on x86_64; leaf 0x8000_0000 says which extended leaves exist.
        let max = core::arch::x86_64::__cpuid(0x8000_0000).eax;
        if max < 0x8000_0007 {
            return Some(false);
        }
        // Leaf 0x8000_0007 exists (checked above); EDX bit 8 is "invariant TSC".
        let edx = core::arch::x86_64::__cpuid(0x8000_0007).edx;
        Some(edx & (1 << 8) != 0)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_advances_and_converts_round_trip() {
        let a = now();
        std::thread::sleep(Duration::from_millis(2));
        let b = now();
        assert!(b > a);
        let ns = to_ns(b - a);
        assert!(ns >= 1_500_000, "{ns}");
        let t = from_ns(1000);
        assert!((to_ns(t) as i64 - 1000).abs() <= 2);
    }
}
