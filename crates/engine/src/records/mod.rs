//! Records: a fixed schema of up to 7 named 64-bit fields, each record stored as one 64-byte line
//! in every replica and read as one consistent snapshot — hedged, steered or direct as one unit.
//!
//! A record store is a `Slayer` (the same slab, placement, pages, strategy and threads) whose slots
//! go in eights: record r is slots 8r..8r+8, and every layout has a channel offset of at least 64
//! bytes, so each replica's copy of a record is one whole, aligned cache line (`line`). This module
//! owns which copies a read tries and in what order, the writer lock and the repair of copies a
//! dead writer left; `line` owns the per-copy sequence lock; `schema` the field rules.
//!
//! Never returns a mix of two writes; never spins without a bound; no allocation on the read or
//! write path. Writers are serialized: in one process by a mutex, across processes by an exclusive
//! `flock` on the segment file that the first write takes (one writer process at a time; the kernel
//! drops the lock of a process that dies, and the next writer repairs what it left).

pub mod line;
pub mod schema;

use std::fs::File;
#[cfg(unix)]
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::job::Job;
use crate::layout::{Layout, MAX_SLOTS};
use crate::shm::{self, NewSegment};
use crate::slab::Slab;
use crate::slayer::{Info, OpenOptions, Options, SharedOptions, Slayer, Strategy};
use crate::stats::Stats;
use crate::steer::SteerReport;
use line::{LINE_WORDS, MAX_FIELDS};

pub use schema::{Field, FieldType, Schema};

/// Most records a store holds (slot indices travel as u32 through the JS and C APIs).
pub const MAX_RECORDS: u64 = MAX_SLOTS / LINE_WORDS as u64;
/// Rounds over every copy (each `line::COPY_TRIES` attempts) before a read gives up with
/// `Error::RecordInconsistent`. A writer holds at most one copy mid-update at a time, so a read
/// only gets this far against a writer rewriting the same record back to back.
pub const READ_ROUNDS: u32 = 64;

/// The first slot of record `i`.
#[inline(always)]
fn base(i: u64) -> u64 {
    i * LINE_WORDS as u64
}

/// Who may write, and (for shared segments) the lock that says so across processes.
struct WriterState {
    /// The segment file of a shared store and the (device, inode) this process mapped; None for a
    /// private one.
    segment: Option<(PathBuf, (u64, u64))>,
    /// The segment file, flock'ed exclusively, once this process has written.
    lock: Option<File>,
    /// Records the repair rewrote when the lock was taken.
    repaired: u64,
}

/// A handle that writes records (clone it for other threads; all clones share one writer lock).
#[derive(Clone)]
pub struct RecordWriter {
    slab: Arc<Slab>,
    count: u64,
    schema: Arc<Schema>,
    state: Arc<Mutex<WriterState>>,
}

impl RecordWriter {
    /// Stores `fields` (exactly the schema's field count, in schema order) in every copy of record
    /// `i`, each copy under its sequence lock; returns once every copy holds them. Checks before
    /// anything is stored, each field's word against its type's range too (`FieldType::holds`). The first write to a shared segment takes its writer lock and repairs
    /// copies a dead writer left mid-update.
    pub fn write(&self, i: u64, fields: &[u64]) -> Result<()> {
        if i >= self.count {
            return Err(Error::RecordOutOfRange { index: i, count: self.count });
        }
        if fields.len() != self.schema.len() {
            return Err(Error::LengthMismatch { indices: self.schema.len(), values: fields.len() });
        }
        if let Some((f, &word)) = self.schema.fields().iter().zip(fields).find(|(f, &w)| !f.ty.holds(w)) {
            return Err(Error::FieldOutOfRange { field: f.name.clone(), ty: f.ty.name(), range: f.ty.range(), word });
        }
        // The mutex's Acquire/Release order this write after the previous writer's (in this process).
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.segment.is_some() && st.lock.is_none() {
            self.take_segment_lock(&mut st)?;
        }
        for c in 0..self.slab.layout().replicas() {
            line::write_copy(line::line(&self.slab, c, base(i)), fields);
        }
        Ok(())
    }

