//! Creating a segment: pick the place for it, make its file (O_EXCL, mode 0600), give the file
//! real backing, map it, and publish its header once the layout is known.
//!
//! Owns the creator's side of the protocol: the pid first, then (`Pending::publish`) the frame
//! table and every header word, then the ready word last. It never truncates or rewrites a file
//! another process may have mapped: `overwrite` unlinks the old file and creates a new one; and a
//! creation that fails or is cancelled removes the file it made, never another.

#[cfg(unix)]
use std::fs::{File, OpenOptions, Permissions};
#[cfg(unix)]
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
#[cfg(unix)]
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

#[cfg(unix)]
use super::discovery::{self, page_kind_of, Place};
#[cfg(unix)]
use super::file::{file_id, invalid, io_err};
#[cfg(unix)]
use super::header::{file_bytes, Header, MAX_SCHEMA_BYTES};
#[cfg(unix)]
use super::header_page::HeaderPage;
use super::name::validate_name;
#[cfg(windows)]
use super::windows::create_pending;
use super::{NewSegment, Shape, SharedInfo};
use crate::error::{Error, Result, Segment};
use crate::job::{Job, Phase};
use crate::layout::Layout;
use crate::region::{LockRequest, PageKind, Region};

/// Creates segment `name` for `layout` and maps its slab (`create_pending`, then `publish` at
/// once). A framed layout's table is recorded in the segment. Reports to `job` (`Phase::Map`: the
/// file's bytes allocated; `Phase::Prefault`; `Job::none()` for nobody) and stops with
/// `Error::Cancelled` between chunks once it is cancelled, with the file this call created removed
/// and nothing mapped (with `overwrite`, the segment it replaced is gone too).
///
/// # Errors
/// As `create_pending` and `Pending::publish`.
pub fn create(seg: &NewSegment, layout: Layout, job: &Job) -> Result<(Region, SharedInfo)> {
    let (region, pending) = create_pending(seg, Shape::of(&layout), job)?;
    let info = pending.publish(&layout)?;
    Ok((region, info))
}

/// Creates segment `name` for a data area of `shape` in the first place that takes it (a
/// hugetlbfs mount of the pages `pages` asks for, else /dev/shm; only `dir` when given), with
/// `schema` (a record segment's schema text) to record, and maps its data area (zero) with `lock`.
/// The segment is not ready until `Pending::publish`: an opener meanwhile waits. Reports to `job`
/// and stops with `Error::Cancelled` between chunks, as `create` does.
///
/// # Errors
/// `Error::BadSegmentName`; `Error::OptionOutOfRange` / `Error::BadOption` for a schema text that
/// is empty or over `MAX_SCHEMA_BYTES` or given with a framed shape, and for
/// `PageRequest::Transparent`; `Error::SegmentExists` when the name is taken and `overwrite` is
/// false (or another process takes it meanwhile); `Error::HugePages` when the pages asked for
/// have no mount; `Error::Cancelled`; otherwise the error of the last place tried.
#[cfg(unix)]
pub fn create_pending(seg: &NewSegment, shape: Shape, job: &Job) -> Result<(Region, Pending)> {
    let &NewSegment { name, pages, lock, overwrite, dir, schema } = seg;
    validate_name(name)?;
    job.check()?;
    check_schema(schema, shape)?;
    let all = discovery::places(dir);
    make_room(name, &all, overwrite)?;
    let (candidates, mut notes) = discovery::candidates(&all, pages, shape.span, dir)?;
    let mut last = None;
    for place in &candidates {
        match create_in(place, name, shape, lock, notes.clone(), schema, job) {
            Ok((region, mut pending)) => {
                pending.info.note = (!notes.is_empty()).then(|| notes.join("; "));
                return Ok((region, pending));
            }
            // Another process created it between our check and O_EXCL: never fall through. A
            // cancel stops here too (the file this attempt made is already removed).
            Err(e @ (Error::SegmentExists { .. } | Error::Cancelled { .. })) => return Err(e),
            Err(e) => {
                notes.push(format!("{}: {e}", place.dir.display()));
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| Error::HugePages { message: "no place to create a shared slab".into() }))
}

/// A record segment's schema text fits a header, and goes only with an offset layout.
#[cfg(unix)]
fn check_schema(schema: Option<&str>, shape: Shape) -> Result<()> {
    if let Some(s) = schema.filter(|s| s.is_empty() || s.len() > MAX_SCHEMA_BYTES) {
        return Err(Error::option_range(
            "fields",
            format!("the schema text is {} bytes; a segment header holds 1 to {MAX_SCHEMA_BYTES}", s.len()),
        ));
    }
    if schema.is_some() && shape.framed {
        return Err(Error::bad_option("fields", "record segments are laid out by offset, never by a frame table"));
    }
    Ok(())
}

/// With `overwrite`, unlinks segment `name` from every place (processes that have it mapped keep
/// it); without, refuses when it exists anywhere.
#[cfg(unix)]
fn make_room(name: &str, all: &[Place], overwrite: bool) -> Result<()> {
    if overwrite {
        for p in all {
            match std::fs::remove_file(p.path(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&p.path(name), "unlink (overwrite)", &e)),
            }
        }
    } else if let Some((_, path)) = discovery::find(name, all) {
        return Err(Error::SegmentExists { name: name.into(), path: path.display().to_string(), of: Segment::Slab });
    }
    Ok(())
}

