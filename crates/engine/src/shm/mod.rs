//! Named shared slabs: one segment file that several processes map, each with its own replicas.
//!
//! Owns segment names, where segment files live (a hugetlbfs mount when /proc/mounts lists one,
//! else /dev/shm), the header page at the start of every segment, and create / open / unlink with
//! all their validation. It never reads or writes slot values (that is `slab`'s job), and it never
//! truncates or rewrites a file another process may have mapped: `overwrite` unlinks the old file
//! and creates a new one, so processes that have the old one open keep a valid mapping.
//!
//! A segment is the file `<dir>/ultraslayer.<name>`, mode 0600, created with O_EXCL:
//! - offset 0: the header page (one page of the file's page size: 4 KiB on /dev/shm, the huge page
//!   size on hugetlbfs), holding the little-endian u64 words `W_*` (`header`);
//! - offset `page_size`: the slab, `data_bytes` long (the layout's span rounded up to whole pages).
//!   The slab starts on a (huge) page boundary, so the placement of copies inside a page is the
//!   same as in an anonymous slab;
//! - header version 2 only: at `W_TABLE_OFFSET` (page-aligned, right after the data) the slab's
//!   frame table (`layout::FrameTable::to_bytes`), whose entries index the 4 KiB frames of the
//!   data area (there the data area is the pool placement chose the frames from, which may hold
//!   frames no entry names). Segments without a table (copies laid out by their channel offset)
//!   are still written as version 1, so older builds keep opening them; both versions are read.
//!
//! The creator writes every header word and the table, then the `ready` word last with Release;
//! an opener loads `ready` with Acquire before it trusts any other word or the table. Placement
//! may time lines of the data area between the two (`create_pending`, `Pending::publish`): an
//! opener meanwhile sees an unfinished segment and waits, as for any segment being created (timing
//! only loads, so the data is still zero when it is published). Slot memory is never reused: a new
//! file's pages read as zero (kernel guarantee for tmpfs and hugetlbfs), so the slab is zeroed
//! before `ready` is set.
//!
//! The modules, each using only those listed before it:
//! - `name`: which names are accepted;
//! - `header`: the header format, a pure serialize and parse of its bytes with every check;
//! - `file`: a segment file's identity, and the errors that name it;
//! - `discovery`: where segments live (hugetlbfs mounts, /dev/shm) and which place a new one takes;
//! - `header_page`: the mapped header page, read and written through atomics;
//! - `table`: a framed slab's frame table in the file, written and read back;
//! - `windows`: what stands in for create, open and remove on Windows, which has no segments;
//! - `create`, `open`, `remove`: the three things done with a segment.

// Windows has no segments (see `windows`): the file and mapping code is unix-only, and what it
// shares with the rest (names, header words, `Shape`, `Expect`) goes unused there.
#![cfg_attr(windows, allow(dead_code, unused_imports))]

mod create;
mod discovery;
mod file;
mod header;
mod header_page;
mod name;
#[cfg(unix)]
mod open;
#[cfg(unix)]
mod remove;
#[cfg(unix)]
mod table;
#[cfg(all(test, unix))]
pub(crate) mod tests;
#[cfg(windows)]
mod windows;

pub use create::create;
#[cfg(unix)]
pub use create::{create_pending, Pending};
pub use discovery::SHM_DIR;
#[cfg(unix)]
pub use file::file_id;
pub use header::{
    MAGIC, MAX_SCHEMA_BYTES, TABLE_FRAMED, TABLE_NONE, VERSION, VERSION_NO_TABLE, W_CHANNEL_OFFSET, W_CHECKSUM, W_CREATED_UNIX_MS,
    W_CREATOR_PID, W_DATA_BYTES, W_DATA_OFFSET, W_FILE_BYTES, W_MAGIC, W_PAGE_KIND, W_PAGE_SIZE, W_READY, W_REPLICAS, W_SCHEMA,
    W_SCHEMA_HASH, W_SCHEMA_LEN, W_SLOTS, W_TABLE_BYTES, W_TABLE_CHUNKS, W_TABLE_HASH, W_TABLE_KIND, W_TABLE_OFFSET, W_TABLE_REPLICAS,
    W_VERSION,
};
pub use name::{validate_name, FILE_PREFIX, MAX_NAME_LEN};
#[cfg(unix)]
pub use open::open;
#[cfg(unix)]
pub use remove::{remove_created, unlink};
#[cfg(windows)]
pub use windows::{create_pending, file_id, open, remove_created, unlink, Pending};

