//! Timing lines: the sequential test that reads lines in sessions, beside one reference line,
//! until each line's stall is clear or it is given up on, and the `Timer` interface placement
//! learns through.
//!
//! Where the reads come from is a `Sessions` source: the hardware (`placement::learn`) or a
//! synthetic host (`hosts`), so the same stopping rule and estimate are tested on every host seen.
//! Owns no memory and reads no clock itself.

use super::evidence::{add_session, Evidence, SessionOptions};
use super::stall::Stall;
use crate::refresh::spikes::Sample;

/// Something that times lines: the stall (phase relative to one fixed reference line, width,
/// confidence) of each line at the given byte offsets into a pool, None where it stayed unclear.
pub(crate) trait Timer {
    fn stalls(&mut self, offsets: &[usize]) -> Vec<Option<Stall>>;

    /// Just the phases (cycles, relative to the reference line) of `stalls`.
    fn phases(&mut self, offsets: &[usize]) -> Vec<Option<f64>> {
        self.stalls(offsets).into_iter().map(|s| s.map(|s| s.phase)).collect()
    }

    /// Lines one session reads side by side, when the timer works in sessions: a caller that
    /// hands it lines in batches makes each batch a few sessions' worth, so that sessions stay
    /// full while lines clear and drop out (`SessionTimer::stalls` refills from the batch).
    fn session_lines(&self) -> Option<usize> {
        None
    }

    /// Whether the time allowed for learning is spent (stalls may still be asked for; a timer may
    /// then answer None without reading).
    fn out_of_time(&self) -> bool {
        false
    }

    /// `Err(Error::Cancelled)` once the job this timer's work counts toward is cancelled (a
    /// cancelled timer is out of time and answers None: its callers check this before deciding
    /// anything from what it answered).
    fn check(&self) -> crate::error::Result<()> {
        Ok(())
    }
}

/// A source of timed reads.
pub(crate) trait Sessions {
    /// One session: reads of the reference line and of the lines at `offsets`, interleaved at
    /// random instants; one trace each, the reference's first.
    fn session(&mut self, offsets: &[usize]) -> Vec<Vec<Sample>>;
    fn out_of_time(&self) -> bool;
}

/// How lines are timed.
#[derive(Clone, Debug, PartialEq)]
pub struct TimerOptions {
    /// Lines read in one session (with the reference).
    pub(crate) session_lines: usize,
    /// How long one session reads its lines.
    pub session: std::time::Duration,
    /// Most sessions a line may get before it is left unclear, whatever the lines before it
    /// needed (see `SessionTimer`).
    pub(crate) max_sessions: u8,
    /// Evidence score a line needs before its stall is trusted (`Evidence::score`; the chance of
    /// a line with no phase reaching it is e^{−score}).
    pub min_score: f64,
}

impl Default for TimerOptions {
    fn default() -> Self {
        // 10 ms sessions give every line ~550 reads. 2 ms sessions halve the time per line, but
        // left a few percent of paired frames in the wrong group in a measured placement (the copy
        // check failed 15 of 18 on a 128 MiB slab), so they are not the default (docs/refresh.md).
        TimerOptions { session_lines: 63, session: std::time::Duration::from_millis(10), max_sessions: 48, min_score: 6.0 }
    }
}

/// Lines that must have become clear before their sessions set the cap for the rest.
const CLEAR_LINES_TO_LEARN_FROM: usize = 8;

/// A `Timer` over a source of sessions, and the sequential test it runs: a line stays in the
/// working set (`session_lines` at a time, in order) until its evidence scores what `needed`
/// asks after that many looks (its stall is clear) or it has had as many sessions as this machine shows a line needs, and then
/// some: twice the sessions that 90% of the lines already clear needed (at least 2), learned as
/// the timer goes, so a long refresh period or a weak signal gets more sessions per line and a
/// strong one fewer, with no period or host in the rule. Until `CLEAR_LINES_TO_LEARN_FROM`
/// lines are clear, and never beyond, the cap is `max_sessions`.
pub(crate) struct SessionTimer<S: Sessions> {
    pub(crate) source: S,
    pub(crate) so: SessionOptions,
    pub(crate) o: TimerOptions,
    /// Timed reads so far, and sessions.
    pub(crate) reads: u64,
    pub(crate) sessions: usize,
    /// How many lines became clear after k + 1 sessions (k < max_sessions).
    cleared_after: Vec<u32>,
    /// The job phase the sessions count toward: ticked after every session; once its job is
    /// cancelled no session starts (lines left unclear; the caller checks the job).
    pub(crate) meter: crate::job::Meter,
}

impl<S: Sessions> SessionTimer<S> {
    pub(crate) fn new(source: S, so: SessionOptions, o: TimerOptions) -> SessionTimer<S> {
        let cleared_after = vec![0; o.max_sessions.max(1) as usize];
        SessionTimer { source, so, o, reads: 0, sessions: 0, cleared_after, meter: Default::default() }
    }

