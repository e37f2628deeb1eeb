//! Measurement harness for `npm run bench`: timed reads, cold flushes, stress streams and the
//! independent-pairs method, all measured with the TSC inside Rust.
//!
//! Never used on a library read path, and built only with the `bench` cargo feature (the npm build
//! turns it on, since `npm run bench` ships with the package; the C library and `cargo test
//! -p ultraslayer` without `--features bench` leave it out). Everything here records into HDR histograms; no
//! sorting of sample arrays.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

use hdrhistogram::Histogram;

use crate::cores;
use crate::region::{LockRequest, PageRequest, Region};
use crate::rng::SplitMix64;
use crate::slab::Slab;
use crate::slayer::Slayer;
use crate::stats::latency_histogram;
use crate::tsc;

use crate::cache::flush_line;
use crate::tsc::spin_for;

/// How reads are spaced and what state the cache is in before each.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Flush every copy of the slot before reading it (a DRAM read every time).
    pub cold: bool,
    /// Spin a pseudo-random 0..gap_ns between reads (random arrivals); 0 = back to back.
    pub gap_ns: u64,
}

/// Times `read(i)` for every index, with the pacing asked for, into a fresh histogram (ns).
/// `flush(i)` runs before each read when `pace.cold`. Returns the histogram and a checksum of
/// the values read (so the reads cannot be optimised away).
pub fn time_reads(indices: &[u32], pace: Pace, mut flush: impl FnMut(u64), mut read: impl FnMut(u64) -> u64) -> (Histogram<u64>, u64) {
    let mut h = latency_histogram();
    let gap_ticks = tsc::from_ns(pace.gap_ns);
    let mut rng = SplitMix64::new(0x5EED);
    let mut sum = 0u64;
    for &i in indices {
        let i = i as u64;
        if pace.cold {
            flush(i);
        }
        if gap_ticks > 0 {
            spin_for(rng.next_u64() % gap_ticks);
        }
        let t0 = tsc::stamp();
        let v = read(i);
        let t1 = tsc::stamp_end();
        sum = sum.wrapping_add(std::hint::black_box(v));
        h.saturating_record(tsc::to_ns(t1.wrapping_sub(t0)).max(1));
    }
    (h, sum)
}

/// `native-direct`: replica 0 read in Rust, no threads.
pub fn native_direct(slab: &Slab, indices: &[u32], pace: Pace) -> Histogram<u64> {
    time_reads(indices, pace, |i| slab.flush_slot(i), |i| slab.read_replica(0, i).unwrap_or(0)).0
}

/// `native-hedged` (and `native-steer`): the engine's read with its strategy, timed in Rust
/// (hand-off included for hedging, JS excluded).
pub fn native_hedged(s: &mut Slayer, indices: &[u32], pace: Pace) -> Histogram<u64> {
    let slab = s.slab();
    time_reads(indices, pace, |i| slab.flush_slot(i), |i| s.read(i).unwrap_or(0)).0
}

/// What `native_interleaved` measured (ns).
pub struct Interleaved {
    /// Copy 0 read directly (even reads).
    pub direct: Histogram<u64>,
    /// The engine's read with its strategy (odd reads).
    pub engine: Histogram<u64>,
    /// For a slab learned in the background: the same two, over the reads whose frame was learned
    /// and steerable at the time (direct, engine), so steering is compared with copy 0 on the same
    /// frames. None for other slabs.
    pub learned: Option<(Histogram<u64>, Histogram<u64>)>,
}

/// The strategy against its own slab read directly, interleaved read by read so both see the
/// same machine: even reads take copy 0 directly, odd reads go through the engine's strategy
/// (e.g. steering); each gets every other index.
pub fn native_interleaved(s: &mut Slayer, indices: &[u32], pace: Pace) -> Interleaved {
    let slab = s.slab();
    let orientation = s.orientation().cloned();
    let mut direct = latency_histogram();
    let mut engine = latency_histogram();
    let mut learned = orientation.as_ref().map(|_| (latency_histogram(), latency_histogram()));
    let gap_ticks = tsc::from_ns(pace.gap_ns);
    let mut rng = SplitMix64::new(0x5EED);
    let mut sum = 0u64;
    for (k, &i) in indices.iter().enumerate() {
        let i = i as u64;
        if pace.cold {
            slab.flush_slot(i);
        }
        // Whether the slot's frame is learned and steerable now (read before the timed read).
        let on_learned = orientation.as_ref().is_some_and(|o| {
            let f = slab.layout().offset(0, i) / crate::layout::FRAME_BYTES;
            matches!(o.state(f), crate::steer::orientation::FrameState::Normal | crate::steer::orientation::FrameState::Swapped)
        });
        if gap_ticks > 0 {
            spin_for(rng.next_u64() % gap_ticks);
        }
        let t0 = tsc::stamp();
        let v = if k % 2 == 0 { slab.read_replica(0, i).unwrap_or(0) } else { s.read(i).unwrap_or(0) };
        let t1 = tsc::stamp_end();
        sum = sum.wrapping_add(std::hint::black_box(v));
        let ns = tsc::to_ns(t1.wrapping_sub(t0)).max(1);
        let h = if k % 2 == 0 { &mut direct } else { &mut engine };
        h.saturating_record(ns);
        if let (true, Some((d, e))) = (on_learned, learned.as_mut()) {
            (if k % 2 == 0 { d } else { e }).saturating_record(ns);
        }
    }
    std::hint::black_box(sum);
    Interleaved { direct, engine, learned }
}

