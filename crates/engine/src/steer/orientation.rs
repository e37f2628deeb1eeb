//! Which copy of each 4 KiB frame stalls where, learned while the slab serves: the per-frame table
//! a slab steered with background learning reads through (`steer::learner` fills it).
//!
//! The slab is laid out with its two copies split by the address bit that splits every frame on
//! this machine (X and X ^ 2^bit), and never moves. What differs from frame to frame is which of
//! the two lines stalls inside the arc of the period the structure sample chose: the table holds,
//! per frame, whether that is copy 0 (`Normal`), copy 1 (`Swapped`), neither cleanly
//! (`Unsteerable`), or not yet known (`Unknown`). A steering reader maps the tracker's copy (copy
//! "in the arc" or "outside it") to a physical copy through it, and reads a frame not learned (or
//! not steerable) from copy 0 without consulting the tracker.
//!
//! Correctness never depends on the table: both copies of every slot always hold the slot's
//! value (every write reaches both before it returns), so a read of either copy is right whatever
//! the entry says, and an entry changing under a read only changes which right copy it reads. So
//! every access is Relaxed, and a frame is learned by one atomic update.
//!
//! Two bits a frame, 32 frames to a word: 2 GiB of slab (512 Ki frames) needs a 128 KiB table, a
//! quarter of the lines a byte a frame took, so a cold read's table lookup misses cache less often.
//!
//! Also here: the ring of frames reads have touched (one read in `SAMPLE_EVERY`), which the learner
//! takes first, the counts `info()` reports, and the reader's request for an early audit (its
//! tracker found steering falling short of its prediction: the table may no longer hold). Nothing
//! here allocates after construction, locks, or makes a system call, but for `request_audit`'s
//! wake-up of the learner (a rare event: at most once per guard verdict).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

/// What is known of one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum FrameState {
    Unknown = 0,
    /// Copy 0 (the line with the split bit clear) stalls inside the arc; copy 1 outside it.
    Normal = 1,
    /// Copy 1 stalls inside the arc; copy 0 outside it.
    Swapped = 2,
    /// Timed, but its two lines are not one inside and one clear outside the arc (or stayed
    /// unclear): read from copy 0.
    Unsteerable = 3,
}

impl FrameState {
    fn from_bits(v: u64) -> FrameState {
        match v & STATE_MASK {
            1 => FrameState::Normal,
            2 => FrameState::Swapped,
            3 => FrameState::Unsteerable,
            _ => FrameState::Unknown,
        }
    }
}

/// Bits of one frame's state, and frames to a table word.
const STATE_BITS: u32 = 2;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;
const FRAMES_PER_WORD: usize = 64 / STATE_BITS as usize;

/// The word holding `frame`'s state, and the shift of its two bits in it.
#[inline(always)]
fn slot(frame: usize) -> (usize, u32) {
    (frame / FRAMES_PER_WORD, (frame % FRAMES_PER_WORD) as u32 * STATE_BITS)
}

/// One read in this many records its frame in the ring of touched frames.
pub(crate) const SAMPLE_EVERY: u32 = 64;
/// Frames the ring holds (a power of two).
pub(crate) const RING: usize = 256;

/// The per-frame table, the ring of touched frames and the counts (see the module docs).
pub(crate) struct Orientation {
    /// `FRAMES_PER_WORD` frames' states to a word (see `slot`).
    states: Box<[AtomicU64]>,
    frames: usize,
    /// Frames of the ring; `u32::MAX` for an empty entry.
    ring: Box<[AtomicU32]>,
    /// Next ring entry the read path writes (only the reading thread advances it; see `note_read`).
    ring_next: AtomicU32,
    /// Frames learned (any state but `Unknown`), and of them `Unsteerable`.
    learned: AtomicU64,
    unsteerable: AtomicU64,
    /// Reads that found their frame learned and steerable, and those that did not, since the slab
    /// was made (info() takes the difference between two calls, for the coverage figure).
    reads_learned: AtomicU64,
    reads_unlearned: AtomicU64,
    /// Counts the read path's reads for the ring's sampling.
    sample_tick: AtomicU32,
    /// The reader asked for an audit (`request_audit`), and the learner's thread to wake for it.
    audit_wanted: AtomicBool,
    learner: OnceLock<std::thread::Thread>,
}

impl Orientation {
    /// A table of `frames` frames, none known.
    pub(crate) fn new(frames: usize) -> Orientation {
        Orientation {
            states: (0..frames.div_ceil(FRAMES_PER_WORD)).map(|_| AtomicU64::new(0)).collect(),
            frames,
            ring: (0..RING).map(|_| AtomicU32::new(u32::MAX)).collect(),
            ring_next: AtomicU32::new(0),
            learned: AtomicU64::new(0),
            unsteerable: AtomicU64::new(0),
            reads_learned: AtomicU64::new(0),
            reads_unlearned: AtomicU64::new(0),
            sample_tick: AtomicU32::new(0),
            audit_wanted: AtomicBool::new(false),
            learner: OnceLock::new(),
        }
    }