use crate::layout::{Layout, FRAME_BYTES, SLOT_BYTES};
use crate::region::{LockRequest, PageRequest};

/// What a segment file lives on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// A hugetlbfs mount: huge pages, never swapped.
    HugeTlbFs,
    /// Any other filesystem; normally the tmpfs at /dev/shm (4 KiB pages).
    Shm,
}

impl Backing {
    /// The name a user sees: "hugetlbfs" or "shm".
    pub fn name(self) -> &'static str {
        match self {
            Backing::HugeTlbFs => "hugetlbfs",
            Backing::Shm => "shm",
        }
    }
}

/// What a process knows about the shared segment behind its slab (for `info`; serialized, the
/// `info().shared` of index.d.ts's `SharedSegmentInfo`).
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedInfo {
    /// The segment's name.
    pub name: String,
    /// The segment file's path.
    pub path: String,
    /// What the file lives on.
    pub backing: Backing,
    /// Bytes of the file's pages.
    pub page_size: usize,
    /// The process that created the segment.
    pub creator_pid: u32,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    /// True in the process that created the segment.
    pub created_here: bool,
    /// Why the segment is not on huge pages, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// For record segments: the schema text the header records (see `records::Schema::text`).
    #[serde(skip)]
    pub schema: Option<String>,
    /// (device, inode) of the file this process mapped, so a later open of `path` can tell
    /// whether it is still the same segment (an `overwrite` replaces the file under the name).
    #[serde(skip)]
    pub file_id: (u64, u64),
}

/// Where and how to create a segment: everything `create` and `create_pending` take besides what
/// the data area is laid out for and the creation's job.
#[derive(Clone, Copy, Debug)]
pub struct NewSegment<'a> {
    /// The segment's name (`validate_name`'s rules).
    pub name: &'a str,
    /// The pages the data area asks for: a hugetlbfs mount of that size, else /dev/shm.
    pub pages: PageRequest,
    /// Lock the mapped data area (mlock), and what to do when that is refused.
    pub lock: LockRequest,
    /// Replace an existing segment of the same name (unlink it, then create anew).
    pub overwrite: bool,
    /// Only this directory, instead of the hugetlbfs mounts and /dev/shm.
    pub dir: Option<&'a std::path::Path>,
    /// A record segment's schema text, recorded in its header.
    pub schema: Option<&'a str>,
}

/// What a new segment's data area is laid out for: slots, replicas and channel offset as the
/// header records them, the bytes the data must span, and whether a frame table will be recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Slots of the slab.
    pub slots: u64,
    /// Copies of every slot.
    pub replicas: usize,
    /// Bytes from one copy's chunk to the next copy's (`FRAME_BYTES` for a framed slab).
    pub channel_offset: usize,
    /// Bytes of data before page rounding (a framed slab: every frame of the pool placement picks from).
    pub span: usize,
    /// Whether the copies are laid out by a frame table, which the segment then records.
    pub framed: bool,
}

impl Shape {
    /// The shape of `layout` as it is (a framed layout: the frames its table spans).
    pub fn of(layout: &Layout) -> Shape {
        Shape {
            slots: layout.slots(),
            replicas: layout.replicas(),
            channel_offset: layout.channel_offset(),
            span: layout.span(),
            framed: layout.frames().is_some(),
        }
    }

    /// A framed slab of `slots` x `replicas` whose frames will be chosen from a pool of `frames`.
    pub fn framed(slots: u64, replicas: usize, frames: usize) -> Shape {
        Shape { slots, replicas, channel_offset: FRAME_BYTES, span: frames * FRAME_BYTES, framed: true }
    }

    fn table_chunks(&self) -> u64 {
        if self.framed {
            self.slots.div_ceil((FRAME_BYTES / SLOT_BYTES) as u64)
        } else {
            0
        }
    }

    /// Bytes of the frame table (0 without one).
    fn table_bytes(&self) -> usize {
        self.table_chunks() as usize * self.replicas * 4
    }
}

/// What `open` expects of a segment's layout (None: whatever it has).
#[derive(Clone, Copy, Debug, Default)]
pub struct Expect {
    /// Slots the segment must have.
    pub slots: Option<u64>,
    /// Replicas the segment must have.
    pub replicas: Option<usize>,
    /// Channel offset the segment must have.
    pub channel_offset: Option<usize>,
    /// A record segment (one whose header records a schema) rather than a plain slab of slots.
    /// Either kind refuses to open as the other.
    pub records: bool,
}
