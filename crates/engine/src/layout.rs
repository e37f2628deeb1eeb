//! Where replica r of slot i lives inside the slab: arithmetic, or one load from a frame table.
//!
//! The offset layout interleaves replicas in chunks of `channel_offset` bytes: chunk k of replica
//! r starts at `k * stride + r * channel_offset`, with `stride = replicas * channel_offset`, so
//! copies of one slot are exactly `channel_offset` bytes apart. The framed layout (`Layout::framed`)
//! gives every 4 KiB chunk of every replica its own frame of the region, read from a `FrameTable`
//! built once by placement. Either way the hot path uses only shifts, masks, one multiply or one
//! table load; no division, no allocation.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::region::{LockRequest, PageRequest, Region};

/// Bytes per slot: every value is one 8-byte word, stored and loaded whole.
pub(crate) const SLOT_BYTES: usize = 8;
pub(crate) const MIN_REPLICAS: usize = 2;
/// Most copies a slab may have.
pub const MAX_REPLICAS: usize = 8;
/// Smallest channel offset accepted: one cache line.
pub const MIN_CHANNEL_OFFSET: usize = 64;
/// Largest channel offset accepted: 1 GiB, the largest huge page.
pub const MAX_CHANNEL_OFFSET: usize = 1 << 30;
/// Slot indices travel as u32 through the JS and C APIs.
pub(crate) const MAX_SLOTS: u64 = 1 << 32;

/// Bytes in one frame of a framed layout: a chunk of one replica.
pub(crate) const FRAME_BYTES: usize = 4096;
const FRAME_SHIFT: u32 = FRAME_BYTES.trailing_zeros();
/// log2(slots per frame).
const FRAME_SLOT_SHIFT: u32 = (FRAME_BYTES / SLOT_BYTES).trailing_zeros();
/// Slots per frame of a paired layout (both copies share the frame).
pub(crate) const PAIRED_SLOTS: usize = FRAME_BYTES / SLOT_BYTES / 2;
const PAIRED_SLOT_SHIFT: u32 = PAIRED_SLOTS.trailing_zeros();

/// For every chunk k and replica r, the 4 KiB frame of the region that holds that chunk of that
/// replica. Entry `(k << replica_shift) | r`: the replicas of one chunk sit side by side (padded to
/// a power of two, 32 B at most), so one cache line of the table serves every copy of a slot.
/// Immutable once built; kept in its own mapping (transparent huge pages when it is large, so the
/// lookup rarely costs a TLB miss).
pub struct FrameTable {
    region: Region,
    entries: usize,
    chunks: u64,
    replicas: usize,
    replica_shift: u32,
    /// One past the highest frame named.
    frames_spanned: usize,
    /// A paired table (`build_paired`): one entry per frame holding both copies, its top bit
    /// saying which copy takes the half with the split bit set.
    paired: bool,
}

/// The top bit of a paired table's entry: copy 0 of this frame's slots is on the half with the
/// split bit set (the odd lines, for bit 6).
const SWAP_BIT: u32 = 1 << 31;

