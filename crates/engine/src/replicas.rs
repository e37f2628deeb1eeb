//! Pinned replica threads and the hedged-read protocol between them and one requester.
//!
//! Protocol (no shared read-modify-write anywhere on the read path):
//! - the requester writes the argument, then publishes a new sequence number in one cache-padded
//!   `RequestLine`;
//! - each replica thread sees the new sequence, loads *its own* copy, stores the value into its own
//!   cache-padded `Lane`, then publishes the sequence there;
//! - the requester polls the lanes and takes the first whose sequence matches; that replica won.
//!   Late answers from losers carry an old sequence and are ignored.
//!
//! A parked thread is never waited for: when every lane that has not answered is parked, the
//! requester reads a copy itself and wakes the threads for the requests that follow.
//!
//! This module owns the threads (spawn, pin, park, stop, join). It never allocates, locks or
//! makes a system call on the read path, except `unpark` once per park episode.

// The loom models look at the flags and the clock at every poll (`POLLS_PER_*_CHECK` is 1).
#![cfg_attr(all(test, loom), allow(clippy::modulo_one))]

use std::sync::{mpsc, Arc};

use crossbeam_utils::CachePadded;

use crate::cores;
use crate::error::{Error, Result};
use crate::records::line::{self, LINE_WORDS, MAX_FIELDS};
use crate::slab::Slab;
use crate::spin::SpinPolicy;
use crate::stats::Answer;
use crate::sync::thread::{self, JoinHandle, Thread};
use crate::sync::{hint, tsc};
use crate::sync::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

/// Slots per batch request; longer batches go out as several requests.
pub const BATCH_CAPACITY: usize = 4096;
const BATCH_FLAG: u64 = 1 << 63;
/// A request for one whole record line: `RECORD_FLAG | base` (see `records::line`).
const RECORD_FLAG: u64 = 1 << 62;
/// `Lane::value` after a record request: the copy's fields are in `out[..MAX_FIELDS]`, or not.
const RECORD_CONSISTENT: u64 = 1;
const RECORD_TORN: u64 = 0;

/// How long a requester waits for any answer before reading a copy itself (a stuck or descheduled
/// thread must not hang a read). Hypervisor pauses of tens of ms are seen on small VMs.
const ANSWER_TIMEOUT_NS: u64 = 200_000_000;
/// Requester polls of the lanes between looks at their `parked` flags (every poll in the loom
/// models, which explore each poll as a step of its own).
const POLLS_PER_PARK_CHECK: u32 = if cfg!(all(test, loom)) { 1 } else { 8 };
/// Idle polls of a replica thread between looks at the clock (every poll in the loom models).
const POLLS_PER_IDLE_CHECK: u32 = if cfg!(all(test, loom)) { 1 } else { 64 };

/// Written by the requester only; read by every replica thread.
struct RequestLine {
    /// Sequence of the newest request. Release store by the requester (`post`), Acquire load by
    /// the threads: pairs so that `arg` and the batch indices written before it are visible.
    seq: AtomicU64,
    /// A slot index, `BATCH_FLAG | count` with the indices in `Shared::batch`, or
    /// `RECORD_FLAG | base` for the record line starting at slot `base`.
    arg: AtomicU64,
    stop: AtomicBool,
}

/// Written by one replica thread only; read by the requester.
struct Lane {
    /// Sequence of the last request this thread answered. Release store by the thread after
    /// `value`/`out`; Acquire load by the requester (`wait`).
    seq: AtomicU64,
    value: AtomicU64,
    /// True while the thread is (about to be) parked. SeqCst stores by the thread (true before
    /// its last check of `RequestLine::seq`, false after waking); SeqCst load by the requester.
    parked: AtomicBool,
    /// Counts park episodes so the requester wakes each episode once.
    park_epoch: AtomicU64,
    /// The core the thread found itself on after pinning (sched_getcpu), or -1.
    cpu: AtomicI64,
    out: Box<[AtomicU64]>,
}

struct Shared {
    request: CachePadded<RequestLine>,
    lanes: Box<[CachePadded<Lane>]>,
    /// Batch indices; written by the requester before it publishes the sequence. A thread that
    /// lags behind may read indices of a newer request: they are atomics (no data race) and were
    /// all range-checked by the requester, so it only computes an answer that will be ignored.
    batch: Box<[AtomicU32]>,
    slab: Arc<Slab>,
    policy: SpinPolicy,
    /// Idle ticks before a hybrid/sleep thread parks.
    park_after: u64,
    /// Idle ticks before a hybrid thread starts yielding its core.
    yield_after: u64,
}

