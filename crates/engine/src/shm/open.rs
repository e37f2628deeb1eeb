//! Opening a segment: find its file, wait while its creator is still making it, check its header
//! (`header`) and then the header against the file, read its frame table, and map its slab.
//!
//! Every step either passes or returns an error that says what is wrong with which file: a
//! missing, truncated, foreign, wrong-version, corrupt or mismatched segment is never mapped. It
//! never writes to a segment.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::discovery::{find, fs_of_fd, page_kind_of, places, Place};
use super::file::{file_id, invalid, io_err};
use super::header::{Header, HeaderError};
use super::header_page::HeaderPage;
use super::name::validate_name;
use super::{Backing, Expect, SharedInfo};
use crate::error::{Error, Result, Segment};
use crate::job::Job;
use crate::layout::{Layout, FRAME_BYTES};
use crate::region::{LockRequest, PageKind, Region};

#[cfg(test)]
mod tests;

/// How long an opener sleeps before it looks again at a segment still being created.
const POLL: Duration = Duration::from_millis(2);

/// Opens segment `name` (only in `dir` when given), validates its header against the file, and
/// maps its slab with `lock`. Returns the slab's memory, its layout and what the header says.
///
/// Waits up to `wait` for a segment that another process is still creating. A missing,
/// truncated, foreign, wrong-version, corrupt or mismatched segment is an error, never a mapping.
///
/// # Errors
/// `Error::BadSegmentName`; `Error::SegmentMissing` when no place holds the name;
/// `Error::SegmentNotReady` when its creator has not finished within `wait`;
/// `Error::SegmentInvalid` for a file that is not a sound segment (what is wrong in its message);
/// `Error::SegmentIncompatible` when its layout is not what `expect` asks, or it is a record
/// segment opened as a plain slab or the other way round; `Error::SegmentIo` and the errors of
/// mapping it.
pub fn open(name: &str, lock: LockRequest, expect: Expect, wait: Duration, dir: Option<&Path>) -> Result<(Region, Layout, SharedInfo)> {
    validate_name(name)?;
    let (place, path, file) = open_file(name, dir)?;
    let fd = file.as_raw_fd();
    let (backing, page, kind) = pages_of(&file, &place, &path)?;
    let (header, size) = wait_until_ready(&file, &path, kind, page, wait)?;
    check_length(&path, size, &header)?;
    let layout = match &header.table {
        None => header.layout.clone(),
        Some(t) => super::table::read(&path, fd, kind, page, t, &header.layout, header.data_bytes / FRAME_BYTES)?,
    };
    check_expected(&path, &layout, expect)?;
    check_kind(&path, header.schema.as_deref(), expect.records)?;
    let region = Region::map_file(fd, page, header.data_bytes, kind, page, lock, Vec::new(), &Job::none())?;
    let info = SharedInfo {
        name: name.into(),
        path: path.display().to_string(),
        backing,
        page_size: page,
        creator_pid: header.creator_pid,
        created_unix_ms: header.created_unix_ms,
        created_here: false,
        note: None,
        schema: header.schema,
        file_id: file_id(&file, &path)?,
    };
    Ok((region, layout, info))
}

/// Finds segment `name` and opens its file for reading and writing, never through a symlink.
fn open_file(name: &str, dir: Option<&Path>) -> Result<(Place, PathBuf, File)> {
    let all = places(dir);
    let Some((place, path)) = find(name, &all) else {
        return Err(Error::SegmentMissing {
            name: name.into(),
            searched: all.iter().map(|p| p.dir.display().to_string()).collect(),
            of: Segment::Slab,
        });
    };
    let file =
        OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOFOLLOW).open(&path).map_err(|e| match e.raw_os_error() {
            // Unlinked since `find` saw it.
            Some(libc::ENOENT) => {
                Error::SegmentMissing { name: name.into(), searched: vec![place.dir.display().to_string()], of: Segment::Slab }
            }
            Some(libc::ELOOP) => invalid(&path, "it is a symbolic link, and segments never are"),
            _ => io_err(&path, "open", &e),
        })?;
    Ok((place, path, file))
}

