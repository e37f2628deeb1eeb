//! Tests of `open`: segments made by `create`, then opened, and opened again after their file was
//! changed behind their back (truncated, rewritten words, a forged checksum, a changed table).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::open;
use crate::error::{Error, Result};
use crate::job::Job;
use crate::layout::{FrameTable, Layout};
use crate::region::{LockRequest, PageRequest, Region, PAGE_2M, PAGE_4K};
use crate::shm::create::{create, create_pending};
use crate::shm::discovery::places;
use crate::shm::header::*;
use crate::shm::remove::unlink;
use crate::shm::tests::{layout, TempDir};
use crate::shm::NewSegment;
use crate::shm::{Backing, Expect, Shape, SharedInfo};

fn mk(dir: &TempDir, name: &str) -> (Region, SharedInfo) {
    create(
        &NewSegment { name, pages: PageRequest::Off, lock: LockRequest::Off, overwrite: false, dir: Some(&dir.0), schema: None },
        layout(),
        &Job::none(),
    )
    .unwrap()
}

fn opened(dir: &TempDir, name: &str) -> Result<(Region, Layout, SharedInfo)> {
    open(name, LockRequest::Off, Expect::default(), Duration::from_millis(20), Some(&dir.0))
}

fn poke(path: &str, word: usize, v: u64) {
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(word as u64 * 8)).unwrap();
    f.write_all(&v.to_le_bytes()).unwrap();
}

fn peek(path: &str, word: usize) -> u64 {
    let mut f = File::open(path).unwrap();
    f.seek(SeekFrom::Start(word as u64 * 8)).unwrap();
    let mut b = [0u8; 8];
    f.read_exact(&mut b).unwrap();
    u64::from_le_bytes(b)
}

