//! What steering could reach on this machine while serving, and what stands in its way: a trace
//! of unsteered reads, analysed offline.
//!
//! A 2-replica slab with copies 64 B apart over `frames` 4 KiB frames (copies X and X^64). Every
//! read picks a random slot and a random copy, flushes both copies, waits a random 0–`gap` ns and
//! times the load. Because the copy is random, any steering policy can be scored on the reads
//! where the random copy is the one it would have chosen (half of them, an unbiased sample). The
//! analysis, at this machine's refresh period:
//!
//! - each line's stall centre (the phase of its slow reads over the first quarter of the trace);
//! - the common phase shift of every line, window by window (`window` ms): drift, jumps;
//! - the slow share by phase distance from a line's own centre, phase shift removed: the stall
//!   window, and the floor of slow reads away from it that no choice of copy avoids;
//! - three policies scored on the trace, each reading the copy whose centre is farther from now:
//!   with the first quarter's phase for the whole trace, with the previous window's phase (a
//!   tracker one window behind), and with the window's own phase (a hindsight bound): their slow
//!   share, and their p50, p99 and p99.9 against every read's (what either copy alone gives).
//!
//!     cargo run --release -p ultraslayer --example phase_trace -- [reads] [frames] [gap ns] [window ms]
//!
//! Measured with it on host A (docs/refresh-model.md, 2026-12-08).

use ultraslayer::{slab::Slab, tsc, Layout, LockRequest, PageRequest};

/// A read: start (ns from the first), latency (ns), line (frame * 2 + address bit 6), copy.
struct Read {
    t: f64,
    ns: f64,
    line: usize,
}

