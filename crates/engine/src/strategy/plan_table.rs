//! `Plan::new` as a table: request × facts → plan, one row per case, no hardware.
//!
//! A request is written as words over `Options::new(1024)`: a strategy (`auto`, `hedge`, `steer`,
//! `direct`), `p=<placement>`, `slots=<n>[k|M]`, `offset=<bytes>|auto`, `budget=<ms>`,
//! `pages=<hugePages>`, `replicas=<n>`, `shared` for `Slayer::create_shared`, and `inline` for a
//! front end whose direct reads have no call (`DirectReads::Inline`, JS). Facts are
//! `<allowed>/<free>` cores (2 replicas need 2 free), `named` (the caller named the cores),
//! `line=<ms>` (what the boot cache remembers a timed line cost) and `untimed` (no clock to time
//! loads by). A plan renders as `<strategy>[, steers]; <step> > <step>`: the strategy decided now
//! (`(warned)` when an explicit one is expected to lose) or `trial`; each step is a placement, with
//! `(consistent)` / `(bg always)` / `(bg over budget)` for placement on huge pages and the refusal
//! known beforehand in brackets. A refused request renders as `error <option>`.

use super::plan::{Facts, Kind, Placement, Plan, StrategyPlan};
use super::CoreFacts;
use crate::error::Error;
use crate::options::{ChannelOffset, CopyPlacement, DirectReads, Options, Strategy};
use crate::placement::BackgroundWhen;
use crate::refresh::boot_cache::{Facts as Remembers, Remembered};
use crate::region::PageRequest;