/// Timer overhead: back-to-back start/end stamps with nothing between (ns).
pub fn timer_overhead(samples: usize) -> Histogram<u64> {
    let mut h = latency_histogram();
    for _ in 0..samples {
        let t0 = tsc::stamp();
        let t1 = tsc::stamp_end();
        h.saturating_record(tsc::to_ns(t1.wrapping_sub(t0)).max(1));
    }
    h
}

/// Result of the independent-pairs method.
pub struct Pairs {
    /// min(latency of replica A, latency of replica B) over paired samples (ns).
    pub min_of_pair: Histogram<u64>,
    /// Each replica's own latencies (ns).
    pub per_replica: Vec<Histogram<u64>>,
    /// Samples whose start stamps fell within `window_ns` of each other, over all samples.
    pub paired_share: f64,
}

/// `independent-pairs` (the original C++ benchmark's method): each replica's copy is read and
/// timed independently by its own pinned thread over the same index sequence, at the same
/// scheduled times; afterwards, sample k of every thread is paired when their start stamps lie
/// within `window_ns`, and the minimum is taken. An upper bound on what hedging could give, never a latency delivered to anyone.
pub fn independent_pairs(slab: Arc<Slab>, cores: &[usize], indices: Arc<Vec<u32>>, pace: Pace, window_ns: u64) -> Pairs {
    let n = slab.layout().replicas().min(cores.len()).max(1);
    let barrier = Arc::new(Barrier::new(n));
    let go = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..n)
        .map(|r| {
            let slab = slab.clone();
            let indices = indices.clone();
            let barrier = barrier.clone();
            let go = go.clone();
            let core = cores[r];
            std::thread::spawn(move || {
                cores::pin_current(core);
                let mut starts = Vec::with_capacity(indices.len());
                let mut lats = Vec::with_capacity(indices.len());
                let gap_ticks = tsc::from_ns(pace.gap_ns);
                barrier.wait();
                // Thread 0 sets a common start time slightly in the future; all spin until it.
                if r == 0 {
                    // Release: pairs with the Acquire loads below, publishing the start time.
                    go.store(tsc::now() + tsc::from_ns(200_000), Ordering::Release);
                }
                let start = loop {
                    // Acquire: pairs with thread 0's Release store.
                    let g = go.load(Ordering::Acquire);
                    if g != 0 {
                        break g;
                    }
                    std::hint::spin_loop();
                };
                while tsc::now() < start {
                    std::hint::spin_loop();
                }
                // Every thread reads sample k at the same scheduled time start + k·step + jitter_k
                // (same jitter sequence on every thread), so samples can be paired by time; a
                // thread that was descheduled reads late and its sample goes unpaired.
                let step = tsc::from_ns(pace.gap_ns + 3_000);
                let mut rng = SplitMix64::new(0x5EED);
                for (k, &i) in indices.iter().enumerate() {
                    let i = i as u64;
                    if pace.cold {
                        if let Ok(a) = slab.address(r, i) {
                            // SAFETY: a checked address inside the slab, kept alive by the Arc.
                            unsafe { flush_line(a as *const u8) };
                        }
                    }
                    let jitter = if gap_ticks > 0 { rng.next_u64() % gap_ticks } else { 0 };
                    let due = start + k as u64 * step + jitter;
                    while tsc::now() < due {
                        std::hint::spin_loop();
                    }
                    let t0 = tsc::stamp();
                    let v = slab.read_replica(r, i).unwrap_or(0);
                    let t1 = tsc::stamp_end();
                    std::hint::black_box(v);
                    starts.push(t0);
                    lats.push(t1.wrapping_sub(t0));
                }
                (starts, lats)
            })
        })
        .collect();
    let results: Vec<(Vec<u64>, Vec<u64>)> = handles.into_iter().map(|h| h.join().unwrap_or_default()).collect();
    let window = tsc::from_ns(window_ns);
    let mut min_of_pair = latency_histogram();
    let mut per_replica: Vec<Histogram<u64>> = (0..n).map(|_| latency_histogram()).collect();
    let total = indices.len();
    let mut paired = 0usize;
    for k in 0..total {
        let mut lo = u64::MAX;
        let mut hi = 0u64;
        let mut best = u64::MAX;
        let mut complete = true;
        for (r, (starts, lats)) in results.iter().enumerate() {
            let (Some(&s), Some(&l)) = (starts.get(k), lats.get(k)) else {
                complete = false;
                break;
            };
            per_replica[r].saturating_record(tsc::to_ns(l).max(1));
            lo = lo.min(s);
            hi = hi.max(s);
            best = best.min(l);
        }
        if complete && hi - lo <= window {
            paired += 1;
            min_of_pair.saturating_record(tsc::to_ns(best).max(1));
        }
    }
    Pairs { min_of_pair, per_replica, paired_share: if total == 0 { 0.0 } else { paired as f64 / total as f64 } }
}

