//! The pure half of huge-page placement: from phases that a timer reports for lines of a pool of
//! 4 KiB frames, decide how refresh groups are laid out (inside a frame, or frame by frame), learn
//! every frame's group while timing as few frames as the structure allows, and choose frames for
//! every replica's chunks.
//!
//! Owns no memory and reads no clock: everything is driven through a `Timer` (the hardware one is
//! in `learn`; tests use synthetic group maps), so every decision here is tested without timing.

use crate::refresh::stall::Stall;
use crate::refresh::structure::{bit_effects, infer, BitEffect, InferOptions};
use crate::rng::SplitMix64;
use crate::steer::pages::{self, Groups, Partition};

/// Bytes per frame (the granularity of the frame table).
pub(crate) const FRAME: usize = crate::layout::FRAME_BYTES;

pub(crate) use crate::refresh::lines::Timer;
pub(crate) use crate::refresh::structure::Structure;

/// How much the learning may time, and how sure it must be.
#[derive(Clone, Debug, PartialEq)]
pub struct MapOptions {
    /// Frames sampled (spread over the pool) to learn the groups and the structure inside frames.
    pub(crate) sample_frames: usize,
    /// Consecutive frames timed at the start of each of the first `seed_pages` huge pages, to
    /// find the period of the group pattern.
    pub(crate) seed_frames: usize,
    pub(crate) seed_pages: usize,
    /// Longest pattern period looked for, in frames.
    pub(crate) max_period: usize,
    /// Share of comparisons that must agree for a structure to be believed (period, bit split).
    pub(crate) min_agreement: f64,
    /// Share of re-timed inferred frames that must agree with the inference.
    pub(crate) min_verified: f64,
    /// Inferred frames timed to check the inference, per GiB of pool (at least 16).
    pub(crate) verify_per_gib: usize,
    /// `find_groups` peak radius (cycles) and share a group needs.
    pub(crate) group_radius: f64,
    pub(crate) min_share: f64,
    /// A phase joins a group when closer than this fraction of the spacing to the next group.
    pub(crate) accept: f64,
    pub(crate) seed: u64,
    /// The address bit every timed frame's line keeps clear: the bit that splits frames into
    /// groups when one does (a paired slab's learning), else 6.
    pub(crate) split_bit: u32,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            sample_frames: 48,
            seed_frames: 96,
            seed_pages: 2,
            max_period: 32,
            min_agreement: 0.9,
            min_verified: 0.9,
            verify_per_gib: 64,
            group_radius: 0.06,
            min_share: 0.08,
            accept: 0.4,
            seed: 0x00F4_A3E5,
            split_bit: 6,
        }
    }
}

/// How one frame's group was known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Known {
    Timed,
    /// From the pattern of its huge page, not timed.
    Inferred,
    Unknown,
}

/// The group of every frame of the pool and what was measured to know it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FrameMap {
    pub(crate) centers: Vec<f64>,
    pub(crate) groups: Vec<Option<usize>>,
    pub(crate) known: Vec<Known>,
    /// Period (frames) of the group pattern within a huge page, when it has one.
    pub(crate) period: Option<usize>,
    /// Share of seed comparisons f vs f + period that agreed.
    pub(crate) period_agreement: f64,
    /// Lines timed in all (each line once however many sessions it took).
    pub(crate) lines_timed: usize,
    /// Inferred frames timed to check the inference, and how many of them agreed.
    pub(crate) verified: usize,
    pub(crate) verified_agreed: usize,
    /// Why an inferred pattern was dropped (its frames were then timed one by one).
    pub(crate) rejected: Option<String>,
}

impl FrameMap {
    pub(crate) fn count(&self, k: Known) -> usize {
        self.known.iter().filter(|&&x| x == k).count()
    }
}

/// A line of frame `f` to time: a different line in each frame, so reads spread over cache sets,
/// always one with address bit `split` clear, so a split of frames by that bit (bit 6 or bit 10
/// on the hosts seen) does not masquerade as a frame-to-frame pattern, and a paired slab knows
/// which half of the frame the timed line is in.
pub(crate) fn probe_line(f: usize, split: u32) -> usize {
    f * FRAME + (((f * 14 % (FRAME / 64)) * 64) & !(1usize << split))
}

/// The groups in a sample of `frames` frames and how stalls sit in and across frames: times, in
/// `sample_frames` frames spread over the pool, a line X and its partners X ^ 2^b for every
/// address bit b from 6 to 11, and infers the structure from how far each bit moves a line's stall
/// (`refresh::structure`): a bit that moves lines clear of their partners in nearly every frame
/// splits frames, whatever clusters the phases form. None when the sample shows fewer than two
/// groups.
pub(crate) fn sample_structure(frames: usize, timer: &mut dyn Timer, o: &MapOptions) -> (Option<(Groups, Structure)>, usize) {
    let (sample, lines) = sample_stalls(frames, timer, o);
    (sample.decide(o), lines)
}

/// The address bits below a frame whose effect on stalls the sample measures.
pub(crate) const SAMPLE_BITS: [u32; 6] = [6, 7, 8, 9, 10, 11];

/// The stalls of a structure sample: one row per sampled frame, the line X then X ^ 2^b for each
/// of `SAMPLE_BITS`.
#[derive(Clone, Debug)]
pub(crate) struct StallSample {
    /// Byte offset of each row's line X.
    pub(crate) lines: Vec<usize>,
    pub(crate) rows: Vec<Vec<Option<Stall>>>,
    pub(crate) effects: Vec<BitEffect>,
}

impl StallSample {
    /// Every stall of the sample, row by row.
    fn phases(&self) -> Vec<Option<f64>> {
        self.rows.iter().flatten().map(|s| s.map(|s| s.phase)).collect()
    }

    /// Every sampled pair across `bit` whose stalls were both clear, as (the line with the bit
    /// clear, the line with it set); empty for a bit the sample did not test.
    pub(crate) fn pairs_across(&self, bit: u32) -> Vec<(Stall, Stall)> {
        let Some(k) = SAMPLE_BITS.iter().position(|&b| b == bit) else { return Vec::new() };
        self.rows
            .iter()
            .zip(&self.lines)
            .filter_map(|(r, &x)| {
                let (a, b) = (r.first().copied()??, r.get(k + 1).copied()??);
                Some(if x & (1 << bit) == 0 { (a, b) } else { (b, a) })
            })
            .collect()
    }

