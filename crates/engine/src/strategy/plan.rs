//! The plan a slab is built by, decided before anything is mapped: from what was asked
//! (`Options`, for a slab of this process or a shared segment: `Kind`) and what this machine is
//! (`Facts`), the strategy (or that a steering trial on the built slab decides it), whether the
//! slab gets the steering layout, and the placements to try in order, each refused one giving way
//! to the next with its refusal as the reason (refusals known beforehand are in the plan).
//!
//! Owns every rule of construction that needs no hardware: which placement 'auto' tries, which
//! refusals it goes on without, the refusals made before any timing (no budget, a budget an
//! earlier placement this boot says cannot fit, no clock to time loads by), and which options a
//! shared slab refuses. Pure: the facts are gathered by the caller (`slayer`), which carries the
//! plan out; nothing here measures, maps, reads a file or spawns. Every branch is a row of the
//! table in `plan_table`.

use super::{auto_without_steering, choose, shared_strategy, Choice, CoreFacts, SteerTrial};
use crate::error::{Error, Result};
use crate::layout::PAIRED_SLOTS;
use crate::options::{ChannelOffset, CopyPlacement, DirectReads, Options, Strategy, AUTO_PLACE_MIN_BYTES, DEFAULT_PLACEMENT_BUDGET};
use crate::placement::{BackgroundWhen, OVER_BUDGET};
use crate::refresh::boot_cache::Remembered;

/// Which constructor a plan is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Slayer::new`: a slab of this process.
    Local,
    /// `Slayer::create_shared`: a named segment other processes open (hedged or read directly,
    /// never steered; placed by refresh group only on its own pages).
    Shared,
}

/// What a plan needs to know of this machine, gathered by the caller.
#[derive(Clone, Debug, PartialEq)]
pub struct Facts {
    /// The cores the replica threads could have.
    pub cores: CoreFacts,
    /// What an earlier placement this boot remembered (`refresh::boot_cache::recall`). Recalling
    /// reads files and may time the clock, so gather it only where `Plan::recalls` says the plan
    /// looks at it (None otherwise).
    pub(crate) remembered: Option<Remembered>,
    /// This build can time flushed loads (`refresh::timing::supported`).
    pub timing: bool,
}

/// One way to place the copies of every slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// By refresh group on the slab's own pages, huge pages included (`placement::build`, or
    /// `placement::create_shared` for a shared slab).
    HugePages {
        /// Copy r in the same refresh groups for every slot (`PlacementOptions::consistent`),
        /// which steering needs.
        consistent: bool,
        /// When the slab is built at once and its frames learned while it serves instead.
        background: BackgroundWhen,
    },
    /// Single 4 KiB pages moved into place by refresh group (`steer::arrange`).
    RefreshGroups,
    /// Copies `channel_offset` bytes apart: nothing to time, refused only when the memory is.
    Offset,
}

impl Placement {
    /// Its name in `info()` (a fallback's `from`) and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Placement::HugePages { .. } => "huge-pages",
            Placement::RefreshGroups => "refresh-groups",
            Placement::Offset => "offset",
        }
    }
}

/// One placement to try.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// What to try.
    pub placement: Placement,
    /// Its refusal when known before trying (nothing is mapped or timed then): carried out as if
    /// trying had returned it.
    pub refused: Option<Error>,
}

/// The strategy, as far as it is known before the slab exists.
#[derive(Clone, Debug, PartialEq)]
pub enum StrategyPlan {
    /// Known now, with its reason and any warning.
    Decided(Choice),
    /// Decided by a steering trial (calibrating a reader) on the built slab: 'auto' on too few
    /// cores for hedging steers or reads directly by it; an explicit 'steer' steers and is warned
    /// by it. A slab learned in the background has no trial (`Choice::learned_in_background`).
    Trial,
}

/// How a slab is built: the result of `Plan::new`.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The strategy asked for (for a shared slab: checked, so never `Steer`).
    pub requested: Strategy,
    /// The cores the rule judged.
    pub cores: CoreFacts,
    /// The strategy, or that a trial decides it.
    pub strategy: StrategyPlan,
    /// The slab may steer, so it gets the steering layout: the steering default offset
    /// (`ChannelOffset::resolve`) and, placed by refresh group, copy r in the same groups for every
    /// slot.
    pub steers: bool,
    /// The placements in the order tried; never empty. A refusal of one that 'auto' goes on
    /// without gives way to the next (`Plan::after_refusal`), every later one being
    /// `Placement::Offset`; a refusal of the last is the caller's to see.
    pub placements: Vec<Step>,
}

