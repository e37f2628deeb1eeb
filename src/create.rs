//! Creating a slab or a record store off the JS thread: `Slayer.create` / `Records.create` in
//! index.js and records.js run the engine's creation (mapping, pre-faulting, placement,
//! calibration, starting threads) on a libuv worker through an `AsyncTask`, under a
//! `CreationJob` the JS side can cancel (an AbortSignal) and poll for progress.
//!
//! Options are read on the JS thread, before the task is queued, so a bad option throws at once.
//! The task's result is the native object, or the engine's error as a plain report that index.js
//! turns into the matching TypeError/RangeError/Error with its code (`errors::code`): a rejection
//! made on the worker could not carry the class and code. Progress is polled, not pushed: the JS
//! side reads `progress()` on a timer, so no JS function is ever called from the worker.

use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;

use crate::errors::{code, to_napi};
use crate::options::{slab_options, JsOptions};
use crate::records::NativeRecords;
use crate::Slayer;
use ultraslayer::error::{ErrorKind, Front};
use ultraslayer::records::Schema;

/// Internal: the cancel flag and progress of one asynchronous creation (see `ultraslayer::Job`).
#[napi(js_name = "CreationJob")]
pub struct CreationJob {
    job: ultraslayer::Job,
}

/// Internal: the last progress a creation reported.
#[napi(object)]
pub struct CreationProgress {
    /// 'map' | 'prefault' | 'period' | 'place' | 'check' | 'calibrate' | 'start'
    pub phase: String,
    pub done: f64,
    pub total: f64,
    /// What `done` and `total` count: 'bytes' | 'ms' | 'threads'.
    pub unit: String,
}

/// Internal: an engine error, for index.js to throw as the class `kind` names with `code`.
#[napi(object)]
pub struct CreationError {
    /// 'type' | 'range' | 'system'
    pub kind: String,
    pub code: String,
    pub message: String,
}

#[napi]
impl CreationJob {
    #[napi(skip_typescript, constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        CreationJob { job: ultraslayer::Job::new() }
    }

    /// Asks the creation to stop; it frees what it made and settles with ERR_ULTRASLAYER_ABORTED.
    #[napi(skip_typescript)]
    pub fn cancel(&self) {
        self.job.cancel()
    }

    /// The last progress reported, or null before the first.
    #[napi(skip_typescript)]
    pub fn progress(&self) -> Option<CreationProgress> {
        self.job.snapshot().map(|(phase, done, total)| CreationProgress {
            phase: phase.name().into(),
            done: done as f64,
            total: total as f64,
            unit: phase.unit().into(),
        })
    }
}

/// What a task creates.
enum What {
    Slayer(ultraslayer::Options),
    SharedSlayer { name: String, options: ultraslayer::Options, shared: ultraslayer::SharedOptions },
    Records { schema: Schema, options: ultraslayer::Options },
    SharedRecords { name: String, schema: Schema, options: ultraslayer::Options, shared: ultraslayer::SharedOptions },
}

/// What a task made.
pub enum Made {
    Slayer(ultraslayer::Slayer),
    Records(ultraslayer::Records),
}

/// One creation, run by a libuv worker.
pub struct Create {
    what: Option<What>,
    job: ultraslayer::Job,
}

impl Task for Create {
    type Output = std::result::Result<Made, ultraslayer::Error>;
    type JsValue = Either3<Slayer, NativeRecords, CreationError>;

    fn compute(&mut self) -> Result<Self::Output> {
        let job = &self.job;
        let Some(what) = self.what.take() else {
            return Ok(Err(ultraslayer::Error::Internal { message: "a creation task ran twice".into() }));
        };
        Ok(match what {
            What::Slayer(o) => ultraslayer::Slayer::new_with(o, job).map(Made::Slayer),
            What::SharedSlayer { name, options, shared } => {
                ultraslayer::Slayer::create_shared_with(&name, options, shared, job).map(Made::Slayer)
            }
            What::Records { schema, options } => {
                let count = options.slots / 8;
                ultraslayer::Records::new_with(count, schema, options, job).map(Made::Records)
            }
            What::SharedRecords { name, schema, options, shared } => {
                let count = options.slots / 8;
                ultraslayer::Records::create_shared_with(&name, count, schema, options, shared, job).map(Made::Records)
            }
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(match output {
            Ok(Made::Slayer(s)) => Either3::A(Slayer::wrap(s)),
            Ok(Made::Records(r)) => Either3::B(NativeRecords::wrap(r)),
            Err(e) => Either3::C(CreationError {
                kind: match e.kind() {
                    ErrorKind::Type => "type",
                    ErrorKind::Range => "range",
                    ErrorKind::System => "system",
                }
                .into(),
                code: code(&e).into(),
                message: e.message(Front::Js),
            }),
        })
    }
}

fn task(what: What, job: &CreationJob) -> AsyncTask<Create> {
    AsyncTask::new(Create { what: Some(what), job: job.job.clone() })
}

fn schema(env: &Env, text: &str) -> Result<Schema> {
    Schema::parse(text).map_err(|e| to_napi(env, e))
}

/// Internal: `new Slayer(options)`'s work off the JS thread (index.js's `Slayer.create` without a
/// name).
#[napi(skip_typescript, js_name = "_createSlayer", catch_unwind)]
pub fn create_slayer(env: Env, options: Object, job: &CreationJob) -> Result<AsyncTask<Create>> {
    let o = slab_options(JsOptions::new(&options)).map_err(|e| to_napi(&env, e))?;
    Ok(task(What::Slayer(o), job))
}

/// Internal: a named shared slab created off the JS thread (`Slayer.create` with a name).
#[napi(skip_typescript, js_name = "_createSharedSlayer", catch_unwind)]
pub fn create_shared_slayer(env: Env, options: Object, job: &CreationJob) -> Result<AsyncTask<Create>> {
    let o = JsOptions::create(&options);
    let read = (|| {
        Ok::<_, ultraslayer::Error>((o.name()?, slab_options(o)?, ultraslayer::SharedOptions { overwrite: o.overwrite()?, dir: None }))
    })();
    let (name, options, shared) = read.map_err(|e| to_napi(&env, e))?;
    Ok(task(What::SharedSlayer { name, options, shared }, job))
}

/// Internal: a record store created off the JS thread (`Records.create` without a name).
#[napi(skip_typescript, js_name = "_createRecords", catch_unwind)]
pub fn create_records(env: Env, fields: String, options: Object, job: &CreationJob) -> Result<AsyncTask<Create>> {
    let schema = schema(&env, &fields)?;
    let options = slab_options(JsOptions::new(&options)).map_err(|e| to_napi(&env, e))?;
    Ok(task(What::Records { schema, options }, job))
}

/// Internal: a named shared record store created off the JS thread (`Records.create` with a name).
#[napi(skip_typescript, js_name = "_createSharedRecords", catch_unwind)]
pub fn create_shared_records(
    env: Env,
    name: String,
    overwrite: bool,
    fields: String,
    options: Object,
    job: &CreationJob,
) -> Result<AsyncTask<Create>> {
    let schema = schema(&env, &fields)?;
    let options = slab_options(JsOptions::create(&options)).map_err(|e| to_napi(&env, e))?;
    Ok(task(What::SharedRecords { name, schema, options, shared: ultraslayer::SharedOptions { overwrite, dir: None } }, job))
}