/// A segment created but not yet ready: its file exists, sized, with its creator pid in the
/// header and its data area mapped (zero), so placement can time lines there. `publish` records
/// the layout (and its frame table) and marks it ready; dropping it unpublished removes the file.
#[cfg(unix)]
pub struct Pending {
    guard: RemoveOnError,
    file: File,
    header: HeaderPage,
    kind: PageKind,
    page: usize,
    shape: Shape,
    data_bytes: usize,
    schema: Option<String>,
    info: SharedInfo,
}

#[cfg(unix)]
impl Pending {
    /// Records `layout` (which must be of the shape the segment was created for; a framed one's
    /// table naming only frames of the data area) and its frame table, then marks the segment
    /// ready. An error leaves the segment unpublished (and removes it).
    ///
    /// # Errors
    /// `Error::SegmentInvalid` for a layout of another shape; the errors of writing the frame
    /// table (`FrameTable::to_bytes` refuses a paired table; mapping the table's pages).
    pub fn publish(mut self, layout: &Layout) -> Result<SharedInfo> {
        let s = self.shape;
        if (layout.slots(), layout.replicas(), layout.channel_offset(), layout.frames().is_some())
            != (s.slots, s.replicas, s.channel_offset, s.framed)
            || layout.span() > self.data_bytes
        {
            return Err(invalid(
                &self.guard.path,
                format!(
                    "the layout to record ({} slots x {} replicas at {} B, {} bytes{}) is not the one the segment was made for",
                    layout.slots(),
                    layout.replicas(),
                    layout.channel_offset(),
                    layout.span(),
                    if layout.frames().is_some() { ", framed" } else { "" }
                ),
            ));
        }
        let page = self.page;
        let table = match layout.frames() {
            Some(t) => Some(super::table::write(self.file.as_raw_fd(), t, page + self.data_bytes, self.kind, page)?),
            None => None,
        };
        debug_assert_eq!(table.map_or(0, |t| t.bytes), s.table_bytes());
        let header = Header {
            // The header records slots, replicas and channel offset; a framed layout's are those
            // of an offset layout too (`Layout::framed` is built on one).
            layout: Layout::new(s.slots, s.replicas, s.channel_offset)?,
            page_size: page,
            data_bytes: self.data_bytes,
            creator_pid: std::process::id(),
            created_unix_ms: self.info.created_unix_ms,
            table,
            schema: self.schema.take(),
        };
        self.header.publish(&header.to_bytes());
        self.guard.armed = false;
        Ok(self.info.clone())
    }

    /// The segment's path (for messages).
    pub fn path(&self) -> &Path {
        &self.guard.path
    }
}

/// Removes a file this call created if the call fails before disarming, unless (once `id` is
/// known) the path has meanwhile become another file (another process's `overwrite`).
#[cfg(unix)]
struct RemoveOnError {
    path: PathBuf,
    armed: bool,
    /// (device, inode) of the file created.
    id: Option<(u64, u64)>,
}