    /// Where the line with `bit` set stalls, predicted from its partner with the bit clear: the
    /// mean shift from one to the other and the set lines' median width, when that prediction
    /// orients the sampled pairs in `arc` as their measured stalls do in at least 95% of them
    /// (where the set line stalls half a period on, one shift predicts every frame; where it
    /// stalls a third of a period either way, none does). None: each frame's second line must be
    /// timed too.
    pub(crate) fn partner_prediction(&self, bit: u32, arc: Arc) -> Option<Partner> {
        use crate::refresh::phase::{circular_mean, wrap};
        let pairs = self.pairs_across(bit);
        let shift = circular_mean(pairs.iter().map(|(a, b)| wrap(b.phase - a.phase)))?;
        let mut widths: Vec<f64> = pairs.iter().map(|p| p.1.width).collect();
        widths.sort_by(f64::total_cmp);
        let partner = Partner { shift, width: *widths.get(widths.len() / 2)? };
        let agree = pairs.iter().filter(|(a, b)| arc_orientation(a, &partner.of(a), arc) == arc_orientation(a, b, arc)).count();
        (agree * 20 >= pairs.len() * 19).then_some(partner)
    }

    /// The structure and the groups the sample shows (None: fewer than two groups).
    pub(crate) fn decide(&self, o: &MapOptions) -> Option<(Groups, Structure)> {
        let phases = self.phases();
        let clear = phases.iter().flatten().count();
        let io = InferOptions { min_agreement: o.min_agreement, min_coverage: 1.0 / 3.0 };
        let structure = infer(&self.effects, self.rows.len(), clear, phases.len(), &io);
        if let Structure::WithinFrame { .. } = structure {
            // A bit splits the lines into two sides: two groups, however the phase density
            // clusters (one side's wide stall burst can show as two peaks, and phases spread over
            // the whole period show no clusters at all).
            return Some((two_groups(&phases, o.accept), structure));
        }
        let g = pages::find_groups(&phases, o.group_radius, o.min_share, o.accept);
        match structure {
            Structure::Unclear { .. } => Some((g, structure)),
            _ if g.centers.len() < 2 => None,
            _ => Some((g, structure)),
        }
    }
}

/// Times the structure sample (see `sample_structure`); the lines timed.
pub(crate) fn sample_stalls(frames: usize, timer: &mut dyn Timer, o: &MapOptions) -> (StallSample, usize) {
    const LINES: usize = SAMPLE_BITS.len() + 1;
    let n = o.sample_frames.clamp(1, frames.max(1));
    let mut rng = SplitMix64::new(o.seed);
    let picked: Vec<usize> = (0..n).map(|k| (k * frames / n + rng.below((frames / n).max(1) as u64) as usize).min(frames - 1)).collect();
    let mut offsets = Vec::with_capacity(n * LINES);
    for &f in &picked {
        let x = probe_line(f, o.split_bit);
        offsets.push(x);
        offsets.extend(SAMPLE_BITS.iter().map(|b| x ^ (1 << b)));
    }
    let mut stalls = timer.stalls(&offsets);
    // Where the signal is weak (15–45% of lines clear after a full set of
    // sessions), the lines left unclear get up to two more tries while time lasts.
    for _ in 0..2 {
        let unclear: Vec<usize> = (0..stalls.len()).filter(|&k| stalls[k].is_none()).collect();
        if unclear.len() * 4 <= stalls.len() || timer.out_of_time() {
            break;
        }
        let again = timer.stalls(&unclear.iter().map(|&k| offsets[k]).collect::<Vec<_>>());
        for (&k, s) in unclear.iter().zip(again) {
            stalls[k] = s;
        }
    }
    let rows: Vec<Vec<Option<Stall>>> = stalls.chunks(LINES).map(|r| r.to_vec()).collect();
    let effects = bit_effects(&SAMPLE_BITS, &rows);
    let lines = offsets.iter().step_by(LINES).copied().collect();
    (StallSample { lines, rows, effects }, offsets.len())
}

/// Exactly two groups among `phases`: two centres found by 2-means on the circle, started from the
/// antipodal pair that best fits the phases (the mean of their doubled angles), then each phase's
/// group (`pages::label`, so phases in the tails between the two stay unlabelled).
pub(crate) fn two_groups(phases: &[Option<f64>], accept: f64) -> Groups {
    use crate::refresh::phase::{circular_distance, circular_mean, wrap};
    use std::f64::consts::TAU;
    let clear: Vec<f64> = phases.iter().flatten().map(|&p| wrap(p)).collect();
    let (sn, cs) = clear.iter().fold((0.0, 0.0), |(s, c), &p| (s + (2.0 * TAU * p).sin(), c + (2.0 * TAU * p).cos()));
    let a = wrap(sn.atan2(cs) / (2.0 * TAU));
    let mut centers = vec![a, wrap(a + 0.5)];
    for _ in 0..4 {
        let near = |p: f64, k: usize| circular_distance(p, centers[k]) <= circular_distance(p, centers[1 - k]);
        let next: Vec<f64> = (0..2).map(|k| circular_mean(clear.iter().copied().filter(|&p| near(p, k))).unwrap_or(centers[k])).collect();
        centers = next;
    }
    // In increasing phase from the centre nearest 0, as `find_groups` orders them.
    if circular_distance(centers[1], 0.0) < circular_distance(centers[0], 0.0) {
        centers.swap(0, 1);
    }
    let labels = phases.iter().map(|p| pages::label((*p)?, &centers, accept)).collect();
    Groups { centers, labels }
}

/// Smallest period p ≤ `max` of the label sequences (each a run of consecutive frames) on which
/// f and f + p agree in at least `min` of the comparisons (and at least 2p comparisons), with that
/// share.
pub(crate) fn find_period(runs: &[Vec<Option<usize>>], max: usize, min: f64) -> Option<(usize, f64)> {
    for p in 1..=max {
        let (mut agree, mut compared) = (0usize, 0usize);
        for run in runs {
            for f in 0..run.len().saturating_sub(p) {
                if let (Some(a), Some(b)) = (run[f], run[f + p]) {
                    compared += 1;
                    agree += (a == b) as usize;
                }
            }
        }
        if compared >= 2 * p.max(4) && agree as f64 >= min * compared as f64 {
            return Some((p, agree as f64 / compared as f64));
        }
    }
    None
}

