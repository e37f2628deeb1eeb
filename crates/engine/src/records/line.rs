//! The consistency protocol of one copy of one record: a 64-byte, 64-byte-aligned line of the slab
//! whose word 0 is a sequence number (odd while a write is in progress) and words 1..8 the fields.
//!
//! Owns the per-copy sequence lock (read, write, repair of one line) and nothing else: which copy
//! to read is the strategy's business, who may write is `records::Records`'s. Never spins without
//! a bound, never allocates, never returns fields it could not prove came from one write.
//!
//! Memory orderings (the classic seqlock, as argued by Boehm, "Can seqlocks get along with
//! programming language memory models?", MSPC 2012), right on weakly ordered CPUs too:
//! - writer: `seq.store(odd, Relaxed)`, `fence(Release)`, field stores `Relaxed`,
//!   `seq.store(even, Release)`;
//! - reader: `s1 = seq.load(Acquire)`, field loads `Relaxed`, `fence(Acquire)`, `s2 = seq.load(Relaxed)`;
//!   the fields are one write's when `s1 == s2` and `s1` is even.
//!
//! (1) The reader's Acquire load of `s1` pairs with the writer's Release store of the even
//! sequence: every field stored before it is visible to the field loads that follow.
//!
//! (2) The reader's `fence(Acquire)` pairs with the writer's `fence(Release)`: if any field load
//! saw a store made after that fence (a later write), the odd store before the fence is visible to
//! the `s2` load, so `s2 != s1` and the attempt is thrown away.
//!
//! Every slot access is an 8-byte atomic, so there is no data race even on a failed attempt.
//!
//! `try_read`, `write_copy` and `repair_copy` take the line's words as a parameter of any
//! `sync::Word` type: the slab's `AtomicU64`s here, loom's in the loom models at the end of this
//! file, which check this code (not a copy of it) under `--cfg loom`.

use std::sync::atomic::AtomicU64;

use crate::slab::Slab;
use crate::sync::{Ordering, Word};

/// Words per record line: the sequence word and up to `MAX_FIELDS` fields.
pub const LINE_WORDS: usize = 8;
/// Fields a line holds beside its sequence word.
pub const MAX_FIELDS: usize = LINE_WORDS - 1;
/// Bytes per record line (one cache line on every CPU this engine targets).
pub const LINE_BYTES: usize = LINE_WORDS * crate::layout::SLOT_BYTES;
/// Attempts at one copy before a reader moves on to another copy. A write of one line takes tens
/// of nanoseconds; a writer descheduled mid-line can hold it odd for milliseconds, so a reader
/// must not wait for it but read another copy (the writer holds at most one copy odd at a time).
pub const COPY_TRIES: u32 = 4;

/// Replica `copy`'s line of the record whose first slot is `base`.
///
/// The caller guarantees `copy < replicas`, `base % 8 == 0` and `base + 8 <= slots`, and that the
/// slab's layout has a channel offset of at least `LINE_BYTES` (`Records` builds only such
/// layouts). Then the 8 slots `base..base + 8` lie in one chunk of `channel_offset` bytes (a power
/// of two, so a multiple of 8 slots), one after another, starting 64-byte aligned.
#[inline(always)]
pub(crate) fn line(slab: &Slab, copy: usize, base: u64) -> &[AtomicU64; LINE_WORDS] {
    debug_assert!(base % LINE_WORDS as u64 == 0 && base + LINE_WORDS as u64 <= slab.layout().slots());
    debug_assert!(slab.layout().channel_offset() >= LINE_BYTES);
    let first = slab.cell(copy, base) as *const AtomicU64;
    debug_assert_eq!(first as usize % LINE_BYTES, 0);
    // SAFETY: by the caller's guarantees above, the cells of slots base..base+8 of this copy are
    // the 8 consecutive, in-bounds AtomicU64s starting at `first` (the layout tests pin the chunk
    // arithmetic); an array of 8 AtomicU64 has exactly that size and alignment, and the slab
    // outlives the returned reference (same lifetime as `slab`).
    unsafe { &*(first as *const [AtomicU64; LINE_WORDS]) }
}

