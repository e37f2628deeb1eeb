//! Internal hooks for `npm run bench` (hidden from the typings): the TSC, cache flushes, native
//! timed arms on a Slayer's own slab, the independent-pairs method, stress threads and an HDR
//! histogram the JS arms record into. Translation only; the measuring is in `ultraslayer::bench`.

use std::sync::Arc;

use hdrhistogram::Histogram;
use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;

use crate::errors::to_napi;
use crate::records::NativeRecords;
use crate::{report, Slayer};
use ultraslayer::bench::{self, Pace};
use ultraslayer::stats::{latency_histogram, Percentiles};
use ultraslayer::tsc;

/// Percentiles plus every recorded bucket (`[ns, count]`), for tables, JSON and CCDF plots:
/// `{ latency, buckets }`.
pub(crate) fn summarize(h: &Histogram<u64>) -> serde_json::Value {
    #[derive(serde::Serialize)]
    struct Summary {
        latency: Percentiles,
        buckets: Vec<[u64; 2]>,
    }
    let buckets = h.iter_recorded().map(|v| [h.highest_equivalent(v.value_iterated_to()), v.count_at_value()]).collect();
    report(&Summary { latency: Percentiles::of(h), buckets })
}

/// An HDR histogram (1 ns .. 10 s, 3 digits) the JS arms record tick differences into in chunks.
#[napi(skip_typescript, js_name = "_histogramNew")]
pub fn histogram_new() -> External<Histogram<u64>> {
    External::new(latency_histogram())
}

/// Records the first `n` TSC tick differences of `ticks`, minus `overhead_ticks`, as ns.
#[napi(skip_typescript, js_name = "_histogramRecordTicks")]
pub fn histogram_record_ticks(h: &mut External<Histogram<u64>>, ticks: Float64ArraySlice, n: u32, overhead_ticks: f64) {
    for &t in ticks.iter().take(n as usize) {
        let t = (t - overhead_ticks).max(0.0) as u64;
        h.saturating_record(tsc::to_ns(t).max(1));
    }
}

#[napi(skip_typescript, js_name = "_histogramSummary")]
pub fn histogram_summary(h: &External<Histogram<u64>>) -> serde_json::Value {
    summarize(h)
}

/// The result of the independent-pairs arm.
#[napi(object)]
pub struct PairsResult {
    pub min_of_pair: serde_json::Value,
    pub per_replica: Vec<serde_json::Value>,
    pub paired_share: f64,
}

/// Starts stress threads streaming through a buffer of their own until `_stressStop`.
#[napi(skip_typescript, js_name = "_stressStart")]
pub fn stress_start(env: Env, cores: Vec<u32>, bytes: f64) -> Result<External<Option<bench::Stress>>> {
    let cores: Vec<usize> = cores.into_iter().map(|c| c as usize).collect();
    let s = bench::Stress::start(&cores, bytes as usize).map_err(|e| to_napi(&env, e))?;
    Ok(External::new(Some(s)))
}

#[napi(skip_typescript, js_name = "_stressStop")]
pub fn stress_stop(s: &mut External<Option<bench::Stress>>) {
    **s = None;
}

/// TSC frequency (Hz) and whether it is invariant.
#[napi(skip_typescript, js_name = "_tscInfo")]
pub fn tsc_info() -> Vec<f64> {
    vec![
        tsc::hz(),
        match tsc::invariant() {
            Some(true) => 1.0,
            Some(false) => 0.0,
            None => -1.0,
        },
    ]
}

/// Flushes the cache line of element `index` of a Float64Array.
#[napi(skip_typescript, js_name = "_flushF64Array")]
pub fn flush_f64_array(arr: Float64ArraySlice, index: u32) {
    if let Some(x) = arr.get(index as usize) {
        // SAFETY: `x` is an element of the typed array, which stays alive and mapped for this call.
        unsafe { ultraslayer::cache::flush_line(x as *const f64 as *const u8) };
    }
}

/// Timer overhead of the native stamps (ns): back-to-back start/end stamps.
#[napi(skip_typescript, js_name = "_timerOverhead")]
pub fn timer_overhead(samples: u32) -> serde_json::Value {
    summarize(&bench::timer_overhead(samples as usize))
}

fn pace(cold: bool, gap_ns: f64) -> Pace {
    Pace { cold, gap_ns: gap_ns.max(0.0) as u64 }
}

#[napi]
impl Slayer {
    /// Internal: flushes every replica's copy of slot `index` from the caches.
    #[napi(skip_typescript, js_name = "_flush")]
    pub fn bench_flush(&self, index: u32) {
        if let Some(e) = self.inst.engine() {
            e.slab().flush_slot(index as u64);
        }
    }