/// The group of every residue mod `period` from a run of labels starting at frame 0 of a huge
/// page: the majority of the clear labels of that residue (None when there is none or a tie).
pub(crate) fn residue_pattern(run: &[Option<usize>], period: usize) -> Vec<Option<usize>> {
    (0..period)
        .map(|res| {
            let mut votes = [0usize; 8];
            for l in run.iter().skip(res).step_by(period).flatten() {
                votes[(*l).min(7)] += 1;
            }
            let best = votes.iter().copied().max().unwrap_or(0);
            (best > 0 && votes.iter().filter(|&&v| v == best).count() == 1).then(|| votes.iter().position(|&v| v == best).unwrap())
        })
        .collect()
}

/// Learns the group of every frame of a pool of `frames` frames in huge pages of `per_page`
/// frames, given the groups found by `sample_structure` (their centres classify every phase).
///
/// With a period p found on the seed runs, each huge page gets 2p consecutive frames timed and
/// the rest inferred from them; then a sample of inferred frames is timed and must agree (else the
/// inference is dropped, said in `rejected`). Without a pattern that holds, frames are timed one
/// by one until `enough` frames are known or the timer runs out of time; the rest stay Unknown.
pub(crate) fn learn_map(frames: usize, per_page: usize, groups: &Groups, timer: &mut dyn Timer, o: &MapOptions, enough: usize) -> FrameMap {
    let per_page = per_page.clamp(1, frames.max(1));
    let pages_n = frames.div_ceil(per_page);
    let label = |p: Option<f64>| p.and_then(|p| pages::label(p, &groups.centers, o.accept));
    let mut map = FrameMap {
        centers: groups.centers.clone(),
        groups: vec![None; frames],
        known: vec![Known::Unknown; frames],
        period: None,
        period_agreement: 0.0,
        lines_timed: 0,
        verified: 0,
        verified_agreed: 0,
        rejected: None,
    };
    let time = |map: &mut FrameMap, list: &[usize], timer: &mut dyn Timer| -> Vec<Option<usize>> {
        let offs: Vec<usize> = list.iter().map(|&f| probe_line(f, o.split_bit)).collect();
        map.lines_timed += offs.len();
        let got: Vec<Option<usize>> = timer.phases(&offs).into_iter().map(label).collect();
        for (&f, &g) in list.iter().zip(&got) {
            map.groups[f] = g;
            map.known[f] = if g.is_some() { Known::Timed } else { Known::Unknown };
        }
        got
    };
    // Seed runs: the first frames of the first huge pages.
    let seed_len = o.seed_frames.min(per_page);
    let runs: Vec<Vec<Option<usize>>> = (0..o.seed_pages.clamp(1, pages_n))
        .map(|h| {
            let list: Vec<usize> = (h * per_page..(h * per_page + seed_len).min(frames)).collect();
            time(&mut map, &list, timer)
        })
        .collect();
    let found = find_period(&runs, o.max_period.min(seed_len / 3).max(1), o.min_agreement);
    // No pattern (or one that did not hold): every frame not yet known is timed, in pool order,
    // while time lasts.
    // Frames left unclear get up to two more passes (a weak signal leaves a fifth of them unclear
    // after one: under a weak signal that made pools 2–7% short of a class's frames).
    let one_by_one = |map: &mut FrameMap, timer: &mut dyn Timer| {
        let mut known = map.known.iter().filter(|&&k| k != Known::Unknown).count();
        for _pass in 0..3 {
            let mut f = 0;
            while f < frames && known < enough && !timer.out_of_time() {
                let list: Vec<usize> = (f..(f + 256).min(frames)).filter(|&x| map.known[x] == Known::Unknown).collect();
                if !list.is_empty() {
                    known += time(map, &list, timer).iter().flatten().count();
                }
                f += 256;
            }
        }
    };
    let Some((period, agreement)) = found else {
        one_by_one(&mut map, timer);
        return map;
    };
    map.period = Some(period);
    map.period_agreement = agreement;
    // Each huge page: 2p consecutive frames from its start (fewer when the seed already has them),
    // then its residues' majority labels for the frames not timed.
    let window = (2 * period).max(4).min(per_page);
    for h in 0..pages_n {
        if timer.out_of_time() {
            break;
        }
        let start = h * per_page;
        let end = (start + per_page).min(frames);
        let need: Vec<usize> = (start..(start + window).min(end)).filter(|&f| map.known[f] == Known::Unknown).collect();
        if !need.is_empty() {
            time(&mut map, &need, timer);
        }
        let run: Vec<Option<usize>> = (start..(start + window).min(end)).map(|f| map.groups[f]).collect();
        let pattern = residue_pattern(&run, period);
        for f in start..end {
            if map.known[f] == Known::Unknown {
                if let Some(g) = pattern[(f - start) % period] {
                    map.groups[f] = Some(g);
                    map.known[f] = Known::Inferred;
                }
            }
        }
    }
    // Check a sample of inferred frames by timing them (their inferred group is kept only where
    // the timing agrees or stays unclear).
    let inferred: Vec<usize> = (0..frames).filter(|&f| map.known[f] == Known::Inferred).collect();
    if !inferred.is_empty() {
        let want = ((frames * FRAME) as f64 / (1u64 << 30) as f64 * o.verify_per_gib as f64).ceil() as usize;
        let want = want.max(16).min(inferred.len());
        let mut rng = SplitMix64::new(o.seed ^ 0x5EED);
        let sample: Vec<usize> = (0..want).map(|_| inferred[rng.below(inferred.len() as u64) as usize]).collect();
        let mut sample = sample;
        sample.sort_unstable();
        sample.dedup();
        let expected: Vec<Option<usize>> = sample.iter().map(|&f| map.groups[f]).collect();
        let offs: Vec<usize> = sample.iter().map(|&f| probe_line(f, o.split_bit)).collect();
        map.lines_timed += offs.len();
        let got: Vec<Option<usize>> = timer.phases(&offs).into_iter().map(label).collect();
        for ((&f, e), g) in sample.iter().zip(&expected).zip(&got) {
            if let Some(g) = g {
                map.verified += 1;
                if Some(*g) == *e {
                    map.verified_agreed += 1;
                    map.known[f] = Known::Timed;
                } else {
                    map.groups[f] = Some(*g);
                    map.known[f] = Known::Timed;
                }
            }
        }
        if map.verified >= 8 && (map.verified_agreed as f64) < o.min_verified * map.verified as f64 {
            map.rejected = Some(format!(
                "the group pattern (period {period} frames) did not hold: {} of {} inferred frames timed agreed",
                map.verified_agreed, map.verified
            ));
            for f in 0..frames {
                if map.known[f] == Known::Inferred {
                    map.known[f] = Known::Unknown;
                    map.groups[f] = None;
                }
            }
            one_by_one(&mut map, timer);
        }
    }
    map
}

