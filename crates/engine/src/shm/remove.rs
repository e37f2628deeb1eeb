//! Removing segments: by name wherever they live (`unlink`), or the one file a creation made
//! (`remove_created`).
//!
//! Removing only unlinks the name: processes that have the segment mapped keep their mapping, and
//! the memory is freed when the last one closes it. It never removes a file it did not find under
//! a segment name.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::discovery::places;
use super::file::io_err;
use super::name::validate_name;
use super::SharedInfo;
use crate::error::Result;

/// Removes the segment file `info` describes, which this process created, unless its path has
/// meanwhile become another file (another process's `overwrite`). For creations cancelled after
/// publishing; errors are ignored (there is nothing left to tell the caller).
pub fn remove_created(info: &SharedInfo) {
    let path = Path::new(&info.path);
    if std::fs::symlink_metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == info.file_id) {
        let _ = std::fs::remove_file(path);
    }
}

/// Removes segment `name` wherever it lives (only in `dir` when given). Ok(false) when there was
/// none. Processes that have it open keep their mapping; the memory is freed when the last one
/// closes it.
///
/// # Errors
/// `Error::BadSegmentName`; `Error::SegmentIo` when a segment file exists but cannot be removed.
pub fn unlink(name: &str, dir: Option<&Path>) -> Result<bool> {
    validate_name(name)?;
    let mut removed = false;
    for p in places(dir) {
        let path = p.path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path, "unlink", &e)),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn unlink_checks_the_name_before_any_file_is_touched() {
        assert!(matches!(unlink("../x", None), Err(Error::BadSegmentName { .. })));
    }
}