    /// Takes the shared segment's writer lock (never waiting: a busy lock is an error) and then
    /// repairs every record a dead writer left with copies that disagree.
    fn take_segment_lock(&self, st: &mut WriterState) -> Result<()> {
        let (path, mapped) = st.segment.clone().expect("called for shared stores only");
        let file = File::open(&path).map_err(|e| Error::SegmentIo {
            path: path.display().to_string(),
            op: "open (writer lock)",
            errno: e.raw_os_error().unwrap_or(libc::EIO),
        })?;
        if shm::file_id(&file, &path)? != mapped {
            return Err(Error::SegmentIncompatible {
                path: path.display().to_string(),
                message: "the segment was replaced (created again with overwrite) since this process opened it, so this \
                          process can no longer write it: open it again"
                    .into(),
            });
        }
        // (Never reached on Windows: `shm::file_id` refuses there, as no segment exists.)
        // SAFETY: flock on a descriptor we own; it changes only the lock state of the open file.
        #[cfg(unix)]
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let errno = crate::error::last_errno();
            return Err(if errno == libc::EWOULDBLOCK {
                Error::WriterBusy { path: path.display().to_string() }
            } else {
                Error::SegmentIo { path: path.display().to_string(), op: "lock (writer lock)", errno }
            });
        }
        st.repaired = repair_all(&self.slab, self.count);
        st.lock = Some(file);
        Ok(())
    }

    /// Repairs every record now (the first write to a shared segment does this by itself).
    /// Returns how many records had copies rewritten.
    pub fn repair(&self) -> Result<u64> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.segment.is_some() && st.lock.is_none() {
            self.take_segment_lock(&mut st)?;
            return Ok(st.repaired);
        }
        Ok(repair_all(&self.slab, self.count))
    }
}

/// Makes every record's copies agree (see `line::repair_record`); the caller holds the writer lock.
fn repair_all(slab: &Slab, count: u64) -> u64 {
    (0..count).filter(|&i| line::repair_record(slab, base(i))).count() as u64
}

/// What `Records::info` adds to the slab's `Info` (serialized in camelCase, the schema as its
/// text under `fields`).
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordsInfo {
    /// Records in the store.
    pub count: u64,
    #[serde(rename = "fields", serialize_with = "crate::report::schema_text")]
    /// The fields of each record.
    pub schema: Schema,
    /// Records the repair rewrote when this process took the writer lock.
    pub repaired: u64,
    /// True once this process holds the shared segment's writer lock.
    pub writer_locked: bool,
    /// The slab the records live in (its copies, pages, threads and strategy).
    pub slab: Info,
}

/// A store of records of up to seven typed fields (a [`Schema`]), mirrored like a [`Slayer`]'s slots: every record is read as one consistent snapshot, by the slab's strategy, and written through its [`RecordWriter`] to every copy.
pub struct Records {
    slayer: Slayer,
    schema: Schema,
    count: u64,
    writer: RecordWriter,
}

fn check_count(count: u64) -> Result<()> {
    if count == 0 || count > MAX_RECORDS {
        return Err(Error::option_range("count", format!("must be from 1 to {MAX_RECORDS}, got {count}")));
    }
    Ok(())
}

impl Records {
    /// A private store of `count` records; `opts` as for `Slayer::new` (its `slots` is ignored:
    /// a record takes 8 slots).
    pub fn new(count: u64, schema: Schema, opts: Options) -> Result<Records> {
        Records::new_with(count, schema, opts, &Job::none())
    }

    /// `new`, as part of `job` (see `Slayer::new_with`).
    pub fn new_with(count: u64, schema: Schema, mut opts: Options, job: &Job) -> Result<Records> {
        check_count(count)?;
        opts.slots = base(count);
        let slayer = Slayer::new_with(opts, job)?;
        Ok(Records::wrap(slayer, schema, count, None))
    }

    /// Creates the shared record segment `name` (schema in its header; see `shm::create_with_schema`).
    pub fn create_shared(name: &str, count: u64, schema: Schema, opts: Options, shared: SharedOptions) -> Result<Records> {
        Records::create_shared_with(name, count, schema, opts, shared, &Job::none())
    }

    /// `create_shared`, as part of `job` (see `Slayer::create_shared_with`): a cancelled creation
    /// leaves no segment behind.
    pub fn create_shared_with(name: &str, count: u64, schema: Schema, opts: Options, shared: SharedOptions, job: &Job) -> Result<Records> {
        shm::validate_name(name)?;
        job.check()?;
        check_count(count)?;
        // Refused before any file exists: a shared slab is hedged or read directly.
        crate::slayer::shared_strategy(opts.strategy)?;
        let offset = opts.channel_offset.resolve(false);
        let layout = Layout::new(base(count), opts.replicas, offset.bytes)?;
        let text = schema.text();
        let (region, info) = shm::create(
            &NewSegment {
                name,
                pages: opts.pages,
                lock: opts.threads.lock,
                overwrite: shared.overwrite,
                dir: shared.dir.as_deref(),
                schema: Some(&text),
            },
            layout.clone(),
            job,
        )
        .map_err(Error::of_records)?;
        let segment = (PathBuf::from(&info.path), info.file_id);
        let slab = Arc::new(Slab::from_region(region, layout)?);
        let created = info.clone();
        let slayer = crate::slayer::removed_if_cancelled(
            Slayer::over_shared_slab(slab, info, &opts.threads, opts.strategy, offset.source, job),
            &created,
        )?;
        Ok(Records::wrap(slayer, schema, count, Some(segment)))
    }

