//! The mirrored slab: a region laid out as N interleaved copies of every 64-bit slot.
//!
//! Every access to slot memory is a whole 8-byte atomic load or store, so no reader on any thread
//! can ever see a torn value. Writes store every replica before they return. No allocation, no
//! locking on any read or write path.
//!
//! Ordering (the same on x86_64 and on weakly ordered CPUs such as aarch64): every cell is an
//! independent atomic word, stored and loaded Relaxed. What that gives, and all the slab promises:
//! - a load returns a value some store put in that cell (never torn, never invented);
//! - per cell, coherence: once a thread has seen a value, it never later sees an older one there;
//! - a thread sees its own writes (program order), including through `ReplicaSet`: the requester's
//!   write happens before its Release store of the request sequence, which the replica thread
//!   Acquire-loads before it loads its copy, so the copy it reads is this write or a later one;
//! - between different cells (two slots, or two copies of one slot during a write) there is no
//!   order: a reader on another thread may see slot j's new value and slot i's old one although i
//!   was written first, and a write in progress may be visible in one copy and not yet in another.
//!   Data published to another thread or process through the slab needs that thread's own
//!   synchronisation (a lock, a message, `Atomics`), which carries every slab store made before it.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::cache;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::region::{LockRequest, PageRequest, Region};

/// The mapped copies of a slab and their layout: where copy r of slot i lives, and the plain loads and stores of those words (a write goes to every copy). Strategies and threads are the `Slayer`'s.
pub struct Slab {
    region: Region,
    layout: Layout,
}

impl Slab {
    /// Maps, pre-faults and (as `lock` says) locks the memory for `layout`.
    ///
    /// # Errors
    /// What `Region::map_with` refuses: no pages of the kind asked for, mapping or locking refused.
    pub fn new(layout: Layout, pages: PageRequest, lock: LockRequest) -> Result<Slab> {
        Slab::new_with(layout, pages, lock, &crate::job::Job::none())
    }

    /// `new`, mapping and pre-faulting as part of `job` (see `Region::map_with`).
    pub fn new_with(layout: Layout, pages: PageRequest, lock: LockRequest, job: &crate::job::Job) -> Result<Slab> {
        let region = Region::map_with(layout.span(), pages, lock, job)?;
        Ok(Slab { region, layout })
    }

    /// A slab over an existing region (e.g. a shared file mapping), which must span the layout.
    pub fn from_region(region: Region, layout: Layout) -> Result<Slab> {
        if region.mapped_bytes() < layout.span() {
            return Err(Error::MapFailed { bytes: layout.span(), errno: libc::EINVAL });
        }
        Ok(Slab { region, layout })
    }

    #[inline(always)]
    /// Where each copy of each slot lives.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    /// The memory under the copies.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The cell holding replica `r`'s copy of slot `i`. Callers guarantee `r < replicas` and
    /// `i < slots`.
    #[inline(always)]
    pub(crate) fn cell(&self, r: usize, i: u64) -> &AtomicU64 {
        let off = self.layout.offset(r, i);
        // SAFETY: for r < replicas and i < slots, `off + 8 <= layout.span() <= region.mapped_bytes()`
        // (layout tests pin this), `off` is a multiple of 8 and the region is page-aligned, so the
        // pointer is in bounds and aligned for AtomicU64. The region lives as long as `self`, and
        // every access to slot memory goes through atomics, so shared references are sound.
        unsafe { &*(self.region.ptr().add(off) as *const AtomicU64) }
    }

    /// Address of replica `r`'s copy of slot `i` (for probes and placement checks).
    pub fn address(&self, r: usize, i: u64) -> Result<usize> {
        self.check_replica(r)?;
        self.layout.check_slot(i)?;
        Ok(self.cell(r, i) as *const AtomicU64 as usize)
    }

    /// Loads replica `r`'s copy of slot `i`, with no bounds checks.
    ///
    /// Relaxed: a slot is an independent word; no other memory is published through it (see the
    /// module notes for what this does and does not order). Whole 8-byte atomic loads can never
    /// observe half of a store.
    #[inline(always)]
    pub(crate) fn load_unchecked(&self, r: usize, i: u64) -> u64 {
        self.cell(r, i).load(Ordering::Relaxed)
    }

    /// Starts fetching every copy of slot `i` into the cache without waiting for any of them
    /// (a prefetch never blocks the instructions after it, whatever the line's DRAM bank is
    /// doing). The caller guarantees `i < slots`.
    #[inline(always)]
    pub(crate) fn prefetch_all_unchecked(&self, i: u64) {
        for r in 0..self.layout.replicas() {
            cache::prefetch(self.cell(r, i) as *const AtomicU64 as *const u8);
        }
    }

    /// Evicts every replica's copy of slot `i` from every cache level and waits until they are
    /// out, so the next read of any copy goes to DRAM (probes, benchmarks; never a read path).
    /// Does nothing for an out-of-range slot, or where `cache::CAN_EVICT` is false.
    pub fn flush_slot(&self, i: u64) {
        if i >= self.layout.slots() {
            return;
        }
        for r in 0..self.layout.replicas() {
            // SAFETY: r < replicas and i < slots (checked above), so the cell lies inside the
            // slab's mapping, which `self` keeps alive for the call.
            unsafe { cache::evict(self.cell(r, i) as *const AtomicU64 as *const u8) };
        }
        cache::evict_wait();
    }

    /// Loads replica `r`'s copy of slot `i`.
    #[inline]
    pub fn read_replica(&self, r: usize, i: u64) -> Result<u64> {
        self.check_replica(r)?;
        self.layout.check_slot(i)?;
        Ok(self.load_unchecked(r, i))
    }

