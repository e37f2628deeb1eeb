//! Refresh-group placement: learn, by timing alone, in which refresh group each 4 KiB page of a
//! pool stalls, and pick pages so that every replica is made only of pages from its own groups.
//!
//! Why pages: on some machines no fixed address bit below the page size moves a line into another
//! refresh group (on the 2-vCPU EPYC host of docs/, every line of a 4 KiB page refreshes together
//! and bits 12–16 switch group for only half the lines, differently per page), so copies a fixed
//! `channelOffset` apart stall together and steering has nothing to choose between. Which group a
//! page falls in is still a fixed fact of that page's physical address, and timing can find it.
//!
//! How: every page's line is timed beside one reference line (`refresh::evidence`), which gives
//! its stall phase relative to the reference.
//!
//! The rest is pure: `partition` clusters the phases and splits the groups, in phase order, into
//! one contiguous arc per replica, balanced by page count, so replica r's pages stall only while
//! no other replica's do. `Slayer` gathers the chosen pages into the slab with
//! `Region::gather` (layout `channelOffset` 4096: virtual page j belongs to replica j mod N).

use crate::refresh::phase::{circular_distance, circular_mean, wrap};

/// The page granularity the groups are learned at.
pub(crate) const PAGE: usize = 4096;

/// Refresh groups found among the pages, and which replica ("class") each group serves.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Partition {
    /// Group centres in cycles relative to the reference line, in increasing phase from group 0.
    pub centers: Vec<f64>,
    /// Pages in each group.
    pub group_pages: Vec<usize>,
    /// The class (replica) each group serves.
    pub class_of_group: Vec<usize>,
    /// Pages each class can draw on.
    pub class_pages: Vec<usize>,
    /// Smallest circular distance between stalls of two different classes, in cycles.
    pub separation: f64,
    /// Class of each page (None: unclear, or in no group).
    #[serde(skip)]
    pub(crate) labels: Vec<Option<usize>>,
}

/// Refresh groups among page phases: centres and each page's group.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Groups {
    /// Centres in cycles, in increasing phase from the one nearest 0.
    pub(crate) centers: Vec<f64>,
    /// Group of each input phase; None for unclear pages and for pages too far from every centre
    /// to be sure which group they are in.
    pub(crate) labels: Vec<Option<usize>>,
}

/// Finds groups as peaks of the phase density, not by gaps: measured groups are wide enough
/// (stall burst plus estimate noise) that their tails meet. A peak needs `min_share` of the clear
/// pages within `radius` cycles and must be at least `3 · radius` from a higher peak (noise can
/// make one wide group look two-humped); each centre
/// is the circular mean of the pages within `radius` of the peak. A page joins the nearest centre
/// only when it is closer than `accept` times the distance to that centre's nearest neighbour
/// centre, so pages in the tails between two groups are left out rather than guessed.
pub(crate) fn find_groups(phases: &[Option<f64>], radius: f64, min_share: f64, accept: f64) -> Groups {
    const BINS: usize = 256;
    let mut hist = [0usize; BINS];
    let clear: Vec<f64> = phases.iter().flatten().map(|&p| wrap(p)).collect();
    for &p in &clear {
        hist[((p * BINS as f64) as usize).min(BINS - 1)] += 1;
    }
    // Pages within ±radius of each bin centre (a circular box sum).
    let r = ((radius * BINS as f64).round() as usize).clamp(1, BINS / 4);
    let density: Vec<usize> = (0..BINS).map(|b| (0..=2 * r).map(|d| hist[(b + BINS + d - r) % BINS]).sum()).collect();
    let need = ((min_share * clear.len() as f64).ceil() as usize).max(3);
    let mut order: Vec<usize> = (0..BINS).filter(|&b| density[b] >= need).collect();
    order.sort_by(|&a, &b| density[b].cmp(&density[a]).then(a.cmp(&b)));
    let mut peaks: Vec<f64> = Vec::new();
    for b in order {
        let x = (b as f64 + 0.5) / BINS as f64;
        if peaks.iter().all(|&q| circular_distance(q, x) >= 3.0 * radius) {
            peaks.push(x);
        }
    }
    let mut centers: Vec<f64> =
        peaks.iter().filter_map(|&q| circular_mean(clear.iter().copied().filter(|&p| circular_distance(p, q) <= radius))).collect();
    if let Some(first) = centers.iter().copied().min_by(|a, b| circular_distance(*a, 0.0).total_cmp(&circular_distance(*b, 0.0))) {
        centers.sort_by(|a, b| wrap(a - first).total_cmp(&wrap(b - first)));
    }
    let labels = phases.iter().map(|p| label((*p)?, &centers, accept)).collect();
    Groups { centers, labels }
}