    /// Opens the shared record segment `name`. With `expect`, refuses a segment of another schema.
    /// A shared store is hedged or read directly (`opts.strategy`: auto, hedge or direct), as a
    /// shared Slayer is.
    pub fn open_shared(name: &str, expect: Option<&Schema>, mut opts: OpenOptions) -> Result<Records> {
        shm::validate_name(name)?;
        crate::slayer::shared_strategy(opts.strategy)?;
        opts.expect.records = true;
        let (region, layout, info) =
            shm::open(name, opts.threads.lock, opts.expect, opts.wait, opts.dir.as_deref()).map_err(Error::of_records)?;
        let segment = (PathBuf::from(&info.path), info.file_id);
        let incompatible = |message: String| Error::SegmentIncompatible { path: info.path.clone(), message };
        let text = info.schema.clone().unwrap_or_default();
        let schema =
            Schema::parse(&text).map_err(|e| incompatible(format!("its record schema {text:?} is not one this build reads ({e})")))?;
        if let Some(want) = expect.filter(|w| **w != schema) {
            return Err(incompatible(format!("its records have fields {}, but {} were asked for", schema.text(), want.text())));
        }
        if layout.slots() % LINE_WORDS as u64 != 0 {
            return Err(incompatible(format!("its {} slots are not whole records of {LINE_WORDS} slots", layout.slots())));
        }
        let count = layout.slots() / LINE_WORDS as u64;
        let slab = Arc::new(Slab::from_region(region, layout)?);
        let slayer =
            Slayer::over_shared_slab(slab, info, &opts.threads, opts.strategy, "from the shared segment's header".into(), &Job::none())?;
        Ok(Records::wrap(slayer, schema, count, Some(segment)))
    }

    fn wrap(slayer: Slayer, schema: Schema, count: u64, segment: Option<(PathBuf, (u64, u64))>) -> Records {
        let slab = slayer.slab();
        let state = Arc::new(Mutex::new(WriterState { segment, lock: None, repaired: 0 }));
        let writer = RecordWriter { slab, count, schema: Arc::new(schema.clone()), state };
        Records { slayer, schema, count, writer }
    }

    /// Records in the store.
    pub fn count(&self) -> u64 {
        self.count
    }
    /// The fields of each record.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Reads record `i` into `out` (its first `schema().len()` words, in schema order): one
    /// consistent snapshot, by the store's strategy. Hedged: every replica thread reads and
    /// validates its own copy and the first consistent one wins. Steered: the tracker picks the
    /// copy. Direct: copy 0. Whichever copy is found mid-update, the others are tried in turn.
    #[inline]
    pub fn read(&mut self, i: u64, out: &mut [u64]) -> Result<()> {
        if i >= self.count {
            return Err(Error::RecordOutOfRange { index: i, count: self.count });
        }
        if out.len() < self.schema.len() {
            return Err(Error::LengthMismatch { indices: self.schema.len(), values: out.len() });
        }
        let mut line = [0u64; MAX_FIELDS];
        self.read_line(i, &mut line)?;
        let n = self.schema.len();
        out[..n].copy_from_slice(&line[..n]);
        Ok(())
    }

    /// Record `i`'s whole line: all `MAX_FIELDS` field words, one consistent snapshot (as
    /// [`Records::read`], without the copy into a caller's slice of the schema's length).
    ///
    /// # Errors
    /// [`Error::RecordOutOfRange`] when `i >= count()`; [`Error::RecordInconsistent`] when no copy
    /// held still long enough to be read whole (a writer rewriting this record without pause).
    #[inline(always)]
    pub fn read_line(&mut self, i: u64, out: &mut [u64; MAX_FIELDS]) -> Result<()> {
        if i >= self.count {
            return Err(Error::RecordOutOfRange { index: i, count: self.count });
        }
        let b = base(i);
        // The store's strategy reads first (read_path); when that found no consistent copy, every
        // copy in turn from the one it names.
        if self.slayer.read_path().read_line(b, out, |slab, start, out| read_any_copy(slab, b, start, out)) {
            return Ok(());
        }
        let n = self.writer.slab.layout().replicas();
        Err(Error::RecordInconsistent { index: i, attempts: READ_ROUNDS * n as u32 * line::COPY_TRIES })
    }