    /// Stores `v` into every replica of slot `i`, returning once all are stored.
    ///
    /// Relaxed: each copy is an independent word and the reads that race with this write load
    /// Relaxed, so no Release here could pair with anything (it would order nothing on aarch64 and
    /// cost a `stlr` per copy). A reader on another thread sees the new value once the store reaches
    /// it, per copy and per slot, in no promised order (module notes).
    #[inline]
    pub fn write(&self, i: u64, v: u64) -> Result<()> {
        self.layout.check_slot(i)?;
        self.write_unchecked(i, v);
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn write_unchecked(&self, i: u64, v: u64) {
        for r in 0..self.layout.replicas() {
            // Relaxed: see `write` and the module notes.
            self.cell(r, i).store(v, Ordering::Relaxed);
        }
    }

    /// Writes many slots; all indices are checked before anything is stored.
    pub fn write_many(&self, indices: &[u32], values: &[u64]) -> Result<()> {
        if indices.len() != values.len() {
            return Err(Error::LengthMismatch { indices: indices.len(), values: values.len() });
        }
        self.check_all(indices)?;
        for (&i, &v) in indices.iter().zip(values) {
            self.write_unchecked(i as u64, v);
        }
        Ok(())
    }

    /// Reads many slots from replica `r`; all indices are checked first.
    pub fn read_many_replica(&self, r: usize, indices: &[u32], out: &mut [u64]) -> Result<()> {
        self.check_replica(r)?;
        if indices.len() != out.len() {
            return Err(Error::LengthMismatch { indices: indices.len(), values: out.len() });
        }
        self.check_all(indices)?;
        for (o, &i) in out.iter_mut().zip(indices) {
            *o = self.load_unchecked(r, i as u64);
        }
        Ok(())
    }

    pub(crate) fn check_all(&self, indices: &[u32]) -> Result<()> {
        let slots = self.layout.slots();
        match indices.iter().find(|&&i| i as u64 >= slots) {
            Some(&bad) => Err(Error::SlotOutOfRange { index: bad as u64, slots }),
            None => Ok(()),
        }
    }

    #[inline]
    fn check_replica(&self, r: usize) -> Result<()> {
        if r < self.layout.replicas() {
            Ok(())
        } else {
            Err(Error::ReplicaOutOfRange { replica: r, replicas: self.layout.replicas() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slab(slots: u64, replicas: usize, off: usize) -> Slab {
        Slab::new(Layout::new(slots, replicas, off).unwrap(), PageRequest::Off, LockRequest::Off).unwrap()
    }

    #[test]
    fn write_reaches_every_replica() {
        for n in 2..=8 {
            let s = slab(1000, n, 64);
            for i in (0..1000).step_by(7) {
                s.write(i, i * 0x0101_0101_0101 + 1).unwrap();
            }
            for i in (0..1000).step_by(7) {
                for r in 0..n {
                    assert_eq!(s.read_replica(r, i).unwrap(), i * 0x0101_0101_0101 + 1);
                }
            }
        }
    }

    #[test]
    fn writes_do_not_touch_other_slots() {
        let s = slab(300, 3, 256);
        s.write(5, u64::MAX).unwrap();
        for i in 0..300 {
            for r in 0..3 {
                assert_eq!(s.read_replica(r, i).unwrap(), if i == 5 { u64::MAX } else { 0 });
            }
        }
    }

    #[test]
    fn out_of_range_is_refused_before_anything_is_stored() {
        let s = slab(10, 2, 256);
        assert_eq!(s.write(10, 1).unwrap_err(), Error::SlotOutOfRange { index: 10, slots: 10 });
        assert!(s.read_replica(2, 0).is_err());
        assert!(s.write_many(&[1, 2, 10], &[1, 2, 3]).is_err());
        assert_eq!(s.read_replica(0, 1).unwrap(), 0, "nothing stored by a refused batch");
        assert!(matches!(s.write_many(&[1], &[1, 2]).unwrap_err(), Error::LengthMismatch { .. }));
    }

    #[test]
    fn a_racing_reader_sees_whole_values_that_never_go_back_in_time() {
        // The two promises the module notes make to a reader on another thread: no torn value, and
        // per copy no older value after a newer one. (Under x86 or qemu's emulation this cannot
        // show a weak-ordering bug; it pins the contract every target must keep.)
        let s = std::sync::Arc::new(slab(64, 2, 64));
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (s, done) = (s.clone(), done.clone());
            std::thread::spawn(move || {
                let mut last = [0u64; 2];
                let mut seen = 0u64;
                loop {
                    for (r, last) in last.iter_mut().enumerate() {
                        let v = s.read_replica(r, 7).unwrap();
                        assert_eq!(v >> 32, v & 0xffff_ffff, "torn: {v:#x}");
                        assert!(v >= *last, "copy {r} went back from {last:#x} to {v:#x}");
                        *last = v;
                        seen += 1;
                    }
                    // Relaxed: the flag only ends the loop; the join below orders what follows.
                    if done.load(Ordering::Relaxed) {
                        return seen;
                    }
                }
            })
        };
        for k in 1..=200_000u64 {
            s.write(7, (k << 32) | k).unwrap();
        }
        // Relaxed: see the reader's load; `join` synchronises.
        done.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        assert_eq!(s.read_replica(1, 7).unwrap(), (200_000 << 32) | 200_000);
    }

    #[test]
    fn addresses_follow_the_layout() {
        let s = slab(100, 2, 256);
        assert_eq!(s.address(1, 3).unwrap() - s.address(0, 3).unwrap(), 256);
        assert_eq!(s.address(0, 0).unwrap(), s.region().ptr() as usize);
    }
}
