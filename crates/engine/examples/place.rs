//! Measurement tool for huge-page placement (not a test; numbers are only as good as the machine's
//! quiet): `cargo run --release -p ultraslayer --features bench --example place -- MODE ...`
//!
//! - `place SLOTS [REPLICAS] [PAGES] [TIMES] [CONSISTENT]`: `placement::build` (TIMES times in one
//!   process; CONSISTENT 1 asks for copy r in the same groups for every slot) and its report (JSON).
//! - `lookup SLOTS`: per-read cost of the frame-table lookup against the arithmetic layout, on
//!   cached slots (Rust loop) and on cold random reads over the whole slab (one run each, alternated).
//! - `slayer SLOTS STRATEGY [RUNS]`: `Slayer::new` with `CopyPlacement::HugePages`, how long it took
//!   and where the copies went; for 'steer', RUNS runs of 200 000 cold random reads interleaved
//!   with copy 0 of the same slab (`bench::native_interleaved`).
//! - `map BYTES [PAGES]`: how long mapping and pre-faulting take, unlocked and locked.
//! - `frames BYTES [PAGES]`: learns every frame's group the frame-by-frame way (`placement::survey_frames`),
//!   whatever the structure, and reports what it cost.

use std::sync::Arc;
use std::time::Instant;

use ultraslayer::bench::{native_direct, native_interleaved, time_reads, Pace};
use ultraslayer::cache::flush_line;
use ultraslayer::layout::{FrameTable, Layout};
use ultraslayer::placement::{self, PlacementOptions};
use ultraslayer::region::Region;
use ultraslayer::rng::SplitMix64;
use ultraslayer::slab::Slab;
use ultraslayer::{LockRequest, PageRequest, Percentiles};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |k: usize| args.get(k).map(String::as_str);
    let num = |k: usize, d: u64| arg(k).and_then(|s| s.parse().ok()).unwrap_or(d);
    match arg(0).unwrap_or("place") {
        "place" => {
            let pages = PageRequest::parse(arg(3).unwrap_or("auto")).expect("pages");
            let mut o = PlacementOptions {
                consistent: num(5, 0) == 1,
                budget: std::time::Duration::from_secs(num_env("BUDGET_S", 6)),
                ..PlacementOptions::default()
            };
            if let Some(m) = std::env::var("MIN_SCORE").ok().and_then(|v| v.parse().ok()) {
                o.timer.min_score = m;
            }
            o.verify_slots = num_env("VERIFY", 24) as usize;
            if let Some(m) = std::env::var("SESSION_MS").ok().and_then(|v| v.parse().ok()) {
                o.timer.session = std::time::Duration::from_millis(m);
            }
            for _ in 0..num(4, 1) {
                match placement::build(num(1, 1 << 22), num(2, 2) as usize, pages, LockRequest::Auto, &o) {
                    Ok((_slab, info, _)) => println!("{}", serde_json::to_string_pretty(&info).unwrap()),
                    Err(e) => println!("placement failed: {e}"),
                }
            }
        }
        "lookup" => lookup(num(1, 1 << 27)),
        "frames" => {
            let pages = PageRequest::parse(arg(2).unwrap_or("auto")).expect("pages");
            match placement::survey_frames(num(1, 64 << 20) as usize, pages, &PlacementOptions::default()) {
                Ok(s) => println!("{}", serde_json::to_string_pretty(&s).unwrap()),
                Err(e) => println!("survey failed: {e}"),
            }
        }
        "map" => {
            for lock in [LockRequest::Off, LockRequest::Auto] {
                let t = Instant::now();
                let r = Region::map(num(1, 2 << 30) as usize, PageRequest::parse(arg(2).unwrap_or("auto")).expect("pages"), lock).unwrap();
                println!(
                    "map {} MiB {} (THP {} MiB) lock {:?}: {:.0} ms",
                    r.mapped_bytes() >> 20,
                    r.kind().name(),
                    r.thp_bytes() >> 20,
                    lock,
                    t.elapsed().as_secs_f64() * 1e3
                );
            }
        }
        "lines" => {
            // Phases of N random even lines and their X ^ 64 partners in one huge page (or, with a
            // third argument 1, of every even line of N random frames and its partner), as JSON
            // [[offset, phase or null], ...], for studying the address hash offline.
            let r = Region::map(2 << 20, PageRequest::Transparent, LockRequest::Auto).unwrap();
            let mut rng = SplitMix64::new(num(2, 1));
            let mut offs = Vec::new();
            if num(3, 0) == 1 {
                // N frames, every even line of each (and its partner).
                for _ in 0..num(1, 16) {
                    let f = rng.below(512) as usize * 4096;
                    for l in (0..64).step_by(2) {
                        offs.push(f + l * 64);
                        offs.push(f + l * 64 + 64);
                    }
                }
            } else {
                for _ in 0..num(1, 256) {
                    let x = (rng.below(((2 << 20) / 128) as u64) as usize) * 128;
                    offs.push(x);
                    offs.push(x ^ 64);
                }
            }
            let o = PlacementOptions { budget: std::time::Duration::from_secs(20), ..Default::default() };
            let (ph, p) = placement::time_lines(&r, &offs, &o).unwrap();
            let rows: Vec<(usize, Option<f64>)> = offs.into_iter().zip(ph).collect();
            println!("{}", serde_json::json!({ "periodNs": p, "lines": rows }));
        }
        "slayer" => slayer(num(1, 1 << 27), arg(2).unwrap_or("steer"), num(3, 5) as usize),
        other => eprintln!("unknown mode {other}"),
    }
}