impl Shared {
    /// The request line, one lane per copy of `slab` with room for `capacity` answer words, and
    /// `capacity` batch indices (`BATCH_CAPACITY` in `start`; a few in the loom models). A hybrid
    /// or sleep thread parks after `idle_ticks` idle ticks and yields after a quarter of them.
    fn new(slab: Arc<Slab>, policy: SpinPolicy, idle_ticks: u64, capacity: usize) -> Shared {
        let lanes = (0..slab.layout().replicas())
            .map(|_| {
                CachePadded::new(Lane {
                    seq: AtomicU64::new(0),
                    value: AtomicU64::new(0),
                    parked: AtomicBool::new(false),
                    park_epoch: AtomicU64::new(0),
                    cpu: AtomicI64::new(-1),
                    out: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
                })
            })
            .collect();
        Shared {
            request: CachePadded::new(RequestLine { seq: AtomicU64::new(0), arg: AtomicU64::new(0), stop: AtomicBool::new(false) }),
            lanes,
            batch: (0..capacity).map(|_| AtomicU32::new(0)).collect(),
            slab,
            policy,
            park_after: idle_ticks,
            yield_after: idle_ticks / 4,
        }
    }
}

/// The replica threads of a hedged slab, pinned one to a core, and the request they race to answer (see the module docs for the hand-off).
pub struct ReplicaSet {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    handles: Vec<Thread>,
    /// Requester-side: the sequence of the last request posted.
    seq: u64,
    /// Requester-side: the park epoch of each lane that was last woken.
    woken: Vec<u64>,
    timeout_ticks: u64,
}