#[cfg(unix)]
impl Drop for RemoveOnError {
    fn drop(&mut self) {
        let ours = || match (self.id, std::fs::symlink_metadata(&self.path)) {
            (None, _) => true,
            (Some(id), Ok(m)) => (m.dev(), m.ino()) == id,
            (Some(_), Err(_)) => false,
        };
        if self.armed && ours() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Creates segment `name` in `place`: the file (O_EXCL, 0600), its backing, the header page with
/// this process's pid, and the data area mapped with `lock` (`fallbacks`: notes for its info).
#[cfg(unix)]
fn create_in(
    place: &Place,
    name: &str,
    shape: Shape,
    lock: LockRequest,
    fallbacks: Vec<String>,
    schema: Option<&str>,
    job: &Job,
) -> Result<(Region, Pending)> {
    let path = place.path(name);
    let kind = page_kind_of(place.backing, place.page_size).expect("places() keeps only supported page sizes");
    let page = place.page_size;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true) // O_CREAT | O_EXCL: never clobbers, never follows a planted symlink
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::SegmentExists { name: name.into(), path: path.display().to_string(), of: Segment::Slab }
            } else {
                io_err(&path, "create", &e)
            }
        })?;
    let mut guard = RemoveOnError { path: path.clone(), armed: true, id: None };
    // The umask may have taken bits from 0600; set exactly 0600 (owner read/write only).
    file.set_permissions(Permissions::from_mode(0o600)).map_err(|e| io_err(&path, "chmod 0600", &e))?;

    let data_bytes = shape.span.div_ceil(page) * page;
    // From here on, an error or a cancel drops `guard`, which removes the file.
    allocate(&file, &path, file_bytes(page, data_bytes, shape.table_bytes()), page, job)?;
    let fd = file.as_raw_fd();
    let header = HeaderPage::map(fd, kind, page)?;
    let region = Region::map_file(fd, page, data_bytes, kind, page, lock, fallbacks, job)?;

    let pid = std::process::id();
    // The pid first, so an opener that finds the segment unfinished can say whose it is.
    header.set_creator_pid(pid);
    let info = SharedInfo {
        name: name.into(),
        path: path.display().to_string(),
        backing: place.backing,
        page_size: page,
        creator_pid: pid,
        created_unix_ms: unix_ms(),
        created_here: true,
        note: None,
        schema: schema.map(str::to_string),
        file_id: file_id(&file, &path)?,
    };
    guard.id = Some(info.file_id);
    let pending = Pending { guard, file, header, kind, page, shape, data_bytes, schema: schema.map(str::to_string), info };
    Ok((region, pending))
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Bytes of file allocated between two looks at the job (tens of milliseconds on /dev/shm).
const ALLOCATE_CHUNK: usize = 64 << 20;

