//! Looks for the refresh period on this machine: times flushed reads of both copies at random
//! instants, then scans a periodogram of the slow reads (chance-corrected: power / expected).
//!
//!     cargo run --release -p ultraslayer --features bench --example steer_probe -- [reads] [min_ns] [max_ns] [channel_offset]

use ultraslayer::{cache, rng::SplitMix64, slab::Slab, tsc, tsc::spin_for, Layout, LockRequest, PageRequest};

fn main() {
    let mut a = std::env::args().skip(1);
    let n: usize = a.next().and_then(|s| s.parse().ok()).unwrap_or(400_000);
    let lo: f64 = a.next().and_then(|s| s.parse().ok()).unwrap_or(900.0);
    let hi: f64 = a.next().and_then(|s| s.parse().ok()).unwrap_or(4100.0);
    let offset: usize = a.next().and_then(|s| s.parse().ok()).unwrap_or(64);
    if !cache::CAN_EVICT {
        eprintln!("steer_probe times flushed reads; this architecture has no cache-line eviction in ultraslayer::cache");
        std::process::exit(2);
    }
    let slots = (1u64 << 27) / (offset as u64 / 64).max(1);
    let slab = Slab::new(Layout::new(slots, 2, offset).unwrap(), PageRequest::Auto, LockRequest::Auto).unwrap();
    let tpn = tsc::ticks_per_ns();
    let mut obs = Vec::with_capacity(n);
    let mut rng = SplitMix64::new(0x1234_5678);
    let max_gap = (2000.0 * tpn) as u64;
    for k in 0..n {
        let i = rng.below(slots);
        let c = k & 1;
        // Both copies cold, so the adjacent-line prefetcher cannot bring the other one in.
        slab.flush_slot(i);
        spin_for(rng.below(max_gap));
        // Fenced start; the end stamp waits for the load, so the interval holds exactly the read.
        let t0 = tsc::stamp();
        let v = slab.read_replica(c, i).unwrap();
        let t1 = tsc::after_loads();
        std::hint::black_box(v);
        obs.push((t0, c, tsc::to_ns(t1 - t0)));
    }
    let mut lat: Vec<u64> = obs.iter().map(|o| o.2).collect();
    lat.sort_unstable();
    let q = |f: f64| lat[((lat.len() - 1) as f64 * f) as usize];
    println!(
        "channel offset {offset} B, {} {tpn:.4} GHz (resolution {:.1} ns); latency p10 {} p50 {} p90 {} p95 {} p99 {} ns",
        tsc::SOURCE,
        tsc::resolution_ns(),
        q(0.1),
        q(0.5),
        q(0.9),
        q(0.95),
        q(0.99)
    );
    for thr in [290u64] {
        let slow: Vec<(f64, usize)> =
            obs.iter().filter(|o| o.2 > thr && o.2 < 1000).map(|o| ((o.0 - obs[0].0) as f64 / tpn, o.1)).collect();
        let span = (obs.last().unwrap().0 - obs[0].0) as f64 / tpn;
        // Step so the phase at the end moves 1/8 period between candidates.
        let mut best: Vec<(f64, f64, f64)> = Vec::new();
        let mut p = lo;
        while p < hi {
            let mut z = [(0.0f64, 0.0f64); 2];
            for &(t, c) in &slow {
                let ph = t / p * std::f64::consts::TAU;
                z[c].0 += ph.cos();
                z[c].1 += ph.sin();
            }
            // Power per copy over expectation under no signal (count of that copy's slow reads).
            let cnt = [slow.iter().filter(|s| s.1 == 0).count() as f64, slow.iter().filter(|s| s.1 == 1).count() as f64];
            let pw = (z[0].0 * z[0].0 + z[0].1 * z[0].1) / cnt[0].max(1.0) + (z[1].0 * z[1].0 + z[1].1 * z[1].1) / cnt[1].max(1.0);
            // Relative phase of copy 1 vs copy 0 at this period.
            let rel = ((z[1].1.atan2(z[1].0) - z[0].1.atan2(z[0].0)) / std::f64::consts::TAU).rem_euclid(1.0);
            best.push((pw, p, rel));
            p += 0.125 * p * p / span;
        }
        best.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
        println!("threshold {thr} ns: {} slow ({:.2}%), {} candidates; top:", slow.len(), 100.0 * slow.len() as f64 / n as f64, best.len());
        for b in best.iter().take(2) {
            println!("   period {:.3} ns power/chance {:.1} copy1-copy0 phase {:.2}", b.1, b.0, b.2);
        }
    }
}
