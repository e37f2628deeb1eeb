//! Synthetic DRAM refresh for tests: copies whose reads stall in a window of every refresh
//! period, with phase jumps, drift, outliers and random arrival times. Seeded and deterministic.

pub(crate) use crate::rng::SplitMix64;
use crate::steer::tracker::{SteerState, Tracker, TrackerConfig};

pub(crate) struct Model {
    pub(crate) ticks_per_ns: f64,
    pub(crate) period_ns: f64,
    pub(crate) stall_ns: f64,
    /// Per copy: where its stall window starts, as a fraction of the period.
    pub(crate) group: Vec<f64>,
    /// More stall windows: (copy, start as a fraction of the period), for copies whose pages
    /// come from several refresh groups.
    pub(crate) more: Vec<(usize, f64)>,
    /// Global phase offset (ns); a jump adds to it.
    pub(crate) phase_ns: f64,
    pub(crate) drift_ns_per_s: f64,
    /// Every this many seconds of trace time the phase jumps by a random −830…+400 ns (0: never).
    pub(crate) jump_every_s: f64,
    /// Chance that a read inside a stall window is slow, and outside it.
    pub(crate) p_stall: f64,
    pub(crate) p_base: f64,
    /// Chance of a hypervisor outlier (3–10 µs).
    pub(crate) p_outlier: f64,
    pub(crate) rng: SplitMix64,
}

impl Model {
    /// The machine in FIELD-NOTES.md: two refresh groups half a period apart, 750 ns stalls,
    /// about 5.7% slow reads on one copy; the true period is 40 ppm off the nominal one.
    pub(crate) fn two_groups(seed: u64) -> Model {
        Model {
            ticks_per_ns: 2.596,
            period_ns: crate::steer::DEFAULT_PERIOD_NS * (1.0 + 4e-5),
            stall_ns: 750.0,
            group: vec![0.0, 0.5],
            more: Vec::new(),
            phase_ns: 123.0,
            drift_ns_per_s: 0.0,
            jump_every_s: 0.0,
            p_stall: 0.14,
            p_base: 0.004,
            p_outlier: 0.0,
            rng: SplitMix64::new(seed),
        }
    }

    /// The 2-vCPU EPYC host of docs/ with refresh-group placement: one line stalls every
    /// 7.81 µs, lines fall in quarter-period groups, copy 0's pages come from two neighbouring
    /// groups and copy 1's from the other two; a 1% floor of slow reads that no placement avoids.
    /// Measured there over 8 s: no jumps, the phase steady against the right period; here it also
    /// jumps once a second.
    pub(crate) fn quarter_groups(seed: u64) -> Model {
        Model {
            ticks_per_ns: 2.445,
            period_ns: 7813.3,
            stall_ns: 900.0,
            group: vec![0.0, 0.5],
            more: vec![(0, 0.25), (1, 0.75)],
            phase_ns: 2000.0,
            drift_ns_per_s: 0.0,
            jump_every_s: 1.0,
            p_stall: 0.1,
            p_base: 0.01,
            p_outlier: 0.001,
            rng: SplitMix64::new(seed),
        }
    }

    pub(crate) fn config(&self) -> TrackerConfig {
        let mut c = TrackerConfig::new(self.group.len(), self.ticks_per_ns);
        c.retry_reads = 50_000;
        c
    }

    /// The true phase of copy 0's stall window at `t` (fraction of the period, 0..1).
    pub(crate) fn true_phase(&self, t: u64) -> f64 {
        let ns = t as f64 / self.ticks_per_ns;
        ((ns - self.phase_ns - self.drift_ns_per_s * ns * 1e-9) / self.period_ns).rem_euclid(1.0)
    }

    pub(crate) fn stalling(&self, t: u64, copy: usize) -> bool {
        let inside = |start: f64| (self.true_phase(t) - start).rem_euclid(1.0) < self.stall_ns / self.period_ns;
        inside(self.group[copy]) || self.more.iter().any(|&(c, start)| c == copy && inside(start))
    }

    /// Latency in ticks of reading `copy` at `t`.
    pub(crate) fn latency(&mut self, t: u64, copy: usize) -> u64 {
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

    pub(crate) fn slow(&self, latency: u64) -> bool {
        let ns = latency as f64 / self.ticks_per_ns;
        ns > 290.0 && ns < 1000.0
    }
}

/// Drives a tracker with random arrivals, and keeps the unsteered (always copy 0) reference.
pub(crate) struct Sim {
    pub(crate) model: Model,
    /// Feed the tracker one read in this many while locked, as `SteeredReader` does (default).
    pub(crate) observe_every: u64,
    /// Reads still observed one by one after the tracker's alarm, as `SteeredReader` does.
    dense_left: u32,
    next_jump: u64,
    pub(crate) t: u64,
    pub(crate) reads: u64,
    pub(crate) steered_slow: u64,
    pub(crate) direct_slow: u64,
}

impl Sim {
    pub(crate) fn new(model: Model) -> Sim {
        Sim {
            model,
            observe_every: crate::steer::reader::LOCKED_OBSERVE_EVERY as u64,
            dense_left: 0,
            next_jump: 0,
            t: 1_000_000_000,
            reads: 0,
            steered_slow: 0,
            direct_slow: 0,
        }
    }

    /// One read: arrival gap 0–2 µs after the previous read finished.
    pub(crate) fn step(&mut self, tr: &mut Tracker) -> usize {
        if self.model.jump_every_s > 0.0 {
            let every = (self.model.jump_every_s * 1e9 * self.model.ticks_per_ns) as u64;
            if self.next_jump == 0 {
                self.next_jump = self.t + every;
            } else if self.t >= self.next_jump {
                self.model.phase_ns += -830.0 + 1230.0 * self.model.rng.next_f64();
                self.next_jump += every;
            }
        }
        let dense = self.dense_left > 0;
        self.dense_left = self.dense_left.saturating_sub(1);
        let observed = dense || tr.state() != SteerState::Locked || self.reads % self.observe_every.max(1) == 0;
        let c = if observed { tr.choose_observed(self.t) } else { tr.choose(self.t) };
        let lat = self.model.latency(self.t, c);
        if observed {
            tr.observe(self.t, c, lat);
            if tr.take_alarm() {
                self.dense_left = tr.block_reads();
            }
        }
        let direct = self.model.latency(self.t, 0);
        self.reads += 1;
        self.steered_slow += self.model.slow(lat) as u64;
        self.direct_slow += self.model.slow(direct) as u64;
        let gap_ns = 2000.0 * self.model.rng.next_f64();
        self.t += lat + (gap_ns * self.model.ticks_per_ns) as u64;
        c
    }

    pub(crate) fn run(&mut self, tr: &mut Tracker, n: u64) {
        for _ in 0..n {
            self.step(tr);
        }
    }

    pub(crate) fn reset_counts(&mut self) {
        self.reads = 0;
        self.steered_slow = 0;
        self.direct_slow = 0;
    }

    /// Runs until the tracker leaves calibration; returns the reads it took (None if > limit).
    pub(crate) fn until_settled(&mut self, tr: &mut Tracker, limit: u64) -> Option<u64> {
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
pub(crate) fn locked_tracker(model: &Model, ticks_per_ns: f64) -> Tracker {
    let m = Model { rng: SplitMix64::new(98), group: model.group.clone(), more: model.more.clone(), ticks_per_ns, ..*model };
    let mut tr = Tracker::new(m.config()).unwrap();
    Sim::new(m).until_settled(&mut tr, 1 << 20);
    tr
}
