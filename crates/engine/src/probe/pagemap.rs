//! Virtual → physical address lookups through /proc/self/pagemap.
//!
//! Reads only; never changes mappings. Without CAP_SYS_ADMIN the kernel reports PFN 0, which is
//! returned as `Phys::Hidden`, never as address 0. Linux only: elsewhere nothing calls it.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

/// What pagemap says about one virtual address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) enum Phys {
    /// Present, with its physical address (PFN · 4096 + offset in the 4 KiB page).
    Address(u64),
    /// Present, but the kernel hides the frame number (not root / no CAP_SYS_ADMIN).
    Hidden,
    /// Not present in memory (never touched, or swapped out).
    NotPresent,
    /// pagemap could not be read (no /proc, other OS).
    Unreadable,
}

const PFN_MASK: u64 = (1 << 55) - 1;
const PRESENT: u64 = 1 << 63;

/// Decodes one 64-bit pagemap entry for an address with in-page offset `offset`.
pub(crate) fn decode(entry: u64, offset: u64) -> Phys {
    if entry & PRESENT == 0 {
        Phys::NotPresent
    } else if entry & PFN_MASK == 0 {
        Phys::Hidden
    } else {
        Phys::Address((entry & PFN_MASK) * 4096 + (offset & 4095))
    }
}

/// Looks up many addresses with one open of pagemap.
pub(crate) fn lookup(vaddrs: &[usize]) -> Vec<Phys> {
    sys::lookup(vaddrs)
}

#[cfg(target_os = "linux")]
mod sys {
    use super::*;
    use std::os::unix::fs::FileExt;

    pub(crate) fn lookup(vaddrs: &[usize]) -> Vec<Phys> {
        let Ok(f) = std::fs::File::open("/proc/self/pagemap") else {
            return vec![Phys::Unreadable; vaddrs.len()];
        };
        vaddrs
            .iter()
            .map(|&v| {
                let mut buf = [0u8; 8];
                match f.read_exact_at(&mut buf, (v as u64 / 4096) * 8) {
                    Ok(()) => decode(u64::from_le_bytes(buf), v as u64),
                    Err(_) => Phys::Unreadable,
                }
            })
            .collect()
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use super::*;
    pub(crate) fn lookup(vaddrs: &[usize]) -> Vec<Phys> {
        vec![Phys::Unreadable; vaddrs.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_decode_to_address_hidden_or_absent() {
        assert_eq!(decode(PRESENT | 0x1234, 0x5678), Phys::Address(0x1234 * 4096 + 0x678));
        assert_eq!(decode(PRESENT, 5), Phys::Hidden);
        assert_eq!(decode(0x1234, 5), Phys::NotPresent);
    }

    #[test]
    fn a_touched_page_is_present_or_hidden() {
        let v = vec![1u8; 8192];
        let r = lookup(&[v.as_ptr() as usize]);
        assert_eq!(r.len(), 1);
        if cfg!(target_os = "linux") {
            assert!(matches!(r[0], Phys::Address(_) | Phys::Hidden), "{r:?}");
        }
    }
}