impl ReplicaSet {
    /// Spawns one thread per core in `cores` (replica r on `cores[r]`), each pinned before it
    /// starts waiting, and returns once every thread is pinned and running.
    pub fn start(slab: Arc<Slab>, cores: &[usize], policy: SpinPolicy, idle_us: u64) -> Result<ReplicaSet> {
        let n = slab.layout().replicas();
        assert_eq!(cores.len(), n, "one core per replica");
        let idle_ticks = tsc::from_ns(idle_us.saturating_mul(1000));
        let shared = Arc::new(Shared::new(slab, policy, idle_ticks, BATCH_CAPACITY));
        let mut set = ReplicaSet::without_threads(shared.clone());
        let (ready_tx, ready_rx) = mpsc::channel::<std::result::Result<(), String>>();
        for (r, &core) in cores.iter().enumerate() {
            let shared = shared.clone();
            let ready = ready_tx.clone();
            let spawned = thread::Builder::new().name(format!("uslayer-r{r}")).stack_size(64 * 1024).spawn(move || {
                // Pin before anything else, so the thread never spins on a core it was not given.
                if !cores::pin_current(core) {
                    let _ = ready.send(Err(format!("could not pin replica thread {r} to core {core}")));
                    return;
                }
                // Relaxed: published by the `ready` send below; `start` returns only after
                // receiving it, and a channel send happens before the matching receive.
                shared.lanes[r].cpu.store(cores::current().map_or(-1, |c| c as i64), Ordering::Relaxed);
                let _ = ready.send(Ok(()));
                drop(ready);
                serve(&shared, r);
            });
            match spawned {
                Ok(h) => {
                    set.handles.push(h.thread().clone());
                    set.threads.push(h);
                }
                Err(e) => {
                    set.shutdown();
                    return Err(Error::Thread { message: format!("could not spawn replica thread {r}: {e}") });
                }
            }
        }
        drop(ready_tx);
        for _ in 0..n {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(message)) => {
                    set.shutdown();
                    return Err(Error::Thread { message });
                }
                Err(_) => {
                    set.shutdown();
                    return Err(Error::Thread { message: "a replica thread exited during start-up".into() });
                }
            }
        }
        Ok(set)
    }

    /// A set around `shared` with no threads yet: `start` spawns and pins them, the loom models
    /// spawn their own.
    fn without_threads(shared: Arc<Shared>) -> ReplicaSet {
        let n = shared.lanes.len();
        ReplicaSet {
            shared,
            threads: Vec::with_capacity(n),
            handles: Vec::with_capacity(n),
            seq: 0,
            woken: vec![0; n],
            timeout_ticks: tsc::from_ns(ANSWER_TIMEOUT_NS),
        }
    }

    /// The core each replica thread reported after pinning (sched_getcpu), if known.
    pub fn thread_cpus(&self) -> Vec<Option<usize>> {
        // Relaxed: each thread stored its core before its `ready` message, which `start` received
        // before returning the set (the channel orders it); the value never changes afterwards.
        self.shared.lanes.iter().map(|l| usize::try_from(l.cpu.load(Ordering::Relaxed)).ok()).collect()
    }

    /// Hedged read of slot `i`. The caller has range-checked `i`.
    #[inline]
    pub fn read(&mut self, i: u64) -> (u64, Answer) {
        let seq = self.post(i);
        match self.wait(seq) {
            // Relaxed: ordered after the lane's Acquire-loaded sequence in `wait`, which pairs with
            // the thread's Release store of it after `value`.
            Ok(r) => (self.shared.lanes[r].value.load(Ordering::Relaxed), Answer::Replica(r)),
            Err(answer) => (self.shared.slab.load_unchecked(0, i), answer),
        }
    }

    /// Hedged read of the record line at slot `base`: each thread reads and validates its own copy
    /// (`records::line::read_copy`) and the first consistent copy wins; its fields go to `out`.
    /// Err when no thread could answer with a consistent copy (the caller then reads the record
    /// itself). The caller guarantees `base % 8 == 0` and `base + 8 <= slots`.
    #[inline]
    pub fn read_record(&mut self, base: u64, out: &mut [u64; MAX_FIELDS]) -> std::result::Result<usize, Answer> {
        let seq = self.post(RECORD_FLAG | base);
        // Relaxed: `value` is ordered after the lane's Acquire-loaded sequence in `wait_for`.
        let r = self.wait_for(seq, |lane| lane.value.load(Ordering::Relaxed) == RECORD_CONSISTENT)?;
        for (o, cell) in out.iter_mut().zip(self.shared.lanes[r].out.iter()) {
            // Relaxed: ordered after the lane's Acquire-loaded sequence in `wait_for`.
            *o = cell.load(Ordering::Relaxed);
        }
        Ok(r)
    }

    /// Hedged read of many slots; `out[k]` gets slot `indices[k]`. The caller has range-checked
    /// every index and matched the lengths. Reports each request's answer (one request per
    /// `BATCH_CAPACITY` slots) and its slot count through `on_answer`.
    pub fn read_many(&mut self, indices: &[u32], out: &mut [u64], mut on_answer: impl FnMut(Answer, u64)) {
        for (idx, out) in indices.chunks(BATCH_CAPACITY).zip(out.chunks_mut(BATCH_CAPACITY)) {
            for (cell, &i) in self.shared.batch.iter().zip(idx) {
                // Relaxed: published by the Release store of the sequence in `post`.
                cell.store(i, Ordering::Relaxed);
            }
            let seq = self.post(BATCH_FLAG | idx.len() as u64);
            let answer = match self.wait(seq) {
                Ok(r) => {
                    for (o, cell) in out.iter_mut().zip(self.shared.lanes[r].out.iter()) {
                        // Relaxed: ordered after the lane's Acquire-loaded sequence in `wait`.
                        *o = cell.load(Ordering::Relaxed);
                    }
                    Answer::Replica(r)
                }
                Err(answer) => {
                    for (o, &i) in out.iter_mut().zip(idx) {
                        *o = self.shared.slab.load_unchecked(0, i as u64);
                    }
                    answer
                }
            };
            on_answer(answer, idx.len() as u64);
        }
    }

    #[inline(always)]
    fn post(&mut self, arg: u64) -> u64 {
        self.seq += 1;
        let req = &self.shared.request;
        // Relaxed: published by the Release store of `seq` just below.
        req.arg.store(arg, Ordering::Relaxed);
        // Release: pairs with the Acquire load of `seq` in `serve`.
        req.seq.store(self.seq, Ordering::Release);
        self.seq
    }

    /// Waits for the first lane that answers `seq`. Err when no awake thread is left to answer
    /// (every unanswered lane parked) or the timeout passed; the caller then reads a copy itself.
    #[inline(always)]
    fn wait(&mut self, seq: u64) -> std::result::Result<usize, Answer> {
        self.wait_for(seq, |_| true)
    }

    /// `wait`, taking only answers `accept` approves of; Err(DirectAfterInconsistent) when every
    /// lane answered and none was accepted.
    #[inline(always)]
    fn wait_for(&mut self, seq: u64, accept: impl Fn(&Lane) -> bool) -> std::result::Result<usize, Answer> {
        let lanes = &self.shared.lanes;
        let mut polls: u32 = 0;
        let mut started = 0u64;
        loop {
            let mut refused = 0;
            for (r, lane) in lanes.iter().enumerate() {
                // Acquire: pairs with the Release store of the lane's sequence in `serve`, so its
                // `value`/`out` are visible.
                if lane.seq.load(Ordering::Acquire) == seq {
                    if accept(lane) {
                        return Ok(r);
                    }
                    refused += 1;
                }
            }
            if refused == lanes.len() {
                return Err(Answer::DirectAfterInconsistent);
            }
            polls = polls.wrapping_add(1);
            if polls % POLLS_PER_PARK_CHECK == 0 {
                let mut awake = 0;
                for (r, lane) in lanes.iter().enumerate() {
                    // Acquire: as in the poll above (pairs with the Release store of the lane's
                    // sequence in `serve`). A lane may have answered since that poll: take its
                    // answer; a refused one is neither awake nor waited for.
                    if lane.seq.load(Ordering::Acquire) == seq {
                        if accept(lane) {
                            return Ok(r);
                        }
                        continue;
                    }
                    // SeqCst: one total order with the thread's SeqCst stores of `parked` (true
                    // before its last look at the request, false after waking), so this does not
                    // take an older park episode's `true` for the current state. (With Acquire
                    // here and Release on the `false` store, the loom model of sleeping threads
                    // at 3 preemptions finds an execution that never ends, that is, a thread
                    // that never answers; with SeqCst on both it passes.) Also Acquire: pairs
                    // with those stores, for the epoch below.
                    if lane.parked.load(Ordering::SeqCst) {
                        // Relaxed: the thread bumps the epoch before its SeqCst (so also Release)
                        // store of `parked`, which the SeqCst load just above saw: this is that
                        // episode's epoch or a newer one.
                        let epoch = lane.park_epoch.load(Ordering::Relaxed);
                        if self.woken[r] != epoch {
                            self.woken[r] = epoch;
                            self.handles[r].unpark();
                        }
                    } else {
                        awake += 1;
                    }
                }
                if awake == 0 {
                    return Err(Answer::DirectWhileParked);
                }
                if started == 0 {
                    started = tsc::now();
                } else if polls % 1024 == 0 && tsc::now().wrapping_sub(started) > self.timeout_ticks {
                    return Err(Answer::DirectAfterTimeout);
                }
            }
            hint::spin_loop();
        }
    }

    fn shutdown(&mut self) {
        // Release (more than needed): the threads need no data from before it, only to see it
        // eventually, which their Relaxed polls and the SeqCst re-check before parking do; the
        // `unpark` after it ends a park that began before the store, and `join` orders the rest.
        self.shared.request.stop.store(true, Ordering::Release);
        for h in &self.handles {
            h.unpark();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.handles.clear();
    }

    /// Stops and joins every replica thread.
    pub fn stop(mut self) {
        self.shutdown();
    }
}

