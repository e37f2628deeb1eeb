//! The cache primitives, one per concept and the one place that knows each architecture's
//! instructions: line eviction (makes the next read of a line a DRAM read) and prefetch. (The spin
//! hint is `std::hint::spin_loop`: `pause` on x86_64, `isb` on aarch64.)
//!
//! - x86_64: `clflush` (+ `mfence`), `prefetcht0`.
//! - aarch64: `dc civac` (clean and invalidate to the point of coherence, allowed at EL0 on Linux)
//!   + `dsb ish`, `prfm pldl1keep`.
//! - elsewhere: eviction is unavailable (`CAN_EVICT` is false and `flush_line` does nothing);
//!   prefetch does nothing.
//!
//! Eviction is never used on a read path; prefetch is (it never blocks).

/// Whether this build can evict a line from the caches (and so time a DRAM read on purpose).
pub const CAN_EVICT: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// Starts evicting the line holding `addr` from every cache level, without waiting: issue several,
/// then `evict_wait` once.
///
/// # Safety
/// `addr` must point into memory mapped readable in this process for the whole call (evicting an
/// unmapped address faults).
#[inline(always)]
pub unsafe fn evict(addr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller guarantees `addr` is mapped.
    unsafe {
        core::arch::x86_64::_mm_clflush(addr)
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: the caller guarantees `addr` is mapped; Linux sets SCTLR_EL1.UCI so `dc civac` is
    // allowed at EL0. It changes no memory contents, only where the line lives.
    unsafe {
        core::arch::asm!("dc civac, {a}", a = in(reg) addr, options(nostack, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = addr;
}

/// Waits until every eviction issued before it has completed, and orders them before every later
/// load (so the next load of an evicted line goes to DRAM).
#[inline(always)]
pub fn evict_wait() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: mfence has no preconditions; clflush is ordered by it.
    unsafe {
        core::arch::x86_64::_mm_mfence()
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: barriers only. `dsb ish` completes once earlier `dc` operations have; `isb` keeps
    // later loads from being issued before it. Not `nomem`: it also orders the compiler.
    unsafe {
        core::arch::asm!("dsb ish", "isb", options(nostack, preserves_flags))
    };
}

/// Evicts the cache line holding `addr` from every cache level and waits for it.
///
/// # Safety
/// As `evict`.
#[inline(always)]
pub unsafe fn flush_line(addr: *const u8) {
    // SAFETY: forwarded from the caller.
    unsafe { evict(addr) };
    evict_wait();
}

/// Starts fetching the line holding `addr` into L1 without waiting for it (never blocks the
/// instructions after it, whatever the line's DRAM bank is doing).
#[inline(always)]
pub fn prefetch(addr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch is a hint with no memory effects; even a bad address cannot fault.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8)
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `prfm` is a hint with no memory effects and never faults, whatever the address.
    unsafe {
        core::arch::asm!("prfm pldl1keep, [{a}]", a = in(reg) addr, options(nostack, preserves_flags, readonly))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = addr;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicting_and_prefetching_keep_the_contents() {
        let line = [7u8; 128];
        for k in [0, 64, 127] {
            // SAFETY: `line` is a live local array; every address is inside it.
            unsafe { flush_line(line.as_ptr().add(k)) };
            prefetch(line.as_ptr().wrapping_add(k));
        }
        assert!(line.iter().all(|&b| b == 7));
    }
}
