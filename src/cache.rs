//! Cache-line eviction, for calibration and measurement: makes the next read of a line a DRAM read.
//!
//! Never used on a read path.

use crate::slab::Slab;

/// Evicts the cache line holding `addr` from every cache level and waits for it.
#[inline(always)]
pub fn flush_line(addr: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: clflush takes any address mapped in this process (callers pass slab or array memory
    // they hold a reference to); mfence orders it before later loads.
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
            flush_line(a as *const u8);
        }
    }
}
