//! The engine's own benchmark: direct vs hedged reads measured inside Rust with the TSC, over a
//! slab larger than the last-level cache, cold (both copies flushed before each read) and natural
//! (random reads, no flush), in one run.
//!
//!     cargo run --release -p ultraslayer --features bench --example native_bench -- [samples] [slots] [spin]
//!
//! Prints p50/p90/p99/p99.9/p99.99/max in ns with sample counts; says so when the replica threads
//! share cores (fewer allowed cores than replicas + 1).

use ultraslayer::bench::{self, Pace};
use ultraslayer::stats::Percentiles;
use ultraslayer::{Options, Slayer, SpinPolicy};

fn row(name: &str, h: &hdrhistogram::Histogram<u64>) {
    let p = Percentiles::of(h);
    println!("{name:<22} {:>6} {:>6} {:>6} {:>7} {:>8} {:>9} {:>8}", p.p50, p.p90, p.p99, p.p999, p.p9999, p.max, p.count);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let samples: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let slots: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32 << 20);
    let spin = args.get(3).map(|s| SpinPolicy::parse(s).expect("spin: busy, hybrid or sleep")).unwrap_or(SpinPolicy::Busy);

    let mut o = Options::new(slots);
    o.threads.spin = spin;
    o.threads.start = false;
    let mut s = Slayer::new(o).expect("map the slab");
    let info = s.info();
    let w = s.slab();
    for i in 0..slots {
        w.write(i, i).expect("fill");
    }
    let mut x = 0x9E37_79B9u32;
    let idx: Vec<u32> = (0..samples)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x % slots as u32
        })
        .collect();

    println!(
        "machine: {} allowed core(s) {:?}; TSC {:.3} GHz; slab {} slots x {} replicas, channelOffset {} B, {} pages, {} MiB{}",
        info.allowed_cpus.len(),
        info.allowed_cpus,
        ultraslayer::tsc::hz() / 1e9,
        info.slots,
        info.replicas,
        info.channel_offset,
        info.page_kind.name(),
        info.mapped_bytes >> 20,
        if info.locked { ", locked" } else { "" }
    );
    if info.shared_cores {
        println!("NOTE: fewer allowed cores than replicas + 1: the hedged numbers come from SHARED cores and are not representative.");
    }
    println!("timer overhead p50 {} ns (included in every figure)", Percentiles::of(&bench::timer_overhead(20_000)).p50);
    println!("\n{:<22} {:>6} {:>6} {:>6} {:>7} {:>8} {:>9} {:>8}", "ns", "p50", "p90", "p99", "p99.9", "p99.99", "max", "n");
    for (label, cold) in [("cold", true), ("natural", false)] {
        let pace = Pace { cold, gap_ns: 1000 };
        row(&format!("direct / {label}"), &bench::native_direct(&w, &idx, pace));
        s.start().expect("start replica threads");
        row(&format!("hedged / {label}"), &bench::native_hedged(&mut s, &idx, pace));
        s.stop();
    }
    let st = s.stats();
    println!(
        "\nhedged answers: {} (wins per replica {:?}), served directly while parked: {}, after timeout: {}",
        st.hedged, st.wins, st.direct_while_parked, st.direct_after_timeout
    );
}
