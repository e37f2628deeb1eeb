//! Fixtures for the tests of every module of `shm` (and of the engine's other tests that make
//! segments): private directories under /dev/shm, and the layout most tests use.

use std::path::PathBuf;

use super::SHM_DIR;
use crate::layout::Layout;

/// A private directory per test, removed afterwards; named with the run tag `npm test` sets
/// (scripts/test.js), so that a leftover is told from another run's files.
pub(crate) struct TempDir(pub(crate) PathBuf);
impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        let run = std::env::var("USLAYER_TEST_RUN").unwrap_or_else(|_| "solo".into());
        let d = PathBuf::from(SHM_DIR).join(format!("uslayer-test-{tag}-{run}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The layout most tests use: 1000 slots x 2 replicas at 256 B.
pub(crate) fn layout() -> Layout {
    Layout::new(1000, 2, 256).unwrap()
}