/// Frames a pool needs so that each of `classes` replicas gets `chunks` frames of its own groups,
/// given the sample's groups: the groups are split as `assign` will split them, and the smallest
/// class's share of the sampled frames sets the size, times `margin` for the sample's error.
/// None when the sample has fewer groups than classes.
pub(crate) fn pool_frames(sample: &Groups, classes: usize, chunks: usize, margin: f64) -> Option<usize> {
    let part = pages::split(sample.clone(), classes)?;
    let labelled: usize = part.class_pages.iter().sum();
    let least = part.class_pages.iter().copied().min()?;
    if least == 0 {
        return None;
    }
    // The pool's own frames split by chance too: room for two standard deviations of the
    // smallest class's count besides the sample's error (`margin`). It matters for small slabs
    // (40 frames per replica came out 39 short of 40 here); for a GiB it adds 0.4%.
    let need = chunks as f64 + 2.0 * (chunks as f64).sqrt();
    Some((need * labelled as f64 / least as f64 * margin.max(1.0)).ceil() as usize)
}

/// For a paired layout placed by phase: an arc of the period, its centre and half-width (cycles).
/// Copy 0 of every chosen frame stalls within the arc, copy 1 outside it by at least the two
/// windows' half-widths, so copy 1 never stalls while copy 0 might and copy 0 never while copy 1
/// does, however the phases spread.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Arc {
    pub(crate) center: f64,
    pub(crate) half: f64,
}

/// Which line of a frame's pair is copy 0 (`Some(false)`: the one with the split bit clear,
/// `Some(true)`: its partner), when one orientation puts the pair as `Arc` describes.
pub(crate) fn arc_orientation(clear: &Stall, set: &Stall, arc: Arc) -> Option<bool> {
    use crate::refresh::phase::circular_distance;
    let fits = |copy0: &Stall, copy1: &Stall| {
        circular_distance(copy0.phase, arc.center) <= arc.half
            && circular_distance(copy1.phase, arc.center) >= arc.half + (copy0.width + copy1.width) / 2.0
    };
    if fits(clear, set) {
        Some(false)
    } else if fits(set, clear) {
        Some(true)
    } else {
        None
    }
}

/// The arc (centre one of 64 evenly spaced, half-width one of 0.05, 0.1, … 0.25 of the period)
/// that the most of `pairs` (line with the split bit clear, partner) fit, and the share that fit
/// it. Of the half-widths that fit as many, the middle one: a timed line's phase is noisy, and
/// the middle leaves copy 0 the most room inside the arc and copy 1 the most outside it (tight
/// clusters fit every half-width, and the narrowest put a few checked slots' copy 0 outside).
/// A share of 0 for no pairs.
pub(crate) fn best_arc(pairs: &[(Stall, Stall)]) -> (Arc, f64) {
    const CENTERS: usize = 64;
    // For each half-width, the best centre and its share.
    let per_half: Vec<(Arc, f64)> = (1..=5)
        .map(|h| {
            let mut best = (Arc { center: 0.0, half: 0.05 * h as f64 }, 0.0);
            for k in 0..CENTERS {
                let arc = Arc { center: k as f64 / CENTERS as f64, half: 0.05 * h as f64 };
                let fit = pairs.iter().filter(|(a, b)| arc_orientation(a, b, arc).is_some()).count();
                let share = fit as f64 / pairs.len().max(1) as f64;
                if share > best.1 {
                    best = (arc, share);
                }
            }
            best
        })
        .collect();
    let top = per_half.iter().map(|b| b.1).fold(0.0, f64::max);
    let tied: Vec<&(Arc, f64)> = per_half.iter().filter(|b| b.1 >= top).collect();
    *tied[tied.len() / 2]
}

/// Share of the structure sample's frames that must fit the paired layout's arc: below it the pool
/// would be many times the slab.
pub(crate) const MIN_ARC_SHARE: f64 = 0.2;

/// Share of sampled pairs another bit inside the frame may move apart before one timed line no
/// longer stands for its frame (a quarter of a frame's lines would be misjudged).
pub(crate) const OTHER_BIT_APART: f64 = 0.25;

/// Whether a paired layout split at `bit` can be placed by phase, from the structure sample: the
/// arc (`best_arc`) and the share of frames that fit it, or why not. One timed line stands for its
/// whole frame only if the frame's other lines stall with it, so a second bit inside the frame
/// that moves lines apart refuses it, as does too small a share.
pub(crate) fn paired_arc(sample: &StallSample, bit: u32) -> Result<(Arc, f64), String> {
    if let Some(e) = sample.effects.iter().find(|e| e.bit != bit && e.pairs >= 4 && e.share_apart() >= OTHER_BIT_APART) {
        return Err(format!(
            "lines of one frame stall at different phases here (flipping address bit {} moved {} of {} sampled lines' stalls clear of the original's, besides bit {bit}), so timing one line of a frame cannot tell where its other slots' copies stall",
            e.bit, e.apart, e.pairs
        ));
    }
    let pairs = sample.pairs_across(bit);
    let (arc, share) = best_arc(&pairs);
    if share < MIN_ARC_SHARE {
        return Err(format!(
            "only {:.0}% of {} sampled frames have one line stalling within some arc of up to half the period and its bit-{bit} partner clear of that arc",
            share * 100.0,
            pairs.len()
        ));
    }
    Ok((arc, share))
}