    /// Whether a read now is the direct one (copy 0 first, then the others: no threads, no
    /// steering, no latency recording), so a front end may read `copy0_view` itself.
    pub fn reads_direct(&self) -> bool {
        self.slayer.reads_direct()
    }

    /// Copy 0 of the slab (see `Slayer::copy0_view`), for a front end that reads records itself
    /// while `reads_direct()` holds, with `line`'s protocol: the sequence word (word 0 of the
    /// record's line) even and unchanged across the field loads, `line::COPY_TRIES` attempts,
    /// then this store's own read (`read_line`), which tries the other copies and gives up with
    /// `Error::RecordInconsistent` after `READ_ROUNDS` rounds. Record i's line is the 8 words from
    /// copy-0 word `((8i) >> shift) * stride + ((8i) & mask)`. Offered for shared stores too.
    pub fn copy0_view(&self) -> Option<crate::slayer::DirectView> {
        self.slayer.copy0_view()
    }

    /// Reads `indices.len()` records into `out`, record after record, `schema().len()` words
    /// each; every index and the length are checked before anything is read.
    pub fn read_many(&mut self, indices: &[u32], out: &mut [u64]) -> Result<()> {
        let n = self.schema.len();
        if out.len() != indices.len() * n {
            return Err(Error::LengthMismatch { indices: indices.len() * n, values: out.len() });
        }
        if let Some(&bad) = indices.iter().find(|&&i| i as u64 >= self.count) {
            return Err(Error::RecordOutOfRange { index: bad as u64, count: self.count });
        }
        let mut line = [0u64; MAX_FIELDS];
        for (o, &i) in out.chunks_exact_mut(n).zip(indices) {
            self.read_line(i as u64, &mut line)?;
            o.copy_from_slice(&line[..n]);
        }
        Ok(())
    }

    /// Reads copy `copy` of record `i` only (baselines, checks); Ok(None) while it is mid-update.
    pub fn read_copy(&self, copy: usize, i: u64) -> Result<Option<[u64; MAX_FIELDS]>> {
        let slab = self.writer.slab.as_ref();
        if copy >= slab.layout().replicas() {
            return Err(Error::ReplicaOutOfRange { replica: copy, replicas: slab.layout().replicas() });
        }
        if i >= self.count {
            return Err(Error::RecordOutOfRange { index: i, count: self.count });
        }
        Ok(line::read_copy(slab, copy, base(i)))
    }

    /// The slab under the records (probes, cache flushes, placement checks).
    pub fn slab(&self) -> &Arc<Slab> {
        &self.writer.slab
    }

    /// See `RecordWriter::write`.
    #[inline]
    pub fn write(&self, i: u64, fields: &[u64]) -> Result<()> {
        self.writer.write(i, fields)
    }

    /// A writer for other threads (all writers of this store share one lock).
    pub fn writer(&self) -> RecordWriter {
        self.writer.clone()
    }

    /// Starts the replica threads of a hedged store (no-op when running).
    ///
    /// # Errors
    /// As [`Slayer::start`]: a thread could not be spawned or pinned.
    pub fn start(&mut self) -> Result<()> {
        self.slayer.start()
    }
    /// Stops and joins the replica threads; reads go on from one copy.
    pub fn stop(&mut self) {
        self.slayer.stop()
    }
    /// As [`Slayer::set_learn_duty_percent`], for a steered store learned in the background.
    ///
    /// # Errors
    /// As [`Slayer::set_learn_duty_percent`]: a percent outside 1 to 100.
    pub fn set_learn_duty_percent(&self, percent: u32) -> Result<bool> {
        self.slayer.set_learn_duty_percent(percent)
    }
    /// The strategy reads use (never `Auto`).
    pub fn strategy(&self) -> Strategy {
        self.slayer.strategy()
    }
    /// Read counters, wins per copy and latency percentiles (see [`Slayer::stats`]).
    pub fn stats(&self) -> Stats {
        self.slayer.stats()
    }
    /// Zeroes the counters and the latency histogram.
    pub fn reset_stats(&mut self) {
        self.slayer.reset_stats()
    }
    /// The steering tracker's state and counts, for a steered store.
    pub fn steer_report(&self) -> Option<SteerReport> {
        self.slayer.steer_report()
    }

