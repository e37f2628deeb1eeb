//! JS options objects → engine options: a type mapping only.
//!
//! Each option is read from the plain JS object by its name in the engine's table
//! (`ultraslayer::options::OPTIONS`, against which index.js has already checked every value's type), and
//! only where the table says the constructor takes it. Every default and rule is the engine's: an
//! option left out keeps `Options::new` / `OpenOptions::default`. What users see of these options
//! is index.d.ts (`SlayerOptions`, `SharedCreateOptions`, `SharedOpenOptions`).

use napi::bindgen_prelude::{Either, FromNapiValue, Object};

use ultraslayer::error::{js_number, Error};
use ultraslayer::options::{OptionKind, FOR_CREATE, FOR_NEW, FOR_OPEN, OPTIONS};
use ultraslayer::region::{LockRequest, PageRequest};
use ultraslayer::SpinPolicy;

type R<T> = std::result::Result<T, Error>;

/// A JS options object (or none: every option left out), read for one constructor.
#[derive(Clone, Copy)]
pub(super) struct JsOptions<'a> {
    object: Option<&'a Object<'a>>,
    /// `FOR_NEW`, `FOR_CREATE` or `FOR_OPEN`: which options of the table apply.
    takes: u8,
}

impl<'a> JsOptions<'a> {
    /// Options of `new Slayer(options)` (and `new Records`).
    pub(super) fn new(object: &'a Object<'a>) -> Self {
        JsOptions { object: Some(object), takes: FOR_NEW }
    }
    /// Options of `Slayer.create(options)` (and `Records.create`).
    pub(super) fn create(object: &'a Object<'a>) -> Self {
        JsOptions { object: Some(object), takes: FOR_CREATE }
    }
    /// Options of `Slayer.open(name, options)` (and `Records.open`).
    pub(super) fn open(object: Option<&'a Object<'a>>) -> Self {
        JsOptions { object, takes: FOR_OPEN }
    }

    /// The option `name`, None when left out (undefined) or when this constructor does not take it.
    fn get<T: FromNapiValue>(self, name: &'static str) -> R<Option<T>> {
        let Some(o) = self.object else { return Ok(None) };
        if spec(name)?.takes & self.takes == 0 {
            return Ok(None);
        }
        o.get::<T>(name).map_err(|e| Error::BadArgument { name, message: e.reason.clone() })
    }

    /// An integer option, within the bounds the table gives it.
    fn int(self, name: &'static str) -> R<Option<u64>> {
        let Some(v) = self.get::<f64>(name)? else { return Ok(None) };
        match spec(name)?.kind {
            OptionKind::Integer { min, max } => int_arg(name, v, min as f64, max as f64).map(Some),
            _ => Err(Error::Internal { message: format!("option {name} is not an integer in the option table") }),
        }
    }

    /// A string option parsed by the engine's own parser (which words the error for a bad one).
    fn parsed<T>(self, name: &'static str, parse: impl FnOnce(&str) -> R<T>) -> R<Option<T>> {
        self.get::<String>(name)?.map(|s| parse(&s)).transpose()
    }

    /// The slab's name (`Slayer.create`).
    pub(super) fn name(self) -> R<String> {
        self.get::<String>("name")?.ok_or(Error::BadArgument { name: "name", message: "is required".into() })
    }

    /// `overwrite` (`Slayer.create`).
    pub(super) fn overwrite(self) -> R<bool> {
        Ok(self.get::<bool>("overwrite")?.unwrap_or(false))
    }
}

/// The table's entry for option `name` (the binding only asks for names the table has).
fn spec(name: &str) -> R<&'static ultraslayer::options::OptionSpec> {
    OPTIONS.iter().find(|s| s.name == name).ok_or_else(|| Error::Internal { message: format!("option {name} is not in the option table") })
}

/// `v` as an integer in `min..=max`: a TypeError for a non-integer, a RangeError outside; the
/// value is quoted as JS prints it.
pub(super) fn int_arg(name: &'static str, v: f64, min: f64, max: f64) -> R<u64> {
    int_in(name, "", v, min, max)
}

/// As `int_arg`, for the value `what` names inside option `name` (`cores[1]`; "" for the option
/// itself).
fn int_in(name: &'static str, what: &str, v: f64, min: f64, max: f64) -> R<u64> {
    let want = |got: f64| {
        format!(
            "{what}{}must be an integer from {} to {}, got {}",
            if what.is_empty() { "" } else { " " },
            js_number(min),
            js_number(max),
            js_number(got)
        )
    };
    if !v.is_finite() || v.fract() != 0.0 {
        return Err(Error::bad_option(name, want(v)));
    }
    if v < min || v > max {
        return Err(Error::option_range(name, want(v)));
    }
    Ok(v as u64)
}