/// A frame's second line predicted from its first (`StallSample::partner_prediction`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Partner {
    /// Phase of the line with the split bit set after the line with it clear (cycles).
    pub(crate) shift: f64,
    pub(crate) width: f64,
}

impl Partner {
    /// The stall of the partner of a line that stalls as `clear` does.
    pub(crate) fn of(&self, clear: &Stall) -> Stall {
        Stall { phase: crate::refresh::phase::wrap(clear.phase + self.shift), width: self.width, confidence: clear.confidence }
    }
}

/// The frames of a paired layout placed by phase: both lines of each frame are timed (the one
/// with the split bit clear at `probe_line`, and its partner), or the first only when `partner`
/// predicts the second, in pool order, 128 frames at a time, until `chunks` frames fit `arc` or
/// the timer runs out of time.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PairedByPhase {
    /// (frame, swap) for each chunk found, in pool order.
    pub(crate) picks: Vec<(usize, bool)>,
    pub(crate) frames_timed: usize,
    pub(crate) lines_timed: usize,
    /// Frames whose two lines were both clear.
    pub(crate) frames_clear: usize,
}

pub(crate) fn paired_by_phase(
    frames: usize,
    timer: &mut dyn Timer,
    o: &MapOptions,
    arc: Arc,
    partner: Option<Partner>,
    chunks: usize,
) -> PairedByPhase {
    let mut out = PairedByPhase { picks: Vec::with_capacity(chunks), frames_timed: 0, lines_timed: 0, frames_clear: 0 };
    let per = if partner.is_some() { 1 } else { 2 };
    let mut f = 0;
    while f < frames && out.picks.len() < chunks && !timer.out_of_time() {
        let list: Vec<usize> = (f..(f + 128).min(frames)).collect();
        let offsets: Vec<usize> = list
            .iter()
            .flat_map(|&f| [probe_line(f, o.split_bit), probe_line(f, o.split_bit) | (1 << o.split_bit)].into_iter().take(per))
            .collect();
        let mut stalls = timer.stalls(&offsets);
        if let Some(p) = partner {
            stalls = stalls.into_iter().flat_map(|a| [a, a.map(|a| p.of(&a))]).collect();
        }
        out.frames_timed += list.len();
        out.lines_timed += offsets.len();
        for (&frame, pair) in list.iter().zip(stalls.chunks(2)) {
            if let [Some(a), Some(b)] = pair {
                out.frames_clear += 1;
                if let Some(swap) = arc_orientation(a, b, arc) {
                    if out.picks.len() < chunks {
                        out.picks.push((frame, swap));
                    }
                }
            }
        }
        f += 128;
    }
    out
}

/// Frames for every replica: the groups split into `classes` arcs of the phase circle (see
/// `pages::split`), and chunk k of replica r in the k-th frame of class r. Err (with the counts)
/// when some class has fewer than `chunks` frames.
pub(crate) fn assign(map: &FrameMap, classes: usize, chunks: usize) -> Result<(Vec<Vec<usize>>, Partition), String> {
    let groups = Groups { centers: map.centers.clone(), labels: map.groups.clone() };
    let part = pages::split(groups, classes)
        .ok_or_else(|| format!("{} refresh group(s) found, not {classes} separate groups", map.centers.len()))?;
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (f, l) in part.labels.iter().enumerate() {
        if let Some(c) = *l {
            if by_class[c].len() < chunks {
                by_class[c].push(f);
            }
        }
    }
    if by_class.iter().any(|v| v.len() < chunks) {
        let list = |v: &[usize]| v.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ");
        return Err(format!(
            "each of the {classes} replicas needs {chunks} frames of its own refresh groups, but the frames known give them {} \
             (replica by replica; group by group: {})",
            list(&part.class_pages),
            list(&part.group_pages)
        ));
    }
    Ok((by_class, part))
}