impl FrameTable {
    /// A table for `chunks` chunks of `replicas` replicas, `frame_of(k, r)` naming each chunk's
    /// frame. Refuses a frame named twice and a frame index that would not fit 32 bits.
    ///
    /// # Errors
    ///
    /// [`Error::OptionOutOfRange`] for a frame beyond 32 bits or too many chunks;
    /// [`Error::BadOption`] for a frame named twice.
    pub fn build(chunks: u64, replicas: usize, mut frame_of: impl FnMut(u64, usize) -> u64) -> Result<FrameTable> {
        if !(MIN_REPLICAS..=MAX_REPLICAS).contains(&replicas) || chunks == 0 {
            return Err(Error::option_range(
                "replicas",
                format!("a frame table needs from {MIN_REPLICAS} to {MAX_REPLICAS} replicas and chunks, got {replicas}, {chunks}"),
            ));
        }
        let replica_shift = replicas.next_power_of_two().trailing_zeros();
        let entries = (chunks as usize) << replica_shift;
        let bytes = entries * 4;
        // Large tables on huge pages (one TLB entry per 2 MiB of table); small ones on base pages.
        let pages = if bytes >= 1 << 20 { PageRequest::Transparent } else { PageRequest::Off };
        let region = Region::map(bytes, pages, LockRequest::Auto).or_else(|_| Region::map(bytes, PageRequest::Off, LockRequest::Auto))?;
        let mut used = Vec::new();
        let mut frames_spanned = 0usize;
        let table = region.ptr() as *mut u32;
        for k in 0..chunks {
            for r in 0..replicas {
                let f = frame_of(k, r);
                if f > u32::MAX as u64 {
                    return Err(Error::option_range("frames", format!("frame {f} does not fit the table's 32 bits")));
                }
                let f = f as usize;
                if used.len() <= f / 64 {
                    used.resize(f / 64 + 1, 0u64);
                }
                let bit = 1u64 << (f % 64);
                if used[f / 64] & bit != 0 {
                    return Err(Error::bad_option("frames", format!("frame {f} is named twice (chunk {k}, replica {r})")));
                }
                used[f / 64] |= bit;
                frames_spanned = frames_spanned.max(f + 1);
                // SAFETY: the index is below `entries` (k < chunks, r < replicas ≤ 1 << shift), and the
                // region holds `entries` u32s, page-aligned; nothing else sees the table yet.
                unsafe { table.add(((k as usize) << replica_shift) | r).write(f as u32) };
            }
        }
        Ok(FrameTable { region, entries, chunks, replicas, replica_shift, frames_spanned, paired: false })
    }

    /// The table as a shared segment records it: every entry (`entries`), chunk-major with the
    /// replicas of a chunk side by side, as little-endian u32s. Paired tables are refused: shared
    /// slabs are never steered, and only steering needs them.
    // The table is stored in shared segments, which only Unix builds create and open.
    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>> {
        if self.paired {
            return Err(Error::bad_option(
                "frames",
                "a paired frame table is not recorded in shared segments (shared slabs are never steered)",
            ));
        }
        Ok(self.entries().iter().flat_map(|e| e.to_le_bytes()).collect())
    }

