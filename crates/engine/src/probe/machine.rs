//! What this machine is, for `ultraslayer info`: CPU, cores, hypervisor, NUMA, huge pages, memlock,
//! pagemap access, clock.
//!
//! Reads /proc, /sys, cpuid and getrlimit only; never changes a setting. Anything it cannot read
//! is `None` / empty, never an error.

use std::fmt;

use super::pagemap::{self, Phys};
use crate::cores;
use crate::tsc;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HugePages {
    pub(crate) size_kb: u64,
    pub(crate) total: u64,
    pub(crate) free: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NumaNode {
    pub(crate) id: usize,
    pub(crate) cpus: Vec<usize>,
}

/// A resource limit; `None` = unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Limit {
    pub(crate) soft: Option<u64>,
    pub(crate) hard: Option<u64>,
}

/// Whether /proc/self/pagemap gives real frame numbers to this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) enum PagemapAccess {
    /// Nonzero PFNs (root / CAP_SYS_ADMIN). On a VM these are guest-physical.
    Pfns,
    /// Readable but PFNs are zeroed (not privileged).
    ZeroPfns,
    /// Not readable at all.
    Unavailable,
}

/// What `probe machine` reports: CPU and kernel, allowed cores and SMT siblings, hypervisor, NUMA
/// nodes, huge pages, the memlock limit, pagemap access and the clock (serialized camelCase for
/// `--json`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineInfo {
    pub(crate) cpu_model: Option<String>,
    pub(crate) kernel: Option<String>,
    pub(crate) allowed_cores: Vec<usize>,
    /// For each allowed core, the cores sharing its physical core (itself included).
    pub(crate) smt_siblings: Vec<(usize, Vec<usize>)>,
    /// cpuid leaf 1 ECX bit 31.
    pub(crate) hypervisor: bool,
    /// cpuid leaf 0x4000_0000 vendor, e.g. "KVMKVMKVM".
    pub(crate) hypervisor_vendor: Option<String>,
    pub(crate) numa_nodes: Vec<NumaNode>,
    pub(crate) huge_pages: Vec<HugePages>,
    /// "always" / "madvise" / "never"
    pub(crate) thp_mode: Option<String>,
    pub(crate) memlock: Option<Limit>,
    pub(crate) pagemap: PagemapAccess,
    pub(crate) tsc_hz: f64,
    pub(crate) tsc_invariant: Option<bool>,
    /// The counter the cycle clock reads: "rdtsc", "cntvct_el0" or "Instant".
    pub(crate) clock_source: &'static str,
    /// The smallest step the cycle clock was seen to take (ns): the finest interval a timed read
    /// resolves.
    pub(crate) clock_resolution_ns: f64,
}

impl MachineInfo {
    /// Reads everything (takes ~20 ms the first time, to calibrate the cycle clock).
    pub fn read() -> MachineInfo {
        let allowed = cores::allowed();
        let smt_siblings = allowed
            .iter()
            .map(|&c| {
                let p = format!("/sys/devices/system/cpu/cpu{c}/topology/thread_siblings_list");
                let sib = read_trim(&p).map(|s| parse_cpu_list(&s)).unwrap_or_default();
                (c, sib)
            })
            .collect();
        let (hypervisor, hypervisor_vendor) = hypervisor();
        MachineInfo {
            cpu_model: std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| cpu_model(&s)),
            kernel: read_trim("/proc/sys/kernel/osrelease"),
            allowed_cores: allowed,
            smt_siblings,
            hypervisor,
            hypervisor_vendor,
            numa_nodes: numa_nodes(),
            huge_pages: huge_pages(),
            thp_mode: crate::region::thp_mode(),
            memlock: memlock(),
            pagemap: pagemap_access(),
            tsc_hz: tsc::hz(),
            tsc_invariant: tsc::invariant(),
            clock_source: tsc::SOURCE,
            clock_resolution_ns: tsc::resolution_ns(),
        }
    }

    /// Whether more than one allowed core shares a physical core.
    pub(crate) fn smt_shared(&self) -> bool {
        self.smt_siblings.iter().any(|(_, s)| s.iter().filter(|c| self.allowed_cores.contains(c)).count() > 1)
    }
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// "0-3,8,10-11" → [0,1,2,3,8,10,11]. Malformed parts are skipped; huge ranges are refused.
pub(crate) fn parse_cpu_list(s: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in s.trim().split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
                    if a <= b && b - a < 65_536 {
                        out.extend(a..=b);
                    }
                }
            }
            None => {
                if let Ok(c) = part.parse() {
                    out.push(c);
                }
            }
        }
    }
    out
}

/// The first "model name" in /proc/cpuinfo text.
pub(crate) fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .filter(|s| !s.is_empty())
}

/// (hypervisor bit, vendor string).
pub(crate) fn hypervisor() -> (bool, Option<String>) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::__cpuid;
        // cpuid is always available on x86_64; leaf 1 exists on every x86_64 CPU.
        let present = __cpuid(1).ecx & (1 << 31) != 0;
        if !present {
            return (false, None);
        }
        // Leaf 0x4000_0000 is reserved for hypervisors and defined whenever the bit above is set.
        let r = __cpuid(0x4000_0000);
        let mut bytes = Vec::with_capacity(12);
        for w in [r.ebx, r.ecx, r.edx] {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        let vendor: String = String::from_utf8_lossy(&bytes).trim_matches(char::from(0)).trim().to_string();
        (true, (!vendor.is_empty()).then_some(vendor))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let flagged = std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|s| s.contains("hypervisor"));
        (flagged, None)
    }
}