fn message(r: Result<(Region, Layout, SharedInfo)>) -> String {
    match r {
        Ok(_) => panic!("opened a segment that should have been refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn create_writes_a_0600_file_with_a_ready_header_and_open_maps_the_same_memory() {
    let d = TempDir::new("roundtrip");
    let (region, info) = mk(&d, "rt");
    let meta = std::fs::metadata(&info.path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), (PAGE_4K + layout().span().div_ceil(PAGE_4K) * PAGE_4K) as u64);
    assert_eq!(peek(&info.path, W_MAGIC), MAGIC);
    assert_eq!(peek(&info.path, W_READY), READY);
    assert_eq!(info.backing, Backing::Shm);
    assert!(info.created_here);
    let (other, l, oinfo) = opened(&d, "rt").unwrap();
    assert_eq!(l, layout());
    assert_eq!(oinfo.creator_pid, std::process::id());
    assert!(!oinfo.created_here);
    // A store through one mapping is seen through the other.
    let a = region.ptr() as *const AtomicU64;
    let b = other.ptr() as *const AtomicU64;
    // SAFETY: both point at word 0 of the same mapped slab pages, aligned, in bounds.
    unsafe {
        (*a.add(7)).store(0xfeed, Ordering::Relaxed);
        assert_eq!((*b.add(7)).load(Ordering::Relaxed), 0xfeed);
    }
}

#[test]
fn missing_segments_and_unlink() {
    let d = TempDir::new("missing");
    let e = message(opened(&d, "nothing"));
    assert!(e.contains("no shared slab named \"nothing\""), "{e}");
    assert!(!unlink("nothing", Some(&d.0)).unwrap());
    mk(&d, "gone");
    assert!(unlink("gone", Some(&d.0)).unwrap());
    assert!(message(opened(&d, "gone")).contains("no shared slab"));
}

#[test]
fn truncated_segments_are_refused() {
    let d = TempDir::new("trunc");
    let (_r, info) = mk(&d, "t");
    let f = OpenOptions::new().write(true).open(&info.path).unwrap();
    f.set_len(PAGE_4K as u64 + 4096).unwrap();
    let e = message(opened(&d, "t"));
    assert!(e.contains("truncated"), "{e}");
    f.set_len(100).unwrap();
    let e = message(opened(&d, "t"));
    assert!(e.contains("shorter than its 4096-byte header page"), "{e}");
    f.set_len(0).unwrap();
    assert!(message(opened(&d, "t")).contains("shorter"));
}

#[test]
fn foreign_files_are_refused_by_magic() {
    let d = TempDir::new("foreign");
    std::fs::write(d.0.join("ultraslayer.f"), vec![0x41u8; 3 * PAGE_4K]).unwrap();
    let e = message(opened(&d, "f"));
    assert!(e.contains("bad magic") && e.contains("not an ultraslayer segment"), "{e}");
    // All zeros: looks unfinished, with no creator recorded.
    std::fs::write(d.0.join("ultraslayer.z"), vec![0u8; 3 * PAGE_4K]).unwrap();
    assert!(message(opened(&d, "z")).contains("never written"));
    std::fs::create_dir(d.0.join("ultraslayer.dir")).unwrap();
    assert!(opened(&d, "dir").is_err());
    std::os::unix::fs::symlink("/etc/passwd", d.0.join("ultraslayer.link")).unwrap();
    assert!(message(opened(&d, "link")).contains("symbolic link"));
}

#[test]
fn wrong_versions_and_corrupt_headers_are_refused() {
    let d = TempDir::new("version");
    let (_r, info) = mk(&d, "v");
    // A segment without a table is written as version 1, which older builds read too.
    assert_eq!(peek(&info.path, W_VERSION), VERSION_NO_TABLE);
    poke(&info.path, W_VERSION, 3);
    let e = message(opened(&d, "v"));
    assert!(e.contains("version 3") && e.contains("reads versions 1 and 2"), "{e}");
    // Version 2 covers the table words too, so the version 1 checksum no longer holds.
    poke(&info.path, W_VERSION, VERSION);
    assert!(message(opened(&d, "v")).contains("checksum"));
    poke(&info.path, W_VERSION, VERSION_NO_TABLE);
    opened(&d, "v").unwrap();
    // Any other word changed without its checksum.
    poke(&info.path, W_SLOTS, 999_999);
    assert!(message(opened(&d, "v")).contains("checksum"));
    poke(&info.path, W_SLOTS, 1000);
    poke(&info.path, W_READY, 0x1234);
    assert!(message(opened(&d, "v")).contains("corrupt"));
}

/// Rewrites the header words and a matching checksum, as a buggy or hostile writer might.
fn forge(path: &str, edit: impl Fn(&mut [u64; W_CHECKSUM])) {
    let mut words = [0u64; W_CHECKSUM];
    for (w, v) in words.iter_mut().enumerate() {
        *v = peek(path, w);
    }
    edit(&mut words);
    for (w, &v) in words.iter().enumerate() {
        poke(path, w, v);
    }
    poke(path, W_CHECKSUM, checksum(&words));
}

#[test]
fn headers_whose_sizes_disagree_with_their_layout_or_file_are_refused() {
    let d = TempDir::new("size");
    let (_r, info) = mk(&d, "s");
    forge(&info.path, |w| w[W_SLOTS] = 1 << 20);
    let e = message(opened(&d, "s"));
    assert!(e.contains("do not match its layout"), "{e}");
    forge(&info.path, |w| w[W_SLOTS] = 1000);
    opened(&d, "s").unwrap();
    forge(&info.path, |w| w[W_REPLICAS] = 1);
    assert!(message(opened(&d, "s")).contains("impossible layout"));
    forge(&info.path, |w| w[W_REPLICAS] = 2);
    forge(&info.path, |w| w[W_PAGE_SIZE] = PAGE_2M as u64);
    assert!(message(opened(&d, "s")).contains("pages"));
    forge(&info.path, |w| w[W_PAGE_SIZE] = PAGE_4K as u64);
    // A file longer than its header says.
    let f = OpenOptions::new().write(true).open(&info.path).unwrap();
    f.set_len(peek(&info.path, W_FILE_BYTES) + 4096).unwrap();
    assert!(message(opened(&d, "s")).contains("size mismatch"));
}

/// A framed layout over `frames` frames with a scrambled (but valid) table: chunk k of
/// replica r in frame (k·R + r)·5 mod `frames` (5 and `frames` coprime).
fn framed_layout(slots: u64, replicas: usize, frames: u64) -> Layout {
    let chunks = slots.div_ceil(512);
    assert!(frames >= chunks * replicas as u64 && frames % 5 != 0);
    let t = FrameTable::build(chunks, replicas, |k, r| (k * replicas as u64 + r as u64) * 5 % frames).unwrap();
    Layout::framed(slots, replicas, std::sync::Arc::new(t)).unwrap()
}

/// The value the creator writes into replica r of slot i (distinct per replica).
fn replica_value(r: usize, i: u64) -> u64 {
    ((r as u64) << 40) | (i + 1)
}

/// Stores `replica_value` into every replica of every slot of `slab`, replica by replica.
fn write_every_replica(slab: &crate::slab::Slab) {
    let l = slab.layout();
    for i in 0..l.slots() {
        for r in 0..l.replicas() {
            let a = slab.address(r, i).unwrap() as *const AtomicU64;
            // SAFETY: `address` returns an aligned slot word inside the mapped slab.
            unsafe { (*a).store(replica_value(r, i), Ordering::Relaxed) };
        }
    }
}

/// Every replica of every slot of `slab` reads what `write_every_replica` stored there.
fn assert_every_replica(slab: &crate::slab::Slab) {
    let l = slab.layout();
    for i in 0..l.slots() {
        for r in 0..l.replicas() {
            assert_eq!(slab.read_replica(r, i).unwrap(), replica_value(r, i), "replica {r} of slot {i}");
        }
    }
}

const FRAMED_SLOTS: u64 = 3000;
const FRAMED_FRAMES: u64 = 23;

fn mk_framed(dir: &TempDir, name: &str) -> (crate::slab::Slab, SharedInfo) {
    let l = framed_layout(FRAMED_SLOTS, 3, FRAMED_FRAMES);
    let (region, info) = create(
        &NewSegment { name, pages: PageRequest::Off, lock: LockRequest::Off, overwrite: false, dir: Some(&dir.0), schema: None },
        l.clone(),
        &Job::none(),
    )
    .unwrap();
    (crate::slab::Slab::from_region(region, l).unwrap(), info)
}

#[test]
fn framed_segments_record_their_table_and_openers_lay_out_the_same_copies() {
    let d = TempDir::new("framed");
    let (slab, info) = mk_framed(&d, "f");
    assert_eq!(peek(&info.path, W_VERSION), VERSION);
    assert_eq!(peek(&info.path, W_TABLE_KIND), TABLE_FRAMED);
    // 3000 slots = 6 chunks x 3 replicas: 72 table bytes on a page after the 23 frames of data.
    assert_eq!(peek(&info.path, W_DATA_BYTES), FRAMED_FRAMES * 4096);
    assert_eq!(peek(&info.path, W_TABLE_OFFSET), 4096 + FRAMED_FRAMES * 4096);
    assert_eq!(peek(&info.path, W_TABLE_BYTES), 72);
    assert_eq!(std::fs::metadata(&info.path).unwrap().len(), 4096 * (1 + FRAMED_FRAMES + 1));
    write_every_replica(&slab);
    let (region, l, _) = opened(&d, "f").unwrap();
    assert_eq!(&l, slab.layout());
    let other = crate::slab::Slab::from_region(region, l).unwrap();
    let (b0, b1) = (slab.region().ptr() as usize, other.region().ptr() as usize);
    for i in (0..FRAMED_SLOTS).step_by(37) {
        for r in 0..3 {
            assert_eq!(slab.address(r, i).unwrap() - b0, other.address(r, i).unwrap() - b1);
        }
    }
    assert_every_replica(&other);
}

#[test]
fn a_pool_larger_than_the_frames_named_is_kept_as_the_data_area() {
    let d = TempDir::new("pool");
    let l = framed_layout(1000, 2, 7);
    // Frames 0..7 named at most; the pool holds 40.
    let (region, pending) = create_pending(
        &NewSegment { name: "p", pages: PageRequest::Off, lock: LockRequest::Off, overwrite: false, dir: Some(&d.0), schema: None },
        Shape::framed(1000, 2, 40),
        &Job::none(),
    )
    .unwrap();
    assert_eq!(region.mapped_bytes(), 40 * 4096);
    // Unfinished: an opener waits, then says so.
    assert!(message(opened(&d, "p")).contains("still being created"));
    // A layout of another shape is refused, and the segment stays unpublished.
    let path = pending.path().to_path_buf();
    let e = pending.publish(&Layout::new(1000, 2, 256).unwrap()).unwrap_err().to_string();
    assert!(e.contains("not the one the segment was made for"), "{e}");
    assert!(!path.exists(), "an unpublished segment is removed");
    let (_region, pending) = create_pending(
        &NewSegment { name: "p", pages: PageRequest::Off, lock: LockRequest::Off, overwrite: false, dir: Some(&d.0), schema: None },
        Shape::framed(1000, 2, 40),
        &Job::none(),
    )
    .unwrap();
    pending.publish(&l).unwrap();
    let (r2, l2, _) = opened(&d, "p").unwrap();
    assert_eq!(l2, l);
    assert_eq!(r2.mapped_bytes(), 40 * 4096);
    // A pending segment whose name another process took over (overwrite) leaves that file be.
    let (_r, pending) = create_pending(
        &NewSegment { name: "o", pages: PageRequest::Off, lock: LockRequest::Off, overwrite: false, dir: Some(&d.0), schema: None },
        Shape::framed(1000, 2, 8),
        &Job::none(),
    )
    .unwrap();
    let (_r2, _) = create(
        &NewSegment { name: "o", pages: PageRequest::Off, lock: LockRequest::Off, overwrite: true, dir: Some(&d.0), schema: None },
        layout(),
        &Job::none(),
    )
    .unwrap();
    drop(pending);
    opened(&d, "o").unwrap();
    // Dropping a pending segment removes its file.
    let (_r, pending) = create_pending(
        &NewSegment { name: "q", pages: PageRequest::Off, lock: LockRequest::Off, overwrite: false, dir: Some(&d.0), schema: None },
        Shape::framed(1000, 2, 8),
        &Job::none(),
    )
    .unwrap();
    drop(pending);
    assert!(!d.0.join("ultraslayer.q").exists());
}

/// Rewrites the version 2 header and table words with a matching checksum.
fn forge_table(path: &str, edit: impl Fn(&mut [u64; W_CHECKSUM], &mut [u64; TABLE_WORDS])) {
    let mut words = [0u64; W_CHECKSUM];
    let mut table = [0u64; TABLE_WORDS];
    for (w, v) in words.iter_mut().enumerate() {
        *v = peek(path, w);
    }
    for (k, v) in table.iter_mut().enumerate() {
        *v = peek(path, W_TABLE_KIND + k);
    }
    edit(&mut words, &mut table);
    for (w, &v) in words.iter().enumerate() {
        poke(path, w, v);
    }
    for (k, &v) in table.iter().enumerate() {
        poke(path, W_TABLE_KIND + k, v);
    }
    poke(path, W_CHECKSUM, header_checksum(&words, &table));
}

/// Writes `entries` (u32 each) over the start of the table and the matching hash.
fn rewrite_table(path: &str, entries: &[u32]) {
    let at = peek(path, W_TABLE_OFFSET);
    let mut f = OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut bytes = vec![0u8; peek(path, W_TABLE_BYTES) as usize];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut bytes).unwrap();
    for (k, e) in entries.iter().enumerate() {
        bytes[4 * k..4 * k + 4].copy_from_slice(&e.to_le_bytes());
    }
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(&bytes).unwrap();
    let hash = fnv1a(bytes.iter().copied());
    forge_table(path, |_, t| t[5] = hash);
}

