//! A creation job: the handle through which a long construction (mapping, pre-faulting, measuring
//! the period, placement, the copy check, calibration, starting threads) reports its progress and
//! learns that it was cancelled.
//!
//! Owns a cancel flag, the phase and counts last reported, and an optional progress callback. It
//! never blocks, never allocates after construction, and never decides anything: the work checks
//! `Job::check` between chunks (at least every ~50 ms of work) and, when cancelled, frees what it
//! made and returns `Error::Cancelled`. `Job::none()` (the default) costs one branch per check.
//!
//! Threads: one thread does the work and calls `report`/`check`; any thread may `cancel` or read
//! `snapshot`. Nothing else is shared.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The stages of creating a slab, in the order they run (a creation skips those it does not need).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Asking the kernel for memory (and, for a shared slab, sizing its file). Units: bytes.
    Map,
    /// Touching every page so none faults on a read. Units: bytes.
    Prefault,
    /// Measuring this machine's refresh period on one line (once per process). Units: ms.
    Period,
    /// Timing lines to learn where refresh stalls fall and placing the copies. Units: ms of the
    /// placement budget (the phase may end before its total: it then reports done = total).
    Place,
    /// Timing the placed copies of sample slots to check they stall apart. Units: ms allowed.
    Check,
    /// Calibrating the steering tracker (and with it the strategy decision). Units: ms allowed.
    Calibrate,
    /// Starting replica threads. Units: threads.
    Start,
}

impl Phase {
    pub(crate) const ALL: [Phase; 7] =
        [Phase::Map, Phase::Prefault, Phase::Period, Phase::Place, Phase::Check, Phase::Calibrate, Phase::Start];

    /// The name a user sees.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Map => "map",
            Phase::Prefault => "prefault",
            Phase::Period => "period",
            Phase::Place => "place",
            Phase::Check => "check",
            Phase::Calibrate => "calibrate",
            Phase::Start => "start",
        }
    }

    /// What `done` and `total` count in this phase.
    pub fn unit(self) -> &'static str {
        match self {
            Phase::Map | Phase::Prefault => "bytes",
            Phase::Period | Phase::Place | Phase::Check | Phase::Calibrate => "ms",
            Phase::Start => "threads",
        }
    }

    fn code(self) -> u8 {
        self as u8 + 1
    }

    fn from_code(c: u8) -> Option<Phase> {
        Phase::ALL.get((c as usize).checked_sub(1)?).copied()
    }
}

/// The progress callback: (phase, done, total). Called on the working thread; it must be cheap
/// and must not call back into the job's work.
pub(crate) type ProgressFn = dyn Fn(Phase, u64, u64) + Send + Sync;

/// The longest a phase goes without a call to the callback while it reports (the callback is
/// also called at every phase change and at every phase's end).
pub(crate) const REPORT_EVERY: Duration = Duration::from_millis(100);

struct Shared {
    cancelled: AtomicBool,
    progress: Option<Box<ProgressFn>>,
    /// The phase (`Phase::code`, 0: none yet), done and total last reported, and when the callback
    /// was last called (ns after `start`). Written only by the working thread.
    phase: AtomicU8,
    done: AtomicU64,
    total: AtomicU64,
    called_ns: AtomicU64,
    /// The least time between two calls within a phase (ns).
    every_ns: u64,
    start: Instant,
}

/// A cancellable creation with optional progress (see the module docs). Clones share one job.
#[derive(Clone, Default)]
pub struct Job {
    shared: Option<Arc<Shared>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.shared {
            None => f.write_str("Job::none()"),
            Some(s) => write!(f, "Job {{ cancelled: {}, progress: {} }}", self.is_cancelled(), s.progress.is_some()),
        }
    }
}

/// Two options structs compare equal whatever jobs they carry: a job is not an option's value.
impl PartialEq for Job {
    fn eq(&self, _: &Job) -> bool {
        true
    }
}

impl Job {
    /// No cancellation, no progress: what the synchronous entry points pass.
    pub fn none() -> Job {
        Job { shared: None }
    }

    /// A job that can be cancelled and reports to nobody (its progress can still be polled).
    pub fn new() -> Job {
        Job::make(None, REPORT_EVERY)
    }

