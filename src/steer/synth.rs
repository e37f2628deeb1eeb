//! Synthetic DRAM refresh for tests: copies whose reads stall in a window of every refresh
//! period, with phase jumps, drift, outliers and random arrival times. Seeded and deterministic.

pub use crate::rng::SplitMix64;
use crate::steer::tracker::{SteerState, Tracker, TrackerConfig};

pub struct Model {
    pub ticks_per_ns: f64,
    pub period_ns: f64,
    pub stall_ns: f64,
    /// Per copy: where its stall window starts, as a fraction of the period.
    pub group: Vec<f64>,
    /// Global phase offset (ns); a jump adds to it.
    pub phase_ns: f64,
    pub drift_ns_per_s: f64,
    /// Chance that a read inside a stall window is slow, and outside it.
    pub p_stall: f64,
    pub p_base: f64,
    /// Chance of a hypervisor outlier (3–10 µs).
    pub p_outlier: f64,
    pub rng: SplitMix64,
}

impl Model {
    /// The machine in FIELD-NOTES.md: two refresh groups half a period apart, 750 ns stalls,
    /// about 5.7% slow reads on one copy; the true period is 40 ppm off the nominal one.
    pub fn two_groups(seed: u64) -> Model {
        Model {
            ticks_per_ns: 2.596,
            period_ns: crate::steer::DEFAULT_PERIOD_NS * (1.0 + 4e-5),
            stall_ns: 750.0,
            group: vec![0.0, 0.5],
            phase_ns: 123.0,
            drift_ns_per_s: 0.0,
            p_stall: 0.14,
            p_base: 0.004,
            p_outlier: 0.0,
            rng: SplitMix64::new(seed),
        }
    }

    pub fn config(&self) -> TrackerConfig {
        let mut c = TrackerConfig::new(self.group.len(), self.ticks_per_ns);
        c.retry_reads = 50_000;
        c
    }

    /// The true phase of copy 0's stall window at `t` (fraction of the period, 0..1).
    pub fn true_phase(&self, t: u64) -> f64 {
        let ns = t as f64 / self.ticks_per_ns;
        ((ns - self.phase_ns - self.drift_ns_per_s * ns * 1e-9) / self.period_ns).rem_euclid(1.0)
    }

    pub fn stalling(&self, t: u64, copy: usize) -> bool {
        let ph = (self.true_phase(t) - self.group[copy]).rem_euclid(1.0);
        ph < self.stall_ns / self.period_ns
    }

    /// Latency in ticks of reading `copy` at `t`.
    pub fn latency(&mut self, t: u64, copy: usize) -> u64 {
        let u = self.rng.next_f64();
        let ns = if self.rng.next_f64() < self.p_outlier {
            3000.0 + 7000.0 * u
        } else {
            let p = if self.stalling(t, copy) { self.p_stall } else { self.p_base };
            let slow = self.rng.next_f64() < p;
            150.0 + 50.0 * u + if slow { 150.0 + 100.0 * self.rng.next_f64() } else { 0.0 }
        };
        (ns * self.ticks_per_ns) as u64
    }

    pub fn slow(&self, latency: u64) -> bool {
        let ns = latency as f64 / self.ticks_per_ns;
        ns > 290.0 && ns < 1000.0
    }
}

/// Drives a tracker with random arrivals, and keeps the unsteered (always copy 0) reference.
pub struct Sim {
    pub model: Model,
    pub t: u64,
    pub reads: u64,
    pub steered_slow: u64,
    pub direct_slow: u64,
}

impl Sim {
    pub fn new(model: Model) -> Sim {
        Sim { model, t: 1_000_000_000, reads: 0, steered_slow: 0, direct_slow: 0 }
    }

    /// One read: arrival gap 0–2 µs after the previous read finished.
    pub fn step(&mut self, tr: &mut Tracker) -> usize {
        let c = tr.choose(self.t);
        let lat = self.model.latency(self.t, c);
        tr.observe(self.t, c, lat);
        let direct = self.model.latency(self.t, 0);
        self.reads += 1;
        self.steered_slow += self.model.slow(lat) as u64;
        self.direct_slow += self.model.slow(direct) as u64;
        let gap_ns = 2000.0 * self.model.rng.next_f64();
        self.t += lat + (gap_ns * self.model.ticks_per_ns) as u64;
        c
    }

    pub fn run(&mut self, tr: &mut Tracker, n: u64) {
        for _ in 0..n {
            self.step(tr);
        }
    }

    pub fn reset_counts(&mut self) {
        self.reads = 0;
        self.steered_slow = 0;
        self.direct_slow = 0;
    }

    /// Runs until the tracker leaves calibration; returns the reads it took (None if > limit).
    pub fn until_settled(&mut self, tr: &mut Tracker, limit: u64) -> Option<u64> {
        for k in 0..limit {
            if tr.state() != SteerState::Calibrating {
                return Some(k);
            }
            self.step(tr);
        }
        None
    }
}

/// A tracker locked on `model`'s trace, with its clock rate set to `ticks_per_ns`.
pub fn locked_tracker(model: &Model, ticks_per_ns: f64) -> Tracker {
    let m = Model { rng: SplitMix64::new(98), group: model.group.clone(), ticks_per_ns, ..*model };
    let mut tr = Tracker::new(m.config()).unwrap();
    Sim::new(m).until_settled(&mut tr, 1 << 20);
    tr
}