const TABLE: &[(&str, &str, &str)] = &[
    // The strategy rule, on a slab too small to place ('auto' hedges from 2 MiB per replica).
    ("auto", "8/7", "hedge; offset"),
    ("auto slots=256k", "8/7", "hedge; huge-pages > offset"),
    ("auto slots=255k", "8/7", "hedge; offset"),
    ("auto", "2/1", "trial, steers; huge-pages(consistent) > offset"),
    ("auto", "1/0", "trial, steers; huge-pages(consistent) > offset"),
    ("auto", "2/2", "hedge; offset"),
    ("auto", "2/1 named", "hedge; offset"),
    ("auto replicas=3", "4/3", "hedge; offset"),
    ("auto replicas=3", "3/2", "trial, steers; huge-pages(consistent) > offset"),
    ("hedge", "2/1", "hedge (warned); offset"),
    ("hedge slots=256k", "2/1", "hedge (warned); huge-pages > offset"),
    ("hedge slots=256k", "8/7", "hedge; huge-pages > offset"),
    ("hedge slots=256k", "2/1 named", "hedge; huge-pages > offset"),
    ("direct slots=256k", "8/7", "direct; offset"),
    ("direct", "1/0", "direct; offset"),
    ("steer", "8/7", "trial, steers; huge-pages(consistent, bg over budget) > offset"),
    ("steer replicas=3", "8/7", "trial, steers; huge-pages(consistent) > offset"),
    ("steer pages=1g", "2/1", "trial, steers; huge-pages(consistent, bg over budget) > offset"),
    // A front end whose direct reads have no call (JS): 'auto' reads directly where it cannot
    // hedge, untried and unplaced (so nothing is recalled or timed); what it asks for explicitly
    // is planned as for any front end.
    ("auto inline", "2/1", "direct; offset"),
    ("auto inline slots=32M", "2/1 line=0.25", "direct; offset"),
    ("auto inline p=huge-pages", "2/1", "direct; huge-pages"),
    ("auto inline", "8/7", "hedge; offset"),
    ("auto inline slots=256k", "8/7", "hedge; huge-pages > offset"),
    ("steer inline", "2/1", "trial, steers; huge-pages(consistent, bg over budget) > offset"),
    ("shared auto inline", "2/1", "direct; offset"),
    // Placement asked for.
    ("steer p=offset", "8/7", "trial, steers; offset"),
    ("auto p=offset slots=256k", "8/7", "hedge; offset"),
    ("auto p=offset", "2/1", "trial, steers; offset"),
    ("direct p=huge-pages", "8/7", "direct; huge-pages"),
    ("hedge p=huge-pages", "8/7", "hedge; huge-pages"),
    ("auto p=huge-pages", "2/1", "trial, steers; huge-pages(consistent)"),
    ("steer p=huge-pages", "2/1", "trial, steers; huge-pages(consistent)"),
    ("steer p=background", "2/1", "trial, steers; huge-pages(consistent, bg always)"),
    ("steer p=background replicas=3", "8/7", "error placement"),
    ("auto p=background", "2/1", "error placement"),
    ("hedge p=background", "8/7", "error placement"),
    ("direct p=refresh-groups pages=off", "8/7", "direct; refresh-groups"),
    ("auto p=refresh-groups", "2/1", "trial, steers; refresh-groups"),
    ("hedge p=refresh-groups slots=256k", "8/7", "hedge; refresh-groups"),
    ("auto p=refresh-groups pages=2m", "2/1", "error placement"),
    ("auto p=refresh-groups offset=4096", "2/1", "error channelOffset"),
    ("auto p=huge-pages offset=4096", "8/7", "error channelOffset"),
    ("steer p=background offset=64", "8/7", "error channelOffset"),
    // A given offset is the caller's layout; 'auto' (the probe's record) is not given.
    ("auto slots=256k offset=4096", "8/7", "hedge; offset"),
    ("auto offset=64", "2/1", "trial, steers; offset"),
    ("steer offset=64", "8/7", "trial, steers; offset"),
    ("auto offset=auto", "2/1", "trial, steers; huge-pages(consistent) > offset"),
    ("auto slots=256k offset=auto", "8/7", "hedge; huge-pages > offset"),
    // No budget: refused before anything is mapped, and 'auto' goes on without.
    ("auto budget=0", "2/1", "trial, steers; huge-pages(consistent)[no budget] > offset"),
    ("auto slots=256k budget=0", "8/7", "hedge; huge-pages[no budget] > offset"),
    ("direct p=huge-pages budget=0", "8/7", "direct; huge-pages[no budget]"),
    ("direct p=refresh-groups budget=0", "8/7", "direct; refresh-groups[no budget]"),
    ("auto budget=600001", "8/7", "error placementBudgetMs"),
    // What an earlier placement this boot remembers: 'auto' for a slab that may steer only.
    ("auto slots=32M", "2/1 line=0.25", "trial, steers; huge-pages(consistent)[projected] > offset"),
    ("auto slots=2M", "2/1 line=0.25", "trial, steers; huge-pages(consistent) > offset"),
    ("auto slots=32M", "2/1", "trial, steers; huge-pages(consistent) > offset"),
    ("auto slots=32M budget=600000", "2/1 line=0.25", "trial, steers; huge-pages(consistent) > offset"),
    ("auto slots=32M budget=0", "2/1 line=0.25", "trial, steers; huge-pages(consistent)[no budget] > offset"),
    ("steer slots=32M", "2/1 line=0.25", "trial, steers; huge-pages(consistent, bg over budget) > offset"),
    ("hedge slots=32M", "8/7 line=0.25", "hedge; huge-pages > offset"),
    ("auto slots=32M", "8/7 line=0.25", "hedge; huge-pages > offset"),
    ("auto slots=32M p=huge-pages", "2/1 line=0.25", "trial, steers; huge-pages(consistent)"),
    // No clock to time loads by: refused before mapping (after a budget or a projection).
    ("auto slots=256k", "8/7 untimed", "hedge; huge-pages[untimed] > offset"),
    ("auto", "2/1 untimed", "trial, steers; huge-pages(consistent)[untimed] > offset"),
    ("direct p=huge-pages", "8/7 untimed", "direct; huge-pages[untimed]"),
    ("auto budget=0", "2/1 untimed", "trial, steers; huge-pages(consistent)[no budget] > offset"),
    ("auto slots=32M", "2/1 line=0.25 untimed", "trial, steers; huge-pages(consistent)[projected] > offset"),
    ("auto p=refresh-groups", "2/1 untimed", "trial, steers; refresh-groups"),
    ("auto", "8/7 untimed", "hedge; offset"),
    // Shared slabs: hedged or direct, decided now; placed only on the segment's own pages.
    ("shared auto", "8/7", "hedge; offset"),
    ("shared auto slots=256k", "8/7", "hedge; huge-pages > offset"),
    ("shared auto", "2/1", "direct; offset"),
    ("shared auto slots=256k", "2/1", "direct; offset"),
    ("shared auto", "2/1 named", "hedge; offset"),
    ("shared hedge slots=256k", "2/1", "hedge (warned); huge-pages > offset"),
    ("shared direct slots=256k", "8/7", "direct; offset"),
    ("shared direct p=huge-pages", "8/7", "direct; huge-pages"),
    ("shared auto p=offset slots=256k", "8/7", "hedge; offset"),
    ("shared auto slots=256k offset=4096", "8/7", "hedge; offset"),
    ("shared steer", "8/7", "error strategy"),
    ("shared steer p=refresh-groups", "8/7", "error strategy"),
    ("shared auto p=refresh-groups", "8/7", "error placement"),
    ("shared auto slots=256k budget=0", "8/7", "hedge; huge-pages[no budget] > offset"),
    ("shared auto slots=32M", "2/1 line=0.25", "direct; offset"),
    ("shared hedge slots=32M", "2/1 line=0.25", "hedge (warned); huge-pages > offset"),
    ("shared auto slots=256k", "8/7 untimed", "hedge; huge-pages[untimed] > offset"),
    // Validated like local slabs: placement 'background' (a shared slab is never steered), a
    // given offset beside 'huge-pages', and a budget over the maximum are refused.
    ("shared auto p=background", "8/7", "error placement"),
    ("shared auto p=huge-pages offset=4096", "8/7", "error channelOffset"),
    ("shared auto slots=256k budget=600001", "8/7", "error placementBudgetMs"),
];