fn table_entry(path: &str, k: usize) -> u32 {
    let mut f = File::open(path).unwrap();
    f.seek(SeekFrom::Start(peek(path, W_TABLE_OFFSET) + 4 * k as u64)).unwrap();
    let mut b = [0u8; 4];
    f.read_exact(&mut b).unwrap();
    u32::from_le_bytes(b)
}

#[test]
fn bad_frame_tables_are_refused_with_what_is_wrong() {
    let d = TempDir::new("badtable");
    let (_slab, info) = mk_framed(&d, "b");
    let p = info.path.as_str();
    let (e0, e1) = (table_entry(p, 0), table_entry(p, 1));
    // Table bytes changed behind the header's back.
    rewrite_table(p, &[e0, e1]);
    opened(&d, "b").unwrap();
    let at = peek(p, W_TABLE_OFFSET);
    {
        let mut f = OpenOptions::new().write(true).open(p).unwrap();
        f.seek(SeekFrom::Start(at + 3)).unwrap();
        f.write_all(&[0x80]).unwrap();
    }
    let e = message(opened(&d, "b"));
    assert!(e.contains("frame table does not match its hash"), "{e}");
    // An entry past the data's frames, with its hash made to match.
    rewrite_table(p, &[FRAMED_FRAMES as u32]);
    let e = message(opened(&d, "b"));
    assert!(e.contains("names frame 23, outside the 23 frames of the data"), "{e}");
    rewrite_table(p, &[u32::MAX]);
    assert!(message(opened(&d, "b")).contains("outside the 23 frames"));
    // A frame named twice.
    rewrite_table(p, &[e0, e0]);
    let e = message(opened(&d, "b"));
    assert!(e.contains("named twice"), "{e}");
    rewrite_table(p, &[e0, e1]);
    opened(&d, "b").unwrap();
    // The hash word changed without the checksum, then with it.
    poke(p, W_TABLE_HASH, 12345);
    assert!(message(opened(&d, "b")).contains("checksum"));
    forge_table(p, |_, t| t[5] = 12345);
    assert!(message(opened(&d, "b")).contains("does not match its hash"));
    rewrite_table(p, &[e0, e1]);
    // Table words that disagree with the header's layout.
    forge_table(p, |_, t| t[2] = 64);
    let e = message(opened(&d, "b"));
    assert!(e.contains("does not fit its header") && e.contains("need 72"), "{e}");
    forge_table(p, |_, t| t[2] = 72);
    forge_table(p, |_, t| t[1] += 4096);
    assert!(message(opened(&d, "b")).contains("not right after the data"));
    forge_table(p, |_, t| t[1] -= 4096);
    forge_table(p, |w, _| w[W_SLOTS] = 5000);
    assert!(message(opened(&d, "b")).contains("the slab has 10 x 3"));
    forge_table(p, |w, _| w[W_SLOTS] = FRAMED_SLOTS);
    forge_table(p, |_, t| t[0] = 7);
    assert!(message(opened(&d, "b")).contains("table kind 7"));
    forge_table(p, |_, t| t[0] = TABLE_NONE);
    assert!(message(opened(&d, "b")).contains("table words set"));
    forge_table(p, |_, t| t[0] = TABLE_FRAMED);
    // A data area that does not hold the frames named (header and file shrunk to match).
    forge_table(p, |w, t| {
        w[W_DATA_BYTES] = 4 * 4096;
        w[W_FILE_BYTES] = 4096 * 6;
        t[1] = 5 * 4096;
    });
    let f = OpenOptions::new().write(true).open(p).unwrap();
    f.set_len(4096 * 6).unwrap();
    // Whatever is at the new table offset now, with a hash to match: entry 1 names frame 5.
    assert_eq!(e1, 5);
    rewrite_table(p, &[e0, e1]);
    let e = message(opened(&d, "b"));
    assert!(e.contains("names frame 5, outside the 4 frames"), "{e}");
    // A truncated table.
    let (_slab, info) = mk_framed(&d, "t");
    let f = OpenOptions::new().write(true).open(&info.path).unwrap();
    f.set_len(4096 * (1 + FRAMED_FRAMES)).unwrap();
    let e = message(opened(&d, "t"));
    assert!(e.contains("truncated"), "{e}");
    // Paired tables are never recorded.
    let t = FrameTable::build_paired(4, |k| (k, false)).unwrap();
    let l = Layout::paired(1000, 6, std::sync::Arc::new(t)).unwrap();
    assert!(create(
        &NewSegment { name: "paired", pages: PageRequest::Off, lock: LockRequest::Off, overwrite: false, dir: Some(&d.0), schema: None },
        l,
        &Job::none()
    )
    .is_err());
    assert!(!d.0.join("ultraslayer.paired").exists());
}