const BINS: usize = 32;
const SLOW_EXCESS_NS: f64 = 140.0;
const NOISE_NS: f64 = 1000.0;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut arg = |default: f64| args.next().and_then(|s| s.parse::<f64>().ok()).unwrap_or(default);
    let (reads, frames, gap_ns, window_ms) = (arg(4e6) as u64, arg(64.0) as u64, arg(1000.0), arg(20.0));
    let period = match ultraslayer::refresh::period_of_this_machine_ns() {
        Ok(p) => p,
        Err(e) => return eprintln!("no refresh period on this machine: {e}"),
    };
    let slots = frames * 512;
    let slab = match Layout::new(slots, 2, 64).and_then(|l| Slab::new(l, PageRequest::Auto, LockRequest::Auto)) {
        Ok(s) => s,
        Err(e) => return eprintln!("slab: {e}"),
    };
    let tpn = tsc::ticks_per_ns();
    let base = slab.address(0, 0).expect("slot 0");
    let mut rng = ultraslayer::rng::SplitMix64::new(0x7EA5);
    let gap_ticks = ((gap_ns * tpn) as u64).max(1);
    let mut trace = Vec::with_capacity(reads as usize);
    let mut t_first = None;
    for _ in 0..reads {
        let r = rng.next_u64();
        let (i, c) = (r % slots, ((r >> 40) & 1) as usize);
        slab.flush_slot(i);
        tsc::spin_for((r >> 41) % gap_ticks);
        let t0 = tsc::now();
        let v = slab.read_replica(c, i).unwrap_or(0);
        let t1 = tsc::stamp_end();
        std::hint::black_box(v);
        let at = slab.address(c, i).expect("in range") - base;
        let first = *t_first.get_or_insert(t0);
        trace.push(Read {
            t: t0.wrapping_sub(first) as f64 / tpn,
            ns: t1.wrapping_sub(t0) as f64 / tpn,
            line: at / 4096 * 2 + (at >> 6 & 1),
        });
    }
    let mut sorted: Vec<f64> = trace.iter().map(|r| r.ns).collect();
    sorted.sort_by(f64::total_cmp);
    let cut = sorted[sorted.len() / 2] + SLOW_EXCESS_NS;
    let slow = |r: &Read| r.ns > cut && r.ns < NOISE_NS;
    let ok = |r: &Read| r.ns < NOISE_NS;
    let span_s = trace.last().map_or(0.0, |r| r.t) / 1e9;
    let all = trace.iter().filter(|r| ok(r)).count();
    let unsteered = trace.iter().filter(|r| slow(r)).count() as f64 / all as f64;
    println!(
        "{} reads over {span_s:.2} s ({} pages), period {period:.1} ns, slow over {cut:.0} ns: {:.3}% unsteered",
        trace.len(),
        slab.region().kind().name(),
        100.0 * unsteered
    );

    let phase = |t: f64| (t / period).rem_euclid(1.0);
    let lines = trace.iter().map(|r| r.line).max().unwrap_or(0) + 1;
    // Each line's stall centre over the first quarter: the phase of its slow reads' mean vector.
    let quarter = trace.len() / 4;
    let mut sum = vec![(0.0f64, 0.0f64); lines];
    for r in trace[..quarter].iter().filter(|r| slow(r)) {
        let a = phase(r.t) * std::f64::consts::TAU;
        sum[r.line].0 += a.cos();
        sum[r.line].1 += a.sin();
    }
    let centre: Vec<f64> = sum.iter().map(|&(x, y)| (y.atan2(x) / std::f64::consts::TAU).rem_euclid(1.0)).collect();
    let rel = |r: &Read, shift: f64| (phase(r.t) - shift - centre[r.line] + 0.5).rem_euclid(1.0) - 0.5;

    // The common shift, window by window: the mean phase of slow reads from their line's centre.
    let window_ns = window_ms * 1e6;
    let windows = (trace.last().map_or(0.0, |r| r.t) / window_ns) as usize + 1;
    let mut acc = vec![(0.0f64, 0.0f64); windows];
    for r in trace.iter().filter(|r| slow(r)) {
        let a = rel(r, 0.0) * std::f64::consts::TAU;
        let w = &mut acc[(r.t / window_ns) as usize];
        w.0 += a.cos();
        w.1 += a.sin();
    }
    let shift: Vec<f64> = acc.iter().map(|&(x, y)| y.atan2(x) / std::f64::consts::TAU).collect();
    let jumps = shift.windows(2).filter(|w| ((w[1] - w[0] + 0.5).rem_euclid(1.0) - 0.5).abs() > 0.1).count();
    println!("phase shift per {window_ms} ms window (period fractions; {jumps} moves over 0.1):");
    for row in shift.chunks(20) {
        println!("  {}", row.iter().map(|s| format!("{s:+.2}")).collect::<Vec<_>>().join(" "));
    }

    // Slow share by distance from the line's own centre, each read at its window's shift.
    let (mut n, mut k) = ([0u64; BINS], [0u64; BINS]);
    for r in trace.iter().filter(|r| ok(r)) {
        let b = ((rel(r, shift[(r.t / window_ns) as usize]) + 0.5) * BINS as f64) as usize % BINS;
        n[b] += 1;
        k[b] += slow(r) as u64;
    }
    let share: Vec<f64> = (0..BINS).map(|b| k[b] as f64 / n[b].max(1) as f64).collect();
    let mut low = share.clone();
    low.sort_by(f64::total_cmp);
    let floor = low[..BINS / 2].iter().sum::<f64>() / (BINS / 2) as f64;
    println!(
        "slow share (%) by phase from the line's own stall centre, {BINS} bins of {:.0} ns, centre in the middle:",
        period / BINS as f64
    );
    println!("  {}", share.iter().map(|s| format!("{:.2}", 100.0 * s)).collect::<Vec<_>>().join(" "));
    println!("floor (the quieter half of the bins): {:.3}%", 100.0 * floor);

    // Policies scored on the reads whose random copy is the one they would have read: slow share,
    // and percentiles against those of every read (what reading either copy gives).
    let other = |line: usize| line ^ 1;
    let pct = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
        [at(0.5), at(0.99), at(0.999)]
    };
    let mut every: Vec<f64> = trace.iter().map(|r| r.ns).collect();
    let base = pct(&mut every);
    let score = |name: &str, shift_of: &dyn Fn(usize) -> f64| {
        let (mut k, mut lat) = (0u64, Vec::new());
        for r in &trace {
            let s = shift_of((r.t / window_ns) as usize);
            let here = rel(r, s).abs();
            let there = (phase(r.t) - s - centre[other(r.line)] + 0.5).rem_euclid(1.0) - 0.5;
            if here > there.abs() {
                lat.push(r.ns);
                k += slow(r) as u64;
            }
        }
        let n = lat.iter().filter(|&&ns| ns < NOISE_NS).count();
        let p = pct(&mut lat);
        println!(
            "  {name:<34} slow {:.3}%  p50 {:.2}x  p99 {:.2}x  p99.9 {:.2}x",
            100.0 * k as f64 / n.max(1) as f64,
            p[0] / base[0],
            p[1] / base[1],
            p[2] / base[2]
        );
    };
    println!(
        "steering policies on the reads they would have made, against every read (p50 {:.0}, p99 {:.0}, p99.9 {:.0} ns; slow {:.3}%, floor {:.3}%):",
        base[0],
        base[1],
        base[2],
        100.0 * unsteered,
        100.0 * floor
    );
    score("the first quarter's phase throughout", &|_| 0.0);
    score("one window behind", &|w| if w == 0 { 0.0 } else { shift[w - 1] });
    score("the window's own phase (hindsight)", &|w| shift[w]);
}
