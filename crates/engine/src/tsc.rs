//! The cycle clock: every timestamp the crate takes, its conversion to nanoseconds, and its
//! resolution. The one place that knows which counter each architecture reads.
//!
//! - x86_64: the TSC (`rdtsc`/`rdtscp`, fenced with `lfence`), calibrated once against the OS
//!   monotonic clock.
//! - aarch64: the generic timer's virtual count (`cntvct_el0`), whose frequency the CPU states in
//!   `cntfrq_el0` (fenced with `dsb ish` / `isb`).
//! - elsewhere: nanoseconds of `Instant` since first use (every stamp is then unfenced).
//!
//! Never allocates after calibration; the stamps are single instructions or a few, no calls.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Which counter `now()` reads, for reports.
pub const SOURCE: &str = if cfg!(target_arch = "x86_64") {
    "rdtsc"
} else if cfg!(target_arch = "aarch64") {
    "cntvct_el0"
} else {
    "Instant"
};

/// Ticks of the cycle clock now, unfenced: the CPU may read the counter before earlier
/// instructions finish or after later ones start. For pacing and coarse intervals.
#[inline(always)]
pub fn now() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no preconditions on x86_64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(target_arch = "aarch64")]
    {
        let t: u64;
        // SAFETY: Linux lets EL0 read cntvct_el0 (CNTKCTL_EL1.EL0VCTEN is set for user space);
        // the read touches no memory.
        unsafe { core::arch::asm!("mrs {t}, cntvct_el0", t = out(reg) t, options(nomem, nostack, preserves_flags)) };
        t
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// A stamp fenced on both sides: every earlier instruction (loads included) has completed before
/// the counter is read, and no later one starts before it. Serves as both start and end stamp of
/// a timed operation.
#[inline(always)]
pub fn stamp() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: lfence and rdtsc have no preconditions on x86_64. lfence completes only once every
    // earlier instruction has (Linux makes it dispatch-serializing on AMD too).
    unsafe {
        use core::arch::x86_64::{_mm_lfence, _rdtsc};
        _mm_lfence();
        let t = _rdtsc();
        _mm_lfence();
        t
    }
    #[cfg(target_arch = "aarch64")]
    {
        let t: u64;
        // SAFETY: barriers and an EL0-readable counter (see `now`); no memory is accessed. `dsb ish`
        // waits until every earlier memory access has completed (a load: its value has arrived);
        // `isb` before the read keeps the counter from being read early, the one after keeps later
        // instructions from starting before it. Not `nomem`: it must also order the compiler.
        unsafe { core::arch::asm!("dsb ish", "isb", "mrs {t}, cntvct_el0", "isb", t = out(reg) t, options(nostack, preserves_flags)) };
        t
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        now()
    }
}

/// Ticks once every earlier load has completed; later instructions may already have started.
/// The cheapest stamp that puts a just-issued load inside the measured interval (the steered read
/// path's second clock read).
#[inline(always)]
pub fn after_loads() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        let mut aux = 0u32;
        // SAFETY: rdtscp has no memory preconditions on x86_64 (every x86_64 CPU this engine
        // targets has it; Zen and every Intel core since Nehalem). It waits until all earlier
        // instructions have executed and earlier loads are globally visible. `aux` is a valid,
        // writable u32.
        unsafe { core::arch::x86_64::__rdtscp(&mut aux) }
    }
    #[cfg(target_arch = "aarch64")]
    {
        let t: u64;
        // SAFETY: as in `stamp`, without the trailing isb.
        unsafe { core::arch::asm!("dsb ish", "isb", "mrs {t}, cntvct_el0", t = out(reg) t, options(nostack, preserves_flags)) };
        t
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        now()
    }
}

/// A stamp taken after a timed operation: waits for earlier loads (as `after_loads`), and no later
/// instruction starts before it (so the next operation's work is not inside this interval).
#[inline(always)]
pub fn stamp_end() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        let t = after_loads();
        // SAFETY: lfence has no preconditions.
        unsafe { core::arch::x86_64::_mm_lfence() };
        t
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        stamp()
    }
}

