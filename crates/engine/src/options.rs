//! Every option a slab takes, its default, and the policy that resolves defaults — once, for
//! every front end (the Node binding and the C ABI only map their types onto these). What 'auto'
//! strategy and placement become on a machine is `strategy`'s (and its `plan`'s).
//!
//! Owns: `Strategy`, `CopyPlacement`, `ChannelOffset`, `ThreadOptions`, `Options` (a new slab),
//! `OpenOptions` (attaching to a shared one), their defaults, and `OPTIONS`, the table of option
//! names, kinds and which constructor takes them (the JS wrapper validates from it). Never maps
//! memory or starts threads; the only I/O is reading the recorded `probe groups` result for
//! `ChannelOffset::Auto`.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::layout::{MAX_REPLICAS, MAX_SLOTS, MIN_REPLICAS};
use crate::region::{LockRequest, PageRequest};
use crate::shm;
use crate::spin::SpinPolicy;

/// How reads are served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Decide at construction (the default): hedge when every replica thread can have an allowed
    /// core of its own besides the caller's; else steer when the copies were placed in different
    /// refresh groups and calibration predicts a gain; else direct (the rule is the strategy module's).
    Auto,
    /// Replica threads race to read every copy; the first answer wins (N busy cores).
    Hedge,
    /// The calling thread predicts which copy is not refreshing now and reads only that one
    /// (no extra core); falls back to a fixed copy when no periodic stall pattern is found.
    Steer,
    /// The calling thread reads copy 0; no threads.
    Direct,
}

impl Strategy {
    /// The strategy named `s` (`'auto'`, `'hedge'`, `'steer'` or `'direct'`).
    ///
    /// # Errors
    /// [`Error::OptionOutOfRange`] for any other word.
    pub fn parse(s: &str) -> Result<Strategy> {
        match s {
            "auto" => Ok(Strategy::Auto),
            "hedge" => Ok(Strategy::Hedge),
            "steer" => Ok(Strategy::Steer),
            "direct" => Ok(Strategy::Direct),
            other => Err(Error::option_range("strategy", format!("must be 'auto', 'hedge', 'steer' or 'direct', got {other:?}"))),
        }
    }
    /// The word the options take for this strategy, and `info()` reports.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::Hedge => "hedge",
            Strategy::Steer => "steer",
            Strategy::Direct => "direct",
        }
    }
}

/// Where the copies of a slot go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyPlacement {
    /// Refresh groups on the slab's own pages (as `HugePages`) when the layout is left to us (no
    /// channel offset given) and the slab may steer, or hedges with at least `AUTO_PLACE_MIN_BYTES`
    /// per replica, falling back to `Offset` (and saying why) when they cannot be had; `Offset`
    /// otherwise. The rule is `strategy::plan`'s.
    Auto,
    /// Learn each 4 KiB page's refresh group by timing and give every replica pages of its own
    /// groups (channel offset 4096, 4 KiB pages); an error when that cannot be had.
    RefreshGroups,
    /// Copies `channel_offset` bytes apart.
    Offset,
    /// Refresh groups on the pages `pages` asks for (huge pages included), at any slab size
    /// (`placement::build`): copies split by a low address bit where one splits every frame, else
    /// 4 KiB frames chosen by group through a frame table; an error when that cannot be had.
    HugePages,
    /// A steered slab of two copies, built at once with its copies split by the address bit that
    /// splits every frame here, its frames learned by a thread of its own while it serves
    /// (`steer::learner`); an error where no bit splits every frame.
    Background,
}

impl CopyPlacement {
    /// The placement named `s` (`'auto'`, `'refresh-groups'`, `'huge-pages'`, `'background'` or `'offset'`).
    ///
    /// # Errors
    /// [`Error::OptionOutOfRange`] for any other word.
    pub fn parse(s: &str) -> Result<CopyPlacement> {
        match s {
            "auto" => Ok(CopyPlacement::Auto),
            "refresh-groups" => Ok(CopyPlacement::RefreshGroups),
            "offset" => Ok(CopyPlacement::Offset),
            "huge-pages" => Ok(CopyPlacement::HugePages),
            "background" => Ok(CopyPlacement::Background),
            other => Err(Error::option_range(
                "placement",
                format!("must be 'auto', 'refresh-groups', 'huge-pages', 'background' or 'offset', got {other:?}"),
            )),
        }
    }
}

