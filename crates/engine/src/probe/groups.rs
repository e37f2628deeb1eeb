//! `probe groups`: which address bit puts a line's copy in the other refresh group, by timing
//! alone (works on a VM, where physical addresses prove nothing).
//!
//! For each of a few base lines X it reads, interleaved in one short session, a reference line,
//! X, and X ^ (1 << b) for every tested bit b. Because the refresh phase of all lines jumps
//! together about once a second, phases are only ever compared between lines read in the same
//! session (see `phases`). Lines are then grouped by phase, and for each bit the report says how
//! often the flip changed group. The result can be recorded in a small JSON file under the user's
//! cache directory and read back with `load_recorded`.
//!
//! Owns its buffer for the duration of the probe; never touches a slab.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::phases::{self, BitResult, Clusters, Pair};
use crate::error::{Error, Result};
use crate::refresh::evidence::{add_session, Evidence, SessionOptions};
use crate::refresh::spikes::{self, Sample, ThresholdOptions};
use crate::refresh::Stall;
use crate::region::PageRequest;

/// What `probe groups` measures: which lines stall together, by flipping address bits of base
/// lines and timing them in one session each.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupsOptions {
    /// Refresh period of one line (ns). None: measure it first with a short fixed-line run.
    pub period_ns: Option<f64>,
    /// Base lines (each gets its own session).
    pub bases: usize,
    /// Address bits to flip (6 = the neighbouring 64 B line).
    pub bits: Vec<u32>,
    /// Length of one session (all of a base's lines read interleaved).
    pub session: Duration,
    /// Width of the sub-windows in which each line's phase is taken against the reference line's
    /// (ns; at least 1000, at most one session).
    pub subwindow_ns: u64,
    /// Buffer the base lines are drawn from (at least 1 MiB).
    pub buffer_bytes: usize,
    /// The pages the buffer asks for.
    pub pages: PageRequest,
    /// Seed of the base lines drawn.
    pub seed: u64,
    /// Evidence score a line needs before its stall is trusted (`refresh::evidence::Evidence::score`).
    pub min_score: f64,
    /// A group spans at most this fraction of the period.
    pub max_group_span: f64,
    /// Pairs a bit needs (all switching) before its offset is recommended.
    pub min_pairs: usize,
}