/// The entries of sysfs directory `dir` named `<prefix><number><suffix>`, as (number, name),
/// sorted by number; an unreadable directory has none.
fn numbered_entries(dir: &str, prefix: &str, suffix: &str) -> Vec<(u64, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<(u64, String)> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| Some((name.strip_prefix(prefix)?.strip_suffix(suffix)?.parse().ok()?, name)))
        .collect();
    out.sort();
    out
}

fn numa_nodes() -> Vec<NumaNode> {
    numbered_entries("/sys/devices/system/node", "node", "")
        .into_iter()
        .map(|(id, name)| {
            let cpus = read_trim(&format!("/sys/devices/system/node/{name}/cpulist")).map(|s| parse_cpu_list(&s)).unwrap_or_default();
            NumaNode { id: id as _, cpus }
        })
        .collect()
}

fn huge_pages() -> Vec<HugePages> {
    numbered_entries("/sys/kernel/mm/hugepages", "hugepages-", "kB")
        .into_iter()
        .map(|(size_kb, name)| {
            let num = |f: &str| read_trim(&format!("/sys/kernel/mm/hugepages/{name}/{f}")).and_then(|s| s.parse().ok()).unwrap_or(0);
            HugePages { size_kb: size_kb as _, total: num("nr_hugepages"), free: num("free_hugepages") }
        })
        .collect()
}

fn memlock() -> Option<Limit> {
    #[cfg(unix)]
    {
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes one rlimit struct into `r`, which we own.
        if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) } != 0 {
            return None;
        }
        // rlim_t is u64 on 64-bit Linux but not everywhere.
        #[allow(clippy::unnecessary_cast)]
        let v = |x: libc::rlim_t| (x != libc::RLIM_INFINITY).then_some(x as u64);
        Some(Limit { soft: v(r.rlim_cur), hard: v(r.rlim_max) })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

fn pagemap_access() -> PagemapAccess {
    let page = vec![1u8; 2 * 4096];
    // A byte in the middle is in a page the vec! fill touched.
    let addr = std::hint::black_box(page.as_ptr()) as usize + 4096;
    match pagemap::lookup(&[addr])[0] {
        Phys::Address(_) => PagemapAccess::Pfns,
        Phys::Hidden | Phys::NotPresent => PagemapAccess::ZeroPfns,
        Phys::Unreadable => PagemapAccess::Unavailable,
    }
}

fn bytes_or_unlimited(v: Option<u64>) -> String {
    match v {
        None => "unlimited".into(),
        Some(b) if b >= 1 << 20 => format!("{} MiB", b >> 20),
        Some(b) => format!("{} KiB", b >> 10),
    }
}

impl fmt::Display for MachineInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "cpu: {}", self.cpu_model.as_deref().unwrap_or("unknown"))?;
        writeln!(f, "kernel: {}", self.kernel.as_deref().unwrap_or("unknown"))?;
        writeln!(f, "allowed cores: {:?}{}", self.allowed_cores, if self.smt_shared() { " (some share a physical core)" } else { "" })?;
        for (c, s) in &self.smt_siblings {
            writeln!(f, "  cpu{c} siblings {s:?}")?;
        }
        writeln!(
            f,
            "hypervisor: {}",
            if self.hypervisor {
                format!(
                    "yes ({}): physical addresses are guest-physical, placement by address proves nothing",
                    self.hypervisor_vendor.as_deref().unwrap_or("unknown vendor")
                )
            } else {
                "none detected".into()
            }
        )?;
        for n in &self.numa_nodes {
            writeln!(f, "numa node {}: cpus {:?}", n.id, n.cpus)?;
        }
        for h in &self.huge_pages {
            writeln!(f, "huge pages {} kB: {} free of {}", h.size_kb, h.free, h.total)?;
        }
        writeln!(f, "transparent huge pages: {}", self.thp_mode.as_deref().unwrap_or("unknown"))?;
        match self.memlock {
            Some(l) => writeln!(f, "memlock: soft {}, hard {}", bytes_or_unlimited(l.soft), bytes_or_unlimited(l.hard))?,
            None => writeln!(f, "memlock: unknown")?,
        }
        writeln!(
            f,
            "pagemap: {}",
            match self.pagemap {
                PagemapAccess::Pfns => "gives frame numbers",
                PagemapAccess::ZeroPfns => "frame numbers hidden (run as root to see them)",
                PagemapAccess::Unavailable => "not readable",
            }
        )?;
        write!(
            f,
            "clock: {} {:.4} GHz, invariant: {}, resolution {:.1} ns",
            self.clock_source,
            self.tsc_hz / 1e9,
            match self.tsc_invariant {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown",
            },
            self.clock_resolution_ns
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_ranges_and_skip_garbage() {
        assert_eq!(parse_cpu_list("0-3,8,10-11\n"), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(parse_cpu_list("5"), vec![5]);
        assert_eq!(parse_cpu_list(""), Vec::<usize>::new());
        assert_eq!(parse_cpu_list("x,3-1,2-,7"), vec![7]);
        assert_eq!(parse_cpu_list("0-99999999999"), Vec::<usize>::new());
    }

    #[test]
    fn model_name_is_the_first_one() {
        let text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\nmodel name\t: other\n";
        assert_eq!(cpu_model(text).as_deref(), Some("AMD EPYC 9R14"));
        assert_eq!(cpu_model("processor: 0\n"), None);
    }

    #[test]
    fn machine_info_is_well_formed() {
        let m = MachineInfo::read();
        assert!(!m.allowed_cores.is_empty());
        assert_eq!(m.smt_siblings.len(), m.allowed_cores.len());
        assert!(m.tsc_hz > 0.0);
        if !m.hypervisor {
            assert!(m.hypervisor_vendor.is_none());
        }
        for h in &m.huge_pages {
            assert!(h.free <= h.total);
        }
        assert!(!m.to_string().is_empty());
    }
}