/// The group among `centers` that `phase` belongs to: the nearest centre, when the phase is closer
/// than `accept` times the distance from that centre to its nearest neighbour centre (else None:
/// in the tails between two groups).
pub(crate) fn label(phase: f64, centers: &[f64], accept: f64) -> Option<usize> {
    let p = wrap(phase);
    let (g, d) = (0..centers.len()).map(|g| (g, circular_distance(p, centers[g]))).min_by(|a, b| a.1.total_cmp(&b.1))?;
    let spacing = (0..centers.len()).filter(|&h| h != g).map(|h| circular_distance(centers[g], centers[h])).fold(0.5, f64::min);
    (d <= accept * spacing).then_some(g)
}

/// Finds the groups (`find_groups` with a peak radius of `radius` cycles, 8% of the pages per
/// group, pages accepted within 0.4 of the spacing to the next group) and splits them, in phase
/// order, into `classes` contiguous arcs, choosing the split whose smallest class has the most
/// pages. None when there are fewer groups than classes.
pub(crate) fn partition(phases: &[Option<f64>], classes: usize, radius: f64) -> Option<Partition> {
    split(find_groups(phases, radius, 0.08, 0.4), classes)
}

/// Splits groups already found (and every page's group) into `classes` contiguous arcs of the
/// phase circle, choosing the split whose smallest class has the most pages. None when there are
/// fewer groups than classes.
pub(crate) fn split(c: Groups, classes: usize) -> Option<Partition> {
    let g = c.centers.len();
    if classes == 0 || g < classes {
        return None;
    }
    let mut group_pages = vec![0usize; g];
    for l in c.labels.iter().flatten() {
        group_pages[*l] += 1;
    }
    // Every way to cut the circle of g groups into `classes` arcs: choose `classes` cut points
    // among the g gaps (a cut before group k). g ≤ 8, so at most C(8,4) = 70 choices.
    let mut best: Option<(usize, Vec<usize>)> = None;
    for mask in 0u32..(1 << g) {
        if mask.count_ones() as usize != classes {
            continue;
        }
        let cuts: Vec<usize> = (0..g).filter(|k| mask & (1 << k) != 0).collect();
        let mut class_of_group = vec![0usize; g];
        for (ci, w) in cuts.iter().enumerate() {
            let end = cuts[(ci + 1) % classes];
            let mut k = *w;
            loop {
                class_of_group[k] = ci;
                k = (k + 1) % g;
                if k == end {
                    break;
                }
            }
        }
        let mut counts = vec![0usize; classes];
        for (k, &cl) in class_of_group.iter().enumerate() {
            counts[cl] += group_pages[k];
        }
        let min = counts.iter().copied().min().unwrap_or(0);
        if best.as_ref().map_or(true, |(m, _)| min > *m) {
            best = Some((min, class_of_group));
        }
    }
    let (_, class_of_group) = best?;
    let mut class_pages = vec![0usize; classes];
    for (k, &cl) in class_of_group.iter().enumerate() {
        class_pages[cl] += group_pages[k];
    }
    let mut separation = 0.5f64;
    for a in 0..g {
        for b in 0..g {
            if class_of_group[a] != class_of_group[b] {
                separation = separation.min(circular_distance(c.centers[a], c.centers[b]));
            }
        }
    }
    let labels = c.labels.iter().map(|l| l.map(|k| class_of_group[k])).collect();
    Some(Partition { centers: c.centers, group_pages, class_of_group, class_pages, separation, labels })
}