impl Default for GroupsOptions {
    fn default() -> Self {
        GroupsOptions {
            period_ns: None,
            bases: 16,
            bits: (6..=16).collect(),
            session: Duration::from_millis(40),
            subwindow_ns: 300_000,
            buffer_bytes: 64 << 20,
            pages: PageRequest::Auto,
            seed: 0x0062_0095,
            min_score: 6.0,
            max_group_span: 0.15,
            min_pairs: 4,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) enum Role {
    Reference,
    Base { base: usize },
    Partner { base: usize, bit: u32 },
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Line {
    pub(crate) addr: usize,
    pub(crate) role: Role,
    pub(crate) session: usize,
    /// Phase relative to the reference line, cycles in [0, 1); None when not clear.
    pub(crate) phase: Option<f64>,
    /// Width of the stall window (cycles) and the confidence that the phase is not chance (0..1).
    pub(crate) width: Option<f64>,
    pub(crate) confidence: f64,
    pub(crate) group: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Group {
    pub(crate) index: usize,
    /// Offset of this group's stalls after group 0's, in ns.
    pub(crate) offset_ns: f64,
    pub(crate) span_ns: f64,
    pub(crate) lines: usize,
}

/// What `probe groups` found: the stall phase of every line, the groups they form, and what each
/// address bit does (serialized camelCase for `--json`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupsReport {
    pub(crate) period_ns: f64,
    /// "given" or what measured it.
    pub(crate) period_source: String,
    pub(crate) page_kind: &'static str,
    pub(crate) page_size: usize,
    pub(crate) sessions: usize,
    pub(crate) reads: usize,
    pub(crate) lines: Vec<Line>,
    /// Lines with no clear phase.
    pub(crate) unclear: usize,
    pub(crate) groups: Vec<Group>,
    /// Every group spans at most `max_group_span` of the period.
    pub(crate) groups_tight: bool,
    pub(crate) bits: Vec<BitResult>,
    /// Smallest power of two ≥ 64 whose flip always lands in another group.
    pub recommended_offset: Option<usize>,
    /// A power of two ≥ 256 whose flip never changed group (copies there refresh together).
    pub(crate) same_group_offset: Option<usize>,
    pub(crate) note: String,
}

fn validate(o: &GroupsOptions) -> Result<()> {
    if let Some(p) = o.period_ns {
        if !(p.is_finite() && (100.0..=1e6).contains(&p)) {
            return Err(Error::bad_option("periodNs", format!("must be from 100 to 1e6 ns, got {}", crate::error::js_number(p))));
        }
    }
    if !(2..=1024).contains(&o.bases) {
        return Err(Error::bad_option("bases", format!("must be from 2 to 1024, got {}", o.bases)));
    }
    if o.bits.is_empty() || o.bits.iter().any(|&b| !(6..=40).contains(&b)) {
        return Err(Error::bad_option("bits", format!("must be a non-empty list of bits from 6 to 40, got {:?}", o.bits)));
    }
    if o.session < Duration::from_millis(1) || o.session.as_secs_f64() * o.bases as f64 > 60.0 {
        return Err(Error::bad_option("session", format!("must be ≥ 1 ms with bases × session ≤ 60 s, got {:?}", o.session)));
    }
    if o.subwindow_ns < 1000 || o.subwindow_ns as u128 > o.session.as_nanos() {
        return Err(Error::bad_option("subwindowNs", format!("must be ≥ 1000 ns and at most one session, got {}", o.subwindow_ns)));
    }
    if o.buffer_bytes < 1 << 20 {
        return Err(Error::bad_option("bufferBytes", format!("must be at least 1 MiB, got {}", o.buffer_bytes)));
    }
    if !(o.min_score.is_finite() && o.min_score >= 0.0) {
        return Err(Error::bad_option("minScore", format!("must be a finite number ≥ 0, got {}", o.min_score)));
    }
    if !(0.0..=0.5).contains(&o.max_group_span) {
        return Err(Error::bad_option("maxGroupSpan", format!("must be from 0 to 0.5, got {}", o.max_group_span)));
    }
    Ok(())
}

/// The stalls of one session's lines relative to `traces[0]` (`refresh::evidence`), the
/// reference's own first: phase 0 by definition, and, since it is never measured against
/// itself, the median width of the session's clear lines (0.1 when none is clear).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn session_stalls(traces: &[Vec<Sample>], period_ns: f64, subwindow_ns: u64, min_score: f64) -> Vec<(Option<Stall>, f64)> {
    let th = spikes::calibrate(traces.iter().flatten().map(|s| s.latency_ns), &ThresholdOptions::default());
    let so = SessionOptions { period_ns, subwindow_ns, typical_ns: th.median_ns, outlier_ns: th.outlier_ns, max_excess_ns: 600 };
    let mut ev = vec![Evidence::default(); traces.len().saturating_sub(1)];
    add_session(traces, &mut ev, &so);
    let mut widths: Vec<f64> = ev.iter().filter_map(|e| e.stall(min_score)).map(|s| s.width).collect();
    widths.sort_by(f64::total_cmp);
    let width = widths.get(widths.len() / 2).copied().unwrap_or(0.1);
    std::iter::once((Some(Stall { phase: 0.0, width, confidence: 1.0 }), 1.0))
        .chain(ev.iter().map(|e| (e.stall(min_score), e.confidence())))
        .collect()
}

/// Groups lines and scores bits: the part of the probe that needs no hardware.
pub(crate) fn analyse(
    mut lines: Vec<Line>,
    pairs: &[Pair],
    period_ns: f64,
    page_size: usize,
    opts: &GroupsOptions,
) -> (Vec<Line>, Vec<Group>, bool, Vec<BitResult>, Option<usize>) {
    let phases: Vec<Option<f64>> = lines.iter().map(|l| l.phase).collect();
    let Clusters { labels, centers, spans, tight } = phases::cluster(&phases, opts.max_group_span, 8);
    for (l, g) in lines.iter_mut().zip(&labels) {
        l.group = *g;
    }
    let c0 = centers.first().copied().unwrap_or(0.0);
    let groups = centers
        .iter()
        .zip(&spans)
        .enumerate()
        .map(|(i, (&c, &s))| Group {
            index: i,
            offset_ns: phases::wrap(c - c0) * period_ns,
            span_ns: s * period_ns,
            lines: labels.iter().filter(|&&l| l == Some(i)).count(),
        })
        .collect();
    let stalls: Vec<Option<Stall>> =
        lines.iter().map(|l| Some(Stall { phase: l.phase?, width: l.width?, confidence: l.confidence })).collect();
    let bits = phases::bit_results(pairs, &labels, &stalls, page_size);
    // Copies are apart when their stall windows do not overlap, however the phases cluster: a
    // bit is recommended on that alone (host D's phases spread over the whole period, yet bit 6
    // moved every line a third of a period).
    let recommended = phases::recommend(&bits, opts.min_pairs);
    (lines, groups, tight, bits, recommended)
}

/// Runs the probe. `progress` receives the fraction done (0..=1).
///
/// # Errors
///
/// [`Error::BadOption`] for options out of range, [`Error::Unsupported`] where lines cannot be
/// timed, and what mapping the buffer refuses.
pub fn probe(opts: &GroupsOptions, mut progress: impl FnMut(f64)) -> Result<GroupsReport> {
    validate(opts)?;
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = &mut progress;
        Err(Error::Unsupported { what: "timing flushed loads needs x86_64 (clflush + rdtsc)".into() })
    }
    #[cfg(target_arch = "x86_64")]
    {
        use super::refresh::{measure, Lines};
        use crate::refresh::timing::flush;
        use crate::region::{LockRequest, Region};
        use crate::rng::SplitMix64;
        use crate::tsc;

        let region = Region::map(opts.buffer_bytes, opts.pages, LockRequest::Auto)?;
        let tpn = tsc::ticks_per_ns();
        let start = region.ptr() as usize;
        let end = start + region.mapped_bytes();
        let period_phase = if opts.period_ns.is_none() { 0.25 } else { 0.0 };

        let (period_ns, period_source) = match opts.period_ns {
            Some(p) => (p, "given".to_string()),
            None => {
                let fixed = start + ((region.mapped_bytes() / 2) & !63);
                let origin = tsc::now();
                // One line's stalls for 400 ms; in a noisy spell that may not show the period
                // clearly, so up to three more rounds add reads until it does (the analysis needs
                // enough stalls above the noise, not a fixed time).
                let mut s = Vec::new();
                let mut r;
                let mut round = 0;
                loop {
                    // SAFETY: `fixed` is inside the region, which lives until the end of this block.
                    s.extend(unsafe {
                        measure(Lines::Fixed(fixed), tsc::from_ns(400_000_000), 4_000_000, opts.seed ^ round, origin, tpn, &mut |t| {
                            progress(period_phase * ((round as f64 + (tsc::to_ns(t) as f64 / 4e8).min(1.0)) / 4.0));
                            true
                        })
                    });
                    r = spikes::analyse(&s, &spikes::AnalysisOptions::default());
                    round += 1;
                    if r.verdict == spikes::Verdict::Periodic || round == 4 {
                        break;
                    }
                }
                match (r.verdict, r.fundamental) {
                    (spikes::Verdict::Periodic, Some(f)) => (f.period_ns, format!("measured on one line ({:.1}s of reads)", r.duration_ns as f64 / 1e9)),
                    _ => {
                        return Err(Error::Unsupported {
                            what: format!(
                                "no refresh period to fold at: one line's reads show {} over {:.1} s ({}); retry in a quieter moment, or pass periodNs",
                                r.verdict.name(),
                                r.duration_ns as f64 / 1e9,
                                r.reason
                            ),
                        })
                    }
                }
            }
        };

        let mut rng = SplitMix64::new(opts.seed);
        let lines_in = (region.mapped_bytes() / 64) as u64;
        let random_line = |rng: &mut SplitMix64| start + rng.below(lines_in) as usize * 64;
        let reference = random_line(&mut rng);
        let mut lines: Vec<Line> = vec![Line {
            addr: reference,
            role: Role::Reference,
            session: usize::MAX,
            phase: Some(0.0),
            width: None,
            confidence: 1.0,
            group: None,
        }];
        let mut pairs = Vec::new();
        let mut reads = 0usize;
        let session_ticks = tsc::from_ns(opts.session.as_nanos() as u64);
        let origin = tsc::now();
        for b in 0..opts.bases {
            // Session b: the reference, base X (the reference itself for b = 0) and its partners.
            let base = if b == 0 { reference } else { random_line(&mut rng) };
            let mut addrs = vec![reference];
            let mut roles = vec![Role::Reference];
            if b > 0 {
                addrs.push(base);
                roles.push(Role::Base { base: b });
            }
            for &bit in &opts.bits {
                let p = base ^ (1usize << bit);
                if (start..end).contains(&p) && !addrs.contains(&p) {
                    addrs.push(p);
                    roles.push(Role::Partner { base: b, bit });
                }
            }
            // SAFETY: every address is the reference, a random line of the region, or a partner
            // checked above to lie inside [start, end); the region lives until the end of this block.
            let traces = unsafe {
                measure_session(&addrs, session_ticks, origin, tpn, &mut rng, |t| {
                    progress(
                        period_phase + (1.0 - period_phase) * ((b as f64 + (t as f64 / session_ticks as f64).min(1.0)) / opts.bases as f64),
                    )
                })
            };
            reads += traces.iter().map(Vec::len).sum::<usize>();
            let st = session_stalls(&traces, period_ns, opts.subwindow_ns, opts.min_score);
            if b == 0 {
                // The reference is session 0's base: its width is the one this session gives it.
                lines[0].width = st[0].0.map(|s| s.width);
            }
            let base_index = if b == 0 { 0 } else { lines.len() };
            for (k, (&addr, &role)) in addrs.iter().zip(&roles).enumerate() {
                if role == Role::Reference {
                    continue;
                }
                let (stall, confidence) = st[k];
                lines.push(Line {
                    addr,
                    role,
                    session: b,
                    phase: stall.map(|s| s.phase),
                    width: stall.map(|s| s.width),
                    confidence,
                    group: None,
                });
                if let Role::Partner { bit, .. } = role {
                    pairs.push(Pair { bit, line: base_index, partner: lines.len() - 1 });
                }
            }
        }
        // Every address the sessions read was inside the region; flush them so nothing of the probe
        // lingers in cache (not needed for soundness, only tidiness).
        for l in &lines {
            // SAFETY: every line address is inside the region, still mapped here.
            unsafe { flush(l.addr as *const u8) };
        }
        progress(1.0);

        let page_size = region.page_size();
        let (lines, groups, tight, bits, recommended) = analyse(lines, &pairs, period_ns, page_size, opts);
        let unclear = lines.iter().filter(|l| l.phase.is_none()).count();
        let note = note(&groups, tight, &bits, recommended, region.kind().name(), region.thp_bytes(), region.mapped_bytes());
        Ok(GroupsReport {
            period_ns,
            period_source,
            page_kind: region.kind().name(),
            page_size,
            sessions: opts.bases,
            reads,
            lines,
            unclear,
            groups,
            groups_tight: tight,
            same_group_offset: phases::same_group(&bits, opts.min_pairs),
            bits,
            recommended_offset: recommended,
            note,
        })
    }
}

/// Reads `addrs` interleaved, a random one each time (each flushed before its read), for `ticks`; one trace per address.
///
/// # Safety
/// Every address in `addrs` must be readable for the whole call.
#[cfg(target_arch = "x86_64")]
unsafe fn measure_session(
    addrs: &[usize],
    ticks: u64,
    origin: u64,
    tpn: f64,
    rng: &mut crate::rng::SplitMix64,
    mut progress: impl FnMut(u64),
) -> Vec<Vec<Sample>> {
    use crate::refresh::timing::flushed_load;
    use crate::tsc;
    if addrs.is_empty() {
        return Vec::new();
    }
    let inv = 1.0 / tpn.max(1e-9);
    let mut traces: Vec<Vec<Sample>> = addrs.iter().map(|_| Vec::with_capacity(200_000 / addrs.len().max(1))).collect();
    let start = tsc::now();
    let end = start.saturating_add(ticks);
    loop {
        for _ in 0..1024 {
            // A random line each read: strict round-robin would sample each line at the loop's
            // rhythm, which can sit close to a multiple of the refresh period and see only part of
            // its phase circle.
            let k = rng.below(addrs.len() as u64) as usize;
            // SAFETY: the caller guarantees every address in `addrs` is readable.
            let (t0, d) = unsafe { flushed_load(addrs[k] as *const u8) };
            traces[k].push(Sample {
                t_ns: (t0.saturating_sub(origin) as f64 * inv) as u64,
                latency_ns: (d as f64 * inv).min(u32::MAX as f64) as u32,
            });
        }
        let now = tsc::now();
        progress(now.saturating_sub(start));
        if now >= end {
            return traces;
        }
    }
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn note(groups: &[Group], tight: bool, bits: &[BitResult], rec: Option<usize>, kind: &str, thp: usize, mapped: usize) -> String {
    let mut s = match (groups.len(), tight) {
        (0, _) => "no line had a clear refresh phase: the machine may be too noisy, or the period is wrong".to_string(),
        (1, true) => "all lines stall at the same phase: one refresh group, no bit moves a line to another".to_string(),
        (n, true) => format!("{n} refresh groups"),
        (n, false) => format!("phases spread over the period rather than into clean groups (best {n} clusters)"),
    };
    match rec {
        Some(off) => s += &format!(
            "; flipping address bit {} ({} B) always moved a line's stall window clear of the original's: use channel offset {}",
            off.trailing_zeros(),
            off,
            off
        ),
        None if groups.len() >= 2 => {
            s += "; no tested bit always moves a line's stall clear of the original's (none found): new Slayer({ placement: 'refresh-groups' }) learns the stall of every 4 KiB page instead and places each replica on pages of its own"
        }
        None => {}
    }
    let same: Vec<String> = bits.iter().filter(|b| b.pairs > 0 && b.apart == 0).map(|b| format!("{} B", 1u64 << b.bit)).collect();
    if !same.is_empty() && groups.len() >= 2 {
        s += &format!("; offsets whose stalls always overlapped (hedge nothing): {}", same.join(", "));
    }
    if kind == "thp" && thp < mapped {
        s += &format!(
            "; only {} of {} MiB were backed by transparent huge pages, so flips of bits ≥ 12 may cross 4 KiB pages",
            thp >> 20,
            mapped >> 20
        );
    }
    s
}

impl fmt::Display for GroupsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "groups probe: period {:.1} ns ({}); {} sessions, {} reads, {} lines ({} without a clear phase); {} pages",
            self.period_ns,
            self.period_source,
            self.sessions,
            self.reads,
            self.lines.len(),
            self.unclear,
            self.page_kind
        )?;
        for g in &self.groups {
            writeln!(
                f,
                "  group {}: {} lines, stalls +{:.0} ns after group 0 (spread {:.0} ns)",
                g.index, g.lines, g.offset_ns, g.span_ns
            )?;
        }
        for b in &self.bits {
            writeln!(
                f,
                "  bit {:2} (X^{:<6}): {:2}/{:2} pairs stall apart ({:3.0}%; {:2} in different clusters), mean distance {:4.0} ns, clearance {:4.0} ns{}",
                b.bit,
                1u64 << b.bit,
                b.apart,
                b.pairs,
                100.0 * b.apart as f64 / b.pairs.max(1) as f64,
                b.different,
                b.mean_distance_cycles * self.period_ns,
                b.mean_clearance_cycles * self.period_ns,
                if b.within_page { "" } else { " (crosses pages)" }
            )?;
        }
        writeln!(f, "recommended channel offset: {}", self.recommended_offset.map_or("none found".to_string(), |o| format!("{o} B")))?;
        write!(f, "{}", self.note)
    }
}