/// Env var naming `<dir>/<name>` for the child process of the test below.
const OPENER_ENV: &str = "ULTRASLAYER_TEST_FRAMED_OPENER";

#[test]
fn a_second_process_opening_a_framed_segment_reads_the_copies_the_creator_wrote() {
    let d = TempDir::new("framed-child");
    let (slab, _info) = mk_framed(&d, "c");
    write_every_replica(&slab);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "shm::open::tests::framed_opener_child", "--nocapture", "--test-threads=1"])
        .env(OPENER_ENV, d.0.join("c"))
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the opener failed:\n{text}");
    assert!(text.contains("framed opener: every replica read back") && text.contains("1 passed"), "{text}");
}

/// The opener of the test above: runs only in its child process (a plain test run passes it).
#[test]
fn framed_opener_child() {
    let Some(target) = std::env::var_os(OPENER_ENV) else { return };
    let target = PathBuf::from(target);
    let (dir, name) = (target.parent().unwrap(), target.file_name().unwrap().to_str().unwrap());
    let (region, l, info) = open(name, LockRequest::Off, Expect::default(), Duration::from_secs(2), Some(dir)).unwrap();
    assert_ne!(info.creator_pid, std::process::id());
    assert_eq!(l, framed_layout(FRAMED_SLOTS, 3, FRAMED_FRAMES));
    assert_every_replica(&crate::slab::Slab::from_region(region, l).unwrap());
    println!("framed opener: every replica read back");
}