    /// What the store got and how it runs: the slab's `Info`, the schema and the writer's state.
    pub fn info(&self) -> RecordsInfo {
        let st = self.writer.state.lock().unwrap_or_else(|p| p.into_inner());
        RecordsInfo {
            count: self.count,
            schema: self.schema.clone(),
            repaired: st.repaired,
            writer_locked: st.lock.is_some(),
            slab: self.slayer.info(),
        }
    }
}

/// Tries every copy in turn from `start`, `READ_ROUNDS` times round; false when none was ever
/// consistent.
fn read_any_copy(slab: &Slab, base: u64, start: usize, out: &mut [u64; MAX_FIELDS]) -> bool {
    let n = slab.layout().replicas();
    for _ in 0..READ_ROUNDS {
        for k in 0..n {
            if let Some(f) = line::read_copy(slab, (start + k) % n, base) {
                *out = f;
                return true;
            }
        }
        std::hint::spin_loop();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::{LockRequest, PageRequest};
    use std::sync::atomic::Ordering;

    fn store(strategy: Strategy) -> Records {
        let mut o = Options::new(0);
        o.pages = PageRequest::Off;
        o.threads.lock = LockRequest::Off;
        o.strategy = strategy;
        o.placement = crate::CopyPlacement::Offset;
        let s = Schema::new(vec![Field { name: "a".into(), ty: FieldType::U64 }, Field { name: "b".into(), ty: FieldType::U64 }]).unwrap();
        Records::new(8, s, o).unwrap()
    }

    #[test]
    fn a_copy_left_mid_update_is_read_around_and_repaired() {
        for strategy in [Strategy::Direct, Strategy::Steer] {
            let mut r = store(strategy);
            r.write(3, &[1, 2]).unwrap();
            // What a writer killed inside copy 0 leaves: an odd sequence and half its fields.
            let l = line::line(&r.writer.slab, 0, base(3));
            l[0].store(l[0].load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            l[1].store(9, Ordering::Relaxed);
            let mut out = [0u64; 2];
            for _ in 0..100 {
                r.read(3, &mut out).unwrap();
                assert_eq!(out, [1, 2], "{strategy:?}: the old value, from the other copy");
            }
            assert_eq!(r.read_copy(0, 3).unwrap(), None);
            assert_eq!(r.writer().repair().unwrap(), 1);
            assert_eq!(r.read_copy(0, 3).unwrap().unwrap()[..2], [1, 2]);
            r.write(3, &[4, 5]).unwrap();
            r.read(3, &mut out).unwrap();
            assert_eq!(out, [4, 5]);
        }
    }

    #[test]
    fn a_narrow_field_out_of_range_is_refused_and_nothing_is_written() {
        let mut o = Options::new(0);
        o.pages = PageRequest::Off;
        o.threads.lock = LockRequest::Off;
        o.strategy = Strategy::Direct;
        o.placement = crate::CopyPlacement::Offset;
        let mut r = Records::new(4, Schema::parse("q:u32,s:i32,n:int53").unwrap(), o).unwrap();
        r.write(1, &[7, (-3i64) as u64, (-(1i64 << 52)) as u64]).unwrap();
        for (bad, field) in [([1u64 << 32, 0, 0], "q"), ([0, 1 << 31, 0], "s"), ([0, 0, 1 << 53], "n")] {
            let e = r.write(1, &bad).unwrap_err();
            assert!(matches!(&e, Error::FieldOutOfRange { field: f, .. } if f == field), "{e}");
            assert_eq!(e.kind(), crate::error::ErrorKind::Range);
        }
        let mut out = [0u64; 3];
        r.read(1, &mut out).unwrap();
        assert_eq!(out, [7, (-3i64) as u64, (-(1i64 << 52)) as u64]);
    }

    #[test]
    fn a_record_every_copy_of_which_stays_mid_update_is_an_error_not_a_value() {
        let mut r = store(Strategy::Direct);
        for c in 0..2 {
            line::line(&r.writer.slab, c, base(5))[0].store(1, Ordering::Relaxed);
        }
        let e = r.read(5, &mut [0u64; 2]).unwrap_err();
        assert!(matches!(e, Error::RecordInconsistent { index: 5, .. }), "{e}");
        assert!(e.to_string().contains("nothing torn was returned"));
    }
}