/// Bytes between the copies of one slot, as asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelOffset {
    /// The strategy's default: `DEFAULT_CHANNEL_OFFSET`, or `STEER_CHANNEL_OFFSET` for a slab
    /// that steers.
    Default,
    /// Exactly this many bytes (a power of two, `MIN_CHANNEL_OFFSET..=MAX_CHANNEL_OFFSET`).
    Given(usize),
    /// What `ultraslayer probe groups` recorded on this machine, else the default.
    Auto,
}

/// Channel offset of a hedged or direct slab when none is given.
pub const DEFAULT_CHANNEL_OFFSET: usize = 256;
/// Channel offset of a steered slab without refresh-group placement: address bit 6 (the DDR5
/// sub-channel bit on Zen 4); calibration checks that the copies really stall apart.
pub const STEER_CHANNEL_OFFSET: usize = 64;

/// A resolved channel offset and, in words, where it came from (for `info()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedOffset {
    /// Bytes from one copy of a slot to the next.
    pub bytes: usize,
    /// Where the offset came from, in words ("given", "default", "auto: measured by …").
    pub source: String,
}

impl ChannelOffset {
    /// The offset for a slab that will (`steers`) or will not steer.
    pub fn resolve(self, steers: bool) -> ResolvedOffset {
        let default = |why: &str| ResolvedOffset {
            bytes: if steers { STEER_CHANNEL_OFFSET } else { DEFAULT_CHANNEL_OFFSET },
            source: if steers {
                format!("{why}default for a steered slab (address bit 6; calibration checks the copies stall apart)")
            } else {
                format!("{why}default")
            },
        };
        match self {
            ChannelOffset::Given(b) => ResolvedOffset { bytes: b, source: "given".into() },
            ChannelOffset::Default => default(""),
            ChannelOffset::Auto => match crate::probe::groups::load_recorded() {
                Some(rec) => match rec.channel_offset {
                    Some(b) => ResolvedOffset {
                        bytes: b,
                        source: format!(
                            "auto: measured by `ultraslayer probe groups` at {}",
                            rec.measured_unix_s.map_or("an unknown time".into(), crate::probe::groups::iso8601)
                        ),
                    },
                    None => default("auto: `ultraslayer probe groups` found no offset whose copies refresh apart on this machine; "),
                },
                None => default("auto: no `ultraslayer probe groups` record on this machine (run `npx ultraslayer probe groups`); "),
            },
        }
    }
}

/// How this process's replica threads run, for a new slab or an opened shared one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadOptions {
    /// Lock the slab in memory (mlock), and what to do when that is refused.
    pub lock: LockRequest,
    /// One core per replica thread; None = chosen (distinct allowed cores, avoiding the caller's).
    pub cores: Option<Vec<usize>>,
    /// How idle replica threads wait (busy spinning, spin then park, or park at once).
    pub spin: SpinPolicy,
    /// Idle time before hybrid/sleep threads park; None = the policy's default.
    pub idle_us: Option<u64>,
    /// Start the replica threads now (hedged slabs).
    pub start: bool,
    /// Record per-read latency into a histogram.
    pub record_latency: bool,
}

impl Default for ThreadOptions {
    fn default() -> Self {
        ThreadOptions {
            lock: LockRequest::Auto,
            cores: None,
            // Spin while reads come, park when they stop: no core burns while the slab is idle.
            spin: SpinPolicy::Hybrid,
            idle_us: None,
            start: true,
            record_latency: false,
        }
    }
}

/// Default idle spell before parking, per policy.
pub fn default_idle_us(spin: SpinPolicy) -> u64 {
    match spin {
        SpinPolicy::Busy => u64::MAX,
        SpinPolicy::Hybrid => 2_000,
        SpinPolicy::Sleep => 0,
    }
}

/// The share of one core a background learner keeps busy unless told otherwise: on two vCPUs a
/// requester shares its core with it some of the time, so it stays small (its cost to the
/// requester: docs/steering.md, *Learning in the background*).
pub const DEFAULT_LEARN_DUTY_PERCENT: u32 = 25;

/// `percent` as a learner's share of one core: 1 to 100.
///
/// # Errors
/// `Error::OptionOutOfRange` (option "learnDutyPercent") otherwise.
pub fn check_learn_duty_percent(percent: u64) -> Result<()> {
    if (1..=100).contains(&percent) {
        Ok(())
    } else {
        Err(Error::option_range("learnDutyPercent", format!("a background learner's share of one core is 1 to 100 percent, got {percent}")))
    }
}

