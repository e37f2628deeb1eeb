//! Synthetic copies of every host the team has seen, for tests: a DRAM whose lines stall in a
//! window of every refresh period, at phases that address bits move as they did on each host,
//! read through VM noise, phase jumps and drift. Seeded and deterministic. It serves reads
//! (`Sessions`), so tests run the real estimator and stopping rule on it.
//!
//! The hosts (shared/FIELD-NOTES.md; names of hosts live only here):
//! - A: 1.95 µs; address bit 6 moves a line half a period, which side is which flips per frame;
//!   stalls are bursts 0.38 of a period wide; phase jumps once a second.
//! - B: 7.81 µs; nothing below 4 KiB moves a line; whole frames in four quarter-period groups,
//!   by a period-12 pattern shifted per 2 MiB page; a weak signal (a line needs several
//!   sessions to show its phase).
//! - C: 1.955 µs; bit 10 moves a line half a period (flipping per frame); bits above 12 move a
//!   frame by eighths: eight clusters; a strong signal.
//! - D: 1.95 µs; phases spread over the whole period: every frame has its own phase, bit 6 moves
//!   a line 0.25–0.43 of a period, bits 8–10 by 0.05–0.45, bit 7 never; windows 0.05–0.2 wide.
//! - AWide: host A as it read on 2026-12-07: the same structure, but reads spread widely (a
//!   quarter of them up to 150 ns slower, a tail to ~340 ns) and stalls of only +80–160 ns, so
//!   most stalled reads sit inside the tail, not above it.
//! - Flat: no refresh stalls to see at all (only VM noise).
//! - Together: every line stalls at the same phase: nothing to place copies by.

use super::evidence::SessionOptions;
use super::lines::Sessions;
use super::phase::wrap;
use crate::refresh::spikes::Sample;
use crate::rng::SplitMix64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostKind {
    A,
    AWide,
    B,
    C,
    D,
    Flat,
    Together,
}

impl HostKind {
    /// The hosts with a structure copies can be placed by.
    pub(crate) const PLACEABLE: [HostKind; 5] = [HostKind::A, HostKind::AWide, HostKind::B, HostKind::C, HostKind::D];
}

/// Where a line stalls, before the common phase (which jumps and drifts) is added.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LineTruth {
    /// Centre of the window, cycles.
    pub(crate) phase: f64,
    /// Width of the window, cycles.
    pub(crate) width: f64,
}

pub(crate) struct Host {
    pub(crate) kind: HostKind,
    pub(crate) period_ns: f64,
    pub(crate) typical_ns: u32,
    /// Chance that a read inside the window stalls, and the excess it then takes (ns, ± a third).
    pub(crate) p_stall: f64,
    pub(crate) stall_ns: f64,
    /// Chance of a slow read anywhere (a neighbour), and of a hypervisor pause (10–50 µs).
    pub(crate) p_noise: f64,
    /// Chance that an ordinary read is spread into the tail, and how far (up to, ns).
    pub(crate) p_tail: f64,
    pub(crate) tail_ns: f64,
    pub(crate) p_outlier: f64,
    /// Every this many ns the common phase jumps by −830…+400 ns (0: never); drift (ns per s).
    pub(crate) jump_every_ns: u64,
    pub(crate) drift_ns_per_s: f64,
    /// The reference line every phase is measured against (a page of its own).
    pub(crate) reference: usize,
    /// Simulated time (ns) and where the next session starts; sessions' length.
    pub(crate) now_ns: u64,
    pub(crate) session_ns: u64,
    /// Simulated time after which the source is out of time (u64::MAX: never).
    pub(crate) deadline_ns: u64,
    seed: u64,
    rng: SplitMix64,
    jumps: Vec<(u64, f64)>,
}

