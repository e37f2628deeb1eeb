//! A segment file as the operating system knows it: its identity, and the errors that name it.
//!
//! Owns the wording shared by every step that touches a segment file; it never opens, maps or
//! removes one itself.

use std::fs::File;
#[cfg(unix)]
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{Error, Result, Segment};

/// An I/O error from `op` on the segment file at `path`.
pub(super) fn io_err(path: &Path, op: &'static str, e: &std::io::Error) -> Error {
    Error::SegmentIo { path: path.display().to_string(), op, errno: e.raw_os_error().unwrap_or(libc::EIO) }
}

/// The segment file at `path` is not a usable segment, for the reason `message`.
pub(super) fn invalid(path: &Path, message: impl Into<String>) -> Error {
    Error::SegmentInvalid { path: path.display().to_string(), message: message.into(), of: Segment::Slab }
}

/// (device, inode) of an open segment file: what tells one file under a name from the next
/// (`overwrite` replaces the file under the name).
///
/// # Errors
/// `Error::SegmentIo` when the file cannot be stat'ed.
#[cfg(unix)]
pub fn file_id(file: &File, path: &Path) -> Result<(u64, u64)> {
    let m = file.metadata().map_err(|e| io_err(path, "stat", &e))?;
    Ok((m.dev(), m.ino()))
}