#[test]
fn open_checks_the_expected_layout() {
    let d = TempDir::new("expect");
    mk(&d, "e");
    let ex = Expect { slots: Some(1000), replicas: Some(2), channel_offset: Some(256), ..Expect::default() };
    open("e", LockRequest::Off, ex, Duration::ZERO, Some(&d.0)).unwrap();
    let ex = Expect { replicas: Some(3), ..Expect::default() };
    let e = open("e", LockRequest::Off, ex, Duration::ZERO, Some(&d.0)).err().unwrap();
    assert!(matches!(e, Error::SegmentIncompatible { .. }));
    assert!(e.to_string().contains("replicas: expected 3, segment has 2"), "{e}");
}

#[test]
fn a_record_schema_is_kept_in_the_header_and_each_kind_refuses_to_open_as_the_other() {
    let d = TempDir::new("schema");
    let text = "bid:f64,ask:f64,qty:u64";
    let (_r, info) = create(
        &NewSegment { name: "rec", pages: PageRequest::Off, lock: LockRequest::Off, overwrite: false, dir: Some(&d.0), schema: Some(text) },
        layout(),
        &Job::none(),
    )
    .unwrap();
    assert_eq!(info.schema.as_deref(), Some(text));
    let rec = Expect { records: true, ..Expect::default() };
    let (_, _, oinfo) = open("rec", LockRequest::Off, rec, Duration::ZERO, Some(&d.0)).unwrap();
    assert_eq!(oinfo.schema.as_deref(), Some(text));
    let e = message(opened(&d, "rec"));
    assert!(e.contains("holds records") && e.contains(text), "{e}");
    mk(&d, "plain");
    let e = open("plain", LockRequest::Off, rec, Duration::ZERO, Some(&d.0)).err().unwrap().to_string();
    assert!(e.contains("plain slab"), "{e}");
    // A schema changed behind the header's back.
    poke(&info.path, W_SCHEMA, u64::from_le_bytes(*b"ask:f64,"));
    let e = open("rec", LockRequest::Off, rec, Duration::ZERO, Some(&d.0)).err().unwrap().to_string();
    assert!(e.contains("does not match its hash"), "{e}");
}

