//! Which read strategy a slab uses, and why, in one sentence a user can act on; and the plan a
//! slab is built by (`plan`: which placement is tried, what it falls back to, and why).
//!
//! Owns the rule behind `strategy: 'auto'`, the warnings for explicit strategies expected to
//! lose, and which strategies a shared slab takes. Pure: the facts it judges (cores, what the
//! boot cache remembers, the outcome of trying to steer) are measured by the caller and passed
//! in, so every branch is testable without the machine. Never measures, maps, reads a file or
//! spawns anything itself. Its sentences name settings with `crate::error`'s markers, for each
//! front end to spell.

pub mod plan;
#[cfg(test)]
mod plan_table;

use crate::error::Error;
use crate::options::Strategy;
use crate::steer::{SteerReport, SteerState};

pub use plan::{Facts, Kind, Placement, Plan, Step, StrategyPlan};

/// The cores a hedged slab's replica threads could have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreFacts {
    /// Replica threads a hedged slab runs (one per copy).
    pub replicas: usize,
    /// Cores this process may run on.
    pub allowed: usize,
    /// Allowed cores other than the constructing thread's.
    pub free: usize,
    /// The caller named the replica threads' cores.
    pub explicit: bool,
}

impl CoreFacts {
    /// The facts for `replicas` threads in a process allowed on `allowed`, constructed on core
    /// `current` (None where the thread's core cannot be told), the cores named by the caller or
    /// not (`explicit`).
    pub fn of(replicas: usize, allowed: &[usize], current: Option<usize>, explicit: bool) -> CoreFacts {
        CoreFacts { replicas, allowed: allowed.len(), free: allowed.iter().filter(|&&c| Some(c) != current).count(), explicit }
    }

    /// Cores hedging needs: one per replica thread plus the caller's.
    pub fn needed(&self) -> usize {
        self.replicas + 1
    }

    /// Every replica thread gets an allowed core of its own besides the caller's (or the caller
    /// chose the cores: then they are the caller's to judge).
    pub fn hedge_fits(&self) -> bool {
        self.explicit || self.free >= self.replicas
    }

    fn shortfall(&self) -> String {
        format!("hedge needs {} free cores ({} replica threads + the caller), {} allowed", self.needed(), self.replicas, self.allowed)
    }
}

/// The predicted steered slow share, as a share of the unsteered one, at or below which steering
/// is expected to pay. The tracker steers from 0.75 on (`copies_apart`), but a steered read costs
/// more than a direct one (a clock read, both copies requested), so a small predicted gain loses
/// (the runs that set it: docs/steering.md, "When 'auto' steers").
pub const PAYS_SHARE: f64 = 0.5;

/// What trying to steer found: whether the copies stall apart and steering is predicted to pay.
#[derive(Clone, Debug, PartialEq)]
pub struct SteerTrial {
    /// How the copies were placed ("refresh-groups" or "offset N B"), for the sentence.
    pub placement: String,
    /// Where calibration left the tracker.
    pub state: SteerState,
    /// The tracker found the copies' stalls far enough apart to steer between them.
    pub copies_apart: bool,
    /// Calibration's predicted share of slow reads when steered.
    pub expected_steered_share: f64,
    /// Calibration's predicted share of slow reads from a fixed copy.
    pub expected_unsteered_share: f64,
}

impl SteerTrial {
    /// The trial a calibrated tracker's report shows, for copies placed as `placement` says.
    pub fn from_report(placement: String, r: &SteerReport) -> SteerTrial {
        SteerTrial {
            placement,
            state: r.state,
            copies_apart: r.copies_apart,
            expected_steered_share: r.expected_steered_share,
            expected_unsteered_share: r.expected_unsteered_share,
        }
    }

    /// Steering is predicted to pay: the tracker locked, the copies stall apart, and calibration
    /// predicts steering at least halves the slow share (`PAYS_SHARE`).
    pub fn pays(&self) -> bool {
        self.state == SteerState::Locked && self.copies_apart && self.expected_steered_share <= PAYS_SHARE * self.expected_unsteered_share
    }

    fn describe(&self) -> String {
        if self.pays() {
            format!(
                "copies placed by {} stall apart; calibration predicts {:.1}% slow reads steered against {:.1}% unsteered",
                self.placement,
                self.expected_steered_share * 100.0,
                self.expected_unsteered_share * 100.0
            )
        } else if self.state != SteerState::Locked {
            format!("with copies placed by {}, calibration found no periodic stall to steer around ({})", self.placement, self.state.name())
        } else {
            format!(
                "with copies placed by {}, the copies do not stall apart enough (predicted {:.1}% slow steered against {:.1}% unsteered)",
                self.placement,
                self.expected_steered_share * 100.0,
                self.expected_unsteered_share * 100.0
            )
        }
    }
}

