//! A line's stall evidence, in the frame of one reference line: what timed reads of a line say
//! about where in the refresh period it stalls, how wide its stall window is, and how sure that is.
//!
//! How: every line is read (flushed) at random instants, interleaved with one reference line, in
//! short sub-windows. A read's excess latency w (over the typical read) is placed at its phase
//! t/P, rotated by the reference's own phase in the same sub-window, which cancels the common
//! refresh phase (it has been seen to jump once a second). Summed over sub-windows and sessions:
//! - the phasor Σ w·e^{2πiθ} points at the line's phase, and |Σ|² / Σ w² is a Rayleigh-style
//!   score (≈ 1 on noise; under no phase it is exponentially distributed, so 1 − e^{−score} is the
//!   confidence that the phase is real);
//! - a histogram of w over θ shows the stall window's shape: its width is the arc above half way
//!   from the noise floor to the peak.
//!
//! Pure arithmetic on samples: no clock, no memory. Never on a read path.

use std::f64::consts::TAU;

use super::phase::{angle_cycles, wrap};
use super::stall::Stall;
use crate::refresh::spikes::Sample;

/// Bins of the phase histogram of excess latency.
pub(crate) const HIST_BINS: usize = 32;

/// A line's phase evidence, in the reference line's frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Evidence {
    re: f64,
    im: f64,
    /// Σ w² of every read that went into `re`/`im` (the noise scale).
    w2: f64,
    /// Σ w by rotated phase bin.
    hist: [f32; HIST_BINS],
    pub(crate) reads: u32,
}

impl Evidence {
    /// |Σ rotated phasors|² / Σ w²: about 1 when the line's stalls have no phase, growing with
    /// the number of stalls when they do.
    pub(crate) fn score(&self) -> f64 {
        if self.w2 <= 0.0 {
            0.0
        } else {
            (self.re * self.re + self.im * self.im) / self.w2
        }
    }

    /// Phase of the line's stalls relative to the reference line, in cycles [0, 1).
    pub(crate) fn phase(&self) -> f64 {
        angle_cycles(self.re, self.im)
    }

    /// Chance that a line with no stall phase scores this high or higher is e^{−score} (the
    /// Rayleigh test); this is one minus that.
    pub(crate) fn confidence(&self) -> f64 {
        1.0 - (-self.score()).exp()
    }

    /// Width of the stall window (cycles): the arc around the phase where the histogram of excess
    /// latency (smoothed over three bins) stays above half way from its floor (the median bin:
    /// reads that did not stall land everywhere) to its peak. At least one bin; at most the whole
    /// period. 0 when no read was slow.
    pub(crate) fn width(&self) -> f64 {
        let h = &self.hist;
        let n = HIST_BINS;
        let s: Vec<f32> = (0..n).map(|b| (h[(b + n - 1) % n] + 2.0 * h[b] + h[(b + 1) % n]) / 4.0).collect();
        let mut sorted = s.clone();
        sorted.sort_by(f32::total_cmp);
        let floor = sorted[n / 2];
        let peak = sorted[n - 1];
        if peak <= floor {
            return if peak > 0.0 { 1.0 } else { 0.0 };
        }
        let half = floor + (peak - floor) / 2.0;
        // Grow from the bin of the phase while the smoothed histogram stays above half.
        let centre = ((self.phase() * n as f64) as usize).min(n - 1);
        let top = (0..n).map(|d| (centre + d) % n).take_while(|&b| s[b] >= half).count();
        if top == n {
            return 1.0;
        }
        let below = (1..n).map(|d| (centre + n - d) % n).take_while(|&b| s[b] >= half).count();
        ((top + below).max(1) as f64 / n as f64).min(1.0)
    }

    /// The line's stall, when its score reaches `min_score`.
    pub(crate) fn stall(&self, min_score: f64) -> Option<Stall> {
        (self.score() >= min_score).then(|| Stall { phase: self.phase(), width: self.width(), confidence: self.confidence() })
    }
}

/// How one session's reads are turned into evidence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SessionOptions {
    pub(crate) period_ns: f64,
    /// Sub-window in which the common phase is taken as fixed (≪ 1 s between jumps).
    pub(crate) subwindow_ns: u64,
    /// Typical (unstalled) latency; excess is measured from here.
    pub(crate) typical_ns: u32,
    /// Reads this slow or slower are hypervisor pauses and are skipped.
    pub(crate) outlier_ns: u32,
    /// Excess latency is clipped to this.
    pub(crate) max_excess_ns: u32,
}

impl SessionOptions {
    /// The excess weight of a read, None when it does not count (an outlier, or not slower than
    /// typical).
    fn weight(&self, s: &Sample) -> Option<f64> {
        if s.latency_ns >= self.outlier_ns {
            return None;
        }
        let w = s.latency_ns.saturating_sub(self.typical_ns).min(self.max_excess_ns);
        (w > 0).then_some(w as f64)
    }
}