    /// A job that can be cancelled and calls `progress(phase, done, total)` at every phase change,
    /// at every phase's end, and in between on the first report after `REPORT_EVERY` has passed
    /// since the last call (the work reports at least every ~50 ms, so a phase is heard from at
    /// least every ~150 ms). Within a phase `done` never decreases and `total` stays the same.
    pub fn with_progress(progress: impl Fn(Phase, u64, u64) + Send + Sync + 'static) -> Job {
        Job::make(Some(Box::new(progress)), REPORT_EVERY)
    }

    /// `with_progress`, with calls within a phase at most every `every` instead of
    /// `REPORT_EVERY` (`Duration::ZERO`: at every report, as tests that cancel mid-phase need).
    pub fn with_progress_every(every: Duration, progress: impl Fn(Phase, u64, u64) + Send + Sync + 'static) -> Job {
        Job::make(Some(Box::new(progress)), every)
    }

    fn make(progress: Option<Box<ProgressFn>>, every: Duration) -> Job {
        Job {
            shared: Some(Arc::new(Shared {
                cancelled: AtomicBool::new(false),
                progress,
                phase: AtomicU8::new(0),
                done: AtomicU64::new(0),
                total: AtomicU64::new(0),
                called_ns: AtomicU64::new(0),
                every_ns: every.as_nanos() as u64,
                start: Instant::now(),
            })),
        }
    }

    /// Asks the work to stop: it returns `Error::Cancelled` at its next check, having freed what it
    /// made. Any thread; idempotent. A no-op on `Job::none()`.
    pub fn cancel(&self) {
        if let Some(s) = &self.shared {
            // Relaxed: pairs with the Relaxed load in `is_cancelled`. The flag carries no other
            // data (the work frees only what it owns), so only its own value must arrive, and an
            // atomic store always does, promptly.
            s.cancelled.store(true, Ordering::Relaxed);
        }
    }

    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        // Relaxed: pairs with the Relaxed store in `cancel` (see there).
        self.shared.as_ref().is_some_and(|s| s.cancelled.load(Ordering::Relaxed))
    }

    /// `Err(Error::Cancelled)` once `cancel` was called; the work's way out, through `?`.
    #[inline]
    pub(crate) fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(self.cancelled())
        } else {
            Ok(())
        }
    }

    /// The error a cancelled job returns, naming the phase it stopped in.
    pub(crate) fn cancelled(&self) -> Error {
        Error::Cancelled { phase: self.snapshot().map(|(p, _, _)| p.name()) }
    }

    /// (phase, done, total) last reported, if any. The three are read one by one: a reader racing
    /// a phase change may see the new phase with the old counts (never a torn number).
    pub fn snapshot(&self) -> Option<(Phase, u64, u64)> {
        let s = self.shared.as_ref()?;
        // Relaxed, all three: pair with the Relaxed stores in `report`; each is a progress figure
        // on its own and publishes nothing else.
        let phase = Phase::from_code(s.phase.load(Ordering::Relaxed))?;
        Some((phase, s.done.load(Ordering::Relaxed), s.total.load(Ordering::Relaxed)))
    }

    /// Records progress in `phase`: `done` of `total` (in `phase.unit()`). A `done` lower than one
    /// already reported in the same phase is raised to it, and `done` is capped at `total`; the
    /// callback is called at a phase change, when `done` reaches `total`, and otherwise at most
    /// every `REPORT_EVERY`. No allocation.
    pub(crate) fn report(&self, phase: Phase, done: u64, total: u64) {
        let Some(s) = &self.shared else { return };
        // Relaxed loads and stores of the report fields: only the working thread writes them (it
        // reads back its own stores in program order); readers pair with `snapshot`.
        let same = s.phase.load(Ordering::Relaxed) == phase.code();
        let done = if same { done.max(s.done.load(Ordering::Relaxed)) } else { done }.min(total);
        let before = s.done.load(Ordering::Relaxed);
        s.phase.store(phase.code(), Ordering::Relaxed);
        s.total.store(total, Ordering::Relaxed);
        s.done.store(done, Ordering::Relaxed);
        let Some(f) = &s.progress else { return };
        let now = s.start.elapsed().as_nanos() as u64;
        let due = now.saturating_sub(s.called_ns.load(Ordering::Relaxed)) >= s.every_ns;
        let ends = done == total && !(same && before == total);
        if !same || ends || due {
            s.called_ns.store(now, Ordering::Relaxed);
            f(phase, done, total);
        }
    }

    /// Reports `phase` as finished (done = total), once per phase.
    pub(crate) fn finish(&self, phase: Phase, total: u64) {
        self.report(phase, total, total);
    }

    /// A meter for a phase measured in milliseconds of an allowance of `total` (see `Meter`).
    pub(crate) fn meter(&self, phase: Phase, total: Duration) -> Meter {
        let m = Meter { job: self.clone(), phase, start: Instant::now(), total_ms: (total.as_millis() as u64).max(1) };
        m.tick();
        m
    }
}