fn options(request: &str) -> (Options, Kind) {
    let mut o = Options::new(1024);
    let mut kind = Kind::Local;
    let count = |v: &str| match v.as_bytes()[v.len() - 1] {
        b'k' => v[..v.len() - 1].parse::<u64>().unwrap() << 10,
        b'M' => v[..v.len() - 1].parse::<u64>().unwrap() << 20,
        _ => v.parse().unwrap(),
    };
    for word in request.split_whitespace() {
        match word.split_once('=') {
            None if word == "shared" => kind = Kind::Shared,
            None if word == "inline" => o.direct_reads = DirectReads::Inline,
            None => o.strategy = Strategy::parse(word).unwrap(),
            Some(("p", v)) => o.placement = CopyPlacement::parse(v).unwrap(),
            Some(("slots", v)) => o.slots = count(v),
            Some(("offset", "auto")) => o.channel_offset = ChannelOffset::Auto,
            Some(("offset", v)) => o.channel_offset = ChannelOffset::Given(count(v) as usize),
            Some(("budget", v)) => o.placement_budget = std::time::Duration::from_millis(count(v)),
            Some(("pages", v)) => o.pages = PageRequest::parse(v).unwrap(),
            Some(("replicas", v)) => o.replicas = count(v) as usize,
            _ => panic!("unknown request word {word:?}"),
        }
    }
    (o, kind)
}

fn remembered(line_ms: f64) -> Remembered {
    Remembered {
        facts: Remembers { period: None, line_ms: Some(line_ms), split: None },
        age: std::time::Duration::from_secs(5),
        path: "m.json".into(),
    }
}

fn facts(machine: &str, replicas: usize) -> Facts {
    let mut words = machine.split_whitespace();
    let (allowed, free) = words.next().unwrap().split_once('/').unwrap();
    let mut f = Facts {
        cores: CoreFacts { replicas, allowed: allowed.parse().unwrap(), free: free.parse().unwrap(), explicit: false },
        remembered: None,
        timing: true,
    };
    for word in words {
        match word.split_once('=') {
            None if word == "named" => f.cores.explicit = true,
            None if word == "untimed" => f.timing = false,
            Some(("line", ms)) => f.remembered = Some(remembered(ms.parse().unwrap())),
            _ => panic!("unknown fact {word:?}"),
        }
    }
    f
}

fn refusal(e: &Error) -> &'static str {
    let text = e.message(crate::error::Front::Js);
    match e {
        Error::Placement { .. } if text.contains("placementBudgetMs is 0") => "no budget",
        Error::Placement { .. } if text.contains("earlier placement this boot") => "projected",
        Error::Unsupported { .. } => "untimed",
        _ => panic!("an unexpected refusal: {text}"),
    }
}