/// The pool page for every page of the slab: slab page j belongs to class j mod `classes` and
/// takes that class's next page. None when some class has too few pages.
pub(crate) fn picks(labels: &[Option<usize>], classes: usize, slab_pages: usize) -> Option<Vec<usize>> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (p, l) in labels.iter().enumerate() {
        if let Some(c) = *l {
            if c < classes {
                by_class[c].push(p);
            }
        }
    }
    let mut next = vec![0usize; classes];
    let mut out = Vec::with_capacity(slab_pages);
    for j in 0..slab_pages {
        let c = j % classes;
        out.push(*by_class[c].get(next[c])?);
        next[c] += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn partition_cuts_the_circle_into_balanced_contiguous_arcs() {
        // Four quarter-period groups of 10, 30, 10, 30 pages: two classes of 40 each.
        let mut phases = Vec::new();
        for (g, n) in [(0.0, 10), (0.25, 30), (0.5, 10), (0.75, 30)] {
            for k in 0..n {
                phases.push(Some(wrap(g + 0.01 * (k % 3) as f64)));
            }
        }
        phases.push(None);
        let p = partition(&phases, 2, 0.06).unwrap();
        assert_eq!(p.centers.len(), 4);
        assert_eq!(p.class_pages, vec![40, 40]);
        assert!(p.separation >= 0.2, "{p:?}");
        // Each class is one contiguous arc: its groups are neighbours.
        let g0: Vec<usize> = (0..4).filter(|&k| p.class_of_group[k] == p.class_of_group[0]).collect();
        assert!(g0 == vec![0, 1] || g0 == vec![0, 3], "{p:?}");
        assert_eq!(p.labels.len(), phases.len());
        assert_eq!(p.labels.last(), Some(&None));
        // Four classes take one group each; five cannot be had.
        assert_eq!(partition(&phases, 4, 0.06).unwrap().class_pages.iter().sum::<usize>(), 80);
        assert!(partition(&phases, 5, 0.06).is_none());
        // A few stray pages between the groups do not make groups of their own.
        let mut noisy = phases.clone();
        noisy.extend([Some(0.13), Some(0.38), Some(0.62)]);
        let q = partition(&noisy, 2, 0.06).unwrap();
        assert_eq!(q.centers.len(), 4, "{q:?}");
        // One group: nothing to split.
        assert!(partition(&[Some(0.1), Some(0.11)], 2, 0.06).is_none());
    }

    #[test]
    fn wide_groups_whose_tails_meet_are_found_and_their_tails_left_out() {
        // Four quarter-period groups, phases spread ±0.06 (as measured), with a 5% uniform
        // background: a gap-based clustering finds no gaps here.
        let mut rng = SplitMix64::new(9);
        let mut truth = Vec::new();
        let phases: Vec<Option<f64>> = (0..4000)
            .map(|k| {
                if k % 20 == 19 {
                    truth.push(None);
                    return Some(rng.next_f64());
                }
                let g = k % 4;
                truth.push(Some(g));
                let noise = (rng.next_f64() + rng.next_f64() + rng.next_f64() - 1.5) * 0.07;
                Some(wrap(0.1 + 0.25 * g as f64 + noise))
            })
            .collect();
        let f = find_groups(&phases, 0.06, 0.08, 0.4);
        assert_eq!(f.centers.len(), 4, "{:?}", f.centers);
        for (g, c) in f.centers.iter().enumerate() {
            assert!(circular_distance(*c, 0.1 + 0.25 * g as f64) < 0.02, "{:?}", f.centers);
        }
        let labelled: Vec<(usize, usize)> = f.labels.iter().zip(&truth).filter_map(|(l, t)| Some(((*l)?, (*t)?))).collect();
        let wrong = labelled.iter().filter(|(l, t)| l != t).count();
        assert!(labelled.len() > 2500, "{} labelled", labelled.len());
        assert!(wrong * 200 < labelled.len(), "{wrong} of {} in the wrong group", labelled.len());
        let p = partition(&phases, 2, 0.06).unwrap();
        assert!(p.separation > 0.2 && p.class_pages.iter().all(|&n| n > 1200), "{p:?}");
    }

    #[test]
    fn picks_interleave_classes_and_refuse_when_short() {
        let labels = vec![Some(0), Some(1), None, Some(1), Some(0), Some(0)];
        assert_eq!(picks(&labels, 2, 4), Some(vec![0, 1, 4, 3]));
        assert_eq!(picks(&labels, 2, 5), Some(vec![0, 1, 4, 3, 5]));
        assert_eq!(picks(&labels, 2, 6), None);
    }
}