    /// This timer, its sessions counting toward `meter` (see the field).
    pub(crate) fn metered(mut self, meter: crate::job::Meter) -> SessionTimer<S> {
        self.meter = meter;
        self
    }

    /// Score a line needs after `looks` sessions: `min_score` plus ln(looks). A line with no
    /// phase passes one look with chance e^{−score}; looking again after every session would
    /// add those chances up (a flat host's lines came out "clear" within 48 sessions), so the
    /// bar rises with the looks and the chance over all of them stays under e^{−min_score}.
    pub(crate) fn needed(&self, looks: u8) -> f64 {
        self.o.min_score + (looks.max(1) as f64).ln()
    }

    /// Sessions a line gets before it is left unclear (see the type's docs).
    pub(crate) fn session_cap(&self) -> u8 {
        let clear: u32 = self.cleared_after.iter().sum();
        if (clear as usize) < CLEAR_LINES_TO_LEARN_FROM {
            return self.o.max_sessions;
        }
        let mut seen = 0u32;
        let p90 = self.cleared_after.iter().position(|&n| {
            seen += n;
            seen * 10 >= clear * 9
        });
        let p90 = p90.map_or(self.o.max_sessions as usize, |k| k + 1);
        (2 * p90).clamp(2, self.o.max_sessions.max(2) as usize) as u8
    }
}

impl<S: Sessions> Timer for SessionTimer<S> {
    fn session_lines(&self) -> Option<usize> {
        Some(self.o.session_lines.max(1))
    }

    fn out_of_time(&self) -> bool {
        self.source.out_of_time() || self.meter.job().is_cancelled()
    }

    fn check(&self) -> crate::error::Result<()> {
        self.meter.job().check()
    }

    fn stalls(&mut self, offsets: &[usize]) -> Vec<Option<Stall>> {
        let n = offsets.len();
        let mut evidence = vec![Evidence::default(); n];
        let mut visits = vec![0u8; n];
        let per = self.o.session_lines.max(1);
        let mut next = 0usize;
        loop {
            let cap = self.session_cap();
            let mut chunk = Vec::with_capacity(per);
            let mut k = next;
            while chunk.len() < per && k < n {
                if visits[k] < cap && evidence[k].score() < self.needed(visits[k]) {
                    chunk.push(k);
                } else if chunk.is_empty() {
                    next = k + 1;
                }
                k += 1;
            }
            // A session is ~10 ms: the job hears of progress, and is heard from, that often.
            if chunk.is_empty() || self.source.out_of_time() || !self.meter.tick() {
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
                if e.score() >= self.needed(visits[k]) {
                    if let Some(c) = self.cleared_after.get_mut(visits[k] as usize - 1) {
                        *c += 1;
                    }
                }
            }
        }
        evidence.iter().zip(&visits).map(|(e, &v)| e.stall(self.needed(v))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::hosts::{timer, HostKind};

    #[test]
    fn the_session_cap_follows_what_lines_needed_on_each_host() {
        // A strong signal on a 1.95 µs period (host C) clears lines in a session or two; a
        // 7.8 µs period (host B) needs more; the cap follows, with no period in the rule.
        let lines: Vec<usize> = (0..126).map(|k| k * 4096 + 64 * (k % 60)).collect();
        let mut strong = timer(HostKind::C, 1);
        let a = strong.stalls(&lines).iter().flatten().count();
        let mut slow = timer(HostKind::B, 1);
        let b = slow.stalls(&lines).iter().flatten().count();
        assert!(a >= 120 && b >= 110, "clear: {a} and {b} of 126");
        let (ca, cb) = (strong.session_cap(), slow.session_cap());
        assert!(ca >= 2 && ca < cb, "caps {ca} and {cb}");
        assert!(cb < TimerOptions::default().max_sessions, "{cb}");
    }

    #[test]
    fn a_host_with_no_stalls_gives_up_at_the_ceiling_and_within_the_deadline() {
        let lines: Vec<usize> = (0..20).map(|k| k * 4096).collect();
        let mut t = timer(HostKind::Flat, 2);
        assert!(t.stalls(&lines).iter().all(Option::is_none));
        assert_eq!(t.session_cap(), t.o.max_sessions, "nothing learned: the ceiling");
        assert_eq!(t.sessions, t.o.max_sessions as usize, "one chunk, every session the ceiling allows");
        // Out of time: no more sessions at all.
        let mut t = timer(HostKind::Flat, 3);
        t.source.deadline_ns = 0;
        assert!(t.stalls(&lines).iter().all(Option::is_none));
        assert_eq!(t.sessions, 0);
    }
}