/// Refusals of placement by refresh group that `placement: 'auto'` goes on without, on an offset
/// (any other error, e.g. huge pages asked for and not had, is the caller's to see).
fn falls_back(e: &Error) -> bool {
    matches!(e, Error::Placement { .. } | Error::Unsupported { .. })
}

/// A placement budget of 0 leaves no time to time a single line, so placement by refresh group is
/// refused at once (before mapping or measuring anything), with that as the reason: under
/// 'auto' the slab goes on an offset, as for any other refusal. The documented way to ask for the
/// fallback deterministically (tests, benchmarks of the offset layout through the 'auto' path).
fn no_budget(opts: &Options) -> Option<Error> {
    opts.placement_budget.is_zero().then(|| Error::Placement {
        message: "⟦opt:placementBudgetMs⟧ is 0, which leaves no time to time a single line, so no copy can be placed by refresh group"
            .into(),
        hint: format!(
            "give it time (⟦opt:placementBudgetMs⟧, default {} ms) or use ⟦set:placement=offset⟧",
            DEFAULT_PLACEMENT_BUDGET.as_millis()
        ),
    })
}

/// Whether `projected_refusal` can refuse this request: placement 'auto' of a local slab that may
/// steer. An explicit 'steer' is learned in the background instead, when placing would not fit;
/// explicit placements are always tried.
fn projects(opts: &Options, kind: Kind, steers: bool) -> bool {
    kind == Kind::Local && steers && opts.placement == CopyPlacement::Auto && opts.strategy != Strategy::Steer
}

/// For placement 'auto' of a slab that may steer (`projects`): a refusal before any timing when
/// what an earlier placement this boot measured (ms per timed line, `boot_cache`) says that timing
/// one line per frame — the least any layout that steers needs — would take more than
/// `OVER_BUDGET` times the budget.
fn projected_refusal(opts: &Options, remembered: Option<&Remembered>) -> Option<Error> {
    let r = remembered?;
    let per_line_ms = r.facts.line_ms?;
    let frames = opts.slots.div_ceil(PAIRED_SLOTS as u64) as f64;
    let budget_ms = opts.placement_budget.as_secs_f64() * 1e3;
    let least_ms = frames * per_line_ms;
    (least_ms > OVER_BUDGET * budget_ms).then(|| Error::Placement {
        message: format!(
            "placing it by timing would take at least {:.1} s ({frames:.0} frames, one line each, at the {per_line_ms:.2} ms a line took in \
             an earlier placement this boot, {:.0} s ago), over the {:.1} s budget, so nothing was timed",
            least_ms / 1e3,
            r.age.as_secs_f64(),
            budget_ms / 1e3
        ),
        hint: format!("raise ⟦opt:placementBudgetMs⟧ (to about {:.0} ms) or use ⟦set:placement=offset⟧", (least_ms * 1.3).ceil()),
    })
}

/// Loads cannot be timed in this build, so nothing can be placed by refresh group (the refusal
/// `placement::build` makes, made before mapping).
fn no_timing() -> Error {
    Error::Unsupported { what: "learning refresh groups needs x86_64 (clflush + rdtsc)".into() }
}

/// Whether to place the copies by refresh group on the slab's own (huge) pages: asked for, or
/// 'auto' for a hedged slab of at least `AUTO_PLACE_MIN_BYTES` per replica whose layout the caller
/// left to us (no offset given). Smaller tables live in the caches, where refresh stalls do not
/// reach them. A slab that may steer is placed this way whatever its size ('auto'): steering needs
/// copy r in the same groups for every slot, which only timing gives where the split moves from
/// frame to frame (the paired layout), and it works on huge pages and at any size.
fn tries_huge_pages(opts: &Options, hedges: bool, steers: bool) -> bool {
    match opts.placement {
        CopyPlacement::HugePages | CopyPlacement::Background => true,
        CopyPlacement::Auto => {
            !matches!(opts.channel_offset, ChannelOffset::Given(_))
                && (steers || (hedges && opts.slots.saturating_mul(8) >= AUTO_PLACE_MIN_BYTES))
        }
        CopyPlacement::RefreshGroups | CopyPlacement::Offset => false,
    }
}