/// Smallest slab (bytes per replica) that placement 'auto' places by refresh group when it hedges:
/// one 2 MiB huge page.
pub const AUTO_PLACE_MIN_BYTES: u64 = 2 << 20;

/// Time refresh-group placement may spend timing pages by default (after the period measurement).
pub const DEFAULT_PLACEMENT_BUDGET: Duration = Duration::from_millis(3000);
/// Longest placement budget accepted.
pub const MAX_PLACEMENT_BUDGET: Duration = Duration::from_secs(600);
/// Longest idle spell accepted (an hour).
pub const MAX_IDLE_US: u64 = 3_600_000_000;
/// Longest wait for a segment another process is still creating.
pub const MAX_OPEN_WAIT: Duration = Duration::from_secs(3600);
/// Highest core number accepted in `cores`.
pub const MAX_CORE: usize = 65535;

/// How the front end reads a slab whose reads are direct, which decides whether 'auto' may steer
/// on a machine too small to hedge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DirectReads {
    /// Through a call, like any other read (Rust, C): a steered read costs a clock read and a
    /// second line more, so 'auto' steers where its trial predicts a gain.
    #[default]
    Call,
    /// Inline, with no call at all (JS: a typed-array view of copy 0). A steered read is a native
    /// call with a clock read in it, which an inline read beats at the median however much
    /// steering saves at the tail, so 'auto' never steers; an explicit 'steer' still does.
    Inline,
}

/// Everything `Slayer::new` needs. `Options::new(slots)` gives the documented defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Slots of 8 bytes in each copy (at least 1).
    pub slots: u64,
    /// Copies of every slot, 1 to `layout::MAX_REPLICAS` (hedging needs at least 2).
    pub replicas: usize,
    /// Bytes between one copy of a slot and the next (`Default`, given, or `Auto` from `ultraslayer probe groups`).
    pub channel_offset: ChannelOffset,
    /// Which pages to map: 1 GiB, 2 MiB, transparent or plain ones, or the first that works (`Auto`).
    pub pages: PageRequest,
    /// How reads are served: hedged, steered, direct, or chosen for this machine (`Auto`).
    pub strategy: Strategy,
    /// Where the copies go: at the channel offset, or chosen by timing the refresh stalls.
    pub placement: CopyPlacement,
    /// Time refresh-group placement may spend learning pages (after a 300 ms period measurement).
    pub placement_budget: Duration,
    /// How this process's replica threads run.
    pub threads: ThreadOptions,
    /// How the front end reads a direct slab (`DirectReads::Call` unless it says otherwise).
    pub direct_reads: DirectReads,
    /// The share of one core, in percent (1 to 100), a slab learned in the background may keep
    /// busy learning (`DEFAULT_LEARN_DUTY_PERCENT`); `Slayer::set_learn_duty_percent` changes it later.
    pub learn_duty_percent: u32,
}

impl Options {
    /// The documented defaults for a slab of `slots` slots: 2 copies, offset and pages chosen, strategy and placement `Auto`, the default budget and thread options.
    pub fn new(slots: u64) -> Options {
        Options {
            slots,
            replicas: 2,
            channel_offset: ChannelOffset::Default,
            pages: PageRequest::Auto,
            strategy: Strategy::Auto,
            placement: CopyPlacement::Auto,
            placement_budget: DEFAULT_PLACEMENT_BUDGET,
            threads: ThreadOptions::default(),
            direct_reads: DirectReads::Call,
            learn_duty_percent: DEFAULT_LEARN_DUTY_PERCENT,
        }
    }