/// A fixed pseudo-random value in [0, 1) of (seed, key).
fn unit(seed: u64, key: u64) -> f64 {
    SplitMix64::new(seed ^ key.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_f64()
}

const FRAME: usize = 4096;

impl Host {
    pub(crate) fn new(kind: HostKind, seed: u64) -> Host {
        let (period_ns, p_stall, stall_ns) = match kind {
            HostKind::A => (1950.8, 0.14, 200.0),
            HostKind::AWide => (1950.8, 0.14, 120.0),
            HostKind::B => (7813.3, 0.08, 180.0),
            HostKind::C => (1954.8, 0.5, 220.0),
            HostKind::D => (1950.0, 0.3, 180.0),
            HostKind::Flat => (1950.0, 0.0, 0.0),
            HostKind::Together => (1950.0, 0.3, 200.0),
        };
        Host {
            kind,
            period_ns,
            typical_ns: 150,
            p_stall,
            stall_ns,
            p_noise: 0.003,
            p_tail: if kind == HostKind::AWide { 0.25 } else { 0.0 },
            tail_ns: 150.0,
            p_outlier: 1e-4,
            jump_every_ns: if kind == HostKind::B { 0 } else { 1_000_000_000 },
            drift_ns_per_s: 40.0,
            reference: 1 << 40,
            now_ns: 0,
            session_ns: 10_000_000,
            deadline_ns: u64::MAX,
            seed,
            rng: SplitMix64::new(seed),
            jumps: Vec::new(),
        }
    }

    /// Where the line at byte offset `x` stalls (None: it shows no refresh stall).
    pub(crate) fn truth(&self, x: usize) -> Option<LineTruth> {
        let f = (x / FRAME) as u64;
        let bit = |b: u32| (x >> b) & 1 == 1;
        let flip = |salt: u64| unit(self.seed ^ salt, f) < 0.5;
        let s = self.seed;
        let (phase, width) = match self.kind {
            HostKind::Flat => return None,
            HostKind::Together => (0.3, 0.1),
            HostKind::A | HostKind::AWide => {
                let side = bit(6) ^ flip(0xA);
                (0.5 * side as u8 as f64 + 0.02 * (unit(s, x as u64) - 0.5), 0.38)
            }
            HostKind::B => {
                const PATTERN: [usize; 12] = [0, 1, 2, 3, 1, 2, 3, 0, 2, 3, 0, 1];
                let (frame, page) = (f as usize % 512, f as usize / 512);
                (0.25 * PATTERN[(frame + page * 5) % 12] as f64 + 0.02 * (unit(s, f) - 0.5), 0.115)
            }
            HostKind::C => {
                let eighth = (unit(s ^ 0xC, f) * 4.0) as u8 as f64 / 8.0;
                let side = bit(10) ^ flip(0xC1);
                (eighth + 0.5 * side as u8 as f64 + 0.01 * (unit(s, x as u64) - 0.5), 0.12)
            }
            HostKind::D => {
                let mut p = unit(s ^ 0xD, f);
                // Bit 6: 0.25–0.43 of a period, its sign per frame; bits 8–10: 0.05–0.45 each.
                if bit(6) {
                    let m = 0.25 + 0.18 * unit(s ^ 0xD6, f);
                    p += if flip(0xD7) { m } else { -m };
                }
                for b in 8..=10u32 {
                    if bit(b) {
                        p += 0.05 + 0.4 * unit(s ^ (0xD0 + b as u64), f);
                    }
                }
                (p + 0.01 * (unit(s, x as u64) - 0.5), 0.05 + 0.15 * unit(s ^ 0xDD, x as u64 >> 6))
            }
        };
        Some(LineTruth { phase: wrap(phase), width })
    }

    /// The line's phase relative to the reference line's (what timing can see).
    pub(crate) fn relative_phase(&self, x: usize) -> Option<f64> {
        Some(wrap(self.truth(x)?.phase - self.truth(self.reference)?.phase))
    }

    /// What the estimator must be told: the period and typical latency (as measured first on the
    /// real machine).
    pub(crate) fn session_options(&self) -> SessionOptions {
        SessionOptions {
            period_ns: self.period_ns,
            subwindow_ns: 1_000_000,
            typical_ns: self.typical_ns + 20,
            outlier_ns: 3_000,
            max_excess_ns: 600,
        }
    }

    /// Sessions a line needs on this host before its phase is clear, with room (a longer period
    /// shows fewer stalls per read).
    pub(crate) fn sessions_for_clarity(&self) -> u64 {
        (8.0 * (self.period_ns / 1950.0)).ceil() as u64
    }

    /// The common phase (ns) at `t`: drift plus every jump so far.
    fn common_ns(&mut self, t: u64) -> f64 {
        if let Some(due) = t.checked_div(self.jump_every_ns) {
            while (self.jumps.len() as u64) < due {
                let at = (self.jumps.len() as u64 + 1) * self.jump_every_ns;
                let by = -830.0 + 1230.0 * unit(self.seed ^ 0x1A, at);
                self.jumps.push((at, by));
            }
        }
        self.drift_ns_per_s * t as f64 * 1e-9 + self.jumps.iter().filter(|j| j.0 <= t).map(|j| j.1).sum::<f64>()
    }

    /// One read of the line at `x` at time `t` (ns).
    pub(crate) fn latency(&mut self, x: usize, t: u64) -> u32 {
        let mut lat = self.typical_ns as f64 + 40.0 * self.rng.next_f64();
        if self.rng.next_f64() < self.p_outlier {
            return (10_000.0 + 40_000.0 * self.rng.next_f64()) as u32;
        }
        if self.rng.next_f64() < self.p_noise {
            lat += 150.0 + 150.0 * self.rng.next_f64();
        }
        if self.p_tail > 0.0 && self.rng.next_f64() < self.p_tail {
            lat += self.tail_ns * self.rng.next_f64();
        }
        if let Some(l) = self.truth(x) {
            let at = wrap((t as f64 + self.common_ns(t)) / self.period_ns - l.phase + l.width / 2.0);
            if at < l.width && self.rng.next_f64() < self.p_stall {
                lat += self.stall_ns * (2.0 / 3.0 + 2.0 / 3.0 * self.rng.next_f64());
            }
        }
        lat as u32
    }

    /// One session of `dur_ns` from `start_ns`: the reference and `lines` read in random order
    /// (the reference one read in eight, as the hardware session does), one read every ~280 ns.
    pub(crate) fn session(&mut self, reference: usize, lines: &[usize], start_ns: u64, dur_ns: u64) -> Vec<Vec<Sample>> {
        let mut tr = vec![Vec::new(); lines.len() + 1];
        if lines.is_empty() {
            return tr;
        }
        let mut t = start_ns;
        while t < start_ns + dur_ns {
            let k = if self.rng.below(8) == 0 { 0 } else { 1 + self.rng.below(lines.len() as u64) as usize };
            let x = if k == 0 { reference } else { lines[k - 1] };
            let latency_ns = self.latency(x, t);
            tr[k].push(Sample { t_ns: t, latency_ns });
            t += 250 + self.rng.below(60) + latency_ns.min(2_000) as u64 / 8;
        }
        tr
    }
}

impl Sessions for Host {
    fn session(&mut self, offsets: &[usize]) -> Vec<Vec<Sample>> {
        let start = self.now_ns;
        // Sessions follow each other with a gap, as they do between the hardware's batches.
        self.now_ns += self.session_ns + 3_000_000;
        let reference = self.reference;
        Host::session(self, reference, offsets, start, self.session_ns)
    }

    fn out_of_time(&self) -> bool {
        self.now_ns >= self.deadline_ns
    }
}

/// A timer over a synthetic host, with the hardware timer's defaults for its period.
pub(crate) fn timer(kind: HostKind, seed: u64) -> super::lines::SessionTimer<Host> {
    let host = Host::new(kind, seed);
    let so = host.session_options();
    let o = super::lines::TimerOptions::default();
    super::lines::SessionTimer::new(host, so, o)
}