/// Whether the slab may steer and whether it hedges: the request's strategy, on these cores, for
/// a front end reading direct slabs as `direct` says.
fn roles(requested: Strategy, kind: Kind, cores: &CoreFacts, direct: DirectReads) -> (bool, bool) {
    let fits = cores.hedge_fits();
    let steers = match requested {
        Strategy::Steer => true,
        // A shared slab is never steered; a local 'auto' steers only where hedging does not fit,
        // and only for a front end whose direct reads are calls too (`DirectReads`).
        Strategy::Auto => kind == Kind::Local && !fits && direct == DirectReads::Call,
        Strategy::Hedge | Strategy::Direct => false,
    };
    let hedges = requested == Strategy::Hedge || (requested == Strategy::Auto && fits);
    (steers, hedges)
}

impl Plan {
    /// The plan for `opts` on a machine with `facts`.
    ///
    /// # Errors
    /// The request's own: for a local slab `Options::validate`'s; for a shared one
    /// `Error::OptionOutOfRange` for strategy 'steer' (`shared_strategy`) and for placement
    /// 'refresh-groups' (a segment's pages cannot be moved one by one). Refusals of placements
    /// are not errors here: they are the steps' `refused`.
    pub fn new(opts: &Options, kind: Kind, facts: &Facts) -> Result<Plan> {
        let requested = match kind {
            Kind::Local => {
                opts.validate()?;
                opts.strategy
            }
            Kind::Shared => {
                let s = shared_strategy(opts.strategy)?;
                if opts.placement == CopyPlacement::RefreshGroups {
                    return Err(Error::option_range(
                        "placement",
                        "a shared slab cannot move single 4 KiB pages into place: use ⟦set:placement=huge-pages⟧, ⟦set:placement=auto⟧ or ⟦set:placement=offset⟧",
                    ));
                }
                if opts.placement == CopyPlacement::Background {
                    return Err(Error::option_range(
                        "placement",
                        "a shared slab is never steered, so it has no frames to learn in the background: use ⟦set:placement=huge-pages⟧, ⟦set:placement=auto⟧ or ⟦set:placement=offset⟧",
                    ));
                }
                // The checks every slab gets (an offset beside 'huge-pages', the budget's bound).
                opts.validate()?;
                s
            }
        };
        let cores = facts.cores.clone();
        let (steers, hedges) = roles(requested, kind, &cores, opts.direct_reads);
        let strategy = match (kind, requested) {
            // Only a local slab is ever tried for steering; the rule asks for a trial only for an
            // explicit 'steer' and for 'auto' where hedging does not fit, for a front end whose
            // direct reads are calls; where they are inline, 'auto' reads directly untried.
            (Kind::Local, Strategy::Steer) => StrategyPlan::Trial,
            (Kind::Local, Strategy::Auto) if steers => StrategyPlan::Trial,
            (Kind::Local, Strategy::Auto) if !cores.hedge_fits() => StrategyPlan::Decided(auto_without_steering(&cores)),
            _ => StrategyPlan::Decided(choose(requested, &cores, || None)),
        };
        // Before trying to place by refresh group on the slab's pages, in this order: no budget, a
        // budget an earlier placement says cannot fit, no clock to time loads by.
        let refused_up_front = || {
            no_budget(opts)
                .or_else(|| if projects(opts, kind, steers) { projected_refusal(opts, facts.remembered.as_ref()) } else { None })
                .or_else(|| (!facts.timing).then(no_timing))
        };
        let first = if tries_huge_pages(opts, hedges, steers) {
            let background = match (kind, opts.placement, opts.strategy) {
                (Kind::Shared, ..) => BackgroundWhen::Never,
                (Kind::Local, CopyPlacement::Background, _) => BackgroundWhen::Always,
                (Kind::Local, CopyPlacement::Auto, Strategy::Steer) if opts.replicas == 2 => BackgroundWhen::WhenOverBudget,
                _ => BackgroundWhen::Never,
            };
            Placement::HugePages { consistent: steers, background }
        } else if opts.placement == CopyPlacement::RefreshGroups {
            Placement::RefreshGroups
        } else {
            Placement::Offset
        };
        let mut placements = vec![match first {
            Placement::Offset => Step { placement: first, refused: None },
            // Moving 4 KiB pages is refused up front only for want of a budget (`steer::arrange`
            // says itself where loads cannot be timed).
            Placement::RefreshGroups => Step { placement: first, refused: no_budget(opts) },
            Placement::HugePages { .. } => Step { placement: first, refused: refused_up_front() },
        }];
        // Only 'auto' goes on without what it tried (explicit placements are the caller's to
        // see refused), and only to an offset.
        if first != Placement::Offset && opts.placement == CopyPlacement::Auto {
            placements.push(Step { placement: Placement::Offset, refused: None });
        }
        Ok(Plan { requested, cores, strategy, steers, placements })
    }