    /// Rebuilds a table from `to_bytes`'s bytes for `chunks` chunks of `replicas` replicas, over a
    /// region of `frames` frames. Refuses a length that does not fit that shape, an entry naming a
    /// frame the region does not have (checked before anything is sized by the entries) and, as
    /// `build` does, a frame named twice.
    // The table is stored in shared segments, which only Unix builds create and open.
    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) fn from_bytes(chunks: u64, replicas: usize, frames: usize, bytes: &[u8]) -> Result<FrameTable> {
        let want = chunks as u128 * replicas as u128 * 4;
        if bytes.len() as u128 != want {
            return Err(Error::bad_option(
                "frames",
                format!("a table of {chunks} chunks x {replicas} replicas is {want} bytes, not {}", bytes.len()),
            ));
        }
        let entries: Vec<u32> = bytes.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if let Some((e, &f)) = entries.iter().enumerate().find(|&(_, &f)| f as usize >= frames) {
            return Err(Error::bad_option(
                "frames",
                format!(
                    "entry {e} (chunk {}, replica {}) names frame {f}, outside the {frames} frames of the data",
                    e / replicas.max(1),
                    e % replicas.max(1)
                ),
            ));
        }
        FrameTable::build(chunks, replicas, |k, r| entries[k as usize * replicas + r] as u64)
    }

    /// A paired table for two copies that share each frame: chunk k (256 slots) lives in frame
    /// `frame_of(k).0`, its slots' copies either side of the layout's split bit (`Layout::paired`),
    /// copy 0 on the half with the bit clear unless `frame_of(k).1` swaps them. Refuses a frame
    /// named twice and a frame index that would not fit 31 bits.
    ///
    /// # Errors
    ///
    /// [`Error::OptionOutOfRange`] for a frame at or above 2^31.
    pub fn build_paired(chunks: u64, mut frame_of: impl FnMut(u64) -> (u64, bool)) -> Result<FrameTable> {
        let mut swaps = Vec::with_capacity(chunks as usize);
        let mut t = FrameTable::build(chunks, 2, |k, r| {
            let (f, swap) = frame_of(k);
            if r == 0 {
                swaps.push(swap);
            }
            // Both replicas' entries name the frame; the second one only to let `build` check it
            // (a frame named by two chunks is refused), offset so it never collides with the first.
            if r == 0 {
                2 * f
            } else {
                2 * f + 1
            }
        })?;
        if t.frames_spanned.div_ceil(2) > (SWAP_BIT as usize) {
            return Err(Error::option_range("frames", "a paired table names frames below 2^31"));
        }
        // Rewrite as one entry per chunk: the frame, and the swap bit.
        let table = t.region.ptr() as *mut u32;
        for (k, &swap) in swaps.iter().enumerate() {
            // SAFETY: entries 2k and 2k + 1 exist (replica_shift is 1 for two replicas) and k ≤ 2k,
            // so entry 2k is read before any step overwrites it; the table is still private here.
            unsafe {
                let f = *table.add(2 * k) / 2;
                table.add(k).write(f | if swap { SWAP_BIT } else { 0 });
            }
        }
        t.entries = chunks as usize;
        t.replica_shift = 0;
        t.frames_spanned = t.frames_spanned.div_ceil(2);
        t.paired = true;
        Ok(t)
    }

    /// The frame of chunk `k` of replica `r` (for a paired table, the frame both copies share).
    pub fn frame(&self, k: u64, r: usize) -> u64 {
        assert!(k < self.chunks && r < self.replicas);
        (self.get(((k as usize) << self.replica_shift) | r) & !if self.paired { SWAP_BIT } else { 0 }) as u64
    }

    /// For a paired table: whether chunk `k`'s copy 0 is on the half with the split bit set.
    pub fn swapped(&self, k: u64) -> bool {
        assert!(k < self.chunks);
        self.paired && self.get(k as usize) & SWAP_BIT != 0
    }

    pub(crate) fn paired(&self) -> bool {
        self.paired
    }

    #[inline(always)]
    fn get(&self, index: usize) -> u32 {
        debug_assert!(index < self.entries);
        // SAFETY: callers pass an index below `entries` (Layout::offset: chunk < chunks because
        // i < slots, r < replicas), the region holds `entries` u32s and is never written after
        // `build`, and it lives as long as the table.
        unsafe { *(self.region.ptr() as *const u32).add(index) }
    }

    // The table is stored in shared segments, which only Unix builds create and open.
    #[cfg_attr(not(unix), allow(dead_code))]
    pub(crate) fn chunks(&self) -> u64 {
        self.chunks
    }
    /// Address of chunk `k`'s entries (for measurements that evict the table's line too).
    pub fn entry_address(&self, k: u64) -> usize {
        assert!(k < self.chunks);
        self.region.ptr() as usize + ((k as usize) << self.replica_shift) * 4
    }
    /// Bytes of the table itself.
    pub fn table_bytes(&self) -> usize {
        self.entries * 4
    }
    /// The page kind the table itself got.
    pub fn page_kind(&self) -> crate::region::PageKind {
        self.region.kind()
    }
    /// One past the highest frame named (the region must hold this many frames).
    pub fn frames_spanned(&self) -> usize {
        self.frames_spanned
    }
    /// Every entry, chunk-major with replicas side by side (for recording the table).
    /// (A paired table: one entry per chunk, the swap bit included.)
    pub(crate) fn entries(&self) -> Vec<u32> {
        let per_chunk = if self.paired { 1 } else { self.replicas };
        (0..self.chunks as usize).flat_map(|k| (0..per_chunk).map(move |r| (k << self.replica_shift) | r)).map(|e| self.get(e)).collect()
    }
}

impl std::fmt::Debug for FrameTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FrameTable {{ chunks: {}, replicas: {}, frames_spanned: {} }}", self.chunks, self.replicas, self.frames_spanned)
    }
}

impl PartialEq for FrameTable {
    fn eq(&self, other: &Self) -> bool {
        self.chunks == other.chunks && self.replicas == other.replicas && self.entries() == other.entries()
    }
}
impl Eq for FrameTable {}