/// One attempt to read a line: the sequence and the 7 field words when they are one write's.
#[inline(always)]
pub(crate) fn try_read<W: Word>(line: &[W; LINE_WORDS]) -> Option<(u64, [u64; MAX_FIELDS])> {
    // Acquire: pairs with the Release store of the even sequence in `write_copy` / `repair_copy` (1).
    let s1 = line[0].load(Ordering::Acquire);
    if s1 & 1 != 0 {
        return None;
    }
    let mut f = [0u64; MAX_FIELDS];
    for (o, cell) in f.iter_mut().zip(&line[1..]) {
        // Relaxed: ordered by the Acquire load above and the Acquire fence below.
        *o = cell.load(Ordering::Relaxed);
    }
    // Acquire fence: pairs with the Release fence after the odd store in `write_copy` (2).
    W::fence(Ordering::Acquire);
    // Relaxed: ordered after the field loads by the fence just above.
    let s2 = line[0].load(Ordering::Relaxed);
    (s1 == s2).then_some((s1, f))
}

/// Up to `COPY_TRIES` attempts at one copy; None when every attempt met a write in progress.
#[inline(always)]
pub(crate) fn read_copy(slab: &Slab, copy: usize, base: u64) -> Option<[u64; MAX_FIELDS]> {
    let l = line(slab, copy, base);
    for _ in 0..COPY_TRIES {
        if let Some((_, f)) = try_read(l) {
            return Some(f);
        }
        std::hint::spin_loop();
    }
    None
}

/// Writes `fields` (at most `MAX_FIELDS`) into one copy's line. Only one writer may write a record
/// at a time (`Records` holds its writer lock around this); the line's sequence is even on entry.
#[inline(always)]
pub(crate) fn write_copy<W: Word>(line: &[W; LINE_WORDS], fields: &[u64]) {
    debug_assert!(fields.len() <= MAX_FIELDS);
    // Relaxed: only the writer holding the lock stores the sequence, and it reads its own last
    // store (or the repair's, made under the same lock, ordered by the lock's acquisition).
    let s = line[0].load(Ordering::Relaxed);
    debug_assert!(s & 1 == 0, "a record copy was left mid-update and not repaired");
    // Relaxed: ordered before the field stores by the Release fence just below.
    line[0].store(s.wrapping_add(1), Ordering::Relaxed);
    // Release fence: pairs with the reader's Acquire fence in `try_read` (2).
    W::fence(Ordering::Release);
    for (cell, &v) in line[1..].iter().zip(fields) {
        // Relaxed: published by the Release store of the even sequence below (1).
        cell.store(v, Ordering::Relaxed);
    }
    // Release: pairs with the reader's Acquire load of `s1` in `try_read` (1).
    line[0].store(s.wrapping_add(2), Ordering::Release);
}

/// Rewrites a copy a dead writer left odd (or a copy that missed the newest write) with `fields`,
/// moving its sequence strictly forward so no reader that started before can accept the result.
pub(crate) fn repair_copy<W: Word>(line: &[W; LINE_WORDS], fields: &[u64; MAX_FIELDS]) {
    // Relaxed: the repairing writer holds the writer lock; the dead writer's stores are visible to
    // it (they reached coherent memory before the kernel released the dead process's lock).
    let s = line[0].load(Ordering::Relaxed);
    let odd = s | 1;
    if s != odd {
        // Relaxed: ordered before the field stores by the Release fence below.
        line[0].store(odd, Ordering::Relaxed);
    }
    // Release fence: pairs with the reader's Acquire fence in `try_read` (2).
    W::fence(Ordering::Release);
    for (cell, &v) in line[1..].iter().zip(fields) {
        // Relaxed: published by the Release store below (1).
        cell.store(v, Ordering::Relaxed);
    }
    // Release: pairs with the reader's Acquire load in `try_read` (1).
    line[0].store(odd.wrapping_add(1), Ordering::Release);
}