/// The strategy a slab runs with, what was asked for, and why. Serialized it is `info()`'s
/// `strategyRequested`, `strategyReason` and `strategyWarning` (flattened into `Info`, whose own
/// `strategy` is the one chosen).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Choice {
    /// Never `Auto`.
    #[serde(skip)]
    pub strategy: Strategy,
    /// What the caller asked for (`Auto` included).
    #[serde(rename = "strategyRequested")]
    pub requested: Strategy,
    /// One sentence: what was chosen and why.
    #[serde(rename = "strategyReason")]
    pub reason: String,
    /// Set when an explicitly requested strategy is expected to lose against reading directly.
    #[serde(rename = "strategyWarning", skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl Choice {
    /// A steered slab of two copies `2^bit` bytes apart whose frames a thread learns while it
    /// serves (placement 'background', or 'auto' for an explicit 'steer' when placing up front
    /// would not fit the budget): steered whatever the trial would say, since there is none.
    pub fn learned_in_background(requested: Strategy, bit: u32) -> Choice {
        Choice {
            strategy: Strategy::Steer,
            requested,
            reason: format!(
                "steer: as asked; copies 2^{bit} bytes apart, each 4 KiB frame steered once a thread of its own has learned which copy stalls where (read from copy 0 until then)"
            ),
            warning: None,
        }
    }
}

/// The strategy a shared slab (created, opened, or a record segment) runs with as asked: shared
/// slabs are hedged or read directly. Steering needs copy r in the same refresh groups for every
/// slot, which a segment laid out by an offset does not give (on a bit-split machine, which line
/// of a pair is in which group flips from frame to frame) and segments never record the paired
/// table that fixes it; the framed table of a whole-frame machine would give it, but steering
/// shared slabs is not built.
///
/// # Errors
/// `Error::OptionOutOfRange` (option "strategy") for `Strategy::Steer`.
pub fn shared_strategy(s: Strategy) -> crate::Result<Strategy> {
    match s {
        Strategy::Steer => Err(Error::option_range(
            "strategy",
            "a shared slab is hedged or read directly: use ⟦set:strategy=auto⟧, ⟦set:strategy=hedge⟧ or ⟦set:strategy=direct⟧",
        )),
        s => Ok(s),
    }
}

/// 'auto' on a local slab where hedging does not fit, for a front end whose direct reads are
/// inline (`DirectReads::Inline`): direct, with no steering trial. A steered read there is a call
/// with a clock read in it against a load with no call, slower at the median whatever it saves at
/// the tail, and the default never trades the median for the tail unasked.
pub fn auto_without_steering(cores: &CoreFacts) -> Choice {
    Choice {
        strategy: Strategy::Direct,
        requested: Strategy::Auto,
        reason: format!(
            "direct: {}; a steered read would be a native call with a clock read in it, slower at the median than a direct read, which \
             here is a load with no call (⟦set:strategy=steer⟧ trades that for the tail, with a warning when calibration predicts no gain)",
            cores.shortfall()
        ),
        warning: None,
    }
}

