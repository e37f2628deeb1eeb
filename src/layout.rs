//! Where replica r of slot i lives inside the slab: pure arithmetic, computed once.
//!
//! Replicas are interleaved in chunks of `channel_offset` bytes: chunk k of replica r starts at
//! `k * stride + r * channel_offset`, with `stride = replicas * channel_offset`. Copies of one slot
//! are therefore exactly `channel_offset` bytes apart. The hot path uses only shifts, masks and one
//! multiply; no division.

use crate::error::{Error, Result};

/// Bytes per slot: every value is one 8-byte word, stored and loaded whole.
pub const SLOT_BYTES: usize = 8;
pub const MIN_REPLICAS: usize = 2;
pub const MAX_REPLICAS: usize = 8;
pub const MIN_CHANNEL_OFFSET: usize = 64;
/// Largest channel offset accepted: 1 GiB, the largest huge page.
pub const MAX_CHANNEL_OFFSET: usize = 1 << 30;
/// Slot indices travel as u32 through the JS and C APIs.
pub const MAX_SLOTS: u64 = 1 << 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    slots: u64,
    replicas: usize,
    channel_offset: usize,
    /// log2(slots per chunk)
    shift: u32,
    /// slots per chunk - 1
    mask: u64,
    /// bytes from one chunk of replica r to the next chunk of replica r
    stride: usize,
    /// bytes the layout spans (whole chunks of every replica), before page rounding
    span: usize,
}

impl Layout {
    pub fn new(slots: u64, replicas: usize, channel_offset: usize) -> Result<Layout> {
        if slots == 0 || slots > MAX_SLOTS {
            return Err(Error::option_range("slots", format!("must be 1..={MAX_SLOTS}, got {slots}")));
        }
        if !(MIN_REPLICAS..=MAX_REPLICAS).contains(&replicas) {
            return Err(Error::option_range(
                "replicas",
                format!("must be {MIN_REPLICAS}..={MAX_REPLICAS}, got {replicas}"),
            ));
        }
        if !channel_offset.is_power_of_two()
            || !(MIN_CHANNEL_OFFSET..=MAX_CHANNEL_OFFSET).contains(&channel_offset)
        {
            return Err(Error::option_range(
                "channelOffset",
                format!(
                    "must be a power of two from {MIN_CHANNEL_OFFSET} to {MAX_CHANNEL_OFFSET} bytes, got {channel_offset}"
                ),
            ));
        }
        let per_chunk = (channel_offset / SLOT_BYTES) as u64;
        let chunks = slots.div_ceil(per_chunk);
        let stride = replicas * channel_offset;
        let span = (chunks as u128) * (stride as u128);
        if span > (isize::MAX as u128) / 2 {
            return Err(Error::option_range("slots", format!("{slots} slots x {replicas} replicas do not fit in memory")));
        }
        Ok(Layout {
            slots,
            replicas,
            channel_offset,
            shift: per_chunk.trailing_zeros(),
            mask: per_chunk - 1,
            stride,
            span: span as usize,
        })
    }

    #[inline(always)]
    pub fn slots(&self) -> u64 {
        self.slots
    }
    #[inline(always)]
    pub fn replicas(&self) -> usize {
        self.replicas
    }
    pub fn channel_offset(&self) -> usize {
        self.channel_offset
    }
    pub fn stride(&self) -> usize {
        self.stride
    }
    /// Bytes the layout spans; the region rounds this up to whole pages.
    pub fn span(&self) -> usize {
        self.span
    }
    /// Slots the whole chunks could hold (≥ `slots`); indices beyond `slots` are still invalid.
    pub fn chunk_capacity(&self) -> u64 {
        (self.span / self.stride) as u64 * (self.mask + 1)
    }

    /// Byte offset of replica `r`'s copy of slot `i`. Callers guarantee `r < replicas` and
    /// `i < slots` (checked in debug builds).
    #[inline(always)]
    pub fn offset(&self, r: usize, i: u64) -> usize {
        debug_assert!(r < self.replicas && i < self.slots);
        r * self.channel_offset + ((i >> self.shift) as usize) * self.stride + ((i & self.mask) as usize) * SLOT_BYTES
    }

    #[inline(always)]
    pub fn check_slot(&self, i: u64) -> Result<()> {
        if i < self.slots {
            Ok(())
        } else {
            Err(Error::SlotOutOfRange { index: i, slots: self.slots })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_replica_slot_address_is_distinct_aligned_and_in_bounds() {
        for replicas in MIN_REPLICAS..=MAX_REPLICAS {
            for channel_offset in [64usize, 128, 256, 512, 4096, 65536] {
                for slots in [1u64, 7, 8, 31, 32, 33, 100, 1000, 4097] {
                    let l = Layout::new(slots, replicas, channel_offset).unwrap();
                    let mut seen = HashSet::new();
                    for i in 0..slots {
                        for r in 0..replicas {
                            let off = l.offset(r, i);
                            assert_eq!(off % SLOT_BYTES, 0);
                            assert!(off + SLOT_BYTES <= l.span(), "({replicas},{channel_offset},{slots}) r{r} i{i}");
                            assert!(seen.insert(off), "duplicate offset {off}");
                        }
                    }
                    assert!(l.chunk_capacity() >= slots);
                }
            }
        }
    }

    #[test]
    fn copies_of_a_slot_are_channel_offset_apart_in_the_chunk_pattern() {
        for replicas in MIN_REPLICAS..=MAX_REPLICAS {
            for channel_offset in [64usize, 256, 2048] {
                let l = Layout::new(10_000, replicas, channel_offset).unwrap();
                let per_chunk = (channel_offset / SLOT_BYTES) as u64;
                for i in [0u64, 1, per_chunk - 1, per_chunk, per_chunk + 3, 9_999] {
                    let base = l.offset(0, i);
                    // Slot i sits in chunk i / per_chunk at word i % per_chunk.
                    let chunk = (i / per_chunk) as usize;
                    assert_eq!(base, chunk * replicas * channel_offset + ((i % per_chunk) as usize) * 8);
                    for r in 1..replicas {
                        assert_eq!(l.offset(r, i) - base, r * channel_offset);
                    }
                }
            }
        }
    }

    #[test]
    fn bad_shapes_are_refused_with_the_option_named() {
        let e = Layout::new(0, 2, 256).unwrap_err();
        assert!(matches!(e, Error::OptionOutOfRange { option: "slots", .. }));
        assert!(matches!(Layout::new(10, 1, 256).unwrap_err(), Error::OptionOutOfRange { option: "replicas", .. }));
        assert!(matches!(Layout::new(10, 9, 256).unwrap_err(), Error::OptionOutOfRange { option: "replicas", .. }));
        for bad in [0usize, 32, 96, 100, 257] {
            assert!(matches!(Layout::new(10, 2, bad).unwrap_err(), Error::OptionOutOfRange { option: "channelOffset", .. }));
        }
        assert!(Layout::new(MAX_SLOTS + 1, 2, 256).is_err());
    }

    #[test]
    fn slot_check_names_index_and_count() {
        let l = Layout::new(10, 2, 256).unwrap();
        assert!(l.check_slot(9).is_ok());
        let e = l.check_slot(10).unwrap_err();
        assert_eq!(e, Error::SlotOutOfRange { index: 10, slots: 10 });
        assert!(e.to_string().contains("10 slots"));
    }
}