fn render(plan: &crate::Result<Plan>) -> String {
    let plan = match plan {
        Ok(p) => p,
        Err(Error::OptionOutOfRange { option, .. }) => return format!("error {option}"),
        Err(e) => panic!("not a request error: {e}"),
    };
    let mut s = match &plan.strategy {
        StrategyPlan::Decided(c) => format!("{}{}", c.strategy.name(), if c.warning.is_some() { " (warned)" } else { "" }),
        StrategyPlan::Trial => "trial".into(),
    };
    if plan.steers {
        s += ", steers";
    }
    let steps: Vec<String> = plan
        .placements
        .iter()
        .map(|step| {
            let mut t = step.placement.name().to_string();
            if let Placement::HugePages { consistent, background } = step.placement {
                let flags: Vec<&str> = [
                    consistent.then_some("consistent"),
                    (background == BackgroundWhen::Always).then_some("bg always"),
                    (background == BackgroundWhen::WhenOverBudget).then_some("bg over budget"),
                ]
                .into_iter()
                .flatten()
                .collect();
                if !flags.is_empty() {
                    t += &format!("({})", flags.join(", "));
                }
            }
            if let Some(e) = &step.refused {
                t += &format!("[{}]", refusal(e));
            }
            t
        })
        .collect();
    format!("{s}; {}", steps.join(" > "))
}

#[test]
fn every_request_on_every_machine_gets_the_plan_in_the_table() {
    let mut wrong = Vec::new();
    for &(request, machine, want) in TABLE {
        let (o, kind) = options(request);
        let got = render(&Plan::new(&o, kind, &facts(machine, o.replicas)));
        if got != want {
            wrong.push(format!("{request:?} on {machine:?}: got {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} rows differ:\n{}", wrong.len(), TABLE.len(), wrong.join("\n"));
}

#[test]
fn only_auto_falls_back_and_only_to_an_offset() {
    for &(request, machine, _) in TABLE {
        let (o, kind) = options(request);
        let Ok(plan) = Plan::new(&o, kind, &facts(machine, o.replicas)) else { continue };
        let (first, rest) = plan.placements.split_first().expect("never empty");
        assert!(rest.len() <= 1, "{request}");
        for step in rest {
            assert_eq!((step.placement, &step.refused), (Placement::Offset, &None), "{request}");
        }
        assert_eq!(!rest.is_empty(), first.placement != Placement::Offset && o.placement == CopyPlacement::Auto, "{request}");
        let refused = Error::Placement { message: "no".into(), hint: String::new() };
        let other = Error::HugePages { message: "none".into() };
        assert_eq!(plan.after_refusal(0, &refused).is_some(), !rest.is_empty(), "{request}");
        assert_eq!(plan.after_refusal(0, &Error::Unsupported { what: "x".into() }).is_some(), !rest.is_empty(), "{request}");
        assert!(plan.after_refusal(0, &other).is_none(), "{request}: not a placement's refusal");
        assert!(plan.after_refusal(plan.placements.len() - 1, &refused).is_none(), "{request}: nothing after the last");
    }
}

#[test]
fn the_boot_cache_is_recalled_exactly_where_the_plan_looks_at_it() {
    // A memory that refuses any slab: only a plan that looks at it changes.
    for &(request, machine, _) in TABLE {
        let (o, kind) = options(request);
        let mut f = facts(machine, o.replicas);
        f.remembered = None;
        let forgot = Plan::new(&o, kind, &f);
        f.remembered = Some(remembered(1e9));
        let recalled = Plan::new(&o, kind, &f);
        assert_eq!(forgot != recalled, Plan::recalls(&o, kind, &f.cores), "{request} on {machine}");
    }
}

#[test]
fn a_decided_strategy_needs_no_trial_and_a_trial_decides_the_rest() {
    use crate::steer::SteerState;
    let decided = Plan::new(&Options::new(1024), Kind::Local, &facts("8/7", 2)).unwrap();
    assert_eq!(decided.choose(|| panic!("hedging fits: no trial")).strategy, Strategy::Hedge);
    let trial = Plan::new(&Options::new(1024), Kind::Local, &facts("2/1", 2)).unwrap();
    let pays = super::tests::trial(SteerState::Locked, true);
    assert_eq!(trial.choose(|| Some(Ok(pays))).strategy, Strategy::Steer);
    let c = trial.choose(|| Some(Err("no clock".into())));
    assert_eq!(c.strategy, Strategy::Direct);
    assert!(c.reason.ends_with("calibration refused: no clock"), "{}", c.reason);
}