/// Adds one session to the evidence: `traces[0]` is the reference line, `traces[k]` (k ≥ 1) the
/// line whose evidence is `evidence[k - 1]`. Sessions may be added in any order and from any span
/// of time; only the reference-relative phase accumulates.
pub(crate) fn add_session(traces: &[Vec<Sample>], evidence: &mut [Evidence], o: &SessionOptions) {
    if traces.len() < 2 || !(o.period_ns.is_finite() && o.period_ns > 0.0) {
        return;
    }
    let t0 = traces.iter().flatten().map(|s| s.t_ns).min().unwrap_or(0);
    let t1 = traces.iter().flatten().map(|s| s.t_ns).max().unwrap_or(0);
    let sub = o.subwindow_ns.max(1);
    let windows = ((t1 - t0) / sub) as usize + 1;
    let inv = 1.0 / o.period_ns;
    let frac = |t: u64| {
        let x = t as f64 * inv;
        x - x.floor()
    };
    // The reference's phase in each sub-window (None where it never stalled).
    let mut z = vec![(0.0f64, 0.0f64); windows];
    for s in &traces[0] {
        if let Some(w) = o.weight(s) {
            let (sn, cs) = (TAU * frac(s.t_ns)).sin_cos();
            let k = ((s.t_ns - t0) / sub) as usize;
            z[k].0 += w * cs;
            z[k].1 += w * sn;
        }
    }
    let reference: Vec<Option<f64>> = z.iter().map(|&(c, s)| (c != 0.0 || s != 0.0).then(|| angle_cycles(c, s))).collect();
    for (trace, ev) in traces[1..].iter().zip(evidence.iter_mut()) {
        for s in trace {
            let Some(w) = o.weight(s) else { continue };
            let Some(r) = reference[((s.t_ns - t0) / sub) as usize] else { continue };
            let theta = wrap(frac(s.t_ns) - r);
            let (sn, cs) = (TAU * theta).sin_cos();
            ev.re += w * cs;
            ev.im += w * sn;
            ev.w2 += w * w;
            ev.hist[((theta * HIST_BINS as f64) as usize).min(HIST_BINS - 1)] += w as f32;
        }
        ev.reads = ev.reads.saturating_add(trace.len() as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::hosts::{Host, HostKind};
    use crate::refresh::phase::circular_distance;

    /// Evidence of `lines` of a synthetic host over `sessions` sessions of 10 ms (the reference
    /// is the host's line 0), each session in a different stretch of time.
    fn evidence_of(host: &mut Host, lines: &[usize], sessions: u64) -> Vec<Evidence> {
        let mut ev = vec![Evidence::default(); lines.len()];
        let o = host.session_options();
        let r = host.reference;
        for s in 0..sessions {
            let tr = host.session(r, lines, s * 70_000_000, 10_000_000);
            add_session(&tr, &mut ev, &o);
        }
        ev
    }

    #[test]
    fn lines_get_their_phase_and_width_across_sessions_jumps_and_noise() {
        for kind in [HostKind::A, HostKind::B, HostKind::C, HostKind::D] {
            let mut host = Host::new(kind, 3);
            let lines: Vec<usize> = (0..24).map(|k| k * 4096 * 37 + (k % 7) * 64).collect();
            let sessions = host.sessions_for_clarity();
            let ev = evidence_of(&mut host, &lines, sessions);
            let mut clear = 0;
            for (k, (&x, e)) in lines.iter().zip(&ev).enumerate() {
                let truth = host.truth(x).expect("every line of these hosts stalls");
                let Some(st) = e.stall(6.0) else { continue };
                clear += 1;
                let want = host.relative_phase(x).unwrap();
                assert!(circular_distance(st.phase, want) < 0.05, "{kind:?} line {k}: phase {} vs {want}", st.phase);
                // The width is the window's, blurred by the reference's own estimate: never
                // narrower than half of it, and not more than twice plus two bins.
                assert!(
                    st.width >= truth.width * 0.5 && st.width <= truth.width * 2.0 + 2.0 / HIST_BINS as f64,
                    "{kind:?} line {k}: width {} vs {}",
                    st.width,
                    truth.width
                );
                assert!(st.confidence > 0.99);
            }
            assert!(clear * 10 >= lines.len() * 9, "{kind:?}: {clear} of {} clear", lines.len());
        }
    }

    #[test]
    fn lines_that_never_stall_stay_unclear() {
        let mut host = Host::new(HostKind::Flat, 4);
        let lines: Vec<usize> = (1..40).map(|k| k * 4096).collect();
        let ev = evidence_of(&mut host, &lines, 8);
        for (k, e) in ev.iter().enumerate() {
            assert!(e.stall(6.0).is_none(), "line {k} got a stall on a flat host: score {}", e.score());
        }
    }
}
