//! What this machine's refresh looks like, remembered for the rest of the boot, so a second
//! process decides in well under a second what the first one measured.
//!
//! Owns the file: where it lives, its key, its format and its validation. It holds only facts of
//! the machine, never of one slab's pages: the refresh period one line shows (or that none
//! shows), the latencies that go with it, and what timing one 4 KiB frame cost during placement.
//! What depends on a slab's own pages (which frame stalls when) is always timed again.
//!
//! The key is the boot (`/proc/sys/kernel/random/boot_id`), the CPU model and the TSC rate, so a
//! reboot, a move to another host with another CPU or a different clock starts afresh; an entry
//! older than `MAX_AGE` is ignored too (a VM can move between hosts of one model while it runs).
//! The file is the user's own (0600, in a 0700 directory): `$ULTRASLAYER_MACHINE_CACHE` names it
//! (`off` turns the cache off), else `$XDG_RUNTIME_DIR/ultraslayer/machine.json`, else
//! `<tmp>/ultraslayer-<uid>/machine.json`. A file that is missing, unreadable, malformed, for
//! another key, out of range or too old is ignored (and replaced on the next store); a failed
//! store is ignored: the cache can make a start faster, never make it fail.
//!
//! Plain Rust; reads and writes one small file, never on a read path.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An entry older than this is not trusted (a running VM can be moved to another host).
pub(crate) const MAX_AGE: Duration = Duration::from_secs(12 * 3600);

/// The environment variable that names the cache file, or `off`.
pub(crate) const ENV: &str = "ULTRASLAYER_MACHINE_CACHE";

/// Format version of the file; another version is ignored.
const VERSION: u32 = 1;

/// What makes two processes' measurements interchangeable: the same boot of the same machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MachineKey {
    pub(crate) boot_id: String,
    pub(crate) cpu: String,
    /// TSC rate rounded to MHz (each process calibrates it; the last digits differ).
    pub(crate) tsc_mhz: u64,
}

impl MachineKey {
    /// This machine's key, or None where the boot cannot be told apart (no boot id: not Linux).
    pub(crate) fn of_this_machine() -> Option<MachineKey> {
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?.trim().to_string();
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| crate::probe::machine::cpu_model(&t))
            .unwrap_or_else(|| "unknown".into());
        let tsc_mhz = (crate::tsc::hz() / 1e6).round() as u64;
        (!boot_id.is_empty()).then_some(MachineKey { boot_id, cpu, tsc_mhz })
    }
}

/// One line's refresh period, as `period::of_this_machine` measured it. Only a period found is
/// remembered: "no period" can be a bad 300 ms on a busy machine (docs/refresh-hosts.md, host B),
/// and is measured again by each process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct PeriodFact {
    pub(crate) period_ns: f64,
    pub(crate) source: String,
    pub(crate) typical_ns: u32,
    pub(crate) slow_ns: u32,
    pub(crate) outlier_ns: u32,
}

impl PeriodFact {
    /// Values a measurement can have (a file edited by hand or by another version is ignored).
    fn plausible(&self) -> bool {
        self.period_ns.is_finite()
            && (200.0..=100_000.0).contains(&self.period_ns)
            && self.typical_ns > 0
            && self.typical_ns <= self.slow_ns
            && self.slow_ns <= self.outlier_ns
    }
}

/// Everything remembered for one machine key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Facts {
    pub(crate) period: Option<PeriodFact>,
    /// Milliseconds one timed line cost in placement here (the latest placement's rate): what
    /// placing a slab by timing would take is projected from it before any timing.
    pub(crate) line_ms: Option<f64>,
    /// What the latest structure sample here found, when an address bit split every frame into
    /// lines stalling apart (None: no sample yet, or the latest found no such bit): a slab learned
    /// in the background is laid out at that bit without a sample at creation, and its learner
    /// checks it with a sample of its own.
    #[serde(default)]
    pub(crate) split: Option<SplitFact>,
}

/// An address bit that split every sampled frame into lines stalling apart (`Structure::WithinFrame`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SplitFact {
    pub(crate) bit: u32,
    /// Share of the sampled pairs apart, and their mean phase distance (periods).
    pub(crate) agreement: f64,
    pub(crate) distance: f64,
}

impl SplitFact {
    /// What a structure sample found, as the cache keeps it: the bit splitting every frame, or
    /// None (no such bit, or no structure at all).
    pub(crate) fn of(s: Option<&crate::refresh::structure::Structure>) -> Option<SplitFact> {
        match s {
            Some(&crate::refresh::structure::Structure::WithinFrame { bit, agreement, distance }) => {
                Some(SplitFact { bit, agreement, distance })
            }
            _ => None,
        }
    }
}