/// Decides. `steer` runs the steering trial (place, calibrate) and is called only when the rule
/// needs its answer: for 'auto' when hedging does not fit, and for an explicit 'steer' (to warn).
/// It returns None where steering is not tried at all (shared slabs), `Some(Err(why))` when
/// calibration refused (e.g. a clock too coarse to steer by): 'auto' then reads directly and says
/// why; an explicit 'steer' is the caller's to refuse.
pub fn choose(requested: Strategy, cores: &CoreFacts, steer: impl FnOnce() -> Option<Result<SteerTrial, String>>) -> Choice {
    let choice = |strategy, reason: String, warning| Choice { strategy, requested, reason, warning };
    match requested {
        Strategy::Auto if cores.hedge_fits() => choice(
            Strategy::Hedge,
            if cores.explicit {
                "hedge: replica threads on the cores given".to_string()
            } else {
                format!(
                    "hedge: {} allowed cores give each of {} replica threads a core besides the caller's",
                    cores.allowed, cores.replicas
                )
            },
            None,
        ),
        Strategy::Auto => match steer() {
            Some(Ok(t)) if t.pays() => choice(Strategy::Steer, format!("steer: {}; {}", cores.shortfall(), t.describe()), None),
            Some(Ok(t)) => choice(Strategy::Direct, format!("direct: {}; steering cannot help: {}", cores.shortfall(), t.describe()), None),
            Some(Err(why)) => {
                choice(Strategy::Direct, format!("direct: {}; steering cannot help: calibration refused: {why}", cores.shortfall()), None)
            }
            None => choice(Strategy::Direct, format!("direct: {}", cores.shortfall()), None),
        },
        Strategy::Hedge => {
            let warning = (!cores.hedge_fits()).then(|| {
                format!(
                    "{}: replica threads share cores with each other and the caller, so expect reads slower than ⟦set:strategy=direct⟧",
                    cores.shortfall()
                )
            });
            choice(Strategy::Hedge, "hedge: as asked".into(), warning)
        }
        Strategy::Steer => {
            let warning = match steer() {
                Some(Ok(t)) if t.pays() => None,
                Some(Ok(t)) => {
                    Some(format!("{}: steering reads a fixed copy, at a clock read per call more than ⟦set:strategy=direct⟧", t.describe()))
                }
                Some(Err(_)) | None => None,
            };
            choice(Strategy::Steer, "steer: as asked".into(), warning)
        }
        Strategy::Direct => choice(Strategy::Direct, "direct: as asked".into(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cores(allowed: usize, free: usize, explicit: bool) -> CoreFacts {
        CoreFacts { replicas: 2, allowed, free, explicit }
    }

    /// A trial of copies placed by refresh group, predicting 1% slow reads steered against 4%.
    pub(super) fn trial(state: SteerState, apart: bool) -> SteerTrial {
        SteerTrial {
            placement: "refresh-groups".into(),
            state,
            copies_apart: apart,
            expected_steered_share: 0.01,
            expected_unsteered_share: 0.04,
        }
    }

    #[test]
    fn auto_hedges_only_with_a_free_core_per_replica_thread() {
        let c = choose(Strategy::Auto, &cores(4, 3, false), || panic!("no steering trial when hedging fits"));
        assert_eq!((c.strategy, c.warning), (Strategy::Hedge, None));
        assert!(c.reason.contains("4 allowed cores"), "{}", c.reason);
        let c = choose(Strategy::Auto, &cores(2, 1, true), || panic!("named cores are the caller's to judge"));
        assert_eq!(c.strategy, Strategy::Hedge);
    }

    #[test]
    fn auto_steers_on_a_small_box_when_calibration_predicts_a_gain() {
        let c = choose(Strategy::Auto, &cores(2, 1, false), || Some(Ok(trial(SteerState::Locked, true))));
        assert_eq!(c.strategy, Strategy::Steer);
        assert!(c.reason.starts_with("steer: hedge needs 3 free cores (2 replica threads + the caller), 2 allowed"), "{}", c.reason);
        assert!(c.reason.contains("predicts 1.0% slow reads steered against 4.0%"), "{}", c.reason);
    }

    #[test]
    fn auto_reads_directly_when_steering_cannot_help() {
        // Copies apart but a small predicted gain (3.9% against 5.5%: a share of 0.7).
        let small = SteerTrial { expected_steered_share: 0.039, expected_unsteered_share: 0.055, ..trial(SteerState::Locked, true) };
        assert!(!small.pays());
        for t in [trial(SteerState::Locked, false), trial(SteerState::NoSignal, false), trial(SteerState::Calibrating, true), small] {
            let c = choose(Strategy::Auto, &cores(2, 1, false), || Some(Ok(t.clone())));
            assert_eq!(c.strategy, Strategy::Direct, "{t:?}");
            assert!(c.reason.contains("steering cannot help"), "{}", c.reason);
        }
        let c = choose(Strategy::Auto, &cores(1, 0, false), || None);
        assert_eq!(c.strategy, Strategy::Direct);
        assert_eq!(c.reason, "direct: hedge needs 3 free cores (2 replica threads + the caller), 1 allowed");
    }

    #[test]
    fn auto_reads_directly_untried_for_a_front_end_whose_direct_reads_have_no_call() {
        let c = auto_without_steering(&cores(2, 1, false));
        assert_eq!((c.strategy, c.requested, c.warning), (Strategy::Direct, Strategy::Auto, None));
        assert!(c.reason.starts_with("direct: hedge needs 3 free cores (2 replica threads + the caller), 2 allowed; "), "{}", c.reason);
        assert!(c.reason.contains("slower at the median") && c.reason.contains("⟦set:strategy=steer⟧"), "{}", c.reason);
    }

    #[test]
    fn auto_reads_directly_and_says_why_when_calibration_refuses() {
        let c = choose(Strategy::Auto, &cores(2, 1, false), || Some(Err("the clock counts 40 ticks in a 1950 ns period".into())));
        assert_eq!((c.strategy, c.warning), (Strategy::Direct, None));
        assert!(
            c.reason.ends_with("steering cannot help: calibration refused: the clock counts 40 ticks in a 1950 ns period"),
            "{}",
            c.reason
        );
    }

    #[test]
    fn explicit_strategies_are_honoured_with_a_warning_when_expected_to_lose() {
        let c = choose(Strategy::Hedge, &cores(2, 1, false), || panic!("hedge needs no trial"));
        assert_eq!(c.strategy, Strategy::Hedge);
        assert!(c.warning.as_deref().unwrap().contains("slower than ⟦set:strategy=direct⟧"));
        assert_eq!(choose(Strategy::Hedge, &cores(8, 7, false), || None).warning, None);
        let c = choose(Strategy::Steer, &cores(8, 7, false), || Some(Ok(trial(SteerState::NoSignal, false))));
        assert_eq!(c.strategy, Strategy::Steer, "even with free cores");
        assert!(c.warning.unwrap().contains("fixed copy"));
        assert_eq!(choose(Strategy::Steer, &cores(2, 1, false), || Some(Ok(trial(SteerState::Locked, true)))).warning, None);
        let c = choose(Strategy::Direct, &cores(8, 7, false), || panic!("direct needs no trial"));
        assert_eq!((c.strategy, c.warning), (Strategy::Direct, None));
    }
}