    /// Checks the combinations no single field can: refresh-group placement chooses the layout
    /// itself (copies on pages of their own), so it cannot be combined with a given offset or a
    /// huge-page request.
    pub fn validate(&self) -> Result<()> {
        check_learn_duty_percent(self.learn_duty_percent.into())?;
        if self.placement == CopyPlacement::Background && (self.strategy != Strategy::Steer || self.replicas != 2) {
            return Err(Error::option_range(
                "placement",
                "⟦set:placement=background⟧ learns a steered slab's frames while it serves: it needs ⟦set:strategy=steer⟧ and 2 replicas",
            ));
        }
        if matches!(self.placement, CopyPlacement::HugePages | CopyPlacement::Background)
            && matches!(self.channel_offset, ChannelOffset::Given(_))
        {
            return Err(Error::option_range(
                "channelOffset",
                "⟦set:placement=huge-pages⟧ chooses where each copy goes by timing; leave ⟦opt:channelOffset⟧ unset or use ⟦set:placement=offset⟧",
            ));
        }
        if self.placement == CopyPlacement::RefreshGroups {
            if matches!(self.channel_offset, ChannelOffset::Given(_)) {
                return Err(Error::option_range(
                    "channelOffset",
                    "⟦set:placement=refresh-groups⟧ puts every copy on its own 4 KiB page (⟦opt:channelOffset⟧ 4096); leave ⟦opt:channelOffset⟧ unset or use ⟦set:placement=offset⟧",
                ));
            }
            if !self.four_k_pages() {
                return Err(Error::option_range(
                    "placement",
                    "⟦set:placement=refresh-groups⟧ moves single 4 KiB pages into place, so it needs ⟦set:hugePages=auto⟧ or ⟦set:hugePages=off⟧",
                ));
            }
        }
        if self.placement_budget > MAX_PLACEMENT_BUDGET {
            return Err(Error::option_range("placementBudgetMs", format!("must be at most {} ms", MAX_PLACEMENT_BUDGET.as_millis())));
        }
        Ok(())
    }

    /// The page request lets the slab be built of 4 KiB pages.
    pub fn four_k_pages(&self) -> bool {
        matches!(self.pages, PageRequest::Auto | PageRequest::Off)
    }
}

/// Everything `Slayer::open_shared` needs: this process's threads, and what it expects.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// 'auto', 'hedge' or 'direct' (a shared slab is never steered).
    pub strategy: Strategy,
    /// How this process's replica threads run.
    pub threads: ThreadOptions,
    /// Refuse the segment unless its layout has these values.
    pub expect: shm::Expect,
    /// How long to wait for a segment another process is still creating.
    pub wait: Duration,
    /// Look for the segment in this directory instead of hugetlbfs mounts and /dev/shm.
    pub dir: Option<std::path::PathBuf>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            strategy: Strategy::Auto,
            threads: ThreadOptions::default(),
            expect: shm::Expect::default(),
            wait: Duration::from_millis(1000),
            dir: None,
        }
    }
}

/// `Slayer::create_shared` settings beyond `Options`.
#[derive(Clone, Debug, Default)]
pub struct SharedOptions {
    /// Replace an existing segment of the same name (unlink, then create anew).
    pub overwrite: bool,
    /// Put (or look for) the segment in this directory instead of hugetlbfs mounts and /dev/shm.
    pub dir: Option<std::path::PathBuf>,
}

/// What kind of value an option takes, for front ends that validate types before mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionKind {
    /// An integer from `min` to `max`.
    Integer {
        /// Smallest value.
        min: u64,
        /// Largest value.
        max: u64,
    },
    /// One of these strings.
    Choice(&'static [&'static str]),
    /// `true` or `false`.
    Boolean,
    /// An array of core numbers.
    Cores,
    /// A power-of-two byte count or 'auto'.
    OffsetOrAuto,
    /// A segment name.
    Name,
}

/// Which constructors take an option (`OptionSpec::takes` bits): `Slayer::new` (a local slab).
pub const FOR_NEW: u8 = 1;
/// Taken by `Slayer::create_shared`.
pub const FOR_CREATE: u8 = 2;
/// Taken by `Slayer::open_shared`.
pub const FOR_OPEN: u8 = 4;

/// One option as every front end names it (JS spelling; the C ABI's field is the snake_case one).
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    /// The option's name as JS spells it.
    pub name: &'static str,
    /// The kind of value it takes.
    pub kind: OptionKind,
    /// `FOR_NEW | FOR_CREATE | FOR_OPEN` bits.
    pub takes: u8,
}

const ALL: u8 = FOR_NEW | FOR_CREATE | FOR_OPEN;