/// The counter's frequency as the CPU states it (aarch64 `cntfrq_el0`), if it states one.
fn stated_hz() -> Option<f64> {
    #[cfg(target_arch = "aarch64")]
    {
        let f: u64;
        // SAFETY: cntfrq_el0 is readable at EL0; the read touches no memory.
        unsafe { core::arch::asm!("mrs {f}, cntfrq_el0", f = out(reg) f, options(nomem, nostack, preserves_flags)) };
        (f > 0).then_some(f as f64)
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        None
    }
}

/// Spins until `ticks` have passed (pacing between timed reads; never on a read path).
#[inline]
pub fn spin_for(ticks: u64) {
    if ticks == 0 {
        return;
    }
    let t0 = now();
    while now().wrapping_sub(t0) < ticks {
        std::hint::spin_loop();
    }
}

/// Serializes a duration in ticks as nanoseconds (for reports: `#[serde(serialize_with = ...)]`).
pub(crate) fn serialize_ticks_as_ns<S: serde::Serializer>(ticks: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(ticks / ticks_per_ns())
}

/// Ticks per nanosecond: on aarch64 from `cntfrq_el0`; on x86_64 measured once (about 20 ms the
/// first time it is asked for); 1 for the `Instant` fallback.
pub fn ticks_per_ns() -> f64 {
    static RATE: OnceLock<f64> = OnceLock::new();
    *RATE.get_or_init(|| {
        if let Some(hz) = stated_hz() {
            return hz / 1e9;
        }
        if SOURCE == "Instant" {
            return 1.0;
        }
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
    })
}

/// The smallest step the clock is seen to advance by, in ns, measured once: the finest interval a
/// timed read can resolve (an x86 VM's TSC may step by tens of ticks; an aarch64 generic timer at
/// 25 MHz steps by 40 ns, at 1 GHz by 1 ns).
pub fn resolution_ns() -> f64 {
    static STEP: OnceLock<f64> = OnceLock::new();
    *STEP.get_or_init(|| {
        let mut step = u64::MAX;
        for _ in 0..200 {
            let a = now();
            let mut b = now();
            // Bounded: a clock that does not move in 1e6 reads reports the bound, not a hang.
            for _ in 0..1_000_000 {
                if b != a {
                    break;
                }
                b = now();
            }
            if b > a {
                step = step.min(b - a);
            }
        }
        let step = if step == u64::MAX { 1 } else { step };
        step as f64 / ticks_per_ns()
    })
}

/// Converts a tick count to nanoseconds.
#[inline]
pub fn to_ns(ticks: u64) -> u64 {
    (ticks as f64 / ticks_per_ns()) as u64
}

/// Converts nanoseconds to ticks.
#[inline]
pub(crate) fn from_ns(ns: u64) -> u64 {
    (ns as f64 * ticks_per_ns()) as u64
}

/// Frequency in Hz of the cycle clock.
pub fn hz() -> f64 {
    ticks_per_ns() * 1e9
}

/// Whether the clock keeps a constant rate across P-states and sleep: on x86_64 what cpuid says
/// of the TSC; on aarch64 always (the generic timer runs at the fixed `cntfrq_el0` rate by
/// architecture); unknown elsewhere.
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
    #[cfg(target_arch = "aarch64")]
    {
        Some(true)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
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
        // Round trip within one tick (62.5 MHz under qemu: 16 ns) plus rounding.
        let t = from_ns(1000);
        assert!((to_ns(t) as f64 - 1000.0).abs() <= 1.0 / ticks_per_ns() + 2.0, "{}", to_ns(t));
    }

    #[test]
    fn fenced_stamps_are_ordered_with_the_plain_clock() {
        let a = stamp();
        let b = after_loads();
        let c = stamp_end();
        let d = now();
        assert!(a <= b && b <= c && c <= d, "{a} {b} {c} {d}");
    }

    #[test]
    fn resolution_is_a_positive_step_finer_than_a_millisecond() {
        let r = resolution_ns();
        assert!(r > 0.0 && r < 1e6, "{r}");
    }
}
