//! Read counters and the optional per-read latency histogram.
//!
//! Owned by the requester (no atomics, no sharing). Recording is a TSC difference and one
//! histogram increment; no allocation after construction.

use hdrhistogram::Histogram;

use crate::tsc;

/// Which copy answered a hedged request (what `replicas::ReplicaSet` reports and `Recorder::answer`
/// counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Replica `r`'s thread answered first.
    Replica(usize),
    /// Every thread that had not answered was parked: the requester read a copy itself.
    DirectWhileParked,
    /// No answer within the timeout (a thread was descheduled): the requester read a copy itself.
    DirectAfterTimeout,
    /// A record request every thread answered without a consistent copy (each met a write in
    /// progress): the requester read the record itself.
    DirectAfterInconsistent,
}

/// Latency percentiles in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    /// Reads recorded.
    pub count: u64,
    /// Fastest read.
    pub min: u64,
    /// Mean latency.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// 99.99th percentile.
    pub p9999: u64,
    /// Slowest read.
    pub max: u64,
}

impl Percentiles {
    /// The percentiles of a latency histogram in ns (all zero when it is empty).
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
        }
    }
}

/// A histogram of nanosecond latencies, 1 ns to 10 s at 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("static histogram bounds are valid")
}

/// A snapshot of what a slab's reads did. Serialized (camelCase) it is JS's `stats()`, as
/// index.d.ts's `SlayerStats` declares it.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Slots read by a replica thread's answer (a batch counts each slot).
    pub hedged: u64,
    /// Reads served from one copy by the requester (threads stopped, or strategy 'direct').
    pub direct: u64,
    /// Reads served by steering (strategy 'steer').
    pub steered: u64,
    /// Reads that found every thread parked, were served directly and woke the threads.
    pub direct_while_parked: u64,
    /// Reads that got no answer in time (a thread descheduled) and were served directly.
    pub direct_after_timeout: u64,
    /// Hedged wins per replica, in slots.
    pub wins: Vec<u64>,
    /// Per-read latency, when recording was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Percentiles>,
}

/// The requester's read counters and optional latency histogram.
pub(crate) struct Recorder {
    stats: Stats,
    hist: Option<Histogram<u64>>,
}

impl Recorder {
    /// Zeroed counters for a slab of `replicas` copies; a latency histogram when `record_latency`.
    pub fn new(replicas: usize, record_latency: bool) -> Recorder {
        Recorder { stats: Stats { wins: vec![0; replicas], ..Stats::default() }, hist: record_latency.then(latency_histogram) }
    }

    /// Whether per-read latency is recorded.
    #[inline(always)]
    pub fn recording(&self) -> bool {
        self.hist.is_some()
    }

    /// Counts `n` slots answered one way (1 for a single read, the chunk length for a batch).
    #[inline(always)]
    pub fn answer(&mut self, a: Answer, n: u64) {
        match a {
            Answer::Replica(r) => {
                self.stats.hedged += n;
                self.stats.wins[r] += n;
            }
            Answer::DirectWhileParked => self.stats.direct_while_parked += n,
            Answer::DirectAfterTimeout => self.stats.direct_after_timeout += n,
            Answer::DirectAfterInconsistent => self.stats.direct += n,
        }
    }

    /// Counts `n` slots (or records) read directly by the requester.
    #[inline(always)]
    pub fn direct(&mut self, n: u64) {
        self.stats.direct += n;
    }

    /// Counts `n` slots (or records) read by steering.
    #[inline(always)]
    pub fn steered(&mut self, n: u64) {
        self.stats.steered += n;
    }

    /// Records one read's latency of `ticks` TSC ticks (nothing unless `recording`).
    #[inline(always)]
    pub fn latency(&mut self, ticks: u64) {
        if let Some(h) = &mut self.hist {
            h.saturating_record(tsc::to_ns(ticks).max(1));
        }
    }

    /// The counters now, with latency percentiles when recording.
    pub fn snapshot(&self) -> Stats {
        let mut s = self.stats.clone();
        s.latency = self.hist.as_ref().map(Percentiles::of);
        s
    }

    /// Zeroes every counter and empties the histogram.
    pub fn reset(&mut self) {
        let n = self.stats.wins.len();
        self.stats = Stats { wins: vec![0; n], ..Stats::default() };
        if let Some(h) = &mut self.hist {
            h.reset();
        }
    }
}