impl Drop for ReplicaSet {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The replica thread's loop: answer requests from copy `r` until told to stop.
fn serve(shared: &Shared, r: usize) {
    let req = &shared.request;
    let lane = &shared.lanes[r];
    let slab = &*shared.slab;
    let slots = slab.layout().slots();
    // The sequence the request line starts at: requests are numbered from 1 (`post`) and none is
    // posted before `start` returns, after every thread exists, so 0 is never an old request.
    // (Loading the current sequence here lost the first request for a thread that got here after
    // the requester posted it: `start` returns once each thread is pinned, before it reaches this
    // line. The loom models found it.)
    let mut last = 0;
    let mut idle_since = tsc::now();
    let mut polls: u32 = 0;
    loop {
        // Acquire: pairs with the Release store of `seq` in `post`, making `arg` and the batch visible.
        let s = req.seq.load(Ordering::Acquire);
        if s != last {
            last = s;
            // Relaxed: the requester stored it before its Release store of `seq`, which the
            // Acquire load above saw. (A newer request may have overwritten it; its answer then
            // carries the older sequence `s` and is ignored, see `Shared::batch`.)
            let arg = req.arg.load(Ordering::Relaxed);
            if arg & BATCH_FLAG != 0 {
                let n = ((arg & !BATCH_FLAG) as usize).min(BATCH_CAPACITY);
                for (o, cell) in lane.out[..n].iter().zip(shared.batch.iter()) {
                    // Relaxed: published with `arg` by the requester's Release store of `seq`.
                    let i = cell.load(Ordering::Relaxed) as u64;
                    // The range check guards against a lagging read of a newer request's
                    // count/indices mix; every stored index was checked by the requester.
                    if i < slots {
                        // Relaxed: published by the Release store of the lane's sequence below.
                        o.store(slab.load_unchecked(r, i), Ordering::Relaxed);
                    }
                }
            } else if arg & RECORD_FLAG != 0 {
                let base = arg & !RECORD_FLAG;
                // The requester checked the record; the check keeps a corrupt request harmless.
                if base % LINE_WORDS as u64 == 0 && base + LINE_WORDS as u64 <= slots {
                    let status = match line::read_copy(slab, r, base) {
                        Some(fields) => {
                            for (o, v) in lane.out.iter().zip(fields) {
                                // Relaxed: published by the Release store of the lane's sequence below.
                                o.store(v, Ordering::Relaxed);
                            }
                            RECORD_CONSISTENT
                        }
                        None => RECORD_TORN,
                    };
                    // Relaxed: published by the Release store of the lane's sequence below.
                    lane.value.store(status, Ordering::Relaxed);
                }
            } else if arg < slots {
                // Relaxed: published by the Release store of the lane's sequence below.
                lane.value.store(slab.load_unchecked(r, arg), Ordering::Relaxed);
            }
            // Release: pairs with the Acquire load of the lane's sequence in `wait`.
            lane.seq.store(s, Ordering::Release);
            if shared.policy != SpinPolicy::Busy {
                idle_since = tsc::now();
            }
            continue;
        }
        // Relaxed: stop carries no data; it only has to become visible eventually.
        if req.stop.load(Ordering::Relaxed) {
            return;
        }
        hint::spin_loop();
        if shared.policy == SpinPolicy::Busy {
            continue;
        }
        polls = polls.wrapping_add(1);
        if polls % POLLS_PER_IDLE_CHECK != 0 {
            continue;
        }
        let idle = tsc::now().wrapping_sub(idle_since);
        if idle >= shared.park_after {
            // Relaxed both: only this thread writes the epoch (so the load sees its own last
            // store); the requester reads it after its SeqCst (so Acquire) load of the `parked`
            // store below.
            lane.park_epoch.store(lane.park_epoch.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            // SeqCst on both the flag store and the re-check below (and on the requester's load of
            // the flag, which re-polls): either the requester sees `parked` and wakes us, or we see its
            // new sequence here and do not park. A wake before `park()` is not lost: the park
            // token makes `park()` return at once.
            lane.parked.store(true, Ordering::SeqCst);
            if req.seq.load(Ordering::SeqCst) == last && !req.stop.load(Ordering::SeqCst) {
                thread::park();
            }
            // SeqCst: in one total order with the requester's SeqCst loads of `parked` (see
            // `wait_for`); also Release, pairing with them. Once per park episode, off the read path.
            lane.parked.store(false, Ordering::SeqCst);
            idle_since = tsc::now();
        } else if shared.policy == SpinPolicy::Sleep || idle > shared.yield_after {
            thread::yield_now();
        }
    }
}

/// Loom models of the request/answer hand-off (`RUSTFLAGS="--cfg loom" cargo test -p ultraslayer
/// --lib loom`): `post`, `wait_for` and `serve` themselves, with loom's atomics, park/unpark and
/// threads in place of pinned OS threads, on a two-copy slab whose copy `r` holds
/// `value(r, i)` at slot `i`, so an answer says which copy and which slot it came from. The
/// clock is frozen under loom (`sync::tsc`): the timeout never fires, and a request no thread
/// answers makes the model spin until loom gives up on it (a failure).
#[cfg(all(test, loom))]
mod loom_model {
    use super::*;
    use crate::layout::Layout;
    use crate::region::{LockRequest, PageRequest};

    fn value(copy: usize, i: u64) -> u64 {
        1000 * (copy as u64 + 1) + i
    }

    /// Two copies of 16 slots, copy `r` holding `value(r, i)` at slot `i` (made once: the slab is
    /// mapped memory, outside what loom models; nobody writes it during a model).
    fn slab() -> Arc<Slab> {
        let slab = Slab::new(Layout::new(16, 2, 64).unwrap(), PageRequest::Off, LockRequest::Off).unwrap();
        for r in 0..2 {
            for i in 0..16 {
                slab.cell(r, i).store(value(r, i), Ordering::Relaxed);
            }
        }
        Arc::new(slab)
    }

    /// `start` without the pinning: loom threads run `serve` for the first `threads` copies (a
    /// lane with no thread never answers and never parks). Idle threshold 0, so sleeping threads
    /// park at their first idle check.
    fn start(slab: &Arc<Slab>, policy: SpinPolicy, threads: usize) -> ReplicaSet {
        let shared = Arc::new(Shared::new(slab.clone(), policy, 0, MAX_FIELDS));
        let mut set = ReplicaSet::without_threads(shared.clone());
        for r in 0..threads {
            let shared = shared.clone();
            let t = loom::thread::spawn(move || serve(&shared, r));
            set.handles.push(t.thread().clone());
            set.threads.push(t);
        }
        set
    }

    /// The thread of a request answered `answer`: its copy's value of slot `i`, or copy 0's when
    /// the requester read it itself because every thread that had not answered was parked, in
    /// which case those threads were woken and answer that request (a lost wake-up would leave
    /// one parked and this model spinning until loom gives up on it).
    fn check_answer(set: &ReplicaSet, i: u64, v: u64, answer: Answer) {
        match answer {
            Answer::Replica(r) => assert_eq!(v, value(r, i), "slot {i} answered by replica {r}"),
            Answer::DirectWhileParked => {
                assert_eq!(v, value(0, i), "slot {i} read directly");
                // Acquire: pairs with the Release store of the lane's sequence in `serve`.
                while set.shared.lanes.iter().any(|l| l.seq.load(Ordering::Acquire) != set.seq) {
                    loom::thread::yield_now();
                }
            }
            other => panic!("request for slot {i} answered {other:?}"),
        }
    }

    /// A busy thread never parks, so it answers every request, with its copy's value of the slot
    /// asked for (never its answer to the previous request). One thread: loom cannot finish a
    /// model in which two threads spin for ever, since it may schedule them by turns for ever.
    #[test]
    fn loom_a_busy_thread_answers_every_request_with_its_own_slot() {
        let slab = slab();
        crate::sync::model(move || {
            let mut set = start(&slab, SpinPolicy::Busy, 1);
            for i in [3u64, 5] {
                let (v, answer) = set.read(i);
                assert_eq!(answer, Answer::Replica(0), "request for slot {i}");
                assert_eq!(v, value(0, i), "slot {i}");
            }
        });
    }

    /// Two sleeping threads that park as soon as they are idle: each read takes a thread's
    /// answer to that very request, or, once every thread that has not answered is seen parked,
    /// reads copy 0 itself and never waits for them; the threads it found parked are woken.
    #[test]
    fn loom_a_read_never_waits_for_parked_threads_and_wakes_them() {
        let slab = slab();
        crate::sync::model(move || {
            let mut set = start(&slab, SpinPolicy::Sleep, 2);
            for i in [3u64, 5] {
                let (v, answer) = set.read(i);
                check_answer(&set, i, v, answer);
            }
        });
    }

    /// A record request to two sleeping threads: the winner's answer is its own copy's whole
    /// line; with no winner, the threads found parked are woken (the caller reads the record).
    #[test]
    fn loom_a_record_answer_is_the_winning_copys_line() {
        let slab = slab();
        crate::sync::model(move || {
            let mut set = start(&slab, SpinPolicy::Sleep, 2);
            let mut out = [0u64; MAX_FIELDS];
            match set.read_record(8, &mut out) {
                Ok(r) => {
                    let want: Vec<u64> = (9..16).map(|i| value(r, i)).collect();
                    assert_eq!(out[..], want[..], "record at slot 8 answered by replica {r}");
                }
                Err(answer) => check_answer(&set, 8, value(0, 8), answer),
            }
        });
    }
}