// ---- the recorded result -------------------------------------------------------------------

/// What a previous `probe groups` run recorded.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recorded {
    /// The channel offset it recommended, if it found one.
    pub channel_offset: Option<usize>,
    /// An offset whose two lines stall in the same group, if it found one.
    pub same_group_offset: Option<usize>,
    /// The refresh period it used (ns).
    pub period_ns: Option<f64>,
    /// When it ran (seconds since the Unix epoch).
    pub measured_unix_s: Option<u64>,
}

/// `$XDG_CACHE_HOME/ultraslayer/groups.json`, else `$HOME/.cache/ultraslayer/groups.json`.
pub fn record_path() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache.join("ultraslayer").join("groups.json"))
}

/// The file `record_to` writes (format version 1; keys in snake_case).
#[derive(serde::Serialize, serde::Deserialize)]
struct RecordFile {
    version: u32,
    #[serde(default)]
    measured_unix_s: Option<u64>,
    #[serde(default)]
    period_ns: Option<f64>,
    #[serde(default)]
    channel_offset: Option<usize>,
    #[serde(default)]
    same_group_offset: Option<usize>,
    #[serde(default)]
    page_kind: Option<String>,
    #[serde(default)]
    groups: Vec<RecordedGroup>,
    #[serde(default)]
    bits: Vec<RecordedBit>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RecordedGroup {
    offset_ns: f64,
    lines: usize,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RecordedBit {
    bit: u32,
    pairs: usize,
    different: usize,
}

/// The report as a small JSON document.
pub(crate) fn to_json(r: &GroupsReport, unix_s: u64) -> String {
    let file = RecordFile {
        version: 1,
        measured_unix_s: Some(unix_s),
        period_ns: Some((r.period_ns * 100.0).round() / 100.0),
        channel_offset: r.recommended_offset,
        same_group_offset: r.same_group_offset,
        page_kind: Some(r.page_kind.to_string()),
        groups: r.groups.iter().map(|g| RecordedGroup { offset_ns: (g.offset_ns * 10.0).round() / 10.0, lines: g.lines }).collect(),
        bits: r.bits.iter().map(|b| RecordedBit { bit: b.bit, pairs: b.pairs, different: b.different }).collect(),
    };
    serde_json::to_string_pretty(&file).unwrap_or_default() + "\n"
}

/// Parses what `to_json` wrote. Missing fields are None; offsets that are not powers of two from
/// 64 are dropped (a hand-edited or foreign file never becomes a bad layout).
pub(crate) fn parse_recorded(text: &str) -> Option<Recorded> {
    let f: RecordFile = serde_json::from_str(text).ok()?;
    let offset = |o: Option<usize>| o.filter(|o| o.is_power_of_two() && *o >= 64);
    Some(Recorded {
        channel_offset: offset(f.channel_offset),
        same_group_offset: offset(f.same_group_offset),
        period_ns: f.period_ns,
        measured_unix_s: f.measured_unix_s,
    })
}

/// Writes the report to `path` (creating its directory), replacing any earlier record.
pub(crate) fn record_to(r: &GroupsReport, path: &Path) -> Result<()> {
    let io = |e: std::io::Error| Error::Io { path: path.display().to_string(), message: e.to_string() };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, to_json(r, now)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Writes the report to `record_path()`; returns where.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be written.
pub fn record(r: &GroupsReport) -> Result<PathBuf> {
    let path = record_path().ok_or_else(|| Error::Io {
        path: "$XDG_CACHE_HOME or $HOME".into(),
        message: "neither is set, so there is no cache directory to record in".into(),
    })?;
    record_to(r, &path)?;
    Ok(path)
}

/// Seconds since the epoch as an ISO 8601 UTC timestamp (days-to-civil arithmetic, no time crate).
pub fn iso8601(unix_s: u64) -> String {
    let days = (unix_s / 86_400) as i64;
    let secs = unix_s % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// The record at `path`, if it exists and parses.
pub fn load_from(path: &Path) -> Option<Recorded> {
    parse_recorded(&std::fs::read_to_string(path).ok()?)
}

/// The recorded result of the last `probe groups`, if any.
pub fn load_recorded() -> Option<Recorded> {
    load_from(&record_path()?)
}

/// The channel offset the last `probe groups` recommended, if it found one.
pub fn recorded_channel_offset() -> Option<usize> {
    load_recorded()?.channel_offset
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::phases::synth;

    fn report_with(offset: Option<usize>) -> GroupsReport {
        GroupsReport {
            period_ns: 1950.8,
            period_source: "given".into(),
            page_kind: "2m",
            page_size: 2 << 20,
            sessions: 1,
            reads: 0,
            lines: Vec::new(),
            unclear: 0,
            groups: vec![
                Group { index: 0, offset_ns: 0.0, span_ns: 10.0, lines: 3 },
                Group { index: 1, offset_ns: 975.0, span_ns: 12.0, lines: 3 },
            ],
            groups_tight: true,
            bits: Vec::new(),
            recommended_offset: offset,
            same_group_offset: Some(2048),
            note: String::new(),
        }
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_795_448_573), "2026-11-23T15:42:53Z");
    }

    #[test]
    fn record_round_trips_through_the_file() {
        let dir = std::env::temp_dir().join(format!("ultraslayer-groups-test-{}", std::process::id()));
        let path = dir.join("sub").join("groups.json");
        record_to(&report_with(Some(64)), &path).unwrap();
        let r = load_from(&path).unwrap();
        assert_eq!(r.channel_offset, Some(64));
        assert_eq!(r.period_ns, Some(1950.8));
        assert!(r.measured_unix_s.is_some());
        record_to(&report_with(None), &path).unwrap();
        assert_eq!(load_from(&path).unwrap().channel_offset, None);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(load_from(&path).is_none());
    }

    #[test]
    fn garbage_records_are_not_believed() {
        assert_eq!(parse_recorded("nonsense"), None);
        let r = parse_recorded("{\"version\": 1, \"channel_offset\": 100}").unwrap();
        assert_eq!(r.channel_offset, None, "not a power of two");
        let r = parse_recorded("{\"version\": 1, \"channel_offset\": 32}").unwrap();
        assert_eq!(r.channel_offset, None, "below one line");
        let r = parse_recorded("{\"version\":1,\"channel_offset\":4096}").unwrap();
        assert_eq!(r.channel_offset, Some(4096));
    }

    #[test]
    fn sessions_split_bit6_partners_into_the_other_group() {
        // One session per base: [reference, base, partner bit 6, partner bit 8]. The machine's
        // rule: bit 6 flips the group (half a period), bit 8 does not.
        let period = 1950.8;
        let mut lines = vec![Line {
            addr: 0,
            role: Role::Reference,
            session: usize::MAX,
            phase: Some(0.0),
            width: Some(0.1),
            confidence: 1.0,
            group: None,
        }];
        let mut pairs = Vec::new();
        for b in 0..6usize {
            let base_group = (b % 2) as f64 * 0.5;
            let truth = [0.0, base_group, base_group + 0.5, base_group];
            let traces = synth::interleaved(&truth, period, 12_000_000, 5_000_000, 100 + b as u64);
            let st = session_stalls(&traces, period, 300_000, 6.0);
            let base_index = lines.len();
            for (k, role) in [(1, Role::Base { base: b }), (2, Role::Partner { base: b, bit: 6 }), (3, Role::Partner { base: b, bit: 8 })] {
                let (stall, confidence) = st[k];
                let (phase, width) = (stall.map(|s| s.phase), stall.map(|s| s.width));
                lines.push(Line { addr: 0, role, session: b, phase, width, confidence, group: None });
                if let Role::Partner { bit, .. } = role {
                    pairs.push(Pair { bit, line: base_index, partner: lines.len() - 1 });
                }
            }
        }
        let opts = GroupsOptions::default();
        let (lines, groups, tight, bits, rec) = analyse(lines, &pairs, period, 2 << 20, &opts);
        assert!(tight);
        assert_eq!(groups.len(), 2, "{groups:?}");
        assert!((groups[1].offset_ns - period / 2.0).abs() < 0.05 * period, "{groups:?}");
        assert!(lines.iter().all(|l| l.group.is_some()));
        assert_eq!((bits[0].bit, bits[0].pairs, bits[0].apart, bits[0].different), (6, 6, 6, 6));
        assert_eq!((bits[1].bit, bits[1].pairs, bits[1].apart, bits[1].different), (8, 6, 0, 0));
        assert_eq!(rec, Some(64));
        let text = note(&groups, tight, &bits, rec, "2m", 0, 0);
        assert!(text.contains("channel offset 64") && text.contains("256 B"), "{text}");
    }

    #[test]
    fn bad_options_are_refused() {
        let bad = |o: GroupsOptions| probe(&o, |_| {}).unwrap_err();
        assert!(matches!(bad(GroupsOptions { bases: 1, ..Default::default() }), Error::BadOption { option: "bases", .. }));
        assert!(matches!(bad(GroupsOptions { bits: vec![3], ..Default::default() }), Error::BadOption { option: "bits", .. }));
        assert!(matches!(bad(GroupsOptions { bits: vec![], ..Default::default() }), Error::BadOption { option: "bits", .. }));
        assert!(matches!(
            bad(GroupsOptions { period_ns: Some(f64::NAN), ..Default::default() }),
            Error::BadOption { option: "periodNs", .. }
        ));
        assert!(matches!(
            bad(GroupsOptions { session: Duration::from_secs(10), ..Default::default() }),
            Error::BadOption { option: "session", .. }
        ));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn a_short_probe_is_well_formed() {
        let o = GroupsOptions {
            period_ns: Some(1950.8),
            bases: 2,
            bits: vec![6, 8],
            session: Duration::from_millis(20),
            buffer_bytes: 4 << 20,
            ..Default::default()
        };
        let mut last = 0.0;
        let r = probe(&o, |f| last = f).unwrap();
        assert_eq!(last, 1.0);
        assert_eq!(r.sessions, 2);
        // reference + (bit6, bit8 partners of the reference) + (base, 2 partners)
        assert_eq!(r.lines.len(), 6);
        assert!(r.reads > 0);
        assert_eq!(r.bits.len(), 2);
        assert!(r.bits.iter().all(|b| b.different <= b.pairs));
        assert!(r.recommended_offset.map_or(true, |o| o == 64 || o == 256));
        assert!(r.to_string().contains("recommended channel offset"));
    }
}
