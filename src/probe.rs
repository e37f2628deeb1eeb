//! The machine probes for the CLI and `probe.*` in JS: translation only. Each returns the engine's
//! report as JSON text (plus a `text` field with the human summary); index.js parses it. The
//! measuring and the analysis live in `ultraslayer::probe`.

use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;
use serde::Serialize;

use crate::errors::to_napi;
use ultraslayer::error::Error;
use ultraslayer::layout::Layout;
use ultraslayer::probe::{groups, machine, placement, refresh};
use ultraslayer::region::{LockRequest, PageRequest};
use ultraslayer::slab::Slab;

#[derive(Serialize)]
struct WithText<'a, T: Serialize> {
    #[serde(flatten)]
    report: &'a T,
    text: String,
}

fn json<T: Serialize + std::fmt::Display>(env: &Env, report: &T) -> Result<String> {
    serde_json::to_string(&WithText { report, text: report.to_string() })
        .map_err(|e| to_napi(env, Error::Internal { message: format!("could not serialise the report: {e}") }))
}

fn seconds(env: &Env, name: &'static str, s: Option<f64>, default: Duration) -> Result<Duration> {
    match s {
        None => Ok(default),
        Some(s) if s.is_finite() && s > 0.0 && s <= 60.0 => Ok(Duration::from_secs_f64(s)),
        Some(s) => Err(to_napi(
            env,
            Error::option_range(name, format!("must be more than 0 and at most 60 seconds, got {}", ultraslayer::error::js_number(s))),
        )),
    }
}

fn progress_fn<'a>(on_progress: &'a Option<Function<'a, f64, ()>>) -> impl FnMut(f64) + 'a {
    move |f| {
        if let Some(cb) = on_progress {
            // A throwing progress callback must not abort the probe; its exception is dropped.
            let _ = cb.call(f);
        }
    }
}

/// Internal: what this machine is (JSON).
#[napi(skip_typescript, js_name = "_probeMachine")]
pub fn probe_machine(env: Env) -> Result<String> {
    json(&env, &machine::MachineInfo::read())
}

/// Internal: the refresh probe (JSON).
#[napi(skip_typescript, js_name = "_probeRefresh")]
pub fn probe_refresh(env: Env, seconds_total: Option<f64>, on_progress: Option<Function<f64, ()>>) -> Result<String> {
    let opts = refresh::RefreshOptions { duration: seconds(&env, "seconds", seconds_total, Duration::from_secs(3))?, ..Default::default() };
    let report = refresh::probe(&opts, progress_fn(&on_progress)).map_err(|e| to_napi(&env, e))?;
    json(&env, &report)
}

/// Internal: the refresh-group probe (JSON); records the result when `record` is true.
#[napi(skip_typescript, js_name = "_probeGroups")]
pub fn probe_groups(
    env: Env,
    seconds_total: Option<f64>,
    period_ns: Option<f64>,
    record: bool,
    on_progress: Option<Function<f64, ()>>,
) -> Result<String> {
    let mut opts = groups::GroupsOptions { period_ns, ..Default::default() };
    if let Some(total) = seconds_total {
        let total = seconds(&env, "seconds", Some(total), Duration::from_secs(1))?;
        opts.session = (total / opts.bases as u32).max(Duration::from_millis(2));
        opts.subwindow_ns = opts.subwindow_ns.min(opts.session.as_nanos() as u64);
    }
    let report = groups::probe(&opts, progress_fn(&on_progress)).map_err(|e| to_napi(&env, e))?;
    let recorded_at = if record { Some(groups::record(&report).map_err(|e| to_napi(&env, e))?.display().to_string()) } else { None };
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Out<'a> {
        #[serde(flatten)]
        report: &'a groups::GroupsReport,
        recorded_at: Option<String>,
        text: String,
    }
    serde_json::to_string(&Out { report: &report, recorded_at, text: report.to_string() })
        .map_err(|e| to_napi(&env, Error::Internal { message: format!("could not serialise the report: {e}") }))
}

/// Internal: where each replica's copies physically land under a channel model (JSON).
#[napi(skip_typescript, js_name = "_probePlacement")]
pub fn probe_placement(env: Env, replicas: u32, channel_offset: u32, channel_bits: String, huge_pages: String) -> Result<String> {
    let model = placement::ChannelModel::parse(&channel_bits).map_err(|e| to_napi(&env, e))?;
    let pages = PageRequest::parse(&huge_pages).map_err(|e| to_napi(&env, e))?;
    let slots = 1u64 << 16;
    let layout = Layout::new(slots, replicas as usize, channel_offset as usize).map_err(|e| to_napi(&env, e))?;
    let slab = Slab::new(layout, pages, LockRequest::Auto).map_err(|e| to_napi(&env, e))?;
    let sample: Vec<u64> = (0..8u64).map(|k| (k * 7919 * 37) % slots).collect();
    let report = placement::check(&slab, &sample, &model).map_err(|e| to_napi(&env, e))?;
    json(&env, &report)
}

/// What the last `ultraslayer probe groups` recorded on this machine.
#[napi(object)]
pub struct RecordedGroups {
    /// Channel offset whose copies always fell in different refresh groups, if one was found.
    pub recommended_channel_offset: Option<u32>,
    /// An offset whose copies always refreshed together (the benchmark's control).
    pub same_group_offset: Option<u32>,
    pub period_ns: Option<f64>,
    /// When it was measured (ISO 8601), if known.
    pub measured_at: Option<String>,
    pub path: String,
}

/// Internal: the recorded groups result, or null.
#[napi(skip_typescript, js_name = "_recordedGroups")]
pub fn recorded_groups() -> Option<RecordedGroups> {
    let path = groups::record_path()?;
    let r = groups::load_from(&path)?;
    Some(RecordedGroups {
        recommended_channel_offset: r.channel_offset.map(|o| o as u32),
        same_group_offset: r.same_group_offset.map(|o| o as u32),
        period_ns: r.period_ns,
        measured_at: r.measured_unix_s.map(groups::iso8601),
        path: path.display().to_string(),
    })
}