/// Where each copy of each slot lives in a region: the slot count, the copies, and the distance
/// (or frame table) that puts them apart.
#[derive(Clone, Debug)]
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
    /// Framed layouts: the frame of every chunk of every replica.
    frames: Option<Arc<FrameTable>>,
    /// The first entry of `frames` (null for offset layouts), so a lookup is one load, not a
    /// chase through the Arc and the table's region.
    table: *const u32,
    /// log2 of the table's entries per chunk (framed layouts).
    replica_shift: u32,
    /// A paired table: both copies share each frame (see `FrameTable::build_paired`).
    paired: bool,
}

// SAFETY: `table` points into the `FrameTable` that `frames` keeps alive for as long as the
// layout (and every clone of it) lives, so moving a layout to another thread moves nothing the
// pointer depends on. Everything else in a layout is plain data.
unsafe impl Send for Layout {}
// SAFETY: the table `table` points into is never written after it is built, so reading it from
// any number of threads at once is sound (see `Send` just above for why it stays alive).
unsafe impl Sync for Layout {}

/// Layouts are equal when they place every copy alike (`table` is only a cached view of `frames`).
impl PartialEq for Layout {
    fn eq(&self, o: &Self) -> bool {
        (self.slots, self.replicas, self.channel_offset, self.shift, self.mask, self.stride, self.span, self.replica_shift, self.paired)
            == (o.slots, o.replicas, o.channel_offset, o.shift, o.mask, o.stride, o.span, o.replica_shift, o.paired)
            && self.frames == o.frames
    }
}
impl Eq for Layout {}

