//! The header page of a mapped segment: the bytes `header` parses and serializes, read and
//! written only through 8-byte atomics, because other processes map the same page.
//!
//! Owns the memory orderings of the header: the creator stores every word, then `W_READY` with
//! Release (`publish`); an opener loads `W_READY` with Acquire before any other word (`read`).
//! It never checks what the words say (that is `header`'s job).

use std::sync::atomic::{AtomicU64, Ordering};

use super::header::{HEADER_BYTES, HEADER_WORDS, W_CREATOR_PID, W_READY};
use crate::error::Result;
use crate::job::Job;
use crate::region::{LockRequest, PageKind, Region};

/// The header page of a segment file, mapped shared.
pub(super) struct HeaderPage {
    region: Region,
}

impl HeaderPage {
    /// Maps the first page (`page_size` bytes, pages of `kind`) of the segment file open as `fd`.
    ///
    /// # Errors
    /// What `Region::map_file` returns when the page cannot be mapped.
    pub(super) fn map(fd: i32, kind: PageKind, page_size: usize) -> Result<HeaderPage> {
        Ok(HeaderPage { region: Region::map_file(fd, 0, page_size, kind, page_size, LockRequest::Off, Vec::new(), &Job::none())? })
    }

    fn word(&self, w: usize) -> &AtomicU64 {
        debug_assert!(w < HEADER_WORDS);
        // SAFETY: the region is at least one page (≥ 4096 bytes) and page-aligned, and callers pass
        // w < HEADER_WORDS (150, so at most byte 1199), so the word is in bounds and 8-aligned.
        // Every process touches header words only through atomics, so a shared reference to an
        // AtomicU64 there is sound.
        unsafe { &*(self.region.ptr().add(w * 8) as *const AtomicU64) }
    }

    /// Records the creator's pid before anything else, so that an opener finding the segment
    /// unfinished can say whose it is. Relaxed: the opener only words an error with it (a stale 0
    /// reads as "never written", and the opener looks again until its wait runs out).
    pub(super) fn set_creator_pid(&self, pid: u32) {
        self.word(W_CREATOR_PID).store(pid as u64, Ordering::Relaxed);
    }

    /// Writes a serialized header (`Header::to_bytes`): every word but `W_READY` (Relaxed), then
    /// `W_READY` with Release, which pairs with the Acquire load in `read` (every opener), so the
    /// words, the frame table and the zero-filled, pre-faulted slab written before it are visible
    /// to an opener that sees the segment ready.
    pub(super) fn publish(&self, bytes: &[u8; HEADER_BYTES]) {
        let mut ready = 0;
        for (w, b) in bytes.chunks_exact(8).enumerate() {
            let v = u64::from_le_bytes(b.try_into().expect("chunks_exact(8) gives 8 bytes"));
            if w == W_READY {
                ready = v;
            } else {
                // Relaxed: published by the Release store of `W_READY` below.
                self.word(w).store(v, Ordering::Relaxed);
            }
        }
        self.word(W_READY).store(ready, Ordering::Release);
    }

    /// The header's bytes as they are now: `W_READY` first, with Acquire (pairs with the Release
    /// store in `publish`: once it reads ready, every other word read after it is the creator's),
    /// then every other word (Relaxed).
    pub(super) fn read(&self) -> [u8; HEADER_BYTES] {
        let ready = self.word(W_READY).load(Ordering::Acquire);
        let mut bytes = [0u8; HEADER_BYTES];
        for (w, b) in bytes.chunks_exact_mut(8).enumerate() {
            // Relaxed: ordered after the Acquire load of `W_READY` above.
            let v = if w == W_READY { ready } else { self.word(w).load(Ordering::Relaxed) };
            b.copy_from_slice(&v.to_le_bytes());
        }
        bytes
    }
}