/// What the open file lives on (the filesystem says; `place` when it cannot be asked): its
/// backing, page size and the pages it is mapped with.
fn pages_of(file: &File, place: &Place, path: &Path) -> Result<(Backing, usize, PageKind)> {
    let (backing, page) = fs_of_fd(file.as_raw_fd()).unwrap_or((place.backing, place.page_size));
    match page_kind_of(backing, page) {
        Some(kind) => Ok((backing, page, kind)),
        None => Err(invalid(path, format!("it lives on {page}-byte huge pages, which ultraslayer does not map"))),
    }
}

/// Parses the header of the open segment file once its creator has published it, waiting up to
/// `wait` while the file is shorter than its header page or the header is unfinished and its
/// creator alive. Returns the header and the file's size as it was then.
fn wait_until_ready(file: &File, path: &Path, kind: PageKind, page: usize, wait: Duration) -> Result<(Header, u64)> {
    let deadline = Instant::now() + wait;
    loop {
        let meta = file.metadata().map_err(|e| io_err(path, "stat", &e))?;
        if !meta.is_file() {
            return Err(invalid(path, "it is not a regular file"));
        }
        let size = meta.size();
        let retry = Instant::now() < deadline;
        if size < page as u64 {
            if retry {
                std::thread::sleep(POLL);
                continue;
            }
            return Err(invalid(
                path,
                format!("it is {size} bytes, shorter than its {page}-byte header page (truncated, or its creator died before sizing it)"),
            ));
        }
        let bytes = HeaderPage::map(file.as_raw_fd(), kind, page)?.read();
        let pid = match Header::parse(&bytes, page) {
            Ok(header) => return Ok((header, size)),
            Err(HeaderError::Unfinished { creator_pid }) => creator_pid,
            Err(e) => return Err(invalid(path, e.to_string())),
        };
        let alive = pid_alive(pid as u32);
        if retry && (alive || pid == 0) {
            std::thread::sleep(POLL);
            continue;
        }
        if pid == 0 {
            return Err(invalid(path, HeaderError::Unfinished { creator_pid: 0 }.to_string()));
        }
        return Err(Error::SegmentNotReady {
            path: path.display().to_string(),
            creator_pid: pid as u32,
            creator_alive: alive,
            of: Segment::Slab,
        });
    }
}

/// Whether process `pid` exists (as far as signals can tell).
fn pid_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The file is as long as its header says (it was `size` bytes when the header was read).
fn check_length(path: &Path, size: u64, header: &Header) -> Result<()> {
    let want = header.file_bytes() as u64;
    if size != want {
        let what = if size < want { "truncated" } else { "size mismatch" };
        return Err(invalid(path, format!("{what}: the file is {size} bytes but its header says {want}")));
    }
    Ok(())
}

/// The segment's layout is what `expect` asks for.
fn check_expected(path: &Path, layout: &Layout, expect: Expect) -> Result<()> {
    let mut diffs = Vec::new();
    if let Some(s) = expect.slots.filter(|&s| s != layout.slots()) {
        diffs.push(format!("slots: expected {s}, segment has {}", layout.slots()));
    }
    if let Some(r) = expect.replicas.filter(|&r| r != layout.replicas()) {
        diffs.push(format!("replicas: expected {r}, segment has {}", layout.replicas()));
    }
    if let Some(c) = expect.channel_offset.filter(|&c| c != layout.channel_offset()) {
        diffs.push(format!("⟦opt:channelOffset⟧: expected {c}, segment has {}", layout.channel_offset()));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(Error::SegmentIncompatible { path: path.display().to_string(), message: diffs.join("; ") })
    }
}

/// The segment is of the kind asked for: a record segment (one whose header records `schema`)
/// when `records`, else a plain slab of slots.
fn check_kind(path: &Path, schema: Option<&str>, records: bool) -> Result<()> {
    match (schema, records) {
        (Some(text), false) => Err(Error::SegmentIncompatible {
            path: path.display().to_string(),
            message: format!("it holds records ({text}), not plain slots: open it with ⟦call:Records.open⟧"),
        }),
        (None, true) => Err(Error::SegmentIncompatible {
            path: path.display().to_string(),
            message: "it is a plain slab of slots with no record schema: open it with ⟦call:Slayer.open⟧".into(),
        }),
        _ => Ok(()),
    }
}
