//! The frame table in a segment file: the bytes of a framed slab's `FrameTable`, on whole pages
//! right after the data area, written by the creator before it publishes the header and read back
//! by every opener, which checks them before it lays out a single copy through them.
//!
//! Owns the table's place and rounding in the file and its hash; the header words that point at it
//! are `header`'s. It never writes a table once the segment is published.

use std::sync::Arc;

use super::file::invalid;
use super::header::{fnv1a, TableAt};
use crate::error::Result;
use crate::job::Job;
use crate::layout::{FrameTable, Layout};
use crate::region::{LockRequest, PageKind, Region};
use std::path::Path;

/// Maps `bytes` of the file open as `fd` from `offset`, rounded up to whole pages of `page`.
fn map(fd: i32, offset: usize, bytes: usize, kind: PageKind, page: usize) -> Result<Region> {
    Region::map_file(fd, offset, bytes.div_ceil(page) * page, kind, page, LockRequest::Off, Vec::new(), &Job::none())
}

/// Writes `table` into the file open as `fd` at `offset` (page-aligned, after the data; the file
/// already that long) and says where it is, for the header.
///
/// # Errors
/// What `FrameTable::to_bytes` returns (a paired table is never recorded) and what mapping the
/// table's pages returns.
pub(super) fn write(fd: i32, table: &FrameTable, offset: usize, kind: PageKind, page: usize) -> Result<TableAt> {
    let bytes = table.to_bytes()?;
    let area = map(fd, offset, bytes.len(), kind, page)?;
    // SAFETY: the area is a fresh shared mapping of this file's table pages, at least
    // `bytes.len()` long; no opener reads it before the Release store of `ready` that publishes
    // the header (and none maps it before then: `open` waits for ready first).
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), area.ptr(), bytes.len()) };
    Ok(TableAt { offset, bytes: bytes.len(), chunks: table.chunks(), hash: fnv1a(bytes.iter().copied()) })
}

/// Reads the frame table the header points at (`t`, its bounds already checked against the file
/// at `path`, open as `fd`), checks its hash and every entry against the `frames` of the data
/// area, and lays out `l`'s slots and replicas through it.
///
/// # Errors
/// `Error::SegmentInvalid` for a table that does not match its hash, names a frame outside the
/// data or twice, or does not lay out the slab; what mapping the table's pages returns.
pub(super) fn read(path: &Path, fd: i32, kind: PageKind, page: usize, t: &TableAt, l: &Layout, frames: usize) -> Result<Layout> {
    let area = map(fd, t.offset, t.bytes, kind, page)?;
    let mut bytes = vec![0u8; t.bytes];
    // SAFETY: the area maps `t.bytes` rounded up to whole pages of the file, which `open` checked
    // is long enough; the table is never written after `ready` was published, so a plain copy reads
    // what the creator wrote (the Acquire load of `ready` ordered it before this).
    unsafe { std::ptr::copy_nonoverlapping(area.ptr() as *const u8, bytes.as_mut_ptr(), t.bytes) };
    drop(area);
    if fnv1a(bytes.iter().copied()) != t.hash {
        return Err(invalid(path, "its frame table does not match its hash: the table was overwritten or corrupted"));
    }
    let table = FrameTable::from_bytes(t.chunks, l.replicas(), frames, &bytes)
        .map_err(|e| invalid(path, format!("its frame table is unusable: {e}")))?;
    Layout::framed(l.slots(), l.replicas(), Arc::new(table))
        .map_err(|e| invalid(path, format!("its frame table does not lay out its slab: {e}")))
}
