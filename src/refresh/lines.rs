//! Timing lines: the sequential test that reads lines in sessions, beside one reference line,
//! until each line's stall is clear or it is given up on, and the `Timer` interface placement
//! learns through.
//!
//! Where the reads come from is a `Sessions` source: the hardware (`placement::learn`) or a
//! synthetic host (`hosts`), so the same stopping rule and estimate are tested on every host seen.
//! Owns no memory and reads no clock itself.

use super::evidence::{add_session, Evidence, SessionOptions};
use super::stall::Stall;
use crate::probe::spikes::Sample;

/// Something that times lines: the stall (phase relative to one fixed reference line, width,
/// confidence) of each line at the given byte offsets into a pool, None where it stayed unclear.
pub trait Timer {
    fn stalls(&mut self, offsets: &[usize]) -> Vec<Option<Stall>>;

    /// Just the phases (cycles, relative to the reference line) of `stalls`.
    fn phases(&mut self, offsets: &[usize]) -> Vec<Option<f64>> {
        self.stalls(offsets).into_iter().map(|s| s.map(|s| s.phase)).collect()
    }

    /// Whether the time allowed for learning is spent (stalls may still be asked for; a timer may
    /// then answer None without reading).
    fn out_of_time(&self) -> bool {
        false
    }
}

/// A source of timed reads.
pub trait Sessions {
    /// One session: reads of the reference line and of the lines at `offsets`, interleaved at
    /// random instants; one trace each, the reference's first.
    fn session(&mut self, offsets: &[usize]) -> Vec<Vec<Sample>>;
    fn out_of_time(&self) -> bool;
}

/// How lines are timed.
#[derive(Clone, Debug, PartialEq)]
pub struct TimerOptions {
    /// Lines read in one session (with the reference).
    pub session_lines: usize,
    pub session: std::time::Duration,
    /// Sessions a line may get before it is left unclear.
    pub max_sessions: u8,
    /// Evidence score a line needs before its stall is trusted (`Evidence::score`; the chance of
    /// a line with no phase reaching it is e^{−score}).
    pub min_score: f64,
}

impl Default for TimerOptions {
    fn default() -> Self {
        // 10 ms sessions: every line gets ~550 reads (host A). 2 ms sessions halve the time per
        // line, but on host A they left a few percent of paired frames in the wrong group (the
        // copy check failed 15 of 18 on a 128 MiB slab), so they are not the default.
        TimerOptions { session_lines: 63, session: std::time::Duration::from_millis(10), max_sessions: 8, min_score: 6.0 }
    }
}

impl TimerOptions {
    /// The options for a refresh period of `period_ns`: a line shows stalls in proportion to
    /// 1 / period, so the session cap grows with the period (from 8 at 1.95 µs: with 8, almost no
    /// line became clear on a 7.8 µs period).
    pub fn for_period(&self, period_ns: f64) -> TimerOptions {
        let scale = (period_ns / SHORTEST_PERIOD_NS).clamp(1.0, 8.0);
        TimerOptions { max_sessions: (self.max_sessions as f64 * scale).ceil().min(u8::MAX as f64) as u8, ..self.clone() }
    }
}

/// The shortest refresh period seen (DDR5 fine-granularity refresh), that `max_sessions` is for.
const SHORTEST_PERIOD_NS: f64 = 1950.8;

/// A `Timer` over a source of sessions: a line stays in the working set (`session_lines` at a
/// time, in order) until its evidence scores `min_score` or it has had `max_sessions` sessions.
pub struct SessionTimer<S: Sessions> {
    pub source: S,
    pub so: SessionOptions,
    pub o: TimerOptions,
    /// Timed reads so far, and sessions.
    pub reads: u64,
    pub sessions: usize,
}

impl<S: Sessions> SessionTimer<S> {
    pub fn new(source: S, so: SessionOptions, o: TimerOptions) -> SessionTimer<S> {
        SessionTimer { source, so, o, reads: 0, sessions: 0 }
    }
}

impl<S: Sessions> Timer for SessionTimer<S> {
    fn out_of_time(&self) -> bool {
        self.source.out_of_time()
    }

    fn stalls(&mut self, offsets: &[usize]) -> Vec<Option<Stall>> {
        let n = offsets.len();
        let mut evidence = vec![Evidence::default(); n];
        let mut visits = vec![0u8; n];
        let per = self.o.session_lines.max(1);
        let mut next = 0usize;
        loop {
            let mut chunk = Vec::with_capacity(per);
            let mut k = next;
            while chunk.len() < per && k < n {
                if visits[k] < self.o.max_sessions && evidence[k].score() < self.o.min_score {
                    chunk.push(k);
                } else if chunk.is_empty() {
                    next = k + 1;
                }
                k += 1;
            }
            if chunk.is_empty() || self.source.out_of_time() {
                break;
            }
            let offs: Vec<usize> = chunk.iter().map(|&k| offsets[k]).collect();
            let traces = self.source.session(&offs);
            self.reads += traces.iter().map(|t| t.len() as u64).sum::<u64>();
            self.sessions += 1;
            let mut ev: Vec<Evidence> = chunk.iter().map(|&k| evidence[k]).collect();
            add_session(&traces, &mut ev, &self.so);
            for (&k, e) in chunk.iter().zip(ev) {
                evidence[k] = e;
                visits[k] += 1;
            }
        }
        evidence.iter().map(|e| e.stall(self.o.min_score)).collect()
    }
}
