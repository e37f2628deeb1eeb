//! Helpers the integration tests share: one replica-thread test at a time, and scratch segment
//! directories under /dev/shm that remove themselves.

#![allow(dead_code)]

use std::path::PathBuf;

/// Replica threads of one test at a time (2 vCPUs shared with other work).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A directory removed (with everything in it) when dropped.
pub struct Dir(pub PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The run tag `npm test` (scripts/test.js) gives what tests put in /dev/shm, which every run on the
/// machine shares, so that it can tell this run's leftovers from another run's files.
pub fn run_tag() -> String {
    std::env::var("USLAYER_TEST_RUN").unwrap_or_else(|_| "solo".into())
}

/// A fresh, empty `/dev/shm/uslayer-it-<tag>-<run>-<pid>`.
pub fn dir(tag: &str) -> Dir {
    let d = PathBuf::from("/dev/shm").join(format!("uslayer-it-{tag}-{}-{}", run_tag(), std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Dir(d)
}