/// Makes every copy of the record at `base` hold the newest consistent copy's fields, when one was
/// left odd by a dead writer or missed the last write. The caller holds the writer lock, so no
/// sequence moves under it. Returns true when anything was rewritten.
pub(crate) fn repair_record(slab: &Slab, base: u64) -> bool {
    let n = slab.layout().replicas();
    let mut best: Option<(u64, [u64; MAX_FIELDS])> = None;
    let mut all_same = true;
    let mut first: Option<(u64, [u64; MAX_FIELDS])> = None;
    for c in 0..n {
        let got = try_read(line(slab, c, base));
        match (got, first) {
            (None, _) => all_same = false,
            (Some(g), None) => first = Some(g),
            (Some(g), Some(f)) => all_same &= g.1 == f.1,
        }
        if let Some(g) = got {
            if best.map_or(true, |b| g.0 > b.0) {
                best = Some(g);
            }
        }
    }
    if all_same {
        return false;
    }
    // A dead writer leaves at most one copy odd, and every write starts from even copies, so with
    // two or more replicas a consistent copy always exists; with none, there is nothing to copy.
    let Some((_, fields)) = best else { return false };
    for c in 0..n {
        let l = line(slab, c, base);
        if try_read(l).map_or(true, |(_, f)| f != fields) {
            repair_copy(l, &fields);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;
    use crate::region::{LockRequest, PageRequest};

    fn slab(records: u64, replicas: usize, off: usize) -> Slab {
        Slab::new(Layout::new(records * 8, replicas, off).unwrap(), PageRequest::Off, LockRequest::Off).unwrap()
    }

    #[test]
    fn a_record_line_is_eight_consecutive_aligned_slots_of_one_copy() {
        for off in [64usize, 128, 256, 4096] {
            for replicas in [2usize, 3, 8] {
                let s = slab(100, replicas, off);
                for rec in [0u64, 1, 7, 31, 99] {
                    for c in 0..replicas {
                        let a = s.address(c, rec * 8).unwrap();
                        assert_eq!(a % 64, 0, "off {off} rec {rec} copy {c}");
                        for k in 0..8 {
                            assert_eq!(s.address(c, rec * 8 + k).unwrap(), a + 8 * k as usize);
                        }
                        assert_eq!(line(&s, c, rec * 8) as *const _ as usize, a);
                    }
                }
            }
        }
    }

    #[test]
    fn a_written_line_reads_back_and_its_sequence_moves_by_two() {
        let s = slab(4, 2, 64);
        let l = line(&s, 1, 8);
        assert_eq!(try_read(l), Some((0, [0; 7])));
        write_copy(l, &[1, 2, 3]);
        assert_eq!(try_read(l), Some((2, [1, 2, 3, 0, 0, 0, 0])));
        assert_eq!(read_copy(&s, 0, 8), Some([0; 7]), "other copies untouched until written");
    }

    #[test]
    fn an_odd_copy_is_refused_and_repair_copies_the_newest_consistent_copy() {
        let s = slab(4, 3, 128);
        for c in 0..3 {
            write_copy(line(&s, c, 16), &[5, 6]);
        }
        // A writer that died mid-way: copy 0 has the new value, copy 1 is mid-update, copy 2 old.
        write_copy(line(&s, 0, 16), &[7, 8]);
        line(&s, 1, 16)[0].store(3, Ordering::Relaxed);
        line(&s, 1, 16)[1].store(7, Ordering::Relaxed);
        assert_eq!(read_copy(&s, 1, 16), None);
        assert!(repair_record(&s, 16));
        for c in 0..3 {
            assert_eq!(read_copy(&s, c, 16).unwrap()[..2], [7, 8], "copy {c}");
            assert_eq!(line(&s, c, 16)[0].load(Ordering::Relaxed) & 1, 0);
        }
        assert!(line(&s, 1, 16)[0].load(Ordering::Relaxed) > 3, "sequences only move forward");
        assert!(!repair_record(&s, 16), "nothing left to repair");
    }
}

/// Loom models of the seqlock (`RUSTFLAGS="--cfg loom" cargo test -p ultraslayer --lib loom`):
/// `write_copy`, `repair_copy` and `try_read` themselves, on a line of loom atomics. Each write
/// `k` stores the fields `[k, 100 + k]`, so a torn line (fields of two writes) shows as a pair
/// that is not `[k, 100 + k]`, and write `k` leaves the sequence at `2 * k`.
#[cfg(all(test, loom))]
mod loom_model {
    use super::*;
    use loom::sync::atomic::{AtomicBool, AtomicU64};
    use loom::sync::{Arc, Mutex};
    use loom::thread;

    type Line = [AtomicU64; LINE_WORDS];

    fn new_line() -> Arc<Line> {
        Arc::new(std::array::from_fn(|_| AtomicU64::new(0)))
    }

    /// What a reader accepted: one whole write (or the initial zeros), its sequence even and
    /// `2 * k` for write `k`. Returns `k`.
    fn check_one_write(s: u64, f: [u64; MAX_FIELDS]) -> u64 {
        assert_eq!(s % 2, 0, "accepted an odd sequence {s}");
        let k = s / 2;
        let want = if k == 0 { [0, 0] } else { [k, 100 + k] };
        assert_eq!(f[..2], want, "torn line at sequence {s}: {f:?}");
        assert_eq!(f[2..], [0; MAX_FIELDS - 2], "fields beyond the written ones changed");
        k
    }

    /// One writer writes twice (and says when the first write is done); a reader reads three
    /// times. Every accepted read is one whole write, reads never go back in time, and once the
    /// reader has seen the first write announced complete it never accepts an older line.
    #[test]
    fn loom_a_reader_never_accepts_a_torn_or_stale_line() {
        crate::sync::model(|| {
            let line = new_line();
            let first_done = Arc::new(AtomicBool::new(false));
            let writer = {
                let (line, first_done) = (line.clone(), first_done.clone());
                thread::spawn(move || {
                    write_copy(&line, &[1, 101]);
                    // Release: pairs with the reader's Acquire load of `first_done`.
                    first_done.store(true, Ordering::Release);
                    write_copy(&line, &[2, 102]);
                })
            };
            let mut newest = 0;
            for _ in 0..3 {
                // Acquire: pairs with the writer's Release store after its first write.
                let announced = first_done.load(Ordering::Acquire);
                if let Some((s, f)) = try_read(&line) {
                    let k = check_one_write(s, f);
                    assert!(k >= newest, "read write {k} after write {newest}");
                    assert!(!announced || k >= 1, "read the initial line after write 1 completed");
                    newest = k;
                }
            }
            writer.join().unwrap();
            assert_eq!(try_read(&line), Some((4, [2, 102, 0, 0, 0, 0, 0])), "the last write, once joined");
        });
    }

    /// Writers serialized by a lock, as `Records` serializes them (its writer mutex): two writers
    /// and a reader. Each writer's Relaxed load of the sequence must see the other's last even
    /// store (the lock orders them), so the line ends at sequence 4 with one whole write in it,
    /// and the reader never accepts a torn line.
    #[test]
    fn loom_writers_under_the_lock_never_tear_a_line() {
        crate::sync::model(|| {
            let line = new_line();
            let lock = Arc::new(Mutex::new(()));
            let writers: Vec<_> = [1u64, 2]
                .into_iter()
                .map(|k| {
                    let (line, lock) = (line.clone(), lock.clone());
                    thread::spawn(move || {
                        let _held = lock.lock().unwrap();
                        write_copy(&line, &[k, 100 + k]);
                    })
                })
                .collect();
            if let Some((s, f)) = try_read(&line) {
                assert_eq!(s % 2, 0);
                assert!(f[..2] == [0, 0] || f[..2] == [1, 101] || f[..2] == [2, 102], "torn line: {f:?}");
            }
            for w in writers {
                w.join().unwrap();
            }
            let (s, f) = try_read(&line).expect("no write in progress after both joined");
            assert_eq!(s, 4, "each write moves the sequence by two");
            assert!(f[..2] == [1, 101] || f[..2] == [2, 102], "torn line: {f:?}");
        });
    }

    /// A writer died mid-write (sequence odd, one field of write 2 stored); the next writer
    /// repairs the line while a reader reads. The reader accepts nothing but the repaired line.
    #[test]
    fn loom_a_reader_accepts_only_the_repaired_line() {
        crate::sync::model(|| {
            let line = new_line();
            write_copy(&line, &[1, 101]);
            line[0].store(3, Ordering::Relaxed);
            line[1].store(2, Ordering::Relaxed);
            let repairer = {
                let line = line.clone();
                thread::spawn(move || repair_copy(&line, &[2, 102, 0, 0, 0, 0, 0]))
            };
            for _ in 0..2 {
                if let Some((s, f)) = try_read(&line) {
                    assert_eq!(check_one_write(s, f), 2, "accepted a line the dead writer left");
                }
            }
            repairer.join().unwrap();
            assert_eq!(try_read(&line), Some((4, [2, 102, 0, 0, 0, 0, 0])));
        });
    }
}