/// The same shape laid out both ways: copies 64 B apart, and through a frame table naming frames
/// in a scrambled order over the same number of frames.
fn slabs(slots: u64) -> (Slab, Slab) {
    let arith = Slab::new(Layout::new(slots, 2, 64).unwrap(), PageRequest::Transparent, LockRequest::Auto).unwrap();
    let chunks = slots.div_ceil(512);
    let n = chunks * 2;
    let stride = (n / 3) | 1;
    let stride = (stride..).step_by(2).find(|s| gcd(*s, n) == 1).unwrap();
    let table = Arc::new(FrameTable::build(chunks, 2, |k, r| (k * 2 + r as u64) * stride % n).unwrap());
    let region = Region::map(n as usize * 4096, PageRequest::Transparent, LockRequest::Auto).unwrap();
    let framed = Slab::from_region(region, Layout::framed(slots, 2, table).unwrap()).unwrap();
    (arith, framed)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The same shape through a paired table (both copies in each frame, every third frame swapped).
fn paired_slab(slots: u64) -> Slab {
    let chunks = slots.div_ceil(256);
    let stride = (chunks / 3) | 1;
    let stride = (stride..).step_by(2).find(|s| gcd(*s, chunks) == 1).unwrap();
    let table = Arc::new(FrameTable::build_paired(chunks, |k| (k * stride % chunks, k % 3 == 0)).unwrap());
    let region = Region::map(chunks as usize * 4096, PageRequest::Transparent, LockRequest::Auto).unwrap();
    Slab::from_region(region, Layout::paired(slots, 6, table).unwrap()).unwrap()
}

fn lookup(slots: u64) {
    let (arith, framed) = slabs(slots);
    let paired = paired_slab(slots);
    println!(
        "slab {} MiB per replica; frame table {} KiB on {}",
        (slots * 8) >> 20,
        framed.layout().frames().unwrap().table_bytes() >> 10,
        framed.layout().frames().unwrap().page_kind().name()
    );
    // Cached: 4096 slots spread over the slab (every copy stays in L1/L2), read in a Rust loop.
    let mut rng = SplitMix64::new(7);
    let hot: Vec<u64> = (0..4096).map(|_| rng.below(slots)).collect();
    let order: Vec<usize> = (0..1 << 22).map(|_| rng.below(hot.len() as u64) as usize).collect();
    let per_read = |s: &Slab, r: usize| {
        let t = Instant::now();
        let mut sum = 0u64;
        for &k in &order {
            sum = sum.wrapping_add(s.read_replica(r, hot[k]).unwrap());
        }
        std::hint::black_box(sum);
        t.elapsed().as_nanos() as f64 / order.len() as f64
    };
    for round in 0..5 {
        let a = per_read(&arith, 1);
        let f = per_read(&framed, 1);
        let p = per_read(&paired, 1);
        println!(
            "cached round {round}: arithmetic {a:.2} ns/read, frame table {f:.2} ({:+.2}), paired table {p:.2} ({:+.2})",
            f - a,
            p - a
        );
    }
    // Cold: every copy flushed before each read, random slots over the whole slab; the third arm
    // flushes the slot's table line too (a workload that keeps the table out of cache).
    let idx: Vec<u32> = (0..200_000).map(|_| rng.below(slots) as u32).collect();
    let pace = Pace { cold: true, gap_ns: 0 };
    let table = framed.layout().frames().unwrap();
    for round in 0..3 {
        let a = Percentiles::of(&native_direct(&arith, &idx, pace));
        let f = Percentiles::of(&native_direct(&framed, &idx, pace));
        let flush_both = |i: u64| {
            framed.flush_slot(i);
            // SAFETY: the entry lies inside the table's mapping, which `framed` keeps alive.
            unsafe { flush_line(table.entry_address(i >> 9) as *const u8) };
        };
        let t = Percentiles::of(&time_reads(&idx, pace, flush_both, |i| framed.read_replica(0, i).unwrap_or(0)).0);
        println!(
            "cold round {round}: arithmetic p50 {} p99 {} p99.9 {} | frame table p50 {} p99 {} p99.9 {} | table line cold too p50 {} p99 {} p99.9 {} (ns)",
            a.p50, a.p99, a.p999, f.p50, f.p99, f.p999, t.p50, t.p99, t.p999
        );
    }
}

fn slayer(slots: u64, strategy: &str, runs: usize) {
    let mut o = ultraslayer::Options::new(slots);
    o.placement = ultraslayer::CopyPlacement::HugePages;
    o.strategy = ultraslayer::Strategy::parse(strategy).expect("strategy");
    o.threads.spin = ultraslayer::SpinPolicy::Hybrid;
    o.threads.start = false;
    o.placement_budget = std::time::Duration::from_secs(num_env("BUDGET_S", 20));
    let t = Instant::now();
    let mut s = match ultraslayer::Slayer::new(o) {
        Ok(s) => s,
        Err(e) => return println!("Slayer::new failed after {:.0} ms: {e}", t.elapsed().as_secs_f64() * 1e3),
    };
    let took = t.elapsed().as_secs_f64() * 1e3;
    let info = s.info();
    let h = info.copies.huge.as_ref().unwrap();
    println!(
        "Slayer::new({slots} slots, {strategy}) in {took:.0} ms: {} / {} on {} ({} MiB THP of {} MiB), channelOffset {}, copies apart in {}/{} timed slots; map {:.0} ms, period {:.0} ms, learn {:.0} ms",
        info.copies.kind, h.layout, h.pages.page_kind, h.pages.thp_bytes >> 20, info.mapped_bytes >> 20, info.channel_offset, h.copies_apart, h.copies_clear, h.map_ms, h.period_ms, h.learn_ms
    );
    if strategy != "steer" {
        return;
    }
    if let Some(r) = s.steer_report() {
        println!("steer tracker after calibration: {:?}", r.state);
    }
    let mut rng = SplitMix64::new(99);
    let idx: Vec<u32> = (0..400_000).map(|_| rng.below(slots) as u32).collect();
    for run in 0..runs {
        let r = native_interleaved(&mut s, &idx, Pace { cold: true, gap_ns: 0 });
        let (d, e) = (r.direct, r.engine);
        let (d, e) = (Percentiles::of(&d), Percentiles::of(&e));
        if let Some(r) = s.steer_report() {
            println!(
                "  tracker: {:?}, steered {} ({} slow), explored {} ({} slow), stall distance {:.2}, contrast {:?}, reacquisitions {}",
                r.state, r.steered_reads, r.steered_slow, r.explored_reads, r.explored_slow, r.stall_distance, r.contrast, r.reacquisitions
            );
        }
        println!(
            "run {run}: copy 0 p50 {} p99 {} p99.9 {} | steer p50 {} p99 {} p99.9 {} | steer/copy0 p50 {:.2} p99 {:.2}",
            d.p50,
            d.p99,
            d.p999,
            e.p50,
            e.p99,
            e.p999,
            e.p50 as f64 / d.p50 as f64,
            e.p99 as f64 / d.p99 as f64
        );
    }
}

fn num_env(k: &str, d: u64) -> u64 {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}
