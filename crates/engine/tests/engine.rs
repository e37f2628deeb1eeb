//! Behaviour of the engine as a whole: reads through every path, threads on their cores, nothing
//! left behind, writers racing readers, spin policies. Asserts behaviour, never speed.
//!
//! Tests that start replica threads take `SERIAL` so spinning threads never compete with each
//! other on a 2-vCPU machine; they use `hybrid` where they do not test `busy` itself.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ultraslayer::{Error, LockRequest, Options, PageKind, PageRequest, Slayer, SpinPolicy};

mod common;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn opts(slots: u64, replicas: usize, spin: SpinPolicy) -> Options {
    let mut o = Options::new(slots);
    o.replicas = replicas;
    o.threads.spin = spin;
    o.pages = PageRequest::Off;
    o.threads.lock = LockRequest::Off;
    // These tests are about replica threads and hedged reads: ask for them ('auto' does not hedge
    // on a machine with fewer than replicas + 1 cores; tests of 'auto' set it themselves).
    o.strategy = ultraslayer::Strategy::Hedge;
    o
}

/// A hedged 1024-slot, 2-replica slab recording per-read latency.
fn recording(spin: SpinPolicy) -> Slayer {
    let mut o = opts(1024, 2, spin);
    o.threads.record_latency = true;
    Slayer::new(o).unwrap()
}

fn task_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|s| s.trim().to_string())
        .collect()
}

fn replica_threads_alive() -> usize {
    task_names().iter().filter(|n| n.starts_with("uslayer-r")).count()
}