/// Every option of `new Slayer`, `Slayer.create` and `Slayer.open`, in one table.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec { name: "slots", kind: OptionKind::Integer { min: 1, max: MAX_SLOTS }, takes: ALL },
    OptionSpec { name: "replicas", kind: OptionKind::Integer { min: MIN_REPLICAS as u64, max: MAX_REPLICAS as u64 }, takes: ALL },
    OptionSpec { name: "channelOffset", kind: OptionKind::OffsetOrAuto, takes: ALL },
    OptionSpec { name: "hugePages", kind: OptionKind::Choice(&["auto", "1g", "2m", "thp", "off"]), takes: FOR_NEW | FOR_CREATE },
    OptionSpec { name: "lock", kind: OptionKind::Boolean, takes: ALL },
    OptionSpec { name: "cores", kind: OptionKind::Cores, takes: ALL },
    OptionSpec { name: "spin", kind: OptionKind::Choice(&["busy", "hybrid", "sleep"]), takes: ALL },
    OptionSpec { name: "idleUs", kind: OptionKind::Integer { min: 0, max: MAX_IDLE_US }, takes: ALL },
    OptionSpec { name: "start", kind: OptionKind::Boolean, takes: ALL },
    OptionSpec { name: "stats", kind: OptionKind::Boolean, takes: ALL },
    // Shared slabs take 'auto', 'hedge' or 'direct' (the engine refuses 'steer' for them).
    OptionSpec { name: "strategy", kind: OptionKind::Choice(&["auto", "hedge", "steer", "direct"]), takes: ALL },
    OptionSpec {
        name: "placement",
        kind: OptionKind::Choice(&["auto", "refresh-groups", "huge-pages", "background", "offset"]),
        takes: FOR_NEW | FOR_CREATE,
    },
    OptionSpec {
        name: "placementBudgetMs",
        kind: OptionKind::Integer { min: 0, max: MAX_PLACEMENT_BUDGET.as_secs() * 1000 },
        takes: FOR_NEW,
    },
    OptionSpec { name: "learnDutyPercent", kind: OptionKind::Integer { min: 1, max: 100 }, takes: FOR_NEW },
    OptionSpec { name: "name", kind: OptionKind::Name, takes: FOR_CREATE },
    OptionSpec { name: "overwrite", kind: OptionKind::Boolean, takes: FOR_CREATE },
    OptionSpec { name: "waitMs", kind: OptionKind::Integer { min: 0, max: MAX_OPEN_WAIT.as_secs() * 1000 }, takes: FOR_OPEN },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_auto_and_never_burn_a_core_while_idle() {
        let o = Options::new(10);
        assert_eq!(o.strategy, Strategy::Auto);
        assert_eq!(o.placement, CopyPlacement::Auto);
        assert_eq!(o.channel_offset, ChannelOffset::Default);
        assert_eq!(o.threads.spin, SpinPolicy::Hybrid);
        assert_ne!(default_idle_us(o.threads.spin), u64::MAX, "hybrid parks");
        assert_eq!(OpenOptions::default().threads, ThreadOptions::default());
    }

    #[test]
    fn a_learners_duty_is_one_to_one_hundred_percent_of_a_core() {
        assert_eq!(Options::new(10).learn_duty_percent, DEFAULT_LEARN_DUTY_PERCENT);
        for (p, ok) in [(0, false), (1, true), (25, true), (100, true), (101, false)] {
            let o = Options { learn_duty_percent: p, ..Options::new(10) };
            assert_eq!(o.validate().is_ok(), ok, "{p}");
            if !ok {
                assert!(matches!(o.validate(), Err(Error::OptionOutOfRange { option: "learnDutyPercent", .. })));
            }
        }
    }

    #[test]
    fn default_offset_depends_on_whether_the_slab_steers() {
        assert_eq!(ChannelOffset::Default.resolve(false).bytes, DEFAULT_CHANNEL_OFFSET);
        assert_eq!(ChannelOffset::Default.resolve(true).bytes, STEER_CHANNEL_OFFSET);
        let g = ChannelOffset::Given(1024).resolve(true);
        assert_eq!((g.bytes, g.source.as_str()), (1024, "given"));
    }

    #[test]
    fn refresh_group_placement_refuses_a_layout_it_cannot_choose() {
        // Which placement is tried when is the plan's (`strategy::plan`, tested as a table).
        let mut o = Options::new(10);
        o.pages = PageRequest::Huge2M;
        o.placement = CopyPlacement::RefreshGroups;
        assert!(matches!(o.validate(), Err(Error::OptionOutOfRange { option: "placement", .. })));
        o.pages = PageRequest::Off;
        o.channel_offset = ChannelOffset::Given(256);
        assert!(matches!(o.validate(), Err(Error::OptionOutOfRange { option: "channelOffset", .. })));
        o.channel_offset = ChannelOffset::Default;
        assert!(o.validate().is_ok());
    }

    #[test]
    fn the_option_table_names_each_option_once() {
        let mut names: Vec<_> = OPTIONS.iter().map(|o| o.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), OPTIONS.len());
    }
}