/// A synthetic timer for tests of everything above `Timer`.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Stall phases (cycles) of the synthetic groups.
    pub(crate) const CENTERS: [f64; 4] = [0.1, 0.35, 0.6, 0.85];

    /// Width of every synthetic stall window (cycles): neighbouring groups stall apart.
    pub(crate) const WIDTH: f64 = 0.1;

    /// A timer over a synthetic group map: `group(offset)` is the true group of the line at that
    /// byte offset (None: no clear phase). `unclear` of the answers come back None and `wrong` of
    /// them in a random other group, as on a noisy machine.
    pub(crate) struct Synthetic<F: Fn(usize) -> Option<usize>> {
        group: F,
        groups: usize,
        unclear: f64,
        wrong: f64,
        rng: SplitMix64,
        pub(crate) asked: usize,
    }

    impl<F: Fn(usize) -> Option<usize>> Synthetic<F> {
        pub(crate) fn new(groups: usize, group: F) -> Self {
            Synthetic { group, groups, unclear: 0.0, wrong: 0.0, rng: SplitMix64::new(11), asked: 0 }
        }
        pub(crate) fn noisy(mut self, unclear: f64, wrong: f64) -> Self {
            self.unclear = unclear;
            self.wrong = wrong;
            self
        }
    }

    impl<F: Fn(usize) -> Option<usize>> Timer for Synthetic<F> {
        fn stalls(&mut self, offsets: &[usize]) -> Vec<Option<Stall>> {
            self.asked += offsets.len();
            offsets
                .iter()
                .map(|&o| {
                    let g = (self.group)(o)?;
                    if self.rng.next_f64() < self.unclear {
                        return None;
                    }
                    let g = if self.rng.next_f64() < self.wrong {
                        (g + 1 + self.rng.below(self.groups as u64 - 1) as usize) % self.groups
                    } else {
                        g
                    };
                    let phase = crate::refresh::phase::wrap(CENTERS[g] + (self.rng.next_f64() - 0.5) * 0.04);
                    Some(Stall { phase, width: WIDTH, confidence: 1.0 })
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{Synthetic, CENTERS};
    use super::*;

    const PER_PAGE: usize = 512;

    /// Host-B-like: whole frames in one of four groups, a period-12 pattern (a 12-channel
    /// interleave seen through four groups) shifted differently in every huge page.
    fn regular(f: usize) -> usize {
        const PATTERN: [usize; 12] = [0, 1, 2, 3, 1, 2, 3, 0, 2, 3, 0, 1];
        let page = f / PER_PAGE;
        PATTERN[(f % PER_PAGE + page * 5) % 12]
    }

    fn hash(x: usize) -> usize {
        let mut r = SplitMix64::new(x as u64 ^ 0xABCD);
        r.next_u64() as usize
    }

    fn learn(frames: usize, timer: &mut dyn Timer) -> FrameMap {
        let o = MapOptions::default();
        let (s, _) = sample_structure(frames, timer, &o);
        let (g, st) = s.expect("groups");
        assert!(matches!(st, Structure::WholeFrame { .. }), "{st:?}");
        learn_map(frames, PER_PAGE, &g, timer, &o, usize::MAX)
    }

    /// Every assigned frame really is in a group of its replica's class, and no frame is used twice.
    fn check_assignment(frames: usize, truth: impl Fn(usize) -> usize, map: &FrameMap, replicas: usize, chunks: usize) -> Partition {
        let (by_class, part) = assign(map, replicas, chunks).unwrap();
        let mut used = vec![false; frames];
        for (r, list) in by_class.iter().enumerate() {
            assert_eq!(list.len(), chunks);
            for &f in list {
                assert!(!std::mem::replace(&mut used[f], true), "frame {f} twice");
                let class = part.class_of_group[truth(f)];
                assert_eq!(class, r, "frame {f} (group {}) given to replica {r}", truth(f));
            }
        }
        part
    }

    #[test]
    fn a_bit_that_splits_every_frame_is_found_and_frames_need_no_placement() {
        // Host-A-like: address bit 6 flips the group, hashed with the frame.
        let mut t = Synthetic::new(2, |o| Some(((o >> 6) & 1) ^ (hash(o / FRAME) & 1)));
        let (s, lines) = sample_structure(10_000, &mut t, &MapOptions::default());
        let (g, st) = s.unwrap();
        assert_eq!(g.centers.len(), 2);
        assert!(matches!(st, Structure::WithinFrame { bit: 6, agreement, .. } if agreement == 1.0), "{st:?}");
        assert_eq!(lines, 7 * MapOptions::default().sample_frames, "a line and its partners across bits 6..=11");
        // Any other bit below 4 KiB instead (the bits below it keep the group).
        for bit in 7..12u32 {
            let mut t = Synthetic::new(2, move |o| Some((o >> bit) & 1));
            let st = sample_structure(10_000, &mut t, &MapOptions::default()).0.unwrap().1;
            assert!(matches!(st, Structure::WithinFrame { bit: b, .. } if b == bit), "bit {bit}: {st:?}");
        }
    }

    #[test]
    fn a_regular_pattern_is_learned_from_a_few_frames_per_huge_page() {
        let frames = 64 * PER_PAGE;
        let mut t = Synthetic::new(4, |o| Some(regular(o / FRAME)));
        let map = learn(frames, &mut t);
        assert_eq!(map.period, Some(12));
        assert_eq!(map.count(Known::Unknown), 0);
        for f in 0..frames {
            assert_eq!(map.groups[f], Some(regular(f)), "frame {f}");
        }
        // About 2 periods per huge page plus seeds, sample and checks: a small share of the pool.
        assert!(t.asked < frames / 8, "timed {} lines for {frames} frames", t.asked);
        assert!(map.verified >= 16 && map.verified_agreed == map.verified, "{map:?}");
        for replicas in 2..=4 {
            // Four equal groups: 2 and 4 replicas split them evenly; 3 replicas get 1, 2 and 1 groups.
            let part = check_assignment(frames, regular, &map, replicas, frames / 4 * (4 / replicas) - 64);
            assert!(part.separation >= 0.2, "{part:?}");
        }
    }

    #[test]
    fn a_noisy_machine_still_learns_the_pattern_and_leaves_doubt_unused() {
        let frames = 32 * PER_PAGE;
        let mut t = Synthetic::new(4, |o| Some(regular(o / FRAME))).noisy(0.15, 0.02);
        let map = learn(frames, &mut t);
        assert_eq!(map.period, Some(12));
        let wrong = (0..frames).filter(|&f| map.groups[f].is_some_and(|g| g != regular(f))).count();
        assert!(wrong * 100 < frames, "{wrong} frames in the wrong group");
        assert!(map.verified_agreed * 10 >= map.verified * 9);
    }

    #[test]
    fn an_irregular_map_is_timed_frame_by_frame() {
        let frames = 4 * PER_PAGE;
        let truth = |f: usize| hash(f) % 4;
        let mut t = Synthetic::new(4, move |o| Some(truth(o / FRAME)));
        let map = learn(frames, &mut t);
        assert_eq!(map.period, None);
        assert_eq!(map.count(Known::Inferred), 0);
        assert_eq!(map.count(Known::Timed), frames);
        check_assignment(frames, truth, &map, 2, frames / 2 - 200);
    }

    #[test]
    fn frames_left_unclear_are_timed_again_until_enough_are_known() {
        // A weak signal: one frame in four unclear at each timing. Three passes leave ~1.6%.
        let frames = 4 * PER_PAGE;
        let truth = |f: usize| hash(f) % 4;
        let o = MapOptions::default();
        let mut t = Synthetic::new(4, move |o| Some(truth(o / FRAME))).noisy(0.25, 0.0);
        let (g, _) = sample_structure(frames, &mut t, &o).0.unwrap();
        let map = learn_map(frames, PER_PAGE, &g, &mut t, &o, usize::MAX);
        assert!(map.count(Known::Unknown) < frames / 20, "{} unknown", map.count(Known::Unknown));
        // With `enough`, the passes stop once that many are known.
        let mut t = Synthetic::new(4, move |o| Some(truth(o / FRAME))).noisy(0.25, 0.0);
        let map = learn_map(frames, PER_PAGE, &g, &mut t, &o, frames / 2);
        let known = frames - map.count(Known::Unknown);
        assert!(known >= frames / 2 && known < frames / 2 + 256 + 2 * o.seed_frames, "{known} known");
    }

    #[test]
    fn a_pattern_that_does_not_hold_beyond_the_seed_pages_is_dropped_and_frames_timed_one_by_one() {
        let frames = 16 * PER_PAGE;
        // Regular in the first two huge pages, random afterwards (and past each page's window).
        let truth = |f: usize| if f < 2 * PER_PAGE || f % PER_PAGE < 24 { regular(f) } else { hash(f) % 4 };
        let mut t = Synthetic::new(4, move |o| Some(truth(o / FRAME)));
        let map = learn(frames, &mut t);
        assert!(map.rejected.as_deref().is_some_and(|m| m.contains("did not hold")), "{:?}", map.rejected);
        // Then every frame was timed, and every group is right.
        assert_eq!(map.count(Known::Inferred), 0);
        assert!((0..frames).all(|f| map.groups[f] == Some(truth(f))));
    }

    #[test]
    fn a_missing_group_is_said_and_one_group_is_no_placement() {
        // Three groups for four replicas.
        let frames = 8 * PER_PAGE;
        let mut t = Synthetic::new(4, |o| Some(regular(o / FRAME) % 3));
        let map = learn(frames, &mut t);
        assert_eq!(map.centers.len(), 3);
        let e = assign(&map, 4, 100).unwrap_err();
        assert!(e.contains("3 refresh group(s) found, not 4"), "{e}");
        // Unequal groups: two replicas get what the split gives; asking for more is refused with counts.
        let e = assign(&map, 2, frames / 2 + 1).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "each of the 2 replicas needs {} frames of its own refresh groups, but the frames known give them ",
                frames / 2 + 1
            )),
            "{e}"
        );
        assert!(!e.contains('['), "lists are written as numbers, not Rust debug output: {e}");
        // One group everywhere: nothing to place by.
        let mut t = Synthetic::new(1, |_| Some(0));
        assert!(sample_structure(frames, &mut t, &MapOptions::default()).0.is_none());
        // No line ever clear: said as such, not as "no structure".
        let mut t = Synthetic::new(4, |_| None);
        let st = sample_structure(frames, &mut t, &MapOptions::default()).0.unwrap().1;
        assert_eq!(st, Structure::Unclear { clear: 0, sampled: 7 * 48 });
    }

    #[test]
    fn a_weak_refresh_signal_is_unclear_not_a_verdict_on_the_structure() {
        // Host B on a noisy day: whole frames, but nine lines in ten stay unclear. The few clear
        // lines are rarely in the same frame, which would otherwise read as "lines of a frame
        // agree in 0% of the frames" (Mixed).
        let frames = 8 * PER_PAGE;
        let mut t = Synthetic::new(4, |o| Some(regular(o / FRAME))).noisy(0.9, 0.0);
        let st = sample_structure(frames, &mut t, &MapOptions::default()).0.unwrap().1;
        assert!(matches!(st, Structure::Unclear { clear, sampled: 336 } if clear < 168), "{st:?}");
        // Two lines in three clear are enough to see whole frames.
        let mut t = Synthetic::new(4, |o| Some(regular(o / FRAME))).noisy(0.33, 0.0);
        let st = sample_structure(frames, &mut t, &MapOptions::default()).0.unwrap().1;
        assert!(matches!(st, Structure::WholeFrame { .. }), "{st:?}");
        // Lines clear only 40% of the time are seen through the retries of the unclear ones.
        let mut t = Synthetic::new(4, |o| Some(regular(o / FRAME))).noisy(0.6, 0.0);
        let st = sample_structure(frames, &mut t, &MapOptions::default()).0.unwrap().1;
        assert!(matches!(st, Structure::WholeFrame { .. }), "{st:?}");
        assert!(t.asked > 336 && t.asked <= 3 * 336, "unclear lines were timed again: {}", t.asked);
    }

    #[test]
    fn lines_of_a_frame_in_random_groups_are_no_structure() {
        let mut t = Synthetic::new(2, |o| Some(hash(o) % 2));
        let st = sample_structure(10_000, &mut t, &MapOptions::default()).0.unwrap().1;
        assert!(matches!(st, Structure::Mixed { agreement } if agreement < 0.8), "{st:?}");
    }

    #[test]
    fn the_pool_is_sized_by_the_smallest_class_share() {
        // Four equal groups: two replicas get half each, three get a quarter at least.
        let labels: Vec<Option<usize>> = (0..400).map(|k| Some(k % 4)).collect();
        let g = Groups { centers: CENTERS.to_vec(), labels };
        // 1000 chunks + two standard deviations (63.2) of the class count.
        assert_eq!(pool_frames(&g, 2, 1000, 1.0), Some(2127));
        assert_eq!(pool_frames(&g, 3, 1000, 1.0), Some(4253));
        assert_eq!(pool_frames(&g, 4, 1000, 1.1), Some(4679));
        assert_eq!(pool_frames(&g, 5, 1000, 1.0), None);
    }

    #[test]
    fn paired_copies_stall_in_and_out_of_the_arc_whatever_each_frame_does() {
        use crate::layout::{FrameTable, Layout, PAIRED_SLOTS};
        use crate::refresh::hosts::{timer, HostKind};
        use crate::refresh::phase::circular_distance;
        // Host A (bit 6) and host C (bit 10, which a sample of bits 6, 7 and 11 alone took for
        // whole frames sharing a stall): which line of a pair stalls first flips from frame to
        // frame, at random.
        for (kind, bit) in [(HostKind::A, 6u32), (HostKind::C, 10)] {
            let mut t = timer(kind, 3);
            let o = MapOptions::default();
            let sample = sample_stalls(4 * PER_PAGE, &mut t, &o).0;
            let st = sample.decide(&o).unwrap().1;
            assert!(matches!(st, Structure::WithinFrame { bit: b, .. } if b == bit), "{kind:?}: {st:?}");
            let (arc, share) = paired_arc(&sample, bit).unwrap();
            // Host C's frames sit at four eighths of the period (on either side): not every frame
            // fits the narrowest arc that keeps copy 1 clear.
            assert!(share >= 0.75, "{kind:?}: {share} at {arc:?}");
            let chunks = 1500;
            // A pool sized by the share, as placement sizes it.
            let pool = (chunks as f64 / share * 1.3) as usize;
            let partner = sample.partner_prediction(bit, arc);
            assert!(partner.is_some(), "{kind:?}: the partner is half a period on in every frame");
            let found = paired_by_phase(pool, &mut t, &MapOptions { split_bit: bit, ..o }, arc, partner, chunks);
            assert_eq!(found.picks.len(), chunks, "{kind:?}: {} frames timed, {} clear", found.frames_timed, found.frames_clear);
            assert_eq!(found.lines_timed, found.frames_timed, "one line of every frame timed");
            let picked = found.picks;
            let table = std::sync::Arc::new(
                FrameTable::build_paired(chunks as u64, |k| (picked[k as usize].0 as u64, picked[k as usize].1)).unwrap(),
            );
            let slots = chunks as u64 * PAIRED_SLOTS as u64;
            let l = Layout::paired(slots, bit, table).unwrap();
            // Copy 0, in whichever frame and half, stalls inside the arc; copy 1 outside it.
            for i in (0..slots).step_by(13) {
                // Phases as timing sees them: relative to the reference line.
                let (c0, c1) = (t.source.relative_phase(l.offset(0, i)).unwrap(), t.source.relative_phase(l.offset(1, i)).unwrap());
                let (d0, d1) = (circular_distance(c0, arc.center), circular_distance(c1, arc.center));
                assert!(
                    d0 <= arc.half + 0.03 && d1 >= arc.half,
                    "{kind:?}: slot {i}: copy 0 {d0:.3}, copy 1 {d1:.3} from the centre of {arc:?}"
                );
            }
        }
    }

    #[test]
    fn a_bit_split_gives_two_groups_even_when_one_side_shows_two_peaks() {
        // Side A stalls at 0.1; side B's phases fall in two humps, 0.5 and 0.75.
        let mut rng = SplitMix64::new(4);
        let mut phases = Vec::new();
        let mut side = Vec::new();
        for k in 0..600 {
            let b = k % 2;
            let hump = if b == 0 {
                0.1
            } else if k % 4 == 1 {
                0.5
            } else {
                0.75
            };
            phases.push(Some(crate::refresh::phase::wrap(hump + (rng.next_f64() - 0.5) * 0.06)));
            side.push(b);
        }
        assert!(pages::find_groups(&phases, 0.06, 0.08, 0.4).centers.len() >= 3, "the density shows three peaks");
        let g = two_groups(&phases, 0.4);
        assert_eq!(g.centers.len(), 2);
        let labelled: Vec<(usize, usize)> = g.labels.iter().zip(&side).filter_map(|(l, s)| Some(((*l)?, *s))).collect();
        assert!(labelled.len() > 500, "{} labelled", labelled.len());
        let a = labelled[0].0;
        assert!(labelled.iter().all(|&(l, s)| (l == a) == (s == labelled[0].1)), "every line's group follows its side");
    }

    /// Copies at `a` and `b` stall apart by the host's own truth (not by what was measured).
    fn truly_apart(host: &crate::refresh::hosts::Host, a: usize, b: usize) -> bool {
        let (x, y) = (host.truth(a).unwrap(), host.truth(b).unwrap());
        crate::refresh::phase::circular_distance(x.phase, y.phase) > (x.width + y.width) / 2.0
    }

    #[test]
    fn every_host_seen_is_placed_with_copies_truly_apart_and_hosts_without_structure_are_refused() {
        use crate::refresh::hosts::{timer, HostKind};
        let frames = 4 * PER_PAGE;
        let o = MapOptions::default();
        for kind in HostKind::PLACEABLE {
            for seed in [1u64, 2] {
                let mut t = timer(kind, seed);
                let (s, _) = sample_structure(frames, &mut t, &o);
                let (g, st) = s.unwrap_or_else(|| panic!("{kind:?}/{seed}: no structure"));
                match st {
                    Structure::WithinFrame { bit, .. } => {
                        // Copies 1 << bit apart: apart by the truth in (nearly) every frame.
                        let apart = (0..400)
                            .filter(|&k| truly_apart(&t.source, k * 4096 + (k % 7) * 128, (k * 4096 + (k % 7) * 128) ^ (1 << bit)))
                            .count();
                        assert!(apart >= 380, "{kind:?}/{seed}: bit {bit} keeps {apart} of 400 pairs apart");
                    }
                    Structure::WholeFrame { .. } => {
                        let map = learn_map(frames, PER_PAGE, &g, &mut t, &o, usize::MAX);
                        let (by_class, _) = assign(&map, 2, 600).unwrap_or_else(|e| panic!("{kind:?}/{seed}: {e}"));
                        let apart = (0..600).filter(|&k| truly_apart(&t.source, by_class[0][k] * FRAME, by_class[1][k] * FRAME)).count();
                        assert!(apart >= 570, "{kind:?}/{seed}: {apart} of 600 chunks' frames apart");
                    }
                    other => panic!("{kind:?}/{seed}: {other:?}"),
                }
            }
        }
        // No stalls to see: unclear. Every line at one phase: fewer than two groups.
        let mut t = timer(HostKind::Flat, 1);
        assert!(matches!(sample_structure(frames, &mut t, &o).0, Some((_, Structure::Unclear { .. }))));
        let mut t = timer(HostKind::Together, 1);
        assert!(sample_structure(frames, &mut t, &o).0.is_none());
    }

    #[test]
    fn periods_and_residue_patterns() {
        let run: Vec<Option<usize>> = (0..40).map(|f| Some(f % 3)).collect();
        assert_eq!(find_period(std::slice::from_ref(&run), 10, 0.9), Some((3, 1.0)));
        let mut holes = run.clone();
        holes[4] = None;
        holes[7] = Some(0);
        assert_eq!(find_period(&[holes.clone()], 10, 0.9).map(|p| p.0), Some(3));
        assert_eq!(residue_pattern(&holes[..9], 3), vec![Some(0), None, Some(2)], "a tie in residue 1");
        assert_eq!(find_period(&[vec![Some(0), Some(1)]], 10, 0.9), None, "too short to tell");
    }
}