    /// Frames the table covers.
    pub(crate) fn frames(&self) -> usize {
        self.frames
    }

    /// What is known of `frame` (which the caller has checked is below `frames()`).
    #[inline(always)]
    pub(crate) fn state(&self, frame: usize) -> FrameState {
        // Relaxed: pairs with the Relaxed store in `set`; the entry only picks which of two right
        // copies to read (module docs), so no other data rides on it.
        let (w, shift) = slot(frame);
        FrameState::from_bits(self.states[w].load(Ordering::Relaxed) >> shift)
    }

    /// Records what was learned of `frame` (the learner's thread; a frame is set once).
    pub(crate) fn set(&self, frame: usize, s: FrameState) {
        // Relaxed: see `state`. One atomic update of the word, so frames sharing it are never
        // overwritten; knowing what it replaced makes a second learning of one frame count once.
        let (w, shift) = slot(frame);
        let bits = (s as u64) << shift;
        let old = self.states[w]
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some((v & !(STATE_MASK << shift)) | bits))
            .unwrap_or_else(|v| v);
        let was = FrameState::from_bits(old >> shift);
        if was == FrameState::Unknown && s != FrameState::Unknown {
            // Relaxed, the counts: figures for info(), read on their own.
            self.learned.fetch_add(1, Ordering::Relaxed);
            if s == FrameState::Unsteerable {
                self.unsteerable.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Forgets every frame (the learner's thread, when an audit finds the table no longer holds):
    /// reads go to copy 0 until each frame is learned again. Like `set`, it only changes which of
    /// two right copies a read takes.
    pub(crate) fn forget_all(&self) {
        for w in self.states.iter() {
            // Relaxed: see `state`.
            w.store(0, Ordering::Relaxed);
        }
        // Relaxed, the counts: figures (see `set`); only the learner's thread writes them.
        self.learned.store(0, Ordering::Relaxed);
        self.unsteerable.store(0, Ordering::Relaxed);
    }

    /// The read path's bookkeeping for a read of `frame` in state `s`: the coverage counts, and
    /// one read in `SAMPLE_EVERY` of an unknown frame goes into the ring for the learner.
    ///
    /// Only the one thread that reads the slab (its steering reader is `&mut`) calls this, so
    /// every counter here is advanced by a plain load and store, never a locked read-modify-write
    /// (which would cost every read ~10–20 ns on x86); other threads only read them.
    #[inline(always)]
    pub(crate) fn note_read(&self, frame: usize, s: FrameState) {
        // Relaxed throughout: counters and hints with one writer (this thread), each read on its
        // own by the learner's and info()'s threads.
        let bump = |c: &AtomicU64| c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
        if matches!(s, FrameState::Normal | FrameState::Swapped) {
            bump(&self.reads_learned);
            return;
        }
        bump(&self.reads_unlearned);
        if s == FrameState::Unknown {
            let t = self.sample_tick.load(Ordering::Relaxed);
            self.sample_tick.store(t.wrapping_add(1), Ordering::Relaxed);
            if t % SAMPLE_EVERY == 0 {
                let k = self.ring_next.load(Ordering::Relaxed);
                self.ring_next.store(k.wrapping_add(1), Ordering::Relaxed);
                self.ring[k as usize % RING].store(frame as u32, Ordering::Relaxed);
            }
        }
    }

    /// Frames in the ring still unknown, taken out of it (the learner's thread), at most `max`.
    pub(crate) fn take_hot(&self, max: usize) -> Vec<usize> {
        let mut out = Vec::new();
        for e in self.ring.iter() {
            if out.len() >= max {
                break;
            }
            // Relaxed: see `note_read`; a frame missed here is learned in address order later.
            let f = e.swap(u32::MAX, Ordering::Relaxed);
            if f != u32::MAX
                && (f as usize) < self.frames()
                && self.state(f as usize) == FrameState::Unknown
                && !out.contains(&(f as usize))
            {
                out.push(f as usize);
            }
        }
        out
    }

    /// Names the thread that learns this table, which `request_audit` wakes (the learner, once).
    pub(crate) fn set_learner(&self, t: std::thread::Thread) {
        let _ = self.learner.set(t);
    }

    /// Asks the learner to audit the table early (the reader's thread, when its tracker found
    /// steering falling short of what it predicted: the DRAM under the VM may have changed).
    pub(crate) fn request_audit(&self) {
        // Relaxed: a flag with no data riding on it; the unpark below (or the learner's next
        // wake-up) makes it seen.
        self.audit_wanted.store(true, Ordering::Relaxed);
        if let Some(t) = self.learner.get() {
            t.unpark();
        }
    }

    /// Whether an audit is asked for (the learner's thread; `take_audit_request` clears it).
    pub(crate) fn audit_requested(&self) -> bool {
        // Relaxed: see `request_audit`.
        self.audit_wanted.load(Ordering::Relaxed)
    }

    /// Takes the request for an audit: whether there was one.
    pub(crate) fn take_audit_request(&self) -> bool {
        // Relaxed: see `request_audit`.
        self.audit_wanted.swap(false, Ordering::Relaxed)
    }

    /// (frames learned, of them unsteerable).
    pub(crate) fn learned(&self) -> (u64, u64) {
        // Relaxed: figures (see `set`).
        (self.learned.load(Ordering::Relaxed), self.unsteerable.load(Ordering::Relaxed))
    }

    /// Reads on learned, steerable frames and on the rest, since the slab was made (callers
    /// that want a window keep the previous pair).
    pub(crate) fn read_counts(&self) -> (u64, u64) {
        // Relaxed: figures (see `note_read`).
        (self.reads_learned.load(Ordering::Relaxed), self.reads_unlearned.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requested_audit_wakes_the_learner_and_is_taken_once() {
        let o = Orientation::new(64);
        assert!(!o.audit_requested() && !o.take_audit_request());
        // Before a learner is named the request is kept; it wakes the learner once named.
        o.request_audit();
        let (o, woke) = (std::sync::Arc::new(o), std::sync::Arc::new(AtomicBool::new(false)));
        let t = {
            let (o, woke) = (o.clone(), woke.clone());
            std::thread::spawn(move || {
                o.set_learner(std::thread::current());
                while !o.take_audit_request() {
                    std::thread::park();
                }
                assert!(!o.take_audit_request(), "taken once");
                // Park until asked again: only request_audit's unpark ends this.
                while !o.audit_requested() {
                    std::thread::park();
                }
                // Release: pairs with the Acquire load below.
                woke.store(true, Ordering::Release);
            })
        };
        // Once the thread has taken the first request, ask again.
        while o.audit_requested() {
            std::thread::yield_now();
        }
        o.request_audit();
        t.join().unwrap();
        // Acquire: pairs with the thread's Release store.
        assert!(woke.load(Ordering::Acquire));
    }

    #[test]
    fn frames_start_unknown_and_are_counted_once_when_learned() {
        let o = Orientation::new(8);
        assert!((0..8).all(|f| o.state(f) == FrameState::Unknown));
        o.set(1, FrameState::Normal);
        o.set(2, FrameState::Swapped);
        o.set(3, FrameState::Unsteerable);
        o.set(3, FrameState::Unsteerable);
        assert_eq!(o.learned(), (3, 1));
        assert_eq!(
            (o.state(1), o.state(2), o.state(3), o.state(4)),
            (FrameState::Normal, FrameState::Swapped, FrameState::Unsteerable, FrameState::Unknown)
        );
    }

    #[test]
    fn frames_sharing_a_table_word_keep_their_own_states() {
        let o = Orientation::new(FRAMES_PER_WORD * 2 + 3);
        assert_eq!(o.frames(), FRAMES_PER_WORD * 2 + 3);
        let pick = |f: usize| [FrameState::Normal, FrameState::Swapped, FrameState::Unsteerable][f % 3];
        for f in 0..o.frames() {
            o.set(f, pick(f));
        }
        assert!((0..o.frames()).all(|f| o.state(f) == pick(f)));
        // Learning a frame again changes it alone and counts nothing twice.
        o.set(FRAMES_PER_WORD + 1, FrameState::Normal);
        assert!((0..o.frames()).all(|f| o.state(f) == if f == FRAMES_PER_WORD + 1 { FrameState::Normal } else { pick(f) }));
        assert_eq!(o.learned().0, o.frames() as u64);
    }

    #[test]
    fn reads_of_unknown_frames_reach_the_ring_and_learned_ones_count_as_covered() {
        let o = Orientation::new(1000);
        o.set(7, FrameState::Normal);
        for k in 0..(SAMPLE_EVERY as usize * 10) {
            o.note_read(100 + k / SAMPLE_EVERY as usize, FrameState::Unknown);
        }
        o.note_read(7, FrameState::Normal);
        let hot = o.take_hot(64);
        assert_eq!(hot, (100..110).collect::<Vec<_>>());
        assert!(o.take_hot(64).is_empty(), "taken out of the ring");
        assert_eq!(o.read_counts(), (1, SAMPLE_EVERY as u64 * 10));
        // A frame learned meanwhile is not handed out again.
        o.note_read(500, FrameState::Unknown);
        let _ = o.take_hot(64);
        for _ in 0..SAMPLE_EVERY {
            o.note_read(501, FrameState::Unknown);
        }
        o.set(501, FrameState::Swapped);
        assert!(o.take_hot(64).is_empty());
    }
}
