//! Shared slabs through the engine's front door: one process, two Slayers over one segment.

use std::time::Duration;

use ultraslayer::shm::Expect;
use ultraslayer::{LockRequest, OpenOptions, Options, PageRequest, SharedOptions, Slayer, SpinPolicy, Strategy, ThreadOptions};

mod common;
use common::{dir, serial, Dir};

fn options(slots: u64) -> Options {
    let mut o = Options::new(slots);
    o.replicas = 3;
    o.pages = PageRequest::Off;
    o.threads.lock = LockRequest::Off;
    o.threads.spin = SpinPolicy::Hybrid;
    // These tests are about hedged reads across processes: say so ('auto' reads directly on 2 cores).
    o.strategy = Strategy::Hedge;
    o
}

fn hybrid(mut o: OpenOptions) -> OpenOptions {
    o.threads.spin = SpinPolicy::Hybrid;
    o
}

fn open_opts(d: &Dir) -> OpenOptions {
    let threads = ThreadOptions { spin: SpinPolicy::Sleep, lock: LockRequest::Off, ..ThreadOptions::default() };
    OpenOptions { strategy: Strategy::Hedge, threads, wait: Duration::ZERO, dir: Some(d.0.clone()), ..OpenOptions::default() }
}

#[test]
fn a_write_through_one_slayer_is_read_hedged_through_another() {
    let _g = serial();
    let d = dir("rw");
    let shared = SharedOptions { overwrite: false, dir: Some(d.0.clone()) };
    let writer = Slayer::create_shared("feed", options(5000), shared).unwrap();
    let mut reader = Slayer::open_shared("feed", hybrid(open_opts(&d))).unwrap();
    assert_eq!(reader.slots(), 5000);
    assert_eq!(reader.replica_count(), 3);
    for i in (0..5000).step_by(13) {
        writer.write(i, i * 31 + 7).unwrap();
    }
    for i in (0..5000).step_by(13) {
        assert_eq!(reader.read(i).unwrap(), i * 31 + 7);
        for r in 0..3 {
            assert_eq!(reader.read_replica(r, i).unwrap(), i * 31 + 7, "replica {r} of slot {i}");
        }
    }
    // And the other way round.
    reader.write(1, 99).unwrap();
    assert_eq!(writer.read_replica(2, 1).unwrap(), 99);
    let info = reader.info();
    let s = info.shared.expect("shared info");
    assert_eq!(s.name, "feed");
    assert!(!s.created_here);
    assert!(writer.info().shared.unwrap().created_here);
    // The reader's own replica threads answer (they may have parked while the writer wrote, and
    // take a moment to wake on a busy 2-vCPU machine: keep reading, bounded).
    let t0 = std::time::Instant::now();
    while reader.stats().hedged == 0 && t0.elapsed() < Duration::from_secs(10) {
        assert_eq!(reader.read(1).unwrap(), 99);
    }
    assert!(reader.stats().hedged > 0, "{:?}", reader.stats());
}

#[test]
fn readers_survive_the_creator_closing_and_unlinking() {
    let _g = serial();
    let d = dir("unlink");
    let w = Slayer::create_shared("s", options(100), SharedOptions { overwrite: false, dir: Some(d.0.clone()) }).unwrap();
    w.write(3, 42).unwrap();
    let mut r = Slayer::open_shared("s", open_opts(&d)).unwrap();
    drop(w);
    assert!(ultraslayer::shm::unlink("s", Some(&d.0)).unwrap());
    assert_eq!(r.read(3).unwrap(), 42);
    assert!(Slayer::open_shared("s", open_opts(&d)).is_err());
}

#[test]
fn open_refuses_an_unexpected_layout_and_bad_names() {
    let _g = serial();
    let d = dir("expect");
    let _w = Slayer::create_shared("x", options(100), SharedOptions { overwrite: false, dir: Some(d.0.clone()) }).unwrap();
    let o = OpenOptions { expect: Expect { slots: Some(101), ..Expect::default() }, ..open_opts(&d) };
    let e = Slayer::open_shared("x", o).err().unwrap();
    assert!(e.to_string().contains("slots: expected 101, segment has 100"), "{e}");
    assert!(Slayer::open_shared("../x", open_opts(&d)).is_err());
}

#[test]
fn a_segment_with_a_frame_table_opens_laid_out_through_it_and_says_so() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use ultraslayer::layout::{FrameTable, Layout};
    let _g = serial();
    let d = dir("framed");
    // A synthetic table (what placement would have chosen): chunk k of replica r in frame
    // (3k + r)·7 mod 31, out of order and with frames left unused.
    let (slots, replicas) = (4000u64, 3usize);
    let chunks = slots.div_ceil(512);
    let table = FrameTable::build(chunks, replicas, |k, r| (k * 3 + r as u64) * 7 % 31).unwrap();
    let layout = Layout::framed(slots, replicas, Arc::new(table)).unwrap();
    let (region, _info) = ultraslayer::shm::create(
        &ultraslayer::shm::NewSegment {
            name: "framed",
            pages: PageRequest::Off,
            lock: LockRequest::Off,
            overwrite: false,
            dir: Some(&d.0),
            schema: None,
        },
        layout.clone(),
        &ultraslayer::Job::none(),
    )
    .unwrap();
    let creator = ultraslayer::slab::Slab::from_region(region, layout.clone()).unwrap();
    // Distinct values per replica, stored at the creator's addresses of each copy.
    let value = |r: usize, i: u64| ((r as u64) << 36) | (i * 5 + 1);
    for i in 0..slots {
        for r in 0..replicas {
            // SAFETY: `address` is an aligned slot word inside the creator's mapped slab.
            unsafe { (*(creator.address(r, i).unwrap() as *const AtomicU64)).store(value(r, i), Ordering::Relaxed) };
        }
    }
    let o = OpenOptions { strategy: Strategy::Direct, ..open_opts(&d) };
    let reader = Slayer::open_shared("framed", o).unwrap();
    assert_eq!(*reader.slab().layout(), layout);
    for i in 0..slots {
        for r in 0..replicas {
            assert_eq!(reader.read_replica(r, i).unwrap(), value(r, i), "replica {r} of slot {i}");
        }
    }
    let info = reader.info();
    assert_eq!(info.copies.kind, "refresh-groups");
    assert!(info.copies.from_segment.as_deref().is_some_and(|s| s.contains("frame table")), "{:?}", info.copies);
    assert!(info.channel_offset_source.contains("frame table"), "{}", info.channel_offset_source);
    assert_eq!(info.channel_offset, 4096);
    // A plain segment still opens on its offset layout.
    drop(reader);
    Slayer::create_shared("plain", options(100), SharedOptions { overwrite: false, dir: Some(d.0.clone()) }).unwrap();
    let info = Slayer::open_shared("plain", OpenOptions { strategy: Strategy::Direct, ..open_opts(&d) }).unwrap().info();
    assert_eq!((info.copies.kind, info.copies.from_segment), ("offset", None));
}