/// Gives the file `len` bytes of real backing now, so running out of memory is an error here
/// rather than a SIGBUS later: `ALLOCATE_CHUNK` (whole pages of `page`) at a time, reporting
/// `Phase::Map` to `job` and stopping with `Error::Cancelled` between chunks.
#[cfg(unix)]
fn allocate(file: &File, path: &Path, len: usize, page: usize, job: &Job) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        let chunk = ALLOCATE_CHUNK.next_multiple_of(page);
        let r = crate::job::chunked(job, Phase::Map, len, chunk, |off, n| {
            // SAFETY: fallocate on a descriptor we own; it only allocates and zero-fills file blocks.
            let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, off as libc::off_t, n as libc::off_t) };
            if rc == 0 {
                Ok(())
            } else {
                Err(Error::SegmentIo { path: path.display().to_string(), op: "allocate space for", errno: crate::error::last_errno() })
            }
        });
        match r {
            Err(Error::SegmentIo { errno: libc::EOPNOTSUPP, .. }) => {}
            other => return other,
        }
    }
    job.check()?;
    file.set_len(len as u64).map_err(|e| io_err(path, "size", &e))?;
    job.finish(Phase::Map, len as u64);
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::region::PageRequest;
    use crate::shm::remove::unlink;
    use crate::shm::tests::{layout, TempDir};

    #[test]
    fn a_cancelled_create_leaves_no_file_and_no_mapping() {
        let d = TempDir::new("cancel");
        let before = crate::region::live::count();
        let big = Layout::new(1 << 21, 2, 256).unwrap(); // 32 MiB of data
        for cancel_in in [Phase::Map, Phase::Prefault] {
            let (job, rec) = crate::job::testing::recording(move |p, done, _| p == cancel_in && done > 0);
            let r = create(
                &NewSegment {
                    name: "cx",
                    pages: PageRequest::Off,
                    lock: LockRequest::Off,
                    overwrite: false,
                    dir: Some(&d.0),
                    schema: None,
                },
                big.clone(),
                &job,
            );
            assert!(matches!(r, Err(Error::Cancelled { phase: Some(p) }) if p == cancel_in.name()), "{:?}", r.err());
            rec.assert_monotonic();
            assert_eq!(crate::region::live::count(), before, "{cancel_in:?}: a mapping was left behind");
            assert_eq!(std::fs::read_dir(&d.0).unwrap().count(), 0, "{cancel_in:?}: the segment file was left behind");
        }
        let (r, _) = create(
            &NewSegment { name: "cx", pages: PageRequest::Off, lock: LockRequest::Off, overwrite: false, dir: Some(&d.0), schema: None },
            big,
            &Job::new(),
        )
        .unwrap();
        drop(r);
        assert!(unlink("cx", Some(&d.0)).unwrap());
    }

    #[test]
    fn create_never_clobbers_unless_asked() {
        let d = TempDir::new("clobber");
        let (r1, info) = create(
            &NewSegment { name: "seg", pages: PageRequest::Off, lock: LockRequest::Off, overwrite: false, dir: Some(&d.0), schema: None },
            layout(),
            &Job::none(),
        )
        .unwrap();
        let e = create(
            &NewSegment { name: "seg", pages: PageRequest::Off, lock: LockRequest::Off, overwrite: false, dir: Some(&d.0), schema: None },
            layout(),
            &Job::none(),
        )
        .err()
        .unwrap();
        assert!(matches!(e, Error::SegmentExists { .. }), "{e}");
        assert!(e.message(crate::error::Front::Js).contains("overwrite: true"));
        // A foreign file of that name is not clobbered either.
        std::fs::write(d.0.join("ultraslayer.foreign"), b"not ours").unwrap();
        assert!(create(
            &NewSegment {
                name: "foreign",
                pages: PageRequest::Off,
                lock: LockRequest::Off,
                overwrite: false,
                dir: Some(&d.0),
                schema: None
            },
            layout(),
            &Job::none()
        )
        .is_err());
        assert_eq!(std::fs::read(d.0.join("ultraslayer.foreign")).unwrap(), b"not ours");
        // overwrite makes a new file; the old mapping stays valid and separate.
        // SAFETY: word 0 of a mapped slab.
        unsafe { (*(r1.ptr() as *const AtomicU64)).store(5, Ordering::Relaxed) };
        let (r2, info2) = create(
            &NewSegment { name: "seg", pages: PageRequest::Off, lock: LockRequest::Off, overwrite: true, dir: Some(&d.0), schema: None },
            layout(),
            &Job::none(),
        )
        .unwrap();
        assert_eq!(info2.path, info.path);
        // SAFETY: as above.
        unsafe {
            assert_eq!((*(r2.ptr() as *const AtomicU64)).load(Ordering::Relaxed), 0);
            assert_eq!((*(r1.ptr() as *const AtomicU64)).load(Ordering::Relaxed), 5);
        }
    }

    #[test]
    fn thp_is_refused_and_explicit_huge_pages_need_a_mount() {
        let d = TempDir::new("pages");
        let e = create(
            &NewSegment {
                name: "p",
                pages: PageRequest::Transparent,
                lock: LockRequest::Off,
                overwrite: false,
                dir: Some(&d.0),
                schema: None,
            },
            layout(),
            &Job::none(),
        )
        .err()
        .unwrap();
        assert!(matches!(e, Error::OptionOutOfRange { option: "hugePages", .. }));
        let e = create(
            &NewSegment { name: "p", pages: PageRequest::Huge2M, lock: LockRequest::Off, overwrite: false, dir: Some(&d.0), schema: None },
            layout(),
            &Job::none(),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("not a hugetlbfs mount"), "{e}");
        assert!(!d.0.join("ultraslayer.p").exists());
    }
}
