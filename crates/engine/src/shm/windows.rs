//! Shared slabs on Windows: refused, with the error every entry point returns. (Named file
//! mappings, `CreateFileMapping`/`OpenFileMapping`, would carry the same header; not built yet.)
//!
//! Names are still checked first, so a bad name is reported as a bad name everywhere.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use super::name::validate_name;
use super::{Expect, NewSegment, Shape, SharedInfo};
use crate::error::{Error, Result};
use crate::job::Job;
use crate::layout::Layout;
use crate::region::{LockRequest, PageRequest, Region};

fn unsupported() -> Error {
    Error::Unsupported {
        what: "shared slabs and record segments (a name) are Linux-only in this build: on Windows, create the slab or \
               store without a name (one process)"
            .into(),
    }
}

/// Never made on Windows (`create_pending` refuses).
pub struct Pending {
    never: std::convert::Infallible,
}

impl Pending {
    /// Never called: no `Pending` exists on Windows.
    ///
    /// # Errors
    /// None (there is no value to call it on).
    pub fn publish(self, _layout: &Layout) -> Result<SharedInfo> {
        match self.never {}
    }
    /// Never called: no `Pending` exists on Windows.
    pub fn path(&self) -> &Path {
        match self.never {}
    }
}

/// Refuses: no segment is created on Windows.
///
/// # Errors
/// `Error::BadSegmentName` for a bad name, `Error::Cancelled` for a cancelled `job`, else
/// `Error::Unsupported`.
pub fn create_pending(seg: &NewSegment, _shape: Shape, job: &Job) -> Result<(Region, Pending)> {
    validate_name(seg.name)?;
    job.check()?;
    Err(unsupported())
}

/// Refuses: there are no segment files on Windows.
///
/// # Errors
/// Always `Error::Unsupported`.
pub fn file_id(_file: &File, _path: &Path) -> Result<(u64, u64)> {
    Err(unsupported())
}

/// Refuses: no segment exists on Windows.
///
/// # Errors
/// `Error::BadSegmentName` for a bad name, else `Error::Unsupported`.
pub fn open(name: &str, _lock: LockRequest, _expect: Expect, _wait: Duration, _dir: Option<&Path>) -> Result<(Region, Layout, SharedInfo)> {
    validate_name(name)?;
    Err(unsupported())
}

/// Nothing to remove: no segment is ever created on Windows.
pub fn remove_created(_info: &SharedInfo) {}

/// Nothing to remove: no segment is ever created on Windows, so no name is ever found.
///
/// # Errors
/// `Error::BadSegmentName` for a bad name.
pub fn unlink(name: &str, _dir: Option<&Path>) -> Result<bool> {
    validate_name(name)?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::create;

    #[test]
    fn a_shared_slab_is_refused_on_windows_as_unsupported_and_a_bad_name_still_as_a_bad_name() {
        let layout = Layout::new(64, 2, 256).unwrap();
        let e = create(
            &NewSegment { name: "w", pages: PageRequest::Off, lock: LockRequest::Off, overwrite: false, dir: None, schema: None },
            layout,
            &Job::none(),
        )
        .err()
        .unwrap();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        assert!(e.to_string().contains("without a name"), "{e}");
        let e = open("w", LockRequest::Off, Expect::default(), Duration::ZERO, None).err().unwrap();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        assert!(!matches!(open("a/b", LockRequest::Off, Expect::default(), Duration::ZERO, None), Err(Error::Unsupported { .. })));
        assert!(!unlink("w", None).unwrap());
    }
}
