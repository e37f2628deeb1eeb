//! C options to engine options and back: `us_options` with the engine's defaults, and the
//! checked translation of a caller's `us_options` into `ultraslayer::Options`.
//!
//! What it must never do: hold a default of its own (every default lives in
//! `ultraslayer::options`), or accept a number the header does not define.

use std::mem::size_of;
use std::ptr;

use ultraslayer::options::{ChannelOffset, CopyPlacement, Options, Strategy};
use ultraslayer::region::{LockRequest, PageRequest};
use ultraslayer::SpinPolicy;

use crate::error::Failure;
use crate::marshal::{array, slice_in};
use crate::types::*;

/// `us_options` as `us_options_default` fills it (`slots` = 0, which the caller must set).
pub(crate) fn default_options() -> us_options {
    // The engine's defaults, spelled in C: every default lives in `ultraslayer::options`.
    let o = Options::new(0);
    us_options {
        size: size_of::<us_options>(),
        slots: 0,
        replicas: o.replicas as u32,
        channel_offset: match o.channel_offset {
            ChannelOffset::Given(b) => b as u32,
            ChannelOffset::Auto => US_CHANNEL_OFFSET_AUTO,
            ChannelOffset::Default => US_CHANNEL_OFFSET_DEFAULT,
        },
        huge_pages: US_PAGES_AUTO,
        lock: US_LOCK_AUTO,
        cores: ptr::null(),
        core_count: 0,
        idle_us: o.threads.idle_us.map_or(-1, |v| v as i64),
        spin: spin_number(o.threads.spin),
        start: o.threads.start as i32,
        record_latency: o.threads.record_latency as i32,
        strategy: strategy_number(o.strategy),
        placement: US_PLACEMENT_AUTO,
        placement_budget_ms: -1,
    }
}

fn bad_option(option: &str, message: String) -> Failure {
    Failure::new(US_ERR_TYPE, format!("option `{option}`: {message}"))
}

/// Turns C options into engine options.
///
/// # Errors
/// `US_ERR_TYPE` for a number outside its `US_*` enum or a negative duration other than -1, and
/// what `array` refuses of `cores`. Values the engine judges (slots, replicas, cores, ...) are
/// checked by `Slayer::new`.
///
/// # Safety
/// `c.cores` is NULL or points at `c.core_count` readable `uint32_t`.
pub(crate) unsafe fn engine_options(c: &us_options) -> Result<Options, Failure> {
    let mut o = Options::new(c.slots);
    o.replicas = c.replicas as usize;
    o.channel_offset = match c.channel_offset {
        US_CHANNEL_OFFSET_DEFAULT => ChannelOffset::Default,
        US_CHANNEL_OFFSET_AUTO => ChannelOffset::Auto,
        b => ChannelOffset::Given(b as usize),
    };
    o.strategy = match c.strategy {
        US_STRATEGY_AUTO => Strategy::Auto,
        US_STRATEGY_HEDGE => Strategy::Hedge,
        US_STRATEGY_STEER => Strategy::Steer,
        US_STRATEGY_DIRECT => Strategy::Direct,
        v => return Err(bad_option("strategy", format!("must be US_STRATEGY_AUTO, _HEDGE, _STEER or _DIRECT (0 to 3), got {v}"))),
    };
    o.placement = match c.placement {
        US_PLACEMENT_AUTO => CopyPlacement::Auto,
        US_PLACEMENT_REFRESH_GROUPS => CopyPlacement::RefreshGroups,
        US_PLACEMENT_OFFSET => CopyPlacement::Offset,
        US_PLACEMENT_HUGE_PAGES => CopyPlacement::HugePages,
        US_PLACEMENT_BACKGROUND => CopyPlacement::Background,
        v => {
            return Err(bad_option(
                "placement",
                format!("must be US_PLACEMENT_AUTO, _REFRESH_GROUPS, _OFFSET, _HUGE_PAGES or _BACKGROUND (0 to 4), got {v}"),
            ))
        }
    };
    o.placement_budget = match c.placement_budget_ms {
        -1 => o.placement_budget,
        v if v >= 0 => std::time::Duration::from_millis(v as u64),
        v => return Err(bad_option("placement_budget_ms", format!("must be -1 (the default) or >= 0, got {v}"))),
    };
    let t = &mut o.threads;
    o.pages = match c.huge_pages {
        US_PAGES_AUTO => PageRequest::Auto,
        US_PAGES_1G => PageRequest::Huge1G,
        US_PAGES_2M => PageRequest::Huge2M,
        US_PAGES_THP => PageRequest::Transparent,
        US_PAGES_OFF => PageRequest::Off,
        v => return Err(bad_option("huge_pages", format!("must be US_PAGES_AUTO, _1G, _2M, _THP or _OFF (0 to 4), got {v}"))),
    };
    t.lock = match c.lock {
        US_LOCK_AUTO => LockRequest::Auto,
        US_LOCK_OFF => LockRequest::Off,
        US_LOCK_REQUIRED => LockRequest::Required,
        v => return Err(bad_option("lock", format!("must be US_LOCK_AUTO (-1), US_LOCK_OFF (0) or US_LOCK_REQUIRED (1), got {v}"))),
    };
    t.spin = spin_policy(c.spin)?;
    t.idle_us = match c.idle_us {
        -1 => None,
        v if v >= 0 => Some(v as u64),
        v => return Err(bad_option("idle_us", format!("must be -1 (the policy's default) or >= 0, got {v}"))),
    };
    t.cores = if c.core_count == 0 {
        None
    } else {
        let range = array(c.cores, c.core_count, "options.cores (with core_count > 0)")?;
        // SAFETY: checked by `array`; readable per this function's contract.
        let list = unsafe { slice_in(c.cores, c.core_count, &range) };
        Some(list.iter().map(|&k| k as usize).collect())
    };
    t.start = c.start != 0;
    t.record_latency = c.record_latency != 0;
    Ok(o)
}

fn spin_policy(v: i32) -> Result<SpinPolicy, Failure> {
    match v {
        US_SPIN_BUSY => Ok(SpinPolicy::Busy),
        US_SPIN_HYBRID => Ok(SpinPolicy::Hybrid),
        US_SPIN_SLEEP => Ok(SpinPolicy::Sleep),
        v => Err(bad_option("spin", format!("must be US_SPIN_BUSY (0), US_SPIN_HYBRID (1) or US_SPIN_SLEEP (2), got {v}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exports::us_create;
    use crate::test_support::last_error_text;

    #[test]
    fn engine_messages_use_c_names() {
        let mut o = default_options();
        o.slots = 8;
        o.channel_offset = 3;
        let mut h = ptr::null_mut();
        // SAFETY: valid options and out pointer.
        assert_eq!(unsafe { us_create(&o, &mut h) }, US_ERR_TYPE);
        assert!(h.is_null());
        assert!(last_error_text().starts_with("option `channel_offset`"), "{}", last_error_text());
    }
}