/// The replica-thread count once it has settled at `want` (or after 2 s, whatever it is then).
/// `join` returns when the kernel clears the thread's tid, which happens before the task is
/// reaped, so a joined thread can stay listed in /proc/self/task for a moment.
fn replica_threads_settled(want: usize) -> usize {
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        let n = replica_threads_alive();
        if n == want || Instant::now() > until {
            return n;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A self-checking value: the low 32 bits are a hash of the high 32, so any mix of two values
/// fails the check.
fn pattern(k: u32) -> u64 {
    ((k as u64) << 32) | (k.wrapping_mul(0x9E37_79B9) ^ 0xA5A5_5A5A) as u64
}
fn is_pattern(v: u64) -> bool {
    v == 0 || pattern((v >> 32) as u32) == v
}

#[test]
fn round_trips_through_every_read_path_for_every_replica_count() {
    let _g = serial();
    for n in 2..=8 {
        let mut s = Slayer::new(opts(5000, n, SpinPolicy::Hybrid)).unwrap();
        let idx: Vec<u32> = (0..5000).step_by(3).collect();
        for &i in &idx {
            s.write(i as u64, pattern(i) ^ n as u64).unwrap();
        }
        for &i in &idx {
            let want = pattern(i) ^ n as u64;
            for r in 0..n {
                assert_eq!(s.read_replica(r, i as u64).unwrap(), want, "n={n} r={r} i={i}");
            }
            assert_eq!(s.read(i as u64).unwrap(), want);
            assert_eq!(s.read_hedged(i as u64).unwrap(), want);
        }
        let mut out = vec![0u64; idx.len()];
        s.read_many(&idx, &mut out).unwrap();
        for (k, &i) in idx.iter().enumerate() {
            assert_eq!(out[k], pattern(i) ^ n as u64);
        }
        s.stop();
        let mut out2 = vec![0u64; idx.len()];
        s.read_many(&idx, &mut out2).unwrap();
        assert_eq!(out, out2, "direct batch equals hedged batch");
        for &i in idx.iter().take(50) {
            assert_eq!(s.read(i as u64).unwrap(), pattern(i) ^ n as u64);
        }
    }
}

#[test]
fn batch_reads_equal_single_reads_across_request_boundaries() {
    let _g = serial();
    let mut s = Slayer::new(opts(20_000, 3, SpinPolicy::Hybrid)).unwrap();
    for i in 0..20_000u64 {
        s.write(i, i * 7 + 1).unwrap();
    }
    // 10_001 indices: three requests of BATCH_CAPACITY and a partial one, in shuffled order.
    let idx: Vec<u32> = (0..10_001u32).map(|k| (k.wrapping_mul(7919)) % 20_000).collect();
    let mut out = vec![0u64; idx.len()];
    s.read_many(&idx, &mut out).unwrap();
    for (k, &i) in idx.iter().enumerate() {
        assert_eq!(out[k], s.read(i as u64).unwrap());
    }
    let mut empty: [u64; 0] = [];
    s.read_many(&[], &mut empty).unwrap();
}

#[test]
fn bad_indices_and_lengths_are_refused_without_touching_anything() {
    let _g = serial();
    let mut s = Slayer::new(opts(100, 2, SpinPolicy::Hybrid)).unwrap();
    assert_eq!(s.read(100).unwrap_err(), Error::SlotOutOfRange { index: 100, slots: 100 });
    assert!(s.write(u64::MAX, 1).is_err());
    assert!(s.read_replica(2, 0).is_err());
    let mut out = [0u64; 2];
    assert!(matches!(s.read_many(&[1, 100], &mut out).unwrap_err(), Error::SlotOutOfRange { index: 100, .. }));
    assert!(matches!(s.read_many(&[1], &mut out).unwrap_err(), Error::LengthMismatch { .. }));
    assert!(s.write_many(&[0, 100], &[1, 2]).is_err());
    assert_eq!(s.read(0).unwrap(), 0);
    s.stop();
    assert!(matches!(s.read_hedged(0).unwrap_err(), Error::Stopped { .. }));
}

#[test]
fn replica_threads_run_on_their_cores_and_stop_leaves_none_behind() {
    let _g = serial();
    let allowed = ultraslayer::cores::allowed();
    let before = replica_threads_settled(0);
    let mut o = opts(1000, 2, SpinPolicy::Hybrid);
    let cores: Vec<usize> = (0..2).map(|k| allowed[k % allowed.len()]).collect();
    if allowed.len() >= 2 {
        o.threads.cores = Some(cores.clone());
    }
    let mut s = Slayer::new(o).unwrap();
    let info = s.info();
    assert!(info.running);
    assert_eq!(info.thread_cpus.len(), 2);
    for (r, cpu) in info.thread_cpus.iter().enumerate() {
        assert_eq!(*cpu, Some(info.cores[r]), "replica {r} reported it runs on {cpu:?}");
    }
    assert_eq!(replica_threads_alive(), before + 2);
    assert!(task_names().iter().any(|n| n == "uslayer-r0"));
    s.stop();
    assert_eq!(replica_threads_settled(before), before);
    s.start().unwrap();
    assert_eq!(replica_threads_alive(), before + 2);
    drop(s);
    assert_eq!(replica_threads_settled(before), before);
}

#[test]
fn bad_cores_are_refused_by_name() {
    let allowed = ultraslayer::cores::allowed();
    let mut o = opts(10, 2, SpinPolicy::Hybrid);
    o.threads.cores = Some(vec![allowed[0], 4095]);
    let e = Slayer::new(o).err().unwrap();
    assert!(matches!(e, Error::CoreNotAllowed { core: 4095, .. }), "{e}");
    assert!(e.to_string().contains("4095"));
    let mut o = opts(10, 2, SpinPolicy::Hybrid);
    o.threads.cores = Some(vec![allowed[0], allowed[0]]);
    assert!(matches!(Slayer::new(o).err().unwrap(), Error::CoreListedTwice { .. }));
}

#[test]
fn default_placement_on_a_small_machine_shares_and_says_so() {
    let _g = serial();
    let s = Slayer::new(opts(10, 8, SpinPolicy::Sleep)).unwrap();
    let info = s.info();
    assert_eq!(info.cores.len(), 8);
    let allowed = ultraslayer::cores::allowed();
    assert!(info.cores.iter().all(|c| allowed.contains(c)));
    if allowed.len() < 9 {
        assert!(info.shared_cores);
        assert!(info.cores_note.unwrap().contains("share"));
    }
}

#[test]
fn a_reader_racing_a_writer_sees_only_values_that_were_written() {
    let _g = serial();
    for spin in [SpinPolicy::Hybrid, SpinPolicy::Busy] {
        let mut s = Slayer::new(opts(64, 2, spin)).unwrap();
        let w = s.slab();
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let writer = std::thread::spawn(move || {
            let mut k = 1u32;
            while !d.load(Ordering::Relaxed) {
                for i in 0..64 {
                    w.write(i, pattern(k.wrapping_add(i as u32))).unwrap();
                }
                k = k.wrapping_add(1);
                if k % 64 == 0 {
                    std::thread::yield_now();
                }
            }
        });
        let t0 = Instant::now();
        let mut reads = 0u64;
        let idx: Vec<u32> = (0..64).collect();
        let mut out = vec![0u64; 64];
        while t0.elapsed() < Duration::from_millis(400) {
            for i in 0..64 {
                let v = s.read(i).unwrap();
                assert!(is_pattern(v), "torn or unwritten value {v:#x} at {i}");
                reads += 1;
            }
            s.read_many(&idx, &mut out).unwrap();
            assert!(out.iter().all(|&v| is_pattern(v)));
        }
        done.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        assert!(reads > 0);
        let st = s.stats();
        assert_eq!(st.wins.iter().sum::<u64>(), st.hedged);
    }
}

#[test]
fn busy_threads_answer_reads_and_count_their_wins() {
    let _g = serial();
    // Named cores keep 'busy' busy even where one of them is the caller's (a default placement on
    // too few cores runs busy threads as 'hybrid', and hybrid threads may park).
    let allowed = ultraslayer::cores::allowed();
    if allowed.len() < 2 {
        eprintln!("skipped: needs 2 allowed cores, has {}", allowed.len());
        return;
    }
    let mut o = opts(1024, 2, SpinPolicy::Busy);
    o.threads.record_latency = true;
    o.threads.cores = Some(allowed[..2].to_vec());
    let mut s = Slayer::new(o).unwrap();
    assert_eq!(s.info().spin, SpinPolicy::Busy);
    s.write(5, 55).unwrap();
    for _ in 0..2000 {
        assert_eq!(s.read(5).unwrap(), 55);
    }
    let st = s.stats();
    let total = st.hedged + st.direct_while_parked + st.direct_after_timeout;
    assert_eq!(total, 2000);
    assert_eq!(st.wins.iter().sum::<u64>(), st.hedged);
    assert_eq!(st.direct_while_parked, 0, "busy threads never park");
    let lat = st.latency.unwrap();
    assert_eq!(lat.count, 2000);
    assert!(lat.min <= lat.p50 && lat.p50 <= lat.p99 && lat.p99 <= lat.max);
}

#[test]
fn read_never_waits_for_parked_threads() {
    let _g = serial();
    let mut s = recording(SpinPolicy::Sleep);
    s.write(3, 33).unwrap();
    std::thread::sleep(Duration::from_millis(20)); // let both threads park
    let t0 = Instant::now();
    for _ in 0..100 {
        assert_eq!(s.read(3).unwrap(), 33);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(t0.elapsed() < Duration::from_secs(5));
    let st = s.stats();
    assert!(st.direct_while_parked > 0, "{st:?}");
    assert_eq!(st.direct_after_timeout, 0);
    assert_eq!(st.hedged + st.direct_while_parked, 100);
}

#[test]
fn hybrid_threads_park_when_idle_and_wake_for_what_follows() {
    let _g = serial();
    let mut o = opts(1024, 2, SpinPolicy::Hybrid);
    o.threads.idle_us = Some(500);
    let mut s = Slayer::new(o).unwrap();
    s.write(1, 11).unwrap();
    // Idle well past 500 µs: the threads park (on a loaded 2-vCPU machine they may need a few
    // tries to be scheduled and notice). A read that finds them parked is served directly.
    let mut tries = 0;
    while s.stats().direct_while_parked == 0 && tries < 100 {
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(s.read(1).unwrap(), 11);
        tries += 1;
    }
    assert!(s.stats().direct_while_parked >= 1, "a read after idling is served directly: {:?}", s.stats());
    // Woken threads answer what follows; keep reading until one does (bounded).
    let t0 = Instant::now();
    while s.stats().hedged == 0 && t0.elapsed() < Duration::from_secs(5) {
        assert_eq!(s.read(1).unwrap(), 11);
    }
    assert!(s.stats().hedged > 0, "{:?}", s.stats());
}

#[test]
fn explicit_page_kinds_come_or_fail_cleanly_and_auto_reports_what_it_got() {
    let free2m = ultraslayer::region::free_huge_pages(2 << 20).unwrap_or(0);
    let mut o = opts(1 << 20, 2, SpinPolicy::Sleep);
    o.threads.start = false;
    o.pages = PageRequest::Huge2M;
    match Slayer::new(o.clone()) {
        Ok(s) => {
            // (Windows has no count of free large pages: they come with the privilege, or not.)
            assert!(free2m >= 4 || cfg!(windows));
            assert_eq!(s.info().page_kind, PageKind::Huge2M);
            assert_eq!(s.info().page_size, 2 << 20);
        }
        Err(e) => {
            assert!(matches!(e, Error::HugePages { .. }));
            assert!(e.to_string().contains(if cfg!(windows) { "Lock pages in memory" } else { "nr_hugepages" }), "{e}");
        }
    }
    o.pages = PageRequest::Auto;
    o.threads.lock = LockRequest::Auto;
    let s = Slayer::new(o).unwrap();
    let info = s.info();
    if free2m >= 8 {
        assert_eq!(info.page_kind, PageKind::Huge2M, "{:?}", info.page_fallbacks);
    } else if !(cfg!(windows) && info.page_kind == PageKind::Huge2M) {
        assert_ne!(info.page_kind, PageKind::Huge2M);
        assert!(info.page_fallbacks.iter().any(|f| f.starts_with("2m:")));
    }
    assert!(info.mapped_bytes >= (1 << 20) * 2 * 8);
    assert!(info.locked || info.lock_error.is_some());
}

#[test]
fn stats_reset_and_direct_reads_are_counted() {
    let mut o = opts(10, 2, SpinPolicy::Sleep);
    o.threads.start = false;
    let mut s = Slayer::new(o).unwrap();
    s.read(1).unwrap();
    s.read_many(&[1, 2, 3], &mut [0; 3]).unwrap();
    assert_eq!(s.stats().direct, 4);
    s.reset_stats();
    assert_eq!(s.stats().direct, 0);
    assert!(!s.info().running);
    let distinct: HashSet<usize> = s.info().cores.iter().copied().collect();
    assert!(!distinct.is_empty());
}

#[test]
fn steered_reads_return_the_written_value_whichever_copy_they_choose() {
    let _g = serial();
    for placement in [ultraslayer::CopyPlacement::Offset, ultraslayer::CopyPlacement::Auto] {
        steered_round_trip(placement);
    }
}

/// A placement budget of 0 refuses placement by refresh group before anything is timed (no
/// dependence on this machine's DRAM): 'auto' goes on an offset and says why; an explicit
/// placement is an error naming the budget.
#[test]
fn a_refused_placement_leaves_an_auto_slab_on_an_offset_with_the_reason() {
    use ultraslayer::{CopyPlacement, Strategy};
    let _g = serial();
    // A steered slab (placed at any size) and a hedged one of 2 MiB per replica ('auto' places both).
    for (strategy, slots, offset) in [(Strategy::Steer, 50_000u64, 64usize), (Strategy::Hedge, 1 << 18, 256)] {
        let mut o = opts(slots, 2, SpinPolicy::Hybrid);
        o.strategy = strategy;
        o.threads.start = false;
        o.placement_budget = Duration::ZERO;
        let mut s = Slayer::new(o.clone()).unwrap();
        let info = s.info();
        assert_eq!((info.copies.kind, info.channel_offset), ("offset", offset), "{strategy:?}: {:?}", info.copies);
        let f = info.copies.fallback.as_ref().expect("the fallback is reported");
        assert_eq!((f.from, f.to, f.channel_offset), ("huge-pages", "offset", offset));
        assert!(f.reason.contains("⟦opt:placementBudgetMs⟧ is 0"), "{}", f.reason);
        assert!(info.copies.note.as_deref().unwrap().starts_with(&format!("copies {offset} B apart: refresh-group placement failed")));
        assert!(info.copies.huge.is_none());
        for i in (0..slots).step_by(7) {
            s.write(i, pattern(i as u32)).unwrap();
        }
        for i in (0..slots).step_by(7) {
            assert_eq!(s.read(i).unwrap(), pattern(i as u32), "slot {i}");
        }
        drop(s);
        for placement in [CopyPlacement::HugePages, CopyPlacement::RefreshGroups] {
            let o = Options { placement, ..o.clone() };
            match Slayer::new(o) {
                Err(Error::Placement { message, hint }) => {
                    assert!(message.contains("is 0") && hint.contains("⟦set:placement=offset⟧"), "{message}; {hint}")
                }
                other => panic!("{placement:?} with no budget: {:?}", other.map(|s| s.info().copies)),
            }
        }
    }
    // An offset given by the caller is never placed, so nothing falls back.
    let mut o = opts(1 << 18, 2, SpinPolicy::Hybrid);
    o.threads.start = false;
    o.placement_budget = Duration::ZERO;
    o.channel_offset = ultraslayer::ChannelOffset::Given(128);
    let info = Slayer::new(o).unwrap().info();
    assert_eq!((info.copies.fallback, info.copies.note, info.channel_offset), (None, None, 128));
}

fn steered_round_trip(placement: ultraslayer::CopyPlacement) {
    let mut o = opts(50_000, 2, SpinPolicy::Busy);
    // 'auto' tries refresh groups only when the layout is left to it (no offset given); the
    // offset a steered slab gets by default is 64 either way.
    if placement == ultraslayer::CopyPlacement::Offset {
        o.channel_offset = ultraslayer::ChannelOffset::Given(64);
    }
    o.strategy = ultraslayer::Strategy::Steer;
    o.placement = placement;
    let before = replica_threads_settled(0);
    let mut s = Slayer::new(o).unwrap();
    let info = s.info();
    match (&info.copies.arrangement, info.copies.kind) {
        (Some(a), "refresh-groups") => {
            assert_eq!(info.channel_offset, 4096);
            assert_eq!(info.page_kind, PageKind::Base);
            assert_eq!(info.mapped_bytes, a.slab_pages * 4096);
            // Every replica got pages of its own groups, as many as the slab needs. How far apart
            // the groups are is this machine's DRAM: only that it is a distance on the phase
            // circle is the code's.
            let per_replica = a.slab_pages / 2;
            assert!(a.partition.class_pages.iter().all(|&n| n >= per_replica), "{a:?}");
            assert!((0.0..=0.5).contains(&a.partition.separation), "{a:?}");
        }
        (None, "refresh-groups") => {
            // 'auto' places a steered slab on its own pages; steering needs copy r in the same
            // groups for every slot, which the placement checked by timing copies.
            let h = info.copies.huge.as_ref().expect("placed on its own pages");
            assert!(["within-frame", "paired", "frames", "background"].contains(&h.layout), "{h:?}");
            if h.layout == "background" {
                // Placing up front was projected over the budget (lines time slowly on a loaded
                // machine): the slab serves at once and a thread learns its frames.
                assert!(info.learning.is_some(), "{h:?}");
            } else {
                // As the placement itself judges: of the checked slots whose copies all showed a
                // group (a weak signal leaves some unclear), at least 90% apart.
                assert!(h.copies_clear >= 4 && h.copies_clear <= h.copies_checked, "{h:?}");
                assert!(h.copies_apart * 10 >= h.copies_clear * 9, "{h:?}");
            }
        }
        (None, "offset") => {
            assert_eq!(info.channel_offset, 64);
            // Auto falls back only with the reason; Offset never tries.
            assert_eq!(info.copies.note.is_some(), placement == ultraslayer::CopyPlacement::Auto, "{:?}", info.copies);
        }
        other => panic!("unexpected placement report {other:?}"),
    }
    assert_eq!(replica_threads_alive(), before, "steering starts no threads");
    assert!(!s.info().running);
    assert_eq!(s.info().strategy, ultraslayer::Strategy::Steer);
    let rep = s.steer_report().unwrap();
    // Calibrated before the first user read, except where the learner calibrates it (background).
    assert!(rep.reads > 0 || info.learning.is_some(), "calibrated before the first user read");
    for i in (0..50_000).step_by(7) {
        s.write(i, pattern(i as u32)).unwrap();
    }
    for i in (0..50_000).step_by(7) {
        assert_eq!(s.read(i).unwrap(), pattern(i as u32));
    }
    let idx: Vec<u32> = (0..50_000).step_by(7).collect();
    let mut out = vec![0u64; idx.len()];
    s.read_many(&idx, &mut out).unwrap();
    assert!(idx.iter().zip(&out).all(|(&i, &v)| v == pattern(i)));
    let st = s.stats();
    assert_eq!(st.steered, (idx.len() * 2) as u64);
    assert_eq!(st.hedged + st.direct, 0);
    s.start().unwrap();
    assert!(!s.info().running, "start() is a no-op for steering");
}

#[test]
fn refresh_group_placement_needs_small_pages_and_hedges_too() {
    let _g = serial();
    let mut o = opts(4096, 2, SpinPolicy::Hybrid);
    o.placement = ultraslayer::CopyPlacement::RefreshGroups;
    o.pages = PageRequest::Huge2M;
    let e = Slayer::new(o.clone()).err().unwrap();
    assert!(matches!(e, Error::OptionOutOfRange { option: "placement", .. }), "{e}");
    // Asked for explicitly it either comes, or fails with a reason and what to do instead; a
    // hedged slab on refresh-group pages reads back what was written.
    o.pages = PageRequest::Off;
    match Slayer::new(o) {
        Ok(mut s) => {
            assert_eq!(s.info().copies.kind, "refresh-groups");
            for i in 0..4096u64 {
                s.write(i, pattern(i as u32)).unwrap();
            }
            for i in (0..4096u64).step_by(5) {
                assert_eq!(s.read(i).unwrap(), pattern(i as u32));
                assert_eq!(s.read_replica(1, i).unwrap(), pattern(i as u32));
            }
        }
        Err(e) => {
            assert!(matches!(e, Error::Placement { .. }), "{e}");
            assert!(e.to_string().contains("placement = \"offset\""), "{e}");
        }
    }
}

#[test]
fn direct_strategy_never_starts_threads() {
    let _g = serial();
    let before = replica_threads_settled(0);
    let mut o = opts(100, 2, SpinPolicy::Busy);
    o.strategy = ultraslayer::Strategy::Direct;
    let mut s = Slayer::new(o).unwrap();
    s.start().unwrap();
    assert_eq!(replica_threads_alive(), before);
    s.write(3, 4).unwrap();
    assert_eq!(s.read(3).unwrap(), 4);
    assert_eq!(s.stats().direct, 1);
    assert!(s.steer_report().is_none());
}

#[test]
fn batch_reads_count_every_slot_whatever_the_strategy() {
    let _g = serial();
    let idx: Vec<u32> = (0..5000).collect();
    let mut out = vec![0u64; idx.len()];
    let mut s = Slayer::new(opts(5000, 2, SpinPolicy::Hybrid)).unwrap();
    s.read_many(&idx, &mut out).unwrap();
    let st = s.stats();
    assert_eq!(st.hedged + st.direct_while_parked + st.direct_after_timeout, 5000);
    assert_eq!(st.wins.iter().sum::<u64>(), st.hedged);
    s.stop();
    s.reset_stats();
    s.read_many(&idx, &mut out).unwrap();
    assert_eq!(s.stats().direct, 5000);
}

/// A slab laid out through a frame table: chunk k of replica r in a scrambled frame, some frames
/// left unused, as huge-page placement builds it.
fn framed_slab(slots: u64, replicas: usize) -> ultraslayer::slab::Slab {
    use ultraslayer::layout::{FrameTable, Layout};
    let chunks = slots.div_ceil(512);
    let n = chunks * replicas as u64;
    let span = n + n / 3 + 1;
    // Frames in a stride-coprime order over a pool a third larger than needed.
    let stride = (1..).map(|s: u64| 2 * s + 1).find(|s| gcd(*s, span) == 1 && *s > span / 3).unwrap();
    let table = Arc::new(FrameTable::build(chunks, replicas, |k, r| (k * replicas as u64 + r as u64) * stride % span).unwrap());
    let layout = Layout::framed(slots, replicas, table).unwrap();
    let region = ultraslayer::region::Region::map(span as usize * 4096, PageRequest::Off, LockRequest::Off).unwrap();
    ultraslayer::slab::Slab::from_region(region, layout).unwrap()
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[test]
fn reads_and_writes_through_a_frame_table_reach_every_replica_and_only_their_slot() {
    for replicas in 2..=8 {
        let slots = 3000;
        let s = framed_slab(slots, replicas);
        let base = s.region().ptr() as usize;
        let mut seen = HashSet::new();
        for i in 0..slots {
            for r in 0..replicas {
                let a = s.address(r, i).unwrap();
                assert!(a >= base && a + 8 <= base + s.region().mapped_bytes() && a % 8 == 0);
                assert!(seen.insert(a), "R{replicas}: two copies share {a:#x}");
            }
        }
        for i in (0..slots).step_by(3) {
            s.write(i, pattern(i as u32)).unwrap();
        }
        for i in 0..slots {
            for r in 0..replicas {
                assert_eq!(s.read_replica(r, i).unwrap(), if i % 3 == 0 { pattern(i as u32) } else { 0 }, "R{replicas} r{r} i{i}");
            }
        }
        let idx: Vec<u32> = (0..slots as u32).rev().collect();
        let vals: Vec<u64> = idx.iter().map(|&i| !pattern(i)).collect();
        s.write_many(&idx, &vals).unwrap();
        let mut out = vec![0u64; idx.len()];
        for r in 0..replicas {
            s.read_many_replica(r, &idx, &mut out).unwrap();
            assert_eq!(out, vals);
        }
        assert!(s.write(slots, 1).is_err() && s.read_replica(replicas, 0).is_err());
    }
}

#[test]
fn huge_page_placement_gives_every_strategy_the_written_values_or_says_why() {
    let _g = serial();
    for strategy in [ultraslayer::Strategy::Hedge, ultraslayer::Strategy::Steer] {
        let mut o = opts(1 << 16, 2, SpinPolicy::Hybrid);
        o.pages = PageRequest::Auto;
        o.placement = ultraslayer::CopyPlacement::HugePages;
        o.strategy = strategy;
        match Slayer::new(o) {
            Ok(mut s) => {
                let info = s.info();
                let h = info.copies.huge.as_ref().expect("placement info");
                assert_eq!(info.copies.kind, "refresh-groups");
                assert_eq!(h.channel_offset, info.channel_offset);
                assert!(h.period_ns > 0.0 && h.total_ms > 0.0 && h.lines_timed > 0, "{h:?}");
                assert!(h.frames_used <= h.frames_pool && h.frames_used + h.frames_unused == h.frames_pool, "{h:?}");
                assert!(h.copies_apart <= h.copies_clear && h.copies_clear <= h.copies_checked);
                for i in (0..1u64 << 16).step_by(11) {
                    s.write(i, pattern(i as u32)).unwrap();
                }
                for i in (0..1u64 << 16).step_by(11) {
                    assert_eq!(s.read(i).unwrap(), pattern(i as u32));
                    assert_eq!(s.read_replica(1, i).unwrap(), pattern(i as u32));
                }
            }
            Err(e) => {
                assert!(matches!(e, Error::Placement { .. } | Error::Unsupported { .. }), "{e}");
                assert!(e.to_string().contains("offset"), "{e}");
            }
        }
    }
}

#[test]
fn a_shared_slab_placed_by_refresh_group_is_opened_with_the_same_copies_or_refused_with_why() {
    let _g = serial();
    // Removed when dropped, also when an assertion below fails.
    let dir = common::dir("place");
    let d = dir.0.clone();
    let mut o = opts(20_000, 2, SpinPolicy::Hybrid);
    o.placement = ultraslayer::CopyPlacement::HugePages;
    o.threads.start = false;
    let shared = ultraslayer::SharedOptions { overwrite: false, dir: Some(d.clone()) };
    match Slayer::create_shared("placed", o, shared) {
        Ok(creator) => {
            let h = creator.info().copies.huge.clone().expect("placement info");
            // A bit that splits every frame (host A), or whole frames placed through a frame table
            // recorded in the segment (host B): the opener must lay the copies out the same way.
            assert!(h.layout == "within-frame" || h.layout == "frames", "{h:?}");
            eprintln!("shared slab placed by refresh group: layout {}", h.layout);
            let threads = ultraslayer::ThreadOptions { start: false, lock: LockRequest::Off, ..Default::default() };
            let open = ultraslayer::OpenOptions { threads, dir: Some(d.clone()), ..Default::default() };
            let opener = Slayer::open_shared("placed", open).unwrap();
            assert_eq!(opener.info().channel_offset, h.channel_offset, "the opener lays the copies out as the creator did");
            let (cw, ow) = (creator.slab(), opener.slab());
            let (cb, ob) = (cw.region().ptr() as usize, ow.region().ptr() as usize);
            for i in (0..20_000u64).step_by(17) {
                creator.write(i, pattern(i as u32)).unwrap();
                for r in 0..2 {
                    assert_eq!(cw.address(r, i).unwrap() - cb, ow.address(r, i).unwrap() - ob);
                    assert_eq!(opener.read_replica(r, i).unwrap(), pattern(i as u32));
                }
            }
        }
        Err(e) => {
            assert!(matches!(e, Error::Placement { .. } | Error::Unsupported { .. }), "{e}");
            assert!(e.to_string().contains("offset"), "{e}");
            eprintln!("shared slab not placed here (the refusal was checked): {e}");
        }
    }
}