/// This process's thread options (new, create and open take the same ones).
fn thread_options(o: JsOptions) -> R<ultraslayer::ThreadOptions> {
    let d = ultraslayer::ThreadOptions::default();
    let cores = match o.get::<Vec<f64>>("cores")? {
        None => d.cores,
        Some(c) => Some(
            c.iter()
                .enumerate()
                .map(|(k, &c)| int_in("cores", &format!("cores[{k}]"), c, 0.0, ultraslayer::options::MAX_CORE as f64).map(|c| c as usize))
                .collect::<R<_>>()?,
        ),
    };
    Ok(ultraslayer::ThreadOptions {
        lock: match o.get::<bool>("lock")? {
            None => d.lock,
            Some(true) => LockRequest::Required,
            Some(false) => LockRequest::Off,
        },
        cores,
        spin: o.parsed("spin", SpinPolicy::parse)?.unwrap_or(d.spin),
        idle_us: o.int("idleUs")?.or(d.idle_us),
        start: o.get::<bool>("start")?.unwrap_or(d.start),
        record_latency: o.get::<bool>("stats")?.unwrap_or(d.record_latency),
    })
}

/// `channelOffset`: left out (the engine's default for the strategy), a byte count, or 'auto'.
fn channel_offset(o: JsOptions) -> R<ultraslayer::ChannelOffset> {
    Ok(match o.get::<Either<f64, String>>("channelOffset")? {
        None => ultraslayer::ChannelOffset::Default,
        // Not a byte count at all: said as the layout says a wrong power of two.
        Some(Either::A(c))
            if !(c.is_finite() && c.fract() == 0.0 && (0.0..=ultraslayer::layout::MAX_CHANNEL_OFFSET as f64).contains(&c)) =>
        {
            return Err(Error::option_range(
                "channelOffset",
                format!(
                    "must be a power of two from {} to {} bytes, or 'auto', got {}",
                    ultraslayer::layout::MIN_CHANNEL_OFFSET,
                    ultraslayer::layout::MAX_CHANNEL_OFFSET,
                    js_number(c)
                ),
            ))
        }
        Some(Either::A(c)) => ultraslayer::ChannelOffset::Given(c as usize),
        Some(Either::B(s)) if s == "auto" => ultraslayer::ChannelOffset::Auto,
        Some(Either::B(s)) => {
            return Err(Error::option_range(
                "channelOffset",
                format!(
                    "must be a power of two from {} to {} bytes, or 'auto', got {s:?}",
                    ultraslayer::layout::MIN_CHANNEL_OFFSET,
                    ultraslayer::layout::MAX_CHANNEL_OFFSET
                ),
            ))
        }
    })
}

/// Engine options for a new slab (`new` or `create`).
pub(super) fn slab_options(o: JsOptions) -> R<ultraslayer::Options> {
    let slots = o.int("slots")?.ok_or(Error::BadArgument { name: "slots", message: "is required".into() })?;
    let mut e = ultraslayer::Options::new(slots);
    e.replicas = o.int("replicas")?.map_or(e.replicas, |r| r as usize);
    e.channel_offset = channel_offset(o)?;
    e.pages = o.parsed("hugePages", PageRequest::parse)?.unwrap_or(e.pages);
    e.strategy = o.parsed("strategy", ultraslayer::Strategy::parse)?.unwrap_or(e.strategy);
    e.placement = o.parsed("placement", ultraslayer::CopyPlacement::parse)?.unwrap_or(e.placement);
    e.placement_budget = o.int("placementBudgetMs")?.map_or(e.placement_budget, std::time::Duration::from_millis);
    e.learn_duty_percent = o.int("learnDutyPercent")?.map_or(e.learn_duty_percent, |p| p as u32);
    e.threads = thread_options(o)?;
    // index.js reads a direct slab through a typed-array view of copy 0, with no native call.
    e.direct_reads = ultraslayer::DirectReads::Inline;
    Ok(e)
}

/// Engine options for opening a shared slab: this process's threads, and what it expects.
pub(super) fn open_options(o: JsOptions) -> R<ultraslayer::OpenOptions> {
    let mut e = ultraslayer::OpenOptions { threads: thread_options(o)?, ..Default::default() };
    e.strategy = o.parsed("strategy", ultraslayer::Strategy::parse)?.unwrap_or(e.strategy);
    e.expect.slots = o.int("slots")?;
    e.expect.replicas = o.int("replicas")?.map(|r| r as usize);
    e.expect.channel_offset = match channel_offset(o)? {
        ultraslayer::ChannelOffset::Given(c) => Some(c),
        ultraslayer::ChannelOffset::Default => None,
        ultraslayer::ChannelOffset::Auto => {
            return Err(Error::option_range("channelOffset", "Slayer.open expects the segment's byte offset, not 'auto'"))
        }
    };
    e.wait = o.int("waitMs")?.map_or(e.wait, std::time::Duration::from_millis);
    Ok(e)
}