impl Layout {
    /// `slots` slots in `replicas` copies, copy r of a slot `r × channel_offset` bytes after copy 0.
    ///
    /// # Errors
    ///
    /// [`Error::OptionOutOfRange`] when `slots`, `replicas` or `channel_offset` is outside what a
    /// layout can hold (the message gives the range).
    pub fn new(slots: u64, replicas: usize, channel_offset: usize) -> Result<Layout> {
        if slots == 0 || slots > MAX_SLOTS {
            return Err(Error::option_range("slots", format!("must be from 1 to {MAX_SLOTS}, got {slots}")));
        }
        if !(MIN_REPLICAS..=MAX_REPLICAS).contains(&replicas) {
            return Err(Error::option_range("replicas", format!("must be from {MIN_REPLICAS} to {MAX_REPLICAS}, got {replicas}")));
        }
        if !channel_offset.is_power_of_two() || !(MIN_CHANNEL_OFFSET..=MAX_CHANNEL_OFFSET).contains(&channel_offset) {
            return Err(Error::option_range(
                "channelOffset",
                format!("must be a power of two from {MIN_CHANNEL_OFFSET} to {MAX_CHANNEL_OFFSET} bytes, got {channel_offset}"),
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
            frames: None,
            table: std::ptr::null(),
            replica_shift: 0,
            paired: false,
        })
    }

    /// A framed layout: chunk k (4 KiB, `FRAME_BYTES / 8` slots) of replica r lives in frame
    /// `table.frame(k, r)` of the region. The table must have a chunk for every slot.
    ///
    /// # Errors
    ///
    /// What [`Layout::new`] refuses, and [`Error::BadOption`] when the table does not fit the slots
    /// and copies.
    pub fn framed(slots: u64, replicas: usize, table: Arc<FrameTable>) -> Result<Layout> {
        let mut l = Layout::new(slots, replicas, FRAME_BYTES)?;
        let chunks = slots.div_ceil((FRAME_BYTES / SLOT_BYTES) as u64);
        if table.paired || table.chunks != chunks || table.replicas != replicas {
            return Err(Error::bad_option(
                "frames",
                format!(
                    "a table of {} chunks x {} replicas cannot lay out {slots} slots x {replicas} replicas",
                    table.chunks, table.replicas
                ),
            ));
        }
        l.span = table.frames_spanned * FRAME_BYTES;
        l.replica_shift = table.replica_shift;
        l.table = table.region.ptr() as *const u32;
        l.frames = Some(table);
        Ok(l)
    }

    /// A paired layout for two copies: chunk k (256 slots) in frame `table.frame(k, 0)`, slot
    /// i's copies at X and X ^ 2^`bit` of that frame (bit 6..=11: the two 64 B lines of a 128 B
    /// pair for bit 6, the two halves of a 2 KiB block for bit 10), copy 0 on the half with the bit
    /// clear unless the table swaps that frame. For machines where an address bit splits refresh
    /// groups but which half is in which group changes from frame to frame: the swap keeps copy 0
    /// in the same groups everywhere.
    ///
    /// # Errors
    ///
    /// [`Error::BadOption`] for a bit outside 6 to 11 or a table too small for the slots, and what
    /// [`Layout::new`] refuses.
    pub fn paired(slots: u64, bit: u32, table: Arc<FrameTable>) -> Result<Layout> {
        if !(6..FRAME_SHIFT).contains(&bit) {
            return Err(Error::bad_option("frames", format!("a paired layout splits a frame by an address bit from 6 to 11, not {bit}")));
        }
        let mut l = Layout::new(slots, 2, 1 << bit)?;
        let chunks = slots.div_ceil(PAIRED_SLOTS as u64);
        if !table.paired || table.chunks != chunks {
            return Err(Error::bad_option("frames", format!("a paired table of {} chunks cannot lay out {slots} slots", table.chunks)));
        }
        l.span = table.frames_spanned * FRAME_BYTES;
        l.table = table.region.ptr() as *const u32;
        l.paired = true;
        l.frames = Some(table);
        Ok(l)
    }

    /// Copy 0 by arithmetic alone, for a front end that reads it itself: copy 0 of slot i is the
    /// 8-byte word `(i >> shift) * stride_words + (i & mask)` of the slab, returned as
    /// `(shift, mask, stride_words)` (a slab of one chunk gives `(0, 0, 1)`: word i). None for
    /// framed and paired layouts, whose copy 0 needs the table.
    pub(crate) fn copy0_words(&self) -> Option<(u32, u64, usize)> {
        if self.frames.is_some() {
            return None;
        }
        if self.mask + 1 >= self.slots {
            return Some((0, 0, 1));
        }
        Some((self.shift, self.mask, self.stride / SLOT_BYTES))
    }

    /// The frame table of a framed layout.
    pub fn frames(&self) -> Option<&FrameTable> {
        self.frames.as_deref()
    }

    #[inline(always)]
    pub(crate) fn slots(&self) -> u64 {
        self.slots
    }
    #[inline(always)]
    pub(crate) fn replicas(&self) -> usize {
        self.replicas
    }
    /// Bytes between copy r and copy r + 1 of a slot, within a frame.
    pub fn channel_offset(&self) -> usize {
        self.channel_offset
    }
    /// Bytes from one chunk of copies to the next.
    pub fn stride(&self) -> usize {
        self.stride
    }
    /// Bytes the layout spans; the region rounds this up to whole pages.
    pub(crate) fn span(&self) -> usize {
        self.span
    }
    /// Slots the whole chunks could hold (≥ `slots`); indices beyond `slots` are still invalid.
    pub fn chunk_capacity(&self) -> u64 {
        match &self.frames {
            Some(t) if t.paired => t.chunks * PAIRED_SLOTS as u64,
            Some(t) => t.chunks * (self.mask + 1),
            None => (self.span / self.stride) as u64 * (self.mask + 1),
        }
    }

    /// Byte offset of replica `r`'s copy of slot `i`. Callers guarantee `r < replicas` and
    /// `i < slots` (checked in debug builds).
    #[inline(always)]
    pub(crate) fn offset(&self, r: usize, i: u64) -> usize {
        debug_assert!(r < self.replicas && i < self.slots);
        if self.paired {
            // SAFETY: as below; one entry per chunk of PAIRED_SLOTS slots (`paired` checked the count).
            let e = unsafe { *self.table.add((i >> PAIRED_SLOT_SHIFT) as usize) };
            let frame = (e & !SWAP_BIT) as usize;
            let half = r ^ (e >> 31) as usize;
            // Slot w's byte in one half (2 KiB), with the split bit (`channel_offset`) opened
            // up in it: the bits below stay, the bits above move up by one.
            let at = ((i & (PAIRED_SLOTS as u64 - 1)) as usize) * SLOT_BYTES;
            let low = self.channel_offset - 1;
            return (frame << FRAME_SHIFT) | ((at & !low) << 1) | (half * self.channel_offset) | (at & low);
        }
        if !self.table.is_null() {
            let index = (((i >> FRAME_SLOT_SHIFT) as usize) << self.replica_shift) | r;
            debug_assert!(self.frames.as_ref().is_some_and(|t| index < t.entries));
            // SAFETY: for r < replicas and i < slots (the caller's guarantee) the index is below
            // the table's entries (`framed` checked the table has a chunk for every slot), and
            // `table` points at the first entry of the table `frames` keeps alive, never written
            // after it was built.
            let frame = unsafe { *self.table.add(index) } as usize;
            return (frame << FRAME_SHIFT) | (((i & self.mask) as usize) * SLOT_BYTES);
        }
        r * self.channel_offset + ((i >> self.shift) as usize) * self.stride + ((i & self.mask) as usize) * SLOT_BYTES
    }

    #[inline(always)]
    pub(crate) fn check_slot(&self, i: u64) -> Result<()> {
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
    fn copy0_words_finds_the_same_word_as_offset() {
        for replicas in MIN_REPLICAS..=MAX_REPLICAS {
            for channel_offset in [64usize, 256, 4096, 65536] {
                for slots in [1u64, 7, 8, 33, 1000, 4097, 100_000] {
                    let l = Layout::new(slots, replicas, channel_offset).unwrap();
                    let (shift, mask, stride) = l.copy0_words().unwrap();
                    for i in (0..slots).step_by(3).chain([slots - 1]) {
                        let word = ((i >> shift) as usize) * stride + (i & mask) as usize;
                        assert_eq!(word * SLOT_BYTES, l.offset(0, i), "slot {i} of {slots} x {replicas} at {channel_offset} B");
                        assert!((word + 1) * SLOT_BYTES <= l.span());
                    }
                }
            }
        }
    }

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

    /// A scrambled table: chunk k of replica r in frame (k·R + r)·7919 mod a prime-ish span, so
    /// frames are neither in order nor contiguous, and some frames are left unused.
    fn scrambled(chunks: u64, replicas: usize) -> Arc<FrameTable> {
        let n = chunks * replicas as u64;
        let span = (n * 5 / 4 + 3) | 1;
        // 7919 is prime and ≠ any factor of an odd span below 7919², so k ↦ k·7919 mod span is a
        // bijection when gcd(7919, span) = 1; pick a span coprime to it.
        let span = if span % 7919 == 0 { span + 2 } else { span };
        Arc::new(FrameTable::build(chunks, replicas, |k, r| (k * replicas as u64 + r as u64) * 7919 % span).unwrap())
    }

    #[test]
    fn framed_offsets_follow_the_table_for_every_replica_count() {
        for replicas in MIN_REPLICAS..=MAX_REPLICAS {
            for slots in [1u64, 511, 512, 513, 5000] {
                let chunks = slots.div_ceil(512);
                let t = scrambled(chunks, replicas);
                let l = Layout::framed(slots, replicas, t.clone()).unwrap();
                assert_eq!(l.channel_offset(), FRAME_BYTES);
                assert!(l.chunk_capacity() >= slots);
                let mut seen = HashSet::new();
                for i in 0..slots {
                    for r in 0..replicas {
                        let off = l.offset(r, i);
                        assert_eq!(off, (t.frame(i / 512, r) as usize) * 4096 + (i % 512) as usize * 8, "R{replicas} r{r} i{i}");
                        assert!(off + SLOT_BYTES <= l.span());
                        assert!(seen.insert(off));
                    }
                }
                assert_eq!(t.entries().len(), chunks as usize * replicas);
            }
        }
    }

    #[test]
    fn frame_tables_refuse_a_frame_twice_and_a_mismatched_shape() {
        let e = FrameTable::build(4, 2, |k, r| if k == 3 && r == 1 { 0 } else { k * 2 + r as u64 }).unwrap_err();
        assert!(matches!(e, Error::BadOption { option: "frames", .. }), "{e:?}");
        assert!(FrameTable::build(4, 2, |_, _| 1 << 33).is_err());
        assert!(FrameTable::build(4, 9, |k, r| k * 9 + r as u64).is_err());
        let t = Arc::new(FrameTable::build(2, 2, |k, r| k * 2 + r as u64).unwrap());
        assert!(Layout::framed(2000, 2, t.clone()).is_err(), "2000 slots need 4 chunks");
        assert!(Layout::framed(1000, 3, t.clone()).is_err());
        assert!(Layout::framed(1000, 2, t).is_ok());
    }

    #[test]
    fn frame_tables_round_trip_through_bytes_and_bad_bytes_are_refused() {
        for replicas in MIN_REPLICAS..=MAX_REPLICAS {
            let t = scrambled(7, replicas);
            let bytes = t.to_bytes().unwrap();
            assert_eq!(bytes.len(), 7 * replicas * 4);
            let back = FrameTable::from_bytes(7, replicas, t.frames_spanned(), &bytes).unwrap();
            assert_eq!(back, *t);
            assert_eq!(back.frames_spanned(), t.frames_spanned());
        }
        let t = FrameTable::build(3, 2, |k, r| k * 2 + r as u64).unwrap();
        let bytes = t.to_bytes().unwrap();
        assert_eq!(&bytes[..8], &[0, 0, 0, 0, 1, 0, 0, 0], "little-endian u32 entries, replicas side by side");
        let e = FrameTable::from_bytes(3, 2, 6, &bytes[..20]).unwrap_err().to_string();
        assert!(e.contains("is 24 bytes, not 20"), "{e}");
        let e = FrameTable::from_bytes(3, 2, 5, &bytes).unwrap_err().to_string();
        assert!(e.contains("entry 5 (chunk 2, replica 1) names frame 5, outside the 5 frames"), "{e}");
        let mut twice = bytes.clone();
        twice[4] = 0;
        let e = FrameTable::from_bytes(3, 2, 6, &twice).unwrap_err().to_string();
        assert!(e.contains("named twice"), "{e}");
        let p = FrameTable::build_paired(2, |k| (k, false)).unwrap();
        assert!(p.to_bytes().unwrap_err().to_string().contains("paired"));
    }

    #[test]
    fn paired_copies_sit_either_side_of_the_split_bit_and_the_swap_picks_copy_0() {
        for bit in 6..FRAME_SHIFT {
            let split = 1usize << bit;
            for slots in [1u64, 255, 256, 257, 3000] {
                let chunks = slots.div_ceil(PAIRED_SLOTS as u64);
                let span = chunks * 3 / 2 + 1;
                let frame = |k: u64| (k * 7 + 1) % span;
                let t = Arc::new(FrameTable::build_paired(chunks, |k| (frame(k), k % 3 == 1)).unwrap());
                assert!(t.paired() && Layout::framed(slots, 2, t.clone()).is_err());
                let l = Layout::paired(slots, bit, t.clone()).unwrap();
                assert_eq!(l.channel_offset(), split);
                let mut seen = HashSet::new();
                for i in 0..slots {
                    let (a, b) = (l.offset(0, i), l.offset(1, i));
                    let k = i / PAIRED_SLOTS as u64;
                    assert_eq!(a / FRAME_BYTES, frame(k) as usize);
                    assert_eq!(a ^ b, split, "bit {bit}, slot {i}: copies differ in the split bit alone");
                    assert_eq!(a & split != 0, t.swapped(k), "bit {bit}, slot {i}: copy 0 above the split exactly when swapped");
                    assert!(a % 8 == 0 && a + 8 <= l.span() && b + 8 <= l.span());
                    assert!(seen.insert(a) && seen.insert(b));
                }
                if bit == 6 {
                    // Consecutive slots fill a line, then the next pair of lines.
                    // (Chunk 0 is not swapped: k % 3 == 1 swaps.)
                    let want = if slots > 7 { 56 } else { 0 };
                    assert_eq!(l.offset(0, 7.min(slots - 1)) % FRAME_BYTES, want);
                }
            }
        }
        let t = Arc::new(FrameTable::build_paired(1, |_| (0, false)).unwrap());
        for bit in [5, 12] {
            assert!(Layout::paired(10, bit, t.clone()).is_err(), "bit {bit}");
        }
        assert!(FrameTable::build_paired(3, |_| (5, false)).is_err(), "one frame for two chunks");
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
