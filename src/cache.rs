//! Cache-line eviction, for calibration and measurement: makes the next read of a line a DRAM read.
//!
//! Never used on a read path.

use crate::slab::Slab;

/// Evicts the cache line holding `addr` from every cache level and waits for it.
///
/// # Safety
/// `addr` must point into memory mapped in this process for the whole call (clflush of an
/// unmapped address faults).
#[inline(always)]
pub unsafe fn flush_line(addr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller guarantees `addr` is mapped; mfence orders the flush before later loads.
    unsafe {
        core::arch::x86_64::_mm_clflush(addr);
        core::arch::x86_64::_mm_mfence();
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// Flushes every replica's copy of slot `i` (no-op for out-of-range slots).
pub fn flush_slot(slab: &Slab, i: u64) {
    for r in 0..slab.layout().replicas() {
        if let Ok(a) = slab.address(r, i) {
            // SAFETY: `address` checked r and i, so `a` lies inside the slab's mapping, which the
            // borrowed `slab` keeps alive.
            unsafe { flush_line(a as *const u8) };
        }
    }
}