    /// Whether `Plan::new` looks at `Facts::remembered` for this request on these cores: only then
    /// is it worth recalling (a local slab that may steer, placed 'auto' with a budget).
    pub fn recalls(opts: &Options, kind: Kind, cores: &CoreFacts) -> bool {
        let (steers, hedges) = roles(opts.strategy, kind, cores, opts.direct_reads);
        projects(opts, kind, steers) && tries_huge_pages(opts, hedges, steers) && !opts.placement_budget.is_zero()
    }

    /// The step to take after step `index` was refused with `e`: the next one, when there is one
    /// and `e` is a refusal 'auto' goes on without (a placement's, or timing unsupported); None
    /// when `e` is the caller's to see.
    pub fn after_refusal(&self, index: usize, e: &Error) -> Option<&Step> {
        self.placements.get(index + 1).filter(|_| falls_back(e))
    }

    /// The strategy the slab runs with: the decided one, or the rule's answer once `trial` (run
    /// only when the plan says `Trial` and the rule needs it) has tried to steer the built slab.
    /// `trial` returns what `strategy::choose`'s `steer` does.
    pub fn choose(&self, trial: impl FnOnce() -> Option<std::result::Result<SteerTrial, String>>) -> Choice {
        match &self.strategy {
            StrategyPlan::Decided(c) => c.clone(),
            StrategyPlan::Trial => choose(self.requested, &self.cores, trial),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::boot_cache::Facts as Remembers;

    fn remembered(line_ms: Option<f64>) -> Remembered {
        Remembered {
            facts: Remembers { period: None, line_ms, split: None },
            age: std::time::Duration::from_secs(5),
            path: "machine.json".into(),
        }
    }

    #[test]
    fn auto_placement_is_refused_before_timing_when_an_earlier_rate_says_it_cannot_fit() {
        let mut o = Options::new(1 << 25); // 131 072 paired frames: 33 s at 0.25 ms a line
        o.placement = CopyPlacement::Auto;
        let e = projected_refusal(&o, Some(&remembered(Some(0.25)))).expect("refused");
        assert!(matches!(e, Error::Placement { .. }) && falls_back(&e), "{e}");
        let text = e.message(crate::error::Front::Rust);
        assert!(text.contains("at least 32.8 s (131072 frames, one line each, at the 0.25 ms"), "{text}");
        assert!(text.contains("earlier placement this boot, 5 s ago"), "{text}");
        assert!(text.contains("raise placement_budget_ms (to about 42599 ms)"), "{text}");
        // Nothing remembered, no rate remembered, a slab that fits: tried.
        assert!(projected_refusal(&o, None).is_none());
        assert!(projected_refusal(&o, Some(&remembered(None))).is_none());
        let small = Options::new(1 << 21); // 8 192 frames: 2 s, within 1.5 × the 3 s budget
        assert!(projected_refusal(&small, Some(&remembered(Some(0.25)))).is_none());
    }

    #[test]
    fn a_zero_budget_says_so_and_how_to_give_it_time() {
        let mut o = Options::new(10);
        o.placement_budget = std::time::Duration::ZERO;
        let text = no_budget(&o).expect("refused").message(crate::error::Front::Rust);
        assert!(text.contains("placement_budget_ms is 0, which leaves no time to time a single line"), "{text}");
        assert!(text.contains("default 3000 ms"), "{text}");
    }
}