/// Threads streaming reads through a buffer of their own, to load the memory system.
pub struct Stress {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
    /// The cores the threads run on, one thread each.
    pub cores: Vec<usize>,
    /// Bytes each thread streams through.
    pub bytes: usize,
}

impl Stress {
    /// Starts one thread per core in `cores`, pinned there, each loading every line of one
    /// `bytes`-byte buffer the threads share (not the slab's memory) until stopped.
    ///
    /// # Errors
    ///
    /// The buffer could not be mapped ([`crate::Error::MapFailed`]).
    pub fn start(cores: &[usize], bytes: usize) -> crate::Result<Stress> {
        let region = Arc::new(Region::map(bytes, PageRequest::Auto, LockRequest::Off)?);
        let stop = Arc::new(AtomicBool::new(false));
        let threads = cores
            .iter()
            .map(|&core| {
                let region = region.clone();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    cores::pin_current(core);
                    let words = region.mapped_bytes() / 8;
                    let base = region.ptr() as *const u64;
                    let mut lines = 0u64;
                    // At least one whole pass, then until stopped. Relaxed: a stop flag carries no data.
                    loop {
                        let mut k = 0;
                        while k < words {
                            // SAFETY: k < words, so the word lies inside the mapping the Arc keeps alive;
                            // the region is only ever read here.
                            std::hint::black_box(unsafe { std::ptr::read_volatile(base.add(k)) });
                            k += 8; // one load per 64-byte line
                            lines += 1;
                        }
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                    lines
                })
            })
            .collect();
        Ok(Stress { stop, threads, cores: cores.to_vec(), bytes })
    }

    /// Stops and joins the threads; returns how many cache lines each one streamed.
    pub fn stop(mut self) -> Vec<u64> {
        self.join()
    }

    fn join(&mut self) -> Vec<u64> {
        // Relaxed: see the loads in the streaming threads.
        self.stop.store(true, Ordering::Relaxed);
        self.threads.drain(..).map(|t| t.join().unwrap_or(0)).collect()
    }
}

impl Drop for Stress {
    fn drop(&mut self) {
        self.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;

    fn slab() -> Arc<Slab> {
        let s = Slab::new(Layout::new(4096, 2, 64).unwrap(), PageRequest::Off, LockRequest::Off).unwrap();
        for i in 0..4096 {
            s.write(i, i + 1).unwrap();
        }
        Arc::new(s)
    }

    #[test]
    fn timed_reads_record_one_sample_per_index_and_read_the_right_values() {
        let s = slab();
        let idx: Vec<u32> = (0..1000).map(|k| (k * 7) % 4096).collect();
        let (h, sum) = time_reads(&idx, Pace { cold: true, gap_ns: 100 }, |i| s.flush_slot(i), |i| s.read_replica(1, i).unwrap());
        assert_eq!(h.len(), 1000);
        assert_eq!(sum, idx.iter().map(|&i| i as u64 + 1).sum::<u64>());
    }

    #[test]
    fn independent_pairs_pairs_what_it_can_and_says_how_much() {
        let s = slab();
        let allowed = cores::allowed();
        let cores: Vec<usize> = (0..2).map(|k| allowed[k % allowed.len()]).collect();
        let idx = Arc::new((0..2000u32).collect::<Vec<_>>());
        let p = independent_pairs(s, &cores, idx, Pace { cold: false, gap_ns: 0 }, u64::MAX / 4);
        assert_eq!(p.per_replica.len(), 2);
        assert_eq!(p.per_replica[0].len(), 2000);
        assert!((p.paired_share - 1.0).abs() < 1e-9, "an unbounded window pairs everything");
        assert_eq!(p.min_of_pair.len(), 2000);
        assert!(p.min_of_pair.value_at_quantile(0.5) <= p.per_replica[0].value_at_quantile(0.5));
    }

    #[test]
    fn stress_threads_start_and_stop() {
        let allowed = cores::allowed();
        let st = Stress::start(&allowed[..1], 4 << 20).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let lines = st.stop();
        assert_eq!(lines.len(), 1, "one thread per core, joined");
        assert!(lines[0] >= (4 << 20) / 64, "the thread streamed through its whole buffer at least once");
    }

    #[test]
    fn timer_overhead_is_recorded() {
        assert_eq!(timer_overhead(100).len(), 100);
    }
}