    /// Internal: times reads in Rust. `kind` 'direct' reads replica 0 without threads; 'hedged'
    /// uses the running replica threads.
    #[napi(skip_typescript, js_name = "_benchNative")]
    pub fn bench_native(&self, env: Env, kind: String, indices: Uint32ArraySlice, cold: bool, gap_ns: f64) -> Result<serde_json::Value> {
        let e = self.engine(&env)?;
        let p = pace(cold, gap_ns);
        let h = match kind.as_str() {
            "direct" => bench::native_direct(&e.slab(), &indices, p),
            "hedged" => {
                if !e.running() {
                    return Err(napi::Error::from_reason("_benchNative('hedged') needs running replica threads"));
                }
                bench::native_hedged(e, &indices, p)
            }
            // Whatever this Slayer's strategy does (steer, direct or hedge), timed in Rust.
            "engine" => bench::native_hedged(e, &indices, p),
            other => return Err(napi::Error::from_reason(format!("unknown native arm {other}"))),
        };
        Ok(summarize(&h))
    }

    /// Internal: copy 0 read directly and this Slayer's strategy, interleaved read by read and
    /// timed in Rust: [direct, engine].
    #[napi(skip_typescript, js_name = "_benchNativeInterleaved")]
    pub fn bench_native_interleaved(&self, env: Env, indices: Uint32ArraySlice, cold: bool, gap_ns: f64) -> Result<Vec<serde_json::Value>> {
        let e = self.engine(&env)?;
        let r = bench::native_interleaved(e, &indices, pace(cold, gap_ns));
        let mut out = vec![summarize(&r.direct), summarize(&r.engine)];
        // A slab learned in the background: the same two over the reads of learned frames.
        if let Some((d, s)) = &r.learned {
            out.extend([summarize(d), summarize(s)]);
        }
        Ok(out)
    }

    /// Internal: the independent-pairs method on this slab, one pinned thread per replica on the
    /// slab's cores (its replica threads must be stopped).
    #[napi(skip_typescript, js_name = "_benchPairs")]
    pub fn bench_pairs(&self, env: Env, indices: Uint32ArraySlice, cold: bool, gap_ns: f64, window_ns: f64) -> Result<PairsResult> {
        let e = self.engine(&env)?;
        let cores = e.info().cores;
        let idx = Arc::new(indices.to_vec());
        let p = bench::independent_pairs(e.slab(), &cores, idx, pace(cold, gap_ns), window_ns as u64);
        Ok(PairsResult {
            min_of_pair: summarize(&p.min_of_pair),
            per_replica: p.per_replica.iter().map(summarize).collect(),
            paired_share: p.paired_share,
        })
    }
}

/// A raw `clock()` that writes the TSC (ticks, as a double) into word 0 of `scratch`.
#[napi(skip_typescript, js_name = "_clock")]
pub fn clock<'env>(env: &'env Env, scratch: Unknown<'env>) -> Result<Unknown<'env>> {
    use napi::JsValue;
    // SAFETY: env is the live env of this call and scratch a value in it.
    let f = unsafe { crate::bench_raw::clock_function(env.raw(), scratch.raw())? };
    // SAFETY: f was just created in this env.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), f) })
}

/// Internal: bare raw N-API functions the benchmark measures readF64 against.
#[napi(skip_typescript, js_name = "_bareFunctions")]
pub fn bare_functions(env: &Env) -> Result<Unknown<'_>> {
    // SAFETY: env is the live env of this call.
    let obj = unsafe { crate::bench_raw::bare_functions(env.raw())? };
    // SAFETY: obj was just created in this env.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), obj) })
}

#[napi]
impl NativeRecords {
    /// Internal (benchmark): times whole-record reads by this store's strategy inside Rust.
    #[napi(skip_typescript, js_name = "_benchNative")]
    pub fn bench_native(&self, env: Env, indices: Uint32ArraySlice, cold: bool, gap_ns: f64) -> Result<serde_json::Value> {
        let e = self.engine(&env)?;
        if let Some(&bad) = indices.iter().find(|&&i| i as u64 >= e.count()) {
            return Err(to_napi(&env, ultraslayer::Error::RecordOutOfRange { index: bad as u64, count: e.count() }));
        }
        let slab = e.slab().clone();
        let pace = bench::Pace { cold, gap_ns: gap_ns.max(0.0) as u64 };
        let mut line = [0u64; ultraslayer::records::line::MAX_FIELDS];
        let (h, _) = bench::time_reads(
            &indices,
            pace,
            |i| slab.flush_slot(i * 8),
            |i| match e.read_line(i, &mut line) {
                Ok(()) => line.iter().fold(0, |a, &w| a ^ w),
                Err(_) => 0,
            },
        );
        Ok(summarize(&h))
    }
}