/// A phase whose units are milliseconds of an allowance (`Job::meter`): `tick` reports the time
/// spent so far (capped at the allowance), `finish` reports the whole allowance.
#[derive(Clone, Debug)]
pub(crate) struct Meter {
    job: Job,
    phase: Phase,
    start: Instant,
    total_ms: u64,
}

impl Default for Meter {
    /// Reports to nobody and is never cancelled.
    fn default() -> Meter {
        Meter { job: Job::none(), phase: Phase::Place, start: Instant::now(), total_ms: 1 }
    }
}

impl Meter {
    /// Reports the time spent; false once the job is cancelled (the work should stop).
    #[inline]
    pub(crate) fn tick(&self) -> bool {
        if self.job.shared.is_none() {
            return true;
        }
        self.job.report(self.phase, self.start.elapsed().as_millis() as u64, self.total_ms);
        !self.job.is_cancelled()
    }

    pub(crate) fn finish(&self) {
        self.job.finish(self.phase, self.total_ms);
    }

    pub(crate) fn job(&self) -> &Job {
        &self.job
    }
}

/// Does `total` units of work (bytes, for the phases that use it) in chunks of `chunk`, calling
/// `work(offset, len)` for each and reporting `phase` after it; stops with `Error::Cancelled`
/// between chunks once the job is cancelled.
pub(crate) fn chunked(job: &Job, phase: Phase, total: usize, chunk: usize, mut work: impl FnMut(usize, usize) -> Result<()>) -> Result<()> {
    let chunk = chunk.max(1);
    job.report(phase, 0, total as u64);
    let mut off = 0;
    while off < total {
        job.check()?;
        let len = chunk.min(total - off);
        work(off, len)?;
        off += len;
        job.report(phase, off as u64, total as u64);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing {
    //! A progress recorder for tests: every call, in order, in memory allocated up front.
    use super::*;
    use std::sync::Mutex;

    pub(crate) struct Recorded {
        pub(crate) calls: Mutex<Vec<(Phase, u64, u64)>>,
    }

    /// A job whose progress calls are recorded (every report: no throttle), and that cancels
    /// itself on the first call `cancel_when` says yes to.
    pub(crate) fn recording(cancel_when: impl Fn(Phase, u64, u64) -> bool + Send + Sync + 'static) -> (Job, Arc<Recorded>) {
        let rec = Arc::new(Recorded { calls: Mutex::new(Vec::with_capacity(1 << 16)) });
        let r = rec.clone();
        // A weak handle, so the callback does not keep its own job alive.
        let me: Arc<std::sync::OnceLock<std::sync::Weak<Shared>>> = Arc::new(std::sync::OnceLock::new());
        let me2 = me.clone();
        let job = Job::with_progress_every(Duration::ZERO, move |p, d, t| {
            r.calls.lock().unwrap().push((p, d, t));
            if cancel_when(p, d, t) {
                if let Some(shared) = me2.get().and_then(std::sync::Weak::upgrade) {
                    Job { shared: Some(shared) }.cancel();
                }
            }
        });
        let _ = me.set(Arc::downgrade(job.shared.as_ref().expect("a recording job has a shared part")));
        (job, rec)
    }

    impl Recorded {
        /// The phases in the order they first reported.
        pub(crate) fn phases(&self) -> Vec<Phase> {
            let mut out: Vec<Phase> = Vec::new();
            for &(p, _, _) in self.calls.lock().unwrap().iter() {
                if out.last() != Some(&p) {
                    out.push(p);
                }
            }
            out
        }

        /// Asserts each phase's run of calls has one total and a `done` that never decreases and
        /// never passes it.
        pub(crate) fn assert_monotonic(&self) {
            let calls = self.calls.lock().unwrap();
            for w in calls.windows(2) {
                let ((p0, d0, t0), (p1, d1, t1)) = (w[0], w[1]);
                assert!(d1 <= t1, "{p1:?}: done {d1} past total {t1}");
                if p0 == p1 {
                    assert!(d1 >= d0, "{p1:?}: done went back from {d0} to {d1}");
                    assert_eq!(t0, t1, "{p1:?}: total changed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::recording;
    use super::*;

    #[test]
    fn none_is_never_cancelled_and_reports_nothing() {
        let j = Job::none();
        j.cancel();
        assert!(!j.is_cancelled());
        assert!(j.check().is_ok());
        j.report(Phase::Map, 1, 2);
        assert_eq!(j.snapshot(), None);
    }

    #[test]
    fn cancel_from_a_clone_stops_the_work_with_the_phase_it_was_in() {
        let j = Job::new();
        j.report(Phase::Prefault, 10, 100);
        j.clone().cancel();
        match j.check() {
            Err(e @ Error::Cancelled { phase: Some("prefault") }) => assert!(e.to_string().contains("prefault"), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn done_never_goes_back_within_a_phase_and_every_phase_change_and_end_is_reported() {
        let (j, rec) = recording(|_, _, _| false);
        j.report(Phase::Map, 0, 8);
        j.report(Phase::Map, 8, 8);
        j.report(Phase::Prefault, 0, 100);
        j.report(Phase::Prefault, 50, 100);
        j.report(Phase::Prefault, 20, 100);
        assert_eq!(j.snapshot(), Some((Phase::Prefault, 50, 100)));
        j.report(Phase::Prefault, 500, 100);
        j.finish(Phase::Prefault, 100);
        rec.assert_monotonic();
        let calls = rec.calls.lock().unwrap().clone();
        assert_eq!(calls.first(), Some(&(Phase::Map, 0, 8)));
        assert!(calls.contains(&(Phase::Map, 8, 8)));
        assert_eq!(calls.last(), Some(&(Phase::Prefault, 100, 100)), "{calls:?}");
        assert_eq!(rec.phases(), vec![Phase::Map, Phase::Prefault]);
    }

    #[test]
    fn a_throttled_job_calls_at_phase_changes_and_ends_only_when_reports_come_fast() {
        let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
        let c = calls.clone();
        let j = Job::with_progress(move |p, d, t| c.lock().unwrap().push((p, d, t)));
        for d in 0..=1000 {
            j.report(Phase::Prefault, d, 1000);
        }
        j.finish(Phase::Prefault, 1000);
        j.report(Phase::Start, 0, 2);
        let calls = calls.lock().unwrap().clone();
        assert_eq!(calls.first(), Some(&(Phase::Prefault, 0, 1000)));
        assert_eq!(calls.iter().filter(|c| **c == (Phase::Prefault, 1000, 1000)).count(), 1, "{calls:?}");
        assert_eq!(calls.last(), Some(&(Phase::Start, 0, 2)));
    }

    #[test]
    fn chunked_work_stops_between_chunks_when_cancelled() {
        let (j, rec) = recording(|_, d, _| d >= 3);
        let mut seen = 0;
        let r = chunked(&j, Phase::Prefault, 10, 1, |_, len| {
            seen += len;
            Ok(())
        });
        assert!(matches!(r, Err(Error::Cancelled { phase: Some("prefault") })), "{r:?}");
        assert_eq!(seen, 3, "the chunk after the cancelling report never runs");
        rec.assert_monotonic();
    }
}

#[cfg(test)]
mod send {
    /// A front end runs a creation on a worker thread and hands the result back, and cancels (or
    /// reads progress) from its own thread: what that needs of the types.
    #[test]
    fn a_creation_can_run_on_another_thread_and_be_cancelled_from_this_one() {
        fn send<T: Send>() {}
        fn shared<T: Send + Sync>() {}
        shared::<super::Job>();
        send::<crate::Slayer>();
        send::<crate::Records>();
        send::<crate::Error>();
    }
}