#[test]
fn unfinished_segments_name_their_creator() {
    let d = TempDir::new("unready");
    let (_r, info) = mk(&d, "u");
    poke(&info.path, W_READY, 0);
    // Our own pid: alive, so open waits, then says "still being created".
    let e = message(opened(&d, "u"));
    assert!(e.contains("still being created"), "{e}");
    // A pid that cannot exist: "never finished".
    poke(&info.path, W_CREATOR_PID, i32::MAX as u64 - 1);
    let e = message(opened(&d, "u"));
    assert!(e.contains("never finished") && e.contains("unlink"), "{e}");
}

#[test]
fn hugetlbfs_mounts_are_used_when_present() {
    // Only meaningful where a hugetlbfs mount with free 2 MiB pages exists.
    let Some(place) = places(None).into_iter().find(|p| p.backing == Backing::HugeTlbFs && p.page_size == PAGE_2M) else {
        eprintln!("no hugetlbfs mount with 2 MiB pages: skipped");
        return;
    };
    let name = format!("unit-htlb-{}", std::process::id());
    match create(
        &NewSegment { name: &name, pages: PageRequest::Huge2M, lock: LockRequest::Off, overwrite: false, dir: None, schema: None },
        layout(),
        &Job::none(),
    ) {
        Ok((_r, info)) => {
            assert_eq!(info.backing, Backing::HugeTlbFs);
            eprintln!("hugetlbfs segment: {}", info.path);
            assert!(info.path.starts_with(&place.dir.display().to_string()));
            let (r2, _, i2) = open(&name, LockRequest::Off, Expect::default(), Duration::ZERO, None).unwrap();
            assert_eq!(r2.page_size(), PAGE_2M);
            assert_eq!(r2.ptr() as usize % PAGE_2M, 0);
            assert_eq!(i2.backing, Backing::HugeTlbFs);
            assert!(unlink(&name, None).unwrap());
        }
        Err(e) => {
            eprintln!("hugetlbfs segment refused: {e}");
            let _ = unlink(&name, None);
            assert!(e.to_string().contains("huge pages") || e.to_string().contains("room"), "{e}");
        }
    }
}