impl Facts {
    fn plausible(&self) -> bool {
        self.period.as_ref().map_or(true, PeriodFact::plausible)
            && self.line_ms.map_or(true, |ms| ms.is_finite() && ms > 0.0 && ms < 1000.0)
            && self
                .split
                .map_or(true, |s| (6..12).contains(&s.bit) && (0.0..=1.0).contains(&s.agreement) && (0.0..=0.5).contains(&s.distance))
    }
}

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    key: MachineKey,
    /// When the facts were written, ms since the Unix epoch.
    written_ms: u64,
    facts: Facts,
}

/// Facts read back, with how old they are.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Remembered {
    pub(crate) facts: Facts,
    pub(crate) age: Duration,
    pub(crate) path: PathBuf,
}

/// The cache file, or none (turned off, or no place for it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BootCache {
    path: Option<PathBuf>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl BootCache {
    /// The cache at `path`, or no cache.
    pub(crate) fn at(path: Option<PathBuf>) -> BootCache {
        BootCache { path }
    }

    /// Where this user's cache lives (module docs), from the environment.
    pub(crate) fn default_location() -> BootCache {
        match std::env::var_os(ENV) {
            Some(v) if v == "off" || v.is_empty() => return BootCache { path: None },
            Some(v) => return BootCache { path: Some(PathBuf::from(v)) },
            None => {}
        }
        if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
            return BootCache { path: Some(Path::new(&dir).join("ultraslayer").join("machine.json")) };
        }
        #[cfg(unix)]
        {
            // SAFETY: getuid has no preconditions and cannot fail.
            let uid = unsafe { libc::getuid() };
            BootCache { path: Some(std::env::temp_dir().join(format!("ultraslayer-{uid}")).join("machine.json")) }
        }
        // Windows: the temporary directory is the user's own (%TEMP% under the profile).
        #[cfg(not(unix))]
        BootCache { path: Some(std::env::temp_dir().join("ultraslayer").join("machine.json")) }
    }

    #[cfg(test)]
    fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The facts stored for `key`, when the file holds plausible ones for it younger than `MAX_AGE`.
    pub(crate) fn load(&self, key: &MachineKey) -> Option<Remembered> {
        let path = self.path.as_ref()?;
        let text = std::fs::read_to_string(path).ok()?;
        let file: File = serde_json::from_str(&text).ok()?;
        let age = Duration::from_millis(now_ms().checked_sub(file.written_ms)?);
        (file.version == VERSION && file.key == *key && age <= MAX_AGE && file.facts.plausible()).then(|| Remembered {
            facts: file.facts,
            age,
            path: path.clone(),
        })
    }

    /// Adds what `update` changes to the facts stored for `key` (starting afresh when the file
    /// holds nothing valid for it) and writes them: a temporary file renamed into place, so a
    /// reader sees the old file or the new one, never half of one. Errors are returned for tests
    /// and ignored by callers.
    pub(crate) fn update(&self, key: &MachineKey, update: impl FnOnce(&mut Facts)) -> std::io::Result<()> {
        use std::io::Write;
        #[cfg(unix)]
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let Some(path) = self.path.as_ref() else { return Ok(()) };
        let mut facts = self.load(key).map(|r| r.facts).unwrap_or_default();
        update(&mut facts);
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        builder.mode(0o700);
        builder.create(dir)?;
        let file = File { version: VERSION, key: key.clone(), written_ms: now_ms(), facts };
        let text = serde_json::to_string_pretty(&file).map_err(std::io::Error::other)?;
        let tmp = dir.join(format!(".machine.{}.tmp", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        drop(f);
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

/// The cache this process uses: the user's (`BootCache::default_location`); in the engine's own
/// unit tests only one named by the environment, so `cargo test` leaves no file behind.
pub(crate) fn for_this_process() -> BootCache {
    if cfg!(test) && std::env::var_os(ENV).is_none() {
        return BootCache::at(None);
    }
    BootCache::default_location()
}

/// What an earlier process of this boot remembered of this machine, if anything.
pub(crate) fn recall() -> Option<Remembered> {
    for_this_process().load(&MachineKey::of_this_machine()?)
}

/// Adds `update` to what is remembered of this machine (a failure to store changes nothing).
pub(crate) fn record(update: impl FnOnce(&mut Facts)) {
    if let Some(key) = MachineKey::of_this_machine() {
        let _ = for_this_process().update(&key, update);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::period::Measured;

    fn key() -> MachineKey {
        MachineKey { boot_id: "b0".into(), cpu: "AMD EPYC".into(), tsc_mhz: 2596 }
    }

    fn measured() -> Measured {
        Measured { period_ns: 1950.8, source: "one line, 300 ms".into(), typical_ns: 160, slow_ns: 300, outlier_ns: 900 }
    }

    fn cache(dir: &Path) -> BootCache {
        BootCache::at(Some(dir.join("sub").join("machine.json")))
    }

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("uslayer-boot-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_stored_period_reads_back_for_the_same_machine_only() {
        let d = tempdir("same");
        let c = cache(&d);
        assert!(c.load(&key()).is_none(), "nothing stored yet");
        c.update(&key(), |f| f.period = Some(PeriodFact::of(&measured()))).unwrap();
        let r = c.load(&key()).expect("stored");
        assert_eq!(r.facts.period.unwrap().measured(), measured());
        assert!(r.age <= Duration::from_secs(60));
        for other in [
            MachineKey { boot_id: "b1".into(), ..key() },
            MachineKey { cpu: "Intel Xeon".into(), ..key() },
            MachineKey { tsc_mhz: 2300, ..key() },
        ] {
            assert!(c.load(&other).is_none(), "{other:?}");
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn updates_keep_the_other_facts_and_a_new_key_starts_afresh() {
        let d = tempdir("update");
        let c = cache(&d);
        c.update(&key(), |f| f.period = Some(PeriodFact::of(&measured()))).unwrap();
        c.update(&key(), |f| f.line_ms = Some(0.25)).unwrap();
        let split = SplitFact { bit: 6, agreement: 1.0, distance: 0.47 };
        c.update(&key(), |f| f.split = Some(split)).unwrap();
        let f = c.load(&key()).unwrap().facts;
        assert_eq!((f.period.is_some(), f.line_ms, f.split), (true, Some(0.25), Some(split)));
        let k2 = MachineKey { boot_id: "b2".into(), ..key() };
        c.update(&k2, |f| f.line_ms = Some(0.5)).unwrap();
        assert_eq!(c.load(&k2).unwrap().facts, Facts { period: None, line_ms: Some(0.5), split: None });
        assert!(c.load(&key()).is_none(), "one machine per file: the new boot replaced the old");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_damaged_stale_or_implausible_file_is_ignored_and_replaced() {
        let d = tempdir("bad");
        let c = cache(&d);
        let path = c.path().unwrap().to_path_buf();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        for text in ["", "{", "[]", r#"{"version":1}"#, "\u{0}garbage"] {
            std::fs::write(&path, text).unwrap();
            assert!(c.load(&key()).is_none(), "{text:?}");
        }
        let write = |written_ms: u64, facts: Facts, version: u32| {
            let f = File { version, key: key(), written_ms, facts };
            std::fs::write(&path, serde_json::to_string(&f).unwrap()).unwrap();
        };
        let good = Facts { period: Some(PeriodFact::of(&measured())), line_ms: Some(0.25), split: None };
        write(now_ms(), good.clone(), VERSION);
        assert!(c.load(&key()).is_some());
        write(now_ms() - MAX_AGE.as_millis() as u64 - 1000, good.clone(), VERSION);
        assert!(c.load(&key()).is_none(), "too old");
        write(now_ms() + 3_600_000, good.clone(), VERSION);
        assert!(c.load(&key()).is_none(), "written in the future");
        write(now_ms(), good.clone(), VERSION + 1);
        assert!(c.load(&key()).is_none(), "another format");
        for bad in [
            Facts { period: Some(PeriodFact { period_ns: -1.0, ..PeriodFact::of(&measured()) }), line_ms: None, split: None },
            Facts { period: Some(PeriodFact { period_ns: f64::NAN, ..PeriodFact::of(&measured()) }), line_ms: None, split: None },
            Facts { period: Some(PeriodFact { slow_ns: 10, ..PeriodFact::of(&measured()) }), line_ms: None, split: None },
            Facts { period: None, line_ms: Some(0.0), split: None },
            Facts { period: None, line_ms: None, split: Some(SplitFact { bit: 40, agreement: 1.0, distance: 0.5 }) },
        ] {
            write(now_ms(), bad.clone(), VERSION);
            assert!(c.load(&key()).is_none(), "{bad:?}");
        }
        c.update(&key(), |f| f.line_ms = Some(0.3)).unwrap();
        assert_eq!(
            c.load(&key()).unwrap().facts,
            Facts { period: None, line_ms: Some(0.3), split: None },
            "the implausible entry was dropped, not merged"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_file_is_private_and_a_cache_turned_off_stores_nothing() {
        let d = tempdir("mode");
        let c = cache(&d);
        c.update(&key(), |f| f.line_ms = Some(0.25)).unwrap();
        let path = c.path().unwrap();
        // (Windows has no mode bits: there the file is private by living in the user's %TEMP%.)
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(path).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        }
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1, "no temporary file left");
        let off = BootCache::at(None);
        off.update(&key(), |f| f.line_ms = Some(0.25)).unwrap();
        assert!(off.load(&key()).is_none());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
