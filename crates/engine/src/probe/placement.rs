//! `probe placement`: on which memory channel each replica's copy of a slot lives, under a
//! channel model, from physical addresses in /proc/self/pagemap.
//!
//! It says `CannotKnow` rather than pass whenever physical addresses cannot prove anything: on a
//! VM (they are guest-physical), without root (PFNs are hidden), and when every bit the model uses
//! lies inside the page offset (then the virtual offset already decides the channel and the
//! physical address adds nothing). Reads pagemap only; never reads or writes slot values.

use std::fmt;

use super::machine;
use super::pagemap::{self, Phys};
use crate::error::{Error, Result};
use crate::region::{PageKind, PAGE_4K};
use crate::slab::Slab;

/// How a physical address selects a channel.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ChannelModel {
    /// One address bit picks one of two channels (e.g. Bit(6): lines 64 B apart alternate).
    Bit(u32),
    /// Each mask's parity (XOR of the address bits it selects) is one bit of the channel number.
    XorMasks(Vec<u64>),
}

impl ChannelModel {
    /// Parses "6" or "bit:6" (one address bit), or "xor:0x402100,0x40000200" (each mask's parity
    /// is one channel bit).
    ///
    /// # Errors
    ///
    /// [`Error::OptionOutOfRange`] for text that is neither form.
    pub fn parse(s: &str) -> Result<ChannelModel> {
        let bad = || Error::option_range("channelBits", format!("must be a bit number such as 6, or xor:MASK,MASK (hex), got {s:?}"));
        let s = s.trim();
        let model = if let Some(masks) = s.strip_prefix("xor:") {
            let parsed: std::result::Result<Vec<u64>, _> =
                masks.split(',').map(|m| u64::from_str_radix(m.trim().trim_start_matches("0x"), 16)).collect();
            ChannelModel::XorMasks(parsed.map_err(|_| bad())?)
        } else {
            ChannelModel::Bit(s.trim_start_matches("bit:").parse().map_err(|_| bad())?)
        };
        model.validate().map_err(|_| bad())?;
        Ok(model)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match self {
            ChannelModel::Bit(b) if *b < 64 => Ok(()),
            ChannelModel::Bit(b) => Err(Error::bad_option("model", format!("bit must be from 0 to 63, got {b}"))),
            ChannelModel::XorMasks(m) if !m.is_empty() && m.len() <= 16 && m.iter().all(|&x| x != 0) => Ok(()),
            ChannelModel::XorMasks(m) => Err(Error::bad_option("model", format!("needs from 1 to 16 nonzero masks, got {m:x?}"))),
        }
    }

    /// Channel of an address (0..channels()).
    pub(crate) fn channel(&self, addr: u64) -> u32 {
        match self {
            ChannelModel::Bit(b) => ((addr >> (b & 63)) & 1) as u32,
            ChannelModel::XorMasks(masks) => {
                masks.iter().take(16).enumerate().fold(0, |ch, (i, &m)| ch | (((addr & m).count_ones() & 1) << i))
            }
        }
    }

    /// How many channels the model distinguishes.
    pub(crate) fn channels(&self) -> u32 {
        match self {
            ChannelModel::Bit(_) => 2,
            ChannelModel::XorMasks(m) => 1 << m.len().min(16),
        }
    }

