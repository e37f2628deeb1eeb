//! Steering on every host seen (the `refresh::hosts` fixture), with copies placed as placement
//! places them there: the structure sample decides, a paired table (a bit splits frames) or a
//! frame table (whole frames) gives every slot its copies, and a tracker set up as `Slayer` sets
//! it up steers reads of random slots. Each read stalls as the fixture's truth for that slot's copy
//! says, so a copy whose lines' phases spread over the period is steered as it really is, not as
//! one window.

use std::sync::Arc;

use crate::layout::{FrameTable, Layout, PAIRED_SLOTS};
use crate::placement::frames::{self, MapOptions, Structure};
use crate::refresh::hosts::{timer, HostKind};
use crate::rng::SplitMix64;
use crate::steer::tracker::{SteerState, Tracker, TrackerConfig};

const PER_PAGE: usize = 512;

/// The layout placement gives a steered two-copy slab of `slots` on the fixture host.
fn placed(kind: HostKind, slots: u64, seed: u64) -> (Layout, crate::refresh::lines::SessionTimer<crate::refresh::hosts::Host>) {
    let mut t = timer(kind, seed);
    let o = MapOptions::default();
    let chunks = slots.div_ceil(PAIRED_SLOTS as u64) as usize;
    let frames = 2 * chunks + 4 * PER_PAGE;
    let sample = frames::sample_stalls(frames, &mut t, &o).0;
    let (g, st) = sample.decide(&o).expect("a structure");
    let layout = match st {
        Structure::WithinFrame { bit, .. } => {
            let (arc, share) = frames::paired_arc(&sample, bit).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            let frames = (frames as f64 / share) as usize;
            let o = MapOptions { split_bit: bit, ..o };
            let partner = sample.partner_prediction(bit, arc);
            let picked = frames::paired_by_phase(frames, &mut t, &o, arc, partner, chunks).picks;
            assert_eq!(picked.len(), chunks, "{kind:?}");
            let table = FrameTable::build_paired(chunks as u64, |k| (picked[k as usize].0 as u64, picked[k as usize].1)).unwrap();
            Layout::paired(slots, bit, Arc::new(table)).unwrap()
        }
        Structure::WholeFrame { .. } => {
            let chunks = slots.div_ceil(512) as usize;
            let map = frames::learn_map(frames, PER_PAGE, &g, &mut t, &o, usize::MAX);
            let (by_class, _) = frames::assign(&map, 2, chunks).unwrap();
            let table = FrameTable::build(chunks as u64, 2, |k, r| by_class[r][k as usize] as u64).unwrap();
            Layout::framed(slots, 2, Arc::new(table)).unwrap()
        }
        other => panic!("{kind:?}: {other:?}"),
    };
    (layout, t)
}

/// Slow shares (steered, always copy 0) over `n` reads of random slots after calibration, and
/// the tracker's report. Time is in ns (a 1 tick/ns clock); a read is slow over `slow_ns`.
fn steer(kind: HostKind, seed: u64, n: u64) -> (f64, f64, crate::steer::SteerReport) {
    let slots = 64 * 1024u64;
    let (layout, mut t) = placed(kind, slots, seed);
    let host = &mut t.source;
    let cfg = TrackerConfig::for_measured_period(2, 1.0, host.period_ns);
    let slow_ns = cfg.slow_ticks as u32;
    let mut tr = Tracker::new(cfg).unwrap();
    let mut rng = SplitMix64::new(seed ^ 0x57EE);
    let every = crate::steer::reader::LOCKED_OBSERVE_EVERY as u64;
    let (mut now, mut reads, mut steered_slow, mut direct_slow) = (1_000_000_000u64, 0u64, 0u64, 0u64);
    let mut k = 0u64;
    while reads < n {
        let i = rng.below(slots);
        let observed = tr.state() != SteerState::Locked || k % every == 0;
        k += 1;
        let c = if observed { tr.choose_observed(now) } else { tr.choose(now) };
        let lat = host.latency(layout.offset(c, i), now);
        if observed {
            tr.observe(now, c, lat as u64);
        }
        if tr.state() == SteerState::Locked {
            let direct = host.latency(layout.offset(0, i), now);
            reads += 1;
            steered_slow += (lat > slow_ns && lat < 1000) as u64;
            direct_slow += (direct > slow_ns && direct < 1000) as u64;
        }
        now += lat as u64 + rng.below(2000);
        assert!(k < 40 * n, "{kind:?}: never locked: {:?}", tr.report());
    }
    (steered_slow as f64 / n as f64, direct_slow as f64 / n as f64, tr.report())
}

#[test]
fn steering_cuts_slow_reads_on_every_host_seen() {
    // How much each host's structure lets steering cut, as the fixture imitates it; the model
    // has no host in it.
    for (kind, at_most) in [(HostKind::A, 0.3), (HostKind::B, 0.5), (HostKind::C, 0.3)] {
        let (steered, direct, r) = steer(kind, 7, 400_000);
        eprintln!(
            "{kind:?}: steered {steered:.4} direct {direct:.4} ({:.2}x) predicted {:.4} vs {:.4}",
            steered / direct,
            r.expected_steered_share,
            r.expected_unsteered_share
        );
        assert!(direct > 0.01, "{kind:?}: the fixture should stall copy 0 often: {direct}");
        assert!(steered <= at_most * direct, "{kind:?}: steered {steered:.4} vs copy 0 {direct:.4}: {r:?}");
        assert!(r.copies_apart, "{kind:?}: {r:?}");
    }
}

#[test]
fn where_lines_of_a_frame_stall_apart_steering_placement_refuses_and_hedging_places() {
    // Host D: bits 8–10 move lines of one frame apart too, so one timed line cannot stand for its
    // frame; copies 64 B apart still stall apart in every frame, which is all hedging needs.
    let mut t = timer(HostKind::D, 7);
    let o = MapOptions::default();
    let sample = frames::sample_stalls(4 * PER_PAGE, &mut t, &o).0;
    let (_, st) = sample.decide(&o).unwrap();
    let Structure::WithinFrame { bit, .. } = st else { panic!("{st:?}") };
    let e = frames::paired_arc(&sample, bit).unwrap_err();
    assert!(e.contains("lines of one frame stall at different phases"), "{e}");
}
