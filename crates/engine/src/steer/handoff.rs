//! A steering tracker calibrated off the reading thread, on its way to the reader.
//!
//! A slab learned in the background has nothing to calibrate on at first (reads of frames not
//! learned go to copy 0, untimed), and later only the reads that land on learned frames: with
//! reads spread over a large slab, a few percent of them, so the 260 000 observed reads a
//! calibration takes came in only after millions of reads, and every read of a learned frame
//! meanwhile was a calibration read (timed, copies in turn: +30 ns at the median on host A). So
//! the learner calibrates a tracker of its own on learned frames, off the reading thread, and
//! hands it over here; until then the reader reads copy 0, untimed, as for a frame not learned.
//! Where the learner cannot (it stopped, or gave up), it abandons the hand-off and the reader
//! calibrates on its own reads as before.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

use super::Tracker;

const PENDING: u8 = 0;
const READY: u8 = 1;
const ABANDONED: u8 = 2;

/// What the reader finds when it looks (`Handoff::take`).
pub(crate) enum Taken {
    /// Nothing yet: read copy 0, untimed.
    Pending,
    /// A calibrated tracker: steer with it from now on.
    Ready(Box<Tracker>),
    /// None will come: calibrate on your own reads.
    Abandoned,
}

/// One tracker handed from the learner to the reader, at most once.
pub(crate) struct Handoff {
    state: AtomicU8,
    slot: Mutex<Option<Box<Tracker>>>,
}

impl Handoff {
    pub(crate) fn new() -> Handoff {
        Handoff { state: AtomicU8::new(PENDING), slot: Mutex::new(None) }
    }

    /// Hands `tracker` over (the learner). Ignored once abandoned.
    pub(crate) fn put(&self, tracker: Tracker) {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        // Relaxed, this load and the store: the tracker travels through the mutex (its unlock
        // here and lock in `take` order it); the state is read under the same mutex there.
        if self.state.load(Ordering::Relaxed) == PENDING {
            *slot = Some(Box::new(tracker));
            self.state.store(READY, Ordering::Relaxed);
        }
    }

    /// No tracker will come (the learner stopped or could not calibrate). Ignored once ready.
    pub(crate) fn abandon(&self) {
        let _slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        // Relaxed: under the mutex, as in `put`.
        if self.state.load(Ordering::Relaxed) == PENDING {
            self.state.store(ABANDONED, Ordering::Relaxed);
        }
    }

    /// What the reader should do (one relaxed load while pending; the mutex only once it is not).
    #[inline]
    pub(crate) fn take(&self) -> Taken {
        // Relaxed: a hint only. Seeing PENDING late costs a few untimed reads; anything else is
        // read again under the mutex, which orders the tracker's contents (see `put`).
        if self.state.load(Ordering::Relaxed) == PENDING {
            return Taken::Pending;
        }
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        // Relaxed: under the mutex, as in `put`.
        match self.state.load(Ordering::Relaxed) {
            READY => match slot.take() {
                Some(t) => Taken::Ready(t),
                // Taken already (a second reader of the same hand-off): calibrate on its own.
                None => Taken::Abandoned,
            },
            _ => Taken::Abandoned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steer::TrackerConfig;

    fn tracker() -> Tracker {
        Tracker::new(TrackerConfig::new(2, 1.0)).unwrap()
    }

    #[test]
    fn a_tracker_put_is_taken_once_then_the_reader_is_on_its_own() {
        let h = Handoff::new();
        assert!(matches!(h.take(), Taken::Pending));
        h.put(tracker());
        h.abandon(); // too late: ignored
        assert!(matches!(h.take(), Taken::Ready(_)));
        assert!(matches!(h.take(), Taken::Abandoned));
    }

    #[test]
    fn an_abandoned_handoff_takes_no_tracker_after() {
        let h = Handoff::new();
        h.abandon();
        h.put(tracker()); // too late: ignored
        assert!(matches!(h.take(), Taken::Abandoned));
    }

    #[test]
    fn a_tracker_put_on_another_thread_arrives_whole() {
        let h = std::sync::Arc::new(Handoff::new());
        let t = {
            let h = h.clone();
            std::thread::spawn(move || h.put(tracker()))
        };
        loop {
            match h.take() {
                Taken::Pending => std::hint::spin_loop(),
                Taken::Ready(t) => {
                    assert_eq!(t.report().calibrations, 1);
                    break;
                }
                Taken::Abandoned => panic!("abandoned"),
            }
        }
        t.join().unwrap();
    }
}