    /// Every address bit the model looks at.
    pub(crate) fn address_bits(&self) -> u64 {
        match self {
            ChannelModel::Bit(b) => 1u64 << (b & 63),
            ChannelModel::XorMasks(m) => m.iter().fold(0, |a, &x| a | x),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            ChannelModel::Bit(b) => format!("address bit {b}"),
            ChannelModel::XorMasks(m) => {
                let parts: Vec<String> = m.iter().map(|x| format!("parity({x:#x})")).collect();
                format!("channel bits {}", parts.join(", "))
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) enum PlacementVerdict {
    /// The copies use as many different channels as they can (min(copies, channels)).
    DifferentChannels,
    /// Some copies share a channel that another channel could have taken.
    SameChannel,
    CannotKnow {
        reason: String,
    },
}

impl PlacementVerdict {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            PlacementVerdict::DifferentChannels => "DIFFERENT CHANNELS",
            PlacementVerdict::SameChannel => "SAME CHANNEL",
            PlacementVerdict::CannotKnow { .. } => "CANNOT KNOW",
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CopyPlacement {
    pub(crate) replica: usize,
    pub(crate) virt: usize,
    pub(crate) phys: Phys,
    /// Channel the virtual address would select (equals the physical one when the model's bits
    /// are all inside the page offset).
    pub(crate) virt_channel: u32,
    /// Channel of the physical address, when it is known.
    pub(crate) phys_channel: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SlotPlacement {
    pub(crate) slot: u64,
    pub(crate) copies: Vec<CopyPlacement>,
    pub(crate) verdict: PlacementVerdict,
}

/// What `probe placement` found: whether the copies of sampled slots sit on different memory
/// channels, under a channel model (serialized camelCase for `--json`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementReport {
    pub(crate) model: ChannelModel,
    /// Page size the copies are known to be backed by.
    pub(crate) page_size: usize,
    pub(crate) hypervisor: Option<String>,
    /// Every model bit is below the page size.
    pub(crate) bits_inside_page: bool,
    /// What the virtual offsets alone say (copies spread over channels?).
    pub(crate) by_virtual_offset: bool,
    pub(crate) slots: Vec<SlotPlacement>,
    pub(crate) verdict: PlacementVerdict,
}

/// Whether the channels used are as spread as they can be.
fn spread(channels: &[u32], available: u32) -> bool {
    let mut distinct = channels.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    distinct.len() == channels.len().min(available as usize)
}

/// Judges copies whose physical lookups are already done. `hypervisor` is the vendor (or
/// "unknown") when running under one.
pub(crate) fn judge(
    copies: &[(u64, Vec<(usize, Phys)>)],
    page_size: usize,
    model: &ChannelModel,
    hypervisor: Option<&str>,
) -> PlacementReport {
    let bits_inside_page = (model.address_bits() as u128) < page_size.max(1) as u128;
    let mut slots = Vec::with_capacity(copies.len());
    let mut virt_ok = true;
    let mut hidden = false;
    for (slot, list) in copies {
        let places: Vec<CopyPlacement> = list
            .iter()
            .enumerate()
            .map(|(r, &(v, p))| CopyPlacement {
                replica: r,
                virt: v,
                phys: p,
                virt_channel: model.channel(v as u64),
                phys_channel: match p {
                    Phys::Address(a) => Some(model.channel(a)),
                    _ => None,
                },
            })
            .collect();
        let vc: Vec<u32> = places.iter().map(|c| c.virt_channel).collect();
        virt_ok &= spread(&vc, model.channels());
        let pc: Option<Vec<u32>> = places.iter().map(|c| c.phys_channel).collect();
        let verdict = match pc {
            Some(pc) if spread(&pc, model.channels()) => PlacementVerdict::DifferentChannels,
            Some(_) => PlacementVerdict::SameChannel,
            None => {
                hidden = true;
                PlacementVerdict::CannotKnow { reason: "physical address unknown".into() }
            }
        };
        slots.push(SlotPlacement { slot: *slot, copies: places, verdict });
    }
    let mut reasons = Vec::new();
    if bits_inside_page {
        reasons.push(format!(
            "every bit of the model ({}) lies inside the {} page offset, so the virtual offset alone decides the channel \
             (by virtual offset the copies are {}); physical addresses prove nothing beyond that",
            model.describe(),
            size_text(page_size),
            if virt_ok { "on different channels" } else { "on the SAME channel" }
        ));
    }
    if let Some(h) = hypervisor {
        reasons.push(format!(
            "running under a hypervisor ({h}): pagemap gives guest-physical addresses, which say nothing about real DRAM channels \
             (use `probe groups` to see refresh groups by timing)"
        ));
    }
    if hidden {
        reasons.push("pagemap hides frame numbers (PFN 0) from this process: run as root to read physical addresses".into());
    }
    if copies.is_empty() {
        reasons.push("no copies to check".into());
    }
    let verdict = if !reasons.is_empty() {
        PlacementVerdict::CannotKnow { reason: reasons.join("; ") }
    } else if slots.iter().all(|s| s.verdict == PlacementVerdict::DifferentChannels) {
        PlacementVerdict::DifferentChannels
    } else {
        PlacementVerdict::SameChannel
    };
    PlacementReport {
        model: model.clone(),
        page_size,
        hypervisor: hypervisor.map(str::to_string),
        bits_inside_page,
        by_virtual_offset: virt_ok,
        slots,
        verdict,
    }
}

fn size_text(b: usize) -> String {
    match b {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// Checks explicit addresses: `copies[k] = (slot, [address of replica 0, 1, …])`, in memory
/// backed by pages of `page_size`. The pages must be mapped and touched.
pub(crate) fn check_addresses(copies: &[(u64, Vec<usize>)], page_size: usize, model: &ChannelModel) -> Result<PlacementReport> {
    model.validate()?;
    let flat: Vec<usize> = copies.iter().flat_map(|(_, a)| a.iter().copied()).collect();
    let phys = pagemap::lookup(&flat);
    let mut it = flat.into_iter().zip(phys);
    let looked: Vec<(u64, Vec<(usize, Phys)>)> = copies.iter().map(|(s, a)| (*s, it.by_ref().take(a.len()).collect())).collect();
    let (hv, vendor) = machine::hypervisor();
    let vendor = hv.then(|| vendor.unwrap_or_else(|| "unknown vendor".into()));
    Ok(judge(&looked, page_size, model, vendor.as_deref()))
}

/// Checks the copies of `slots` in `slab` (when `slots` is empty: the first, middle and last slot
/// and two in between).
///
/// # Errors
///
/// [`Error::SlotOutOfRange`] for a slot beyond the slab.
pub fn check(slab: &Slab, slots: &[u64], model: &ChannelModel) -> Result<PlacementReport> {
    let n = slab.layout().slots();
    let chosen: Vec<u64> = if slots.is_empty() {
        let mut v = vec![0, n / 4, n / 2, 3 * n / 4, n - 1];
        v.dedup();
        v
    } else {
        slots.to_vec()
    };
    let mut copies = Vec::with_capacity(chosen.len());
    for &i in &chosen {
        let addrs = (0..slab.layout().replicas()).map(|r| slab.address(r, i)).collect::<Result<Vec<usize>>>()?;
        copies.push((i, addrs));
    }
    let region = slab.region();
    // Transparent huge pages may not back the whole region: then only 4 KiB is certain.
    let page =
        if region.kind() == PageKind::Transparent && region.thp_bytes() < region.mapped_bytes() { PAGE_4K } else { region.page_size() };
    check_addresses(&copies, page, model)
}

impl fmt::Display for PlacementReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "placement under {} ({} channels), {} pages:",
            self.model.describe(),
            self.model.channels(),
            size_text(self.page_size)
        )?;
        for s in &self.slots {
            write!(f, "  slot {}:", s.slot)?;
            for c in &s.copies {
                let phys = match c.phys {
                    Phys::Address(a) => format!("{a:#x} → ch {}", c.phys_channel.unwrap_or(0)),
                    Phys::Hidden => "phys hidden".into(),
                    Phys::NotPresent => "not present".into(),
                    Phys::Unreadable => "pagemap unreadable".into(),
                };
                write!(f, " [r{} virt {:#x} (ch {}) phys {}]", c.replica, c.virt, c.virt_channel, phys)?;
            }
            writeln!(f)?;
        }
        write!(f, "verdict: {}", self.verdict.name())?;
        if let PlacementVerdict::CannotKnow { reason } = &self.verdict {
            write!(f, " — {reason}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;
    use crate::region::{LockRequest, PageRequest, PAGE_2M};

    fn pair(slot: u64, a: usize, pa: u64, b: usize, pb: u64) -> (u64, Vec<(usize, Phys)>) {
        (slot, vec![(a, Phys::Address(pa)), (b, Phys::Address(pb))])
    }

    #[test]
    fn models_pick_channels() {
        let m = ChannelModel::Bit(6);
        assert_eq!((m.channel(0), m.channel(64), m.channel(128), m.channel(192)), (0, 1, 0, 1));
        let x = ChannelModel::XorMasks(vec![(1 << 8) | (1 << 13), 1 << 30]);
        assert_eq!(x.channels(), 4);
        assert_eq!(x.channel(1 << 8), 1);
        assert_eq!(x.channel((1 << 8) | (1 << 13)), 0);
        assert_eq!(x.channel(1 << 30), 2);
        assert_eq!(x.address_bits(), (1 << 8) | (1 << 13) | (1 << 30));
        assert!(ChannelModel::Bit(64).validate().is_err());
        assert!(ChannelModel::XorMasks(vec![]).validate().is_err());
        assert!(ChannelModel::XorMasks(vec![0]).validate().is_err());
    }

    #[test]
    fn physical_channels_decide_on_bare_metal() {
        let m = ChannelModel::XorMasks(vec![(1 << 12) | (1 << 21)]);
        let diff = judge(&[pair(0, 0x1000, 0x20_0000, 0x2000, 0x20_1000)], PAGE_4K, &m, None);
        assert_eq!(diff.verdict, PlacementVerdict::DifferentChannels, "{diff}");
        let same = judge(&[pair(0, 0x1000, 0x20_0000, 0x2000, 0x1000)], PAGE_4K, &m, None);
        assert_eq!(same.verdict, PlacementVerdict::SameChannel);
        assert_eq!(same.slots[0].copies[1].phys_channel, Some(1));
    }

    #[test]
    fn a_vm_can_never_pass() {
        let m = ChannelModel::Bit(30);
        let r = judge(&[pair(0, 0, 0, 1 << 30, 1 << 30)], PAGE_2M, &m, Some("KVMKVMKVM"));
        match &r.verdict {
            PlacementVerdict::CannotKnow { reason } => assert!(reason.contains("guest-physical"), "{reason}"),
            v => panic!("{v:?}"),
        }
        // The per-slot view still records what the guest-physical addresses say.
        assert_eq!(r.slots[0].verdict, PlacementVerdict::DifferentChannels);
    }

    #[test]
    fn model_bits_inside_the_page_cannot_be_proven_by_physical_addresses() {
        let m = ChannelModel::Bit(6);
        let r = judge(&[pair(0, 0x1000, 0x5000, 0x1040, 0x5040)], PAGE_2M, &m, None);
        assert!(r.bits_inside_page && r.by_virtual_offset);
        match &r.verdict {
            PlacementVerdict::CannotKnow { reason } => {
                assert!(reason.contains("page offset") && reason.contains("on different channels"), "{reason}")
            }
            v => panic!("{v:?}"),
        }
        // 256 B apart under Bit(6): same channel by virtual offset, and it says so.
        let r = judge(&[pair(0, 0x1000, 0x5000, 0x1100, 0x5100)], PAGE_2M, &m, None);
        assert!(!r.by_virtual_offset);
        assert!(matches!(&r.verdict, PlacementVerdict::CannotKnow { reason } if reason.contains("SAME channel")));
    }

    #[test]
    fn hidden_frames_and_empty_input_cannot_know() {
        let m = ChannelModel::Bit(30);
        let r = judge(&[(0, vec![(0, Phys::Hidden), (64, Phys::Hidden)])], PAGE_2M, &m, None);
        assert!(matches!(&r.verdict, PlacementVerdict::CannotKnow { reason } if reason.contains("root")));
        let r = judge(&[], PAGE_2M, &m, None);
        assert!(matches!(r.verdict, PlacementVerdict::CannotKnow { .. }));
    }

    #[test]
    fn three_copies_on_two_channels_are_as_spread_as_they_can_be() {
        assert!(spread(&[0, 1, 0], 2));
        assert!(!spread(&[0, 0, 0], 2));
        assert!(!spread(&[0, 1, 1], 4));
        assert!(spread(&[2, 1, 0], 4));
    }

    #[test]
    fn a_real_slab_gets_a_well_formed_report() {
        let slab = Slab::new(Layout::new(1000, 2, 64).unwrap(), PageRequest::Off, LockRequest::Off).unwrap();
        let r = check(&slab, &[], &ChannelModel::Bit(6)).unwrap();
        assert_eq!(r.slots.len(), 5);
        assert!(r.slots.iter().all(|s| s.copies.len() == 2));
        // Bit 6 is inside a 4 KiB page: never a pass.
        assert!(matches!(r.verdict, PlacementVerdict::CannotKnow { .. }));
        assert!(r.by_virtual_offset);
        assert!(check(&slab, &[1000], &ChannelModel::Bit(6)).is_err());
        assert!(check(&slab, &[1], &ChannelModel::Bit(99)).is_err());
    }

    #[test]
    fn channel_models_parse() {
        assert_eq!(ChannelModel::parse("6").unwrap(), ChannelModel::Bit(6));
        assert_eq!(ChannelModel::parse("bit:8").unwrap(), ChannelModel::Bit(8));
        assert_eq!(ChannelModel::parse("xor:0x100,200").unwrap(), ChannelModel::XorMasks(vec![0x100, 0x200]));
        assert!(ChannelModel::parse("x").is_err());
        assert!(ChannelModel::parse("99").is_err());
        assert!(ChannelModel::parse("xor:0").is_err());
    }
}
