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
//!   size on hugetlbfs), holding the little-endian u64 words `W_*` below;
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

// Windows has no segments (see `unsupported`): the file and mapping code below is unix-only, and
// what it shares with the rest (names, header words, `Shape`, `Expect`) goes unused there.
#![cfg_attr(windows, allow(dead_code, unused_imports))]

use std::fs::{File, OpenOptions, Permissions};
#[cfg(unix)]
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
#[cfg(unix)]
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result, Segment};
use crate::job::{Job, Phase};
use crate::layout::{FrameTable, Layout, FRAME_BYTES, SLOT_BYTES};
use crate::region::{LockRequest, PageKind, PageRequest, Region, AUTO_1G_THRESHOLD, PAGE_1G, PAGE_2M, PAGE_4K};

/// Longest name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 200;
/// Segment files are `FILE_PREFIX` + name, so a foreign file is never taken for a segment by name.
pub const FILE_PREFIX: &str = "ultraslayer.";
/// Where segments live when no hugetlbfs mount is used.
pub const SHM_DIR: &str = "/dev/shm";

/// "USLAYSHM" read as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"USLAYSHM");
/// The newest header format this build writes and reads: version 2 records a frame table.
pub const VERSION: u64 = 2;
/// The header format of segments without a frame table (written for them, so older builds open them).
pub const VERSION_NO_TABLE: u64 = 1;
/// The value of the `ready` word once the segment is complete ("READY!!!").
const READY: u64 = u64::from_le_bytes(*b"READY!!!");

const HUGETLBFS_MAGIC: u64 = 0x9584_58f6;

// Header words (index of each u64 in the header page).
pub const W_MAGIC: usize = 0;
pub const W_VERSION: usize = 1;
pub const W_SLOTS: usize = 2;
pub const W_REPLICAS: usize = 3;
pub const W_CHANNEL_OFFSET: usize = 4;
/// 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB pages.
pub const W_PAGE_KIND: usize = 5;
pub const W_PAGE_SIZE: usize = 6;
pub const W_DATA_OFFSET: usize = 7;
pub const W_DATA_BYTES: usize = 8;
pub const W_FILE_BYTES: usize = 9;
pub const W_CREATOR_PID: usize = 10;
pub const W_CREATED_UNIX_MS: usize = 11;
/// Checksum of words `0..W_CHECKSUM`.
pub const W_CHECKSUM: usize = 12;
/// `READY` once everything else is written; 0 before.
pub const W_READY: usize = 13;
/// Record segments (`records`): the byte length of the schema text (0 for a plain slab of slots,
/// which is what every segment written before records existed has here: the page was zero).
pub const W_SCHEMA_LEN: usize = 14;
/// FNV-1a of the schema text's bytes.
pub const W_SCHEMA_HASH: usize = 15;
/// First word of the schema text (UTF-8, zero-padded to whole words).
pub const W_SCHEMA: usize = 16;
/// Longest schema text a header holds.
pub const MAX_SCHEMA_BYTES: usize = 1024;
/// Version 2: how the copies are laid out, `TABLE_NONE` or `TABLE_FRAMED`. This word and the
/// five after it are covered by the header checksum of a version 2 header.
pub const W_TABLE_KIND: usize = W_SCHEMA + MAX_SCHEMA_BYTES / 8;
/// Version 2: byte offset of the frame table in the file (page-aligned, `W_DATA_OFFSET + W_DATA_BYTES`).
pub const W_TABLE_OFFSET: usize = W_TABLE_KIND + 1;
/// Version 2: bytes of the table (4 per entry; the file holds it rounded up to whole pages).
pub const W_TABLE_BYTES: usize = W_TABLE_KIND + 2;
/// Version 2: the table's chunks and replicas.
pub const W_TABLE_CHUNKS: usize = W_TABLE_KIND + 3;
pub const W_TABLE_REPLICAS: usize = W_TABLE_KIND + 4;
/// Version 2: FNV-1a of the table's bytes.
pub const W_TABLE_HASH: usize = W_TABLE_KIND + 5;
const TABLE_WORDS: usize = 6;
const LAST_WORD: usize = W_TABLE_HASH;
/// `W_TABLE_KIND`: copies laid out by the channel offset.
pub const TABLE_NONE: u64 = 0;
/// `W_TABLE_KIND`: a framed table (`Layout::framed`).
pub const TABLE_FRAMED: u64 = 1;

/// What a segment file lives on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// A hugetlbfs mount: huge pages, never swapped.
    HugeTlbFs,
    /// Any other filesystem; normally the tmpfs at /dev/shm (4 KiB pages).
    Shm,
}

impl Backing {
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
    pub name: String,
    pub path: String,
    pub backing: Backing,
    pub page_size: usize,
    pub creator_pid: u32,
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

/// Checks a segment name: 1..=`MAX_NAME_LEN` bytes of `A-Z a-z 0-9 . _ -`, not starting with
/// '.', no "..". (So no '/', no NUL, nothing a shell or a path could misread.)
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |what: String| {
        let message = format!("{what}: use 1 to {MAX_NAME_LEN} characters from A-Z a-z 0-9 . _ - (not starting with '.')");
        Err(Error::BadSegmentName { name: name.chars().take(64).collect(), message })
    };
    if name.is_empty() {
        return bad("is empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return bad(format!("is {} bytes long, over the limit of {MAX_NAME_LEN}", name.len()));
    }
    if let Some((k, c)) = name.char_indices().find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return bad(format!("contains {c:?} at byte {k}"));
    }
    if name.starts_with('.') {
        return bad("starts with '.'".into());
    }
    if name.contains("..") {
        return bad("contains '..'".into());
    }
    Ok(())
}

/// A directory segments can live in.
#[derive(Clone, Debug)]
struct Place {
    dir: PathBuf,
    backing: Backing,
    page_size: usize,
}

impl Place {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{FILE_PREFIX}{name}"))
    }
}

fn page_kind_of(backing: Backing, page_size: usize) -> Option<PageKind> {
    match (backing, page_size) {
        (Backing::Shm, _) => Some(PageKind::Base),
        (Backing::HugeTlbFs, PAGE_2M) => Some(PageKind::Huge2M),
        (Backing::HugeTlbFs, PAGE_1G) => Some(PageKind::Huge1G),
        _ => None,
    }
}

fn page_kind_code(kind: PageKind) -> u64 {
    match kind {
        PageKind::Huge2M => 2,
        PageKind::Huge1G => 3,
        _ => 1,
    }
}

/// (backing, page size) of the filesystem holding `path` (a directory or an open file's fd).
#[cfg(unix)]
fn fs_of_path(path: &Path) -> Option<(Backing, usize)> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: an all-zero statfs is a valid out-buffer; `c` is NUL-terminated and outlives the call.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above; statfs writes only into `st`.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(classify(&st))
}

#[cfg(unix)]
fn fs_of_fd(fd: i32) -> Option<(Backing, usize)> {
    // SAFETY: an all-zero statfs is a valid out-buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is an open descriptor owned by the caller; fstatfs writes only into `st`.
    if unsafe { libc::fstatfs(fd, &mut st) } != 0 {
        return None;
    }
    Some(classify(&st))
}

#[cfg(unix)]
fn classify(st: &libc::statfs) -> (Backing, usize) {
    if st.f_type as u64 == HUGETLBFS_MAGIC {
        (Backing::HugeTlbFs, st.f_bsize as usize)
    } else {
        (Backing::Shm, PAGE_4K)
    }
}

/// Mount points of type hugetlbfs in /proc/mounts (octal escapes decoded).
fn hugetlbfs_mounts() -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string("/proc/mounts") else { return Vec::new() };
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (_dev, dir, fstype) = (f.next()?, f.next()?, f.next()?);
            (fstype == "hugetlbfs").then(|| PathBuf::from(unescape_mount(dir)))
        })
        .collect()
}

/// /proc/mounts writes space, tab, newline and backslash in paths as `\ooo`.
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut k = 0;
    while k < b.len() {
        if b[k] == b'\\' && k + 4 <= b.len() && b[k + 1..k + 4].iter().all(|d| (b'0'..=b'7').contains(d)) {
            out.push((b[k + 1] - b'0') * 64 + (b[k + 2] - b'0') * 8 + (b[k + 3] - b'0'));
            k += 4;
        } else {
            out.push(b[k]);
            k += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every place a segment may live, hugetlbfs mounts first. With `dir`, only that directory.
#[cfg(unix)]
fn places(dir: Option<&Path>) -> Vec<Place> {
    if let Some(dir) = dir {
        let (backing, page_size) = fs_of_path(dir).unwrap_or((Backing::Shm, PAGE_4K));
        return vec![Place { dir: dir.to_path_buf(), backing, page_size }];
    }
    let mut out: Vec<Place> = hugetlbfs_mounts()
        .into_iter()
        .filter_map(|dir| match fs_of_path(&dir) {
            Some((Backing::HugeTlbFs, page_size)) if page_kind_of(Backing::HugeTlbFs, page_size).is_some() => {
                Some(Place { dir, backing: Backing::HugeTlbFs, page_size })
            }
            _ => None,
        })
        .collect();
    out.push(Place { dir: PathBuf::from(SHM_DIR), backing: Backing::Shm, page_size: PAGE_4K });
    out
}

/// Where an existing segment of this name is, if anywhere.
#[cfg(unix)]
fn find(name: &str, places: &[Place]) -> Option<(Place, PathBuf)> {
    places.iter().find_map(|p| {
        let path = p.path(name);
        std::fs::symlink_metadata(&path).ok().map(|_| (p.clone(), path))
    })
}

fn io_err(path: &Path, op: &'static str, e: &std::io::Error) -> Error {
    Error::SegmentIo { path: path.display().to_string(), op, errno: e.raw_os_error().unwrap_or(libc::EIO) }
}

fn invalid(path: &Path, message: impl Into<String>) -> Error {
    Error::SegmentInvalid { path: path.display().to_string(), message: message.into(), of: Segment::Slab }
}

/// Checksum of the header words before `W_CHECKSUM` (FNV-1a over their bytes, 64-bit).
fn checksum(words: &[u64]) -> u64 {
    fnv1a(words.iter().flat_map(|w| w.to_le_bytes()))
}

/// The checksum a header of this version carries: version 2 covers the table words too.
fn header_checksum(words: &[u64; W_CHECKSUM], table: &[u64; TABLE_WORDS]) -> u64 {
    if words[W_VERSION] == VERSION_NO_TABLE {
        checksum(words)
    } else {
        checksum(&[&words[..], &table[..]].concat())
    }
}

/// FNV-1a, 64-bit.
fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The header page of a mapped segment, read and written only through 8-byte atomics.
struct HeaderPage {
    region: Region,
}

impl HeaderPage {
    fn map(fd: i32, kind: PageKind, page_size: usize) -> Result<HeaderPage> {
        Ok(HeaderPage { region: Region::map_file(fd, 0, page_size, kind, page_size, LockRequest::Off, Vec::new(), &Job::none())? })
    }

    fn word(&self, w: usize) -> &AtomicU64 {
        debug_assert!(w <= LAST_WORD);
        // SAFETY: the region is at least one page (≥ 4096 bytes) and page-aligned, and callers pass
        // w ≤ LAST_WORD (149, byte 1199), so the word is in bounds and 8-aligned. Every process touches header words only through
        // atomics, so a shared reference to an AtomicU64 there is sound.
        unsafe { &*(self.region.ptr().add(w * 8) as *const AtomicU64) }
    }

    /// Relaxed: every header word is published by the Release store of `W_READY` (in `create`)
    /// and read only after the Acquire load of it (`ready`), except the creator pid and magic,
    /// which `open` reads early only to word an error.
    fn get(&self, w: usize) -> u64 {
        self.word(w).load(Ordering::Relaxed)
    }
    fn set(&self, w: usize, v: u64) {
        self.word(w).store(v, Ordering::Relaxed)
    }
    /// Acquire: pairs with the Release store of `READY` in `create`, so every header word (and
    /// the zeroed slab) written before it is visible once this returns `READY`.
    fn ready(&self) -> u64 {
        self.word(W_READY).load(Ordering::Acquire)
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(unix)]
fn pid_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes a file this call created if the call fails before disarming, unless (once `id` is
/// known) the path has meanwhile become another file (another process's `overwrite`).
#[cfg(unix)]
struct RemoveOnError {
    path: PathBuf,
    armed: bool,
    /// (device, inode) of the file created.
    id: Option<(u64, u64)>,
}

#[cfg(unix)]
impl Drop for RemoveOnError {
    fn drop(&mut self) {
        let ours = || match (self.id, std::fs::symlink_metadata(&self.path)) {
            (None, _) => true,
            (Some(id), Ok(m)) => (m.dev(), m.ino()) == id,
            (Some(_), Err(_)) => false,
        };
        if self.armed && ours() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What a new segment's data area is laid out for: slots, replicas and channel offset as the
/// header records them, the bytes the data must span, and whether a frame table will be recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub slots: u64,
    pub replicas: usize,
    pub channel_offset: usize,
    /// Bytes of data before page rounding (a framed slab: every frame of the pool placement picks from).
    pub span: usize,
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

/// Creates segment `name` for `layout` and maps its slab (`create_pending`, then `publish` at
/// once). A framed layout's table is recorded in the segment. Reports to `job` (`Phase::Map`: the
/// file's bytes allocated; `Phase::Prefault`; `Job::none()` for nobody) and stops with
/// `Error::Cancelled` between chunks once it is cancelled, with the file this call created removed
/// and nothing mapped (with `overwrite`, the segment it replaced is gone too).
#[allow(clippy::too_many_arguments)]
pub fn create(
    name: &str,
    layout: Layout,
    pages: PageRequest,
    lock: LockRequest,
    overwrite: bool,
    dir: Option<&Path>,
    schema: Option<&str>,
    job: &Job,
) -> Result<(Region, SharedInfo)> {
    let (region, pending) = create_pending(name, Shape::of(&layout), pages, lock, overwrite, dir, schema, job)?;
    let info = pending.publish(&layout)?;
    Ok((region, info))
}

/// `create_pending`, reporting to `job` and cancellable as `create_with` is.
#[allow(clippy::too_many_arguments)]
#[cfg(unix)]
pub fn create_pending(
    name: &str,
    shape: Shape,
    pages: PageRequest,
    lock: LockRequest,
    overwrite: bool,
    dir: Option<&Path>,
    schema: Option<&str>,
    job: &Job,
) -> Result<(Region, Pending)> {
    validate_name(name)?;
    job.check()?;
    if let Some(s) = schema.filter(|s| s.is_empty() || s.len() > MAX_SCHEMA_BYTES) {
        return Err(Error::option_range(
            "fields",
            format!("the schema text is {} bytes; a segment header holds 1 to {MAX_SCHEMA_BYTES}", s.len()),
        ));
    }
    if schema.is_some() && shape.framed {
        return Err(Error::bad_option("fields", "record segments are laid out by offset, never by a frame table"));
    }
    let all = places(dir);
    if overwrite {
        for p in &all {
            match std::fs::remove_file(p.path(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&p.path(name), "unlink (overwrite)", &e)),
            }
        }
    } else if let Some((_, path)) = find(name, &all) {
        return Err(Error::SegmentExists { name: name.into(), path: path.display().to_string(), of: Segment::Slab });
    }

    let huge = |size: usize| all.iter().filter(move |p| p.backing == Backing::HugeTlbFs && p.page_size == size).cloned();
    let shm = all.iter().filter(|p| p.backing == Backing::Shm).cloned();
    let mut notes: Vec<String> = Vec::new();
    let candidates: Vec<Place> = match pages {
        PageRequest::Transparent => {
            return Err(Error::option_range(
                "hugePages",
                "'thp' does not apply to shared slabs: use ⟦set:hugePages=auto⟧, ⟦set:hugePages=2m⟧, ⟦set:hugePages=1g⟧ (hugetlbfs) or ⟦set:hugePages=off⟧ (/dev/shm)",
            ))
        }
        PageRequest::Off => shm.collect(),
        PageRequest::Huge2M | PageRequest::Huge1G => {
            let size = if pages == PageRequest::Huge2M { PAGE_2M } else { PAGE_1G };
            let c: Vec<Place> = huge(size).collect();
            if c.is_empty() {
                return Err(Error::HugePages { message: no_mount_message(size, dir) });
            }
            c
        }
        PageRequest::Auto => {
            let mut c: Vec<Place> = Vec::new();
            if shape.span >= AUTO_1G_THRESHOLD {
                c.extend(huge(PAGE_1G));
            }
            c.extend(huge(PAGE_2M));
            if c.is_empty() {
                notes.push(if all.iter().any(|p| p.backing == Backing::HugeTlbFs) {
                    "hugetlbfs: no mount with a page size that suits this slab; used /dev/shm (4 KiB pages)".to_string()
                } else {
                    format!("hugetlbfs: {}; used {} (4 KiB pages)", no_mount_message(PAGE_2M, dir), shm_dir_name(&all))
                });
            }
            c.extend(shm);
            c
        }
    };

    let mut last = None;
    for place in &candidates {
        match create_in(place, name, shape, lock, notes.clone(), schema, job) {
            Ok((region, mut pending)) => {
                pending.info.note = (!notes.is_empty()).then(|| notes.join("; "));
                return Ok((region, pending));
            }
            // Another process created it between our check and O_EXCL: never fall through. A
            // cancel stops here too (the file this attempt made is already removed).
            Err(e @ (Error::SegmentExists { .. } | Error::Cancelled { .. })) => return Err(e),
            Err(e) => {
                notes.push(format!("{}: {e}", place.dir.display()));
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| Error::HugePages { message: "no place to create a shared slab".into() }))
}

fn shm_dir_name(all: &[Place]) -> String {
    all.iter().find(|p| p.backing == Backing::Shm).map_or(SHM_DIR.into(), |p| p.dir.display().to_string())
}

fn no_mount_message(size: usize, dir: Option<&Path>) -> String {
    let (label, opt) = if size == PAGE_1G { ("1 GiB", "1G") } else { ("2 MiB", "2M") };
    match dir {
        Some(d) => format!("{} is not a hugetlbfs mount with {label} pages", d.display()),
        None => format!(
            "no hugetlbfs mount with {label} pages in /proc/mounts (as root: mkdir -p /dev/hugepages-{opt} && \
             mount -t hugetlbfs -o pagesize={opt} none /dev/hugepages-{opt}, and reserve pages with \
             vm.nr_hugepages)"
        ),
    }
}

/// A segment created but not yet ready: its file exists, sized, with its creator pid in the
/// header and its data area mapped (zero), so placement can time lines there. `publish` records
/// the layout (and its frame table) and marks it ready; dropping it unpublished removes the file.
#[cfg(unix)]
pub struct Pending {
    guard: RemoveOnError,
    file: File,
    header: HeaderPage,
    kind: PageKind,
    page: usize,
    shape: Shape,
    data_bytes: usize,
    schema: Option<String>,
    info: SharedInfo,
}

#[cfg(unix)]
impl Pending {
    /// Records `layout` (which must be of the shape the segment was created for; a framed one's
    /// table naming only frames of the data area) and its frame table, then marks the segment
    /// ready. An error leaves the segment unpublished (and removes it).
    pub fn publish(mut self, layout: &Layout) -> Result<SharedInfo> {
        let path = self.guard.path.clone();
        let s = self.shape;
        if (layout.slots(), layout.replicas(), layout.channel_offset(), layout.frames().is_some())
            != (s.slots, s.replicas, s.channel_offset, s.framed)
            || layout.span() > self.data_bytes
        {
            return Err(invalid(
                &path,
                format!(
                    "the layout to record ({} slots x {} replicas at {} B, {} bytes{}) is not the one the segment was made for",
                    layout.slots(),
                    layout.replicas(),
                    layout.channel_offset(),
                    layout.span(),
                    if layout.frames().is_some() { ", framed" } else { "" }
                ),
            ));
        }
        let page = self.page;
        let table_offset = page + self.data_bytes;
        let mut table_words = [0u64; TABLE_WORDS];
        if let Some(t) = layout.frames() {
            let bytes = t.to_bytes()?;
            debug_assert_eq!(bytes.len(), s.table_bytes());
            let area = Region::map_file(
                self.file.as_raw_fd(),
                table_offset,
                bytes.len().div_ceil(page) * page,
                self.kind,
                page,
                LockRequest::Off,
                Vec::new(),
                &Job::none(),
            )?;
            // SAFETY: the area is a fresh shared mapping of this file's table pages, at least
            // `bytes.len()` long; no opener reads it before the Release store of `ready` below
            // (and none maps it before then: `open` waits for ready first).
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), area.ptr(), bytes.len()) };
            table_words =
                [TABLE_FRAMED, table_offset as u64, bytes.len() as u64, t.chunks(), s.replicas as u64, fnv1a(bytes.iter().copied())];
        }
        let pid = std::process::id() as u64;
        let mut words = [0u64; W_CHECKSUM];
        words[W_MAGIC] = MAGIC;
        words[W_VERSION] = if s.framed { VERSION } else { VERSION_NO_TABLE };
        words[W_SLOTS] = s.slots;
        words[W_REPLICAS] = s.replicas as u64;
        words[W_CHANNEL_OFFSET] = s.channel_offset as u64;
        words[W_PAGE_KIND] = page_kind_code(self.kind);
        words[W_PAGE_SIZE] = page as u64;
        words[W_DATA_OFFSET] = page as u64;
        words[W_DATA_BYTES] = self.data_bytes as u64;
        words[W_FILE_BYTES] = self.file_len() as u64;
        words[W_CREATOR_PID] = pid;
        words[W_CREATED_UNIX_MS] = self.info.created_unix_ms;
        for (w, &v) in words.iter().enumerate() {
            self.header.set(w, v);
        }
        if s.framed {
            for (k, &v) in table_words.iter().enumerate() {
                self.header.set(W_TABLE_KIND + k, v);
            }
        }
        self.header.set(W_CHECKSUM, header_checksum(&words, &table_words));
        if let Some(text) = &self.schema {
            for (k, chunk) in text.as_bytes().chunks(8).enumerate() {
                let mut b = [0u8; 8];
                b[..chunk.len()].copy_from_slice(chunk);
                self.header.set(W_SCHEMA + k, u64::from_le_bytes(b));
            }
            self.header.set(W_SCHEMA_HASH, fnv1a(text.bytes()));
            self.header.set(W_SCHEMA_LEN, text.len() as u64);
        }
        // Release: pairs with the Acquire load in `HeaderPage::ready` (every opener), publishing the
        // header words and the table above and the zero-filled, pre-faulted slab.
        self.header.word(W_READY).store(READY, Ordering::Release);
        self.guard.armed = false;
        Ok(self.info.clone())
    }

    /// The file's length: header page, data, and the table's pages.
    fn file_len(&self) -> usize {
        file_bytes(self.page, self.data_bytes, self.shape.table_bytes())
    }

    /// The segment's path (for messages).
    pub fn path(&self) -> &Path {
        &self.guard.path
    }
}

/// Header page + data + the table rounded up to whole pages.
fn file_bytes(page: usize, data_bytes: usize, table_bytes: usize) -> usize {
    page + data_bytes + table_bytes.div_ceil(page) * page
}

#[cfg(unix)]
fn create_in(
    place: &Place,
    name: &str,
    shape: Shape,
    lock: LockRequest,
    fallbacks: Vec<String>,
    schema: Option<&str>,
    job: &Job,
) -> Result<(Region, Pending)> {
    let path = place.path(name);
    let kind = page_kind_of(place.backing, place.page_size).expect("places() keeps only supported page sizes");
    let page = place.page_size;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true) // O_CREAT | O_EXCL: never clobbers, never follows a planted symlink
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::SegmentExists { name: name.into(), path: path.display().to_string(), of: Segment::Slab }
            } else {
                io_err(&path, "create", &e)
            }
        })?;
    let mut guard = RemoveOnError { path: path.clone(), armed: true, id: None };
    // The umask may have taken bits from 0600; set exactly 0600 (owner read/write only).
    file.set_permissions(Permissions::from_mode(0o600)).map_err(|e| io_err(&path, "chmod 0600", &e))?;

    let data_bytes = shape.span.div_ceil(page) * page;
    // From here on, an error or a cancel drops `guard`, which removes the file.
    allocate(&file, &path, file_bytes(page, data_bytes, shape.table_bytes()), page, job)?;
    let fd = file.as_raw_fd();
    let header = HeaderPage::map(fd, kind, page)?;
    let region = Region::map_file(fd, page, data_bytes, kind, page, lock, fallbacks, job)?;

    let pid = std::process::id();
    // The pid first, so an opener that finds the segment unfinished can say whose it is.
    header.set(W_CREATOR_PID, pid as u64);
    let info = SharedInfo {
        name: name.into(),
        path: path.display().to_string(),
        backing: place.backing,
        page_size: page,
        creator_pid: pid,
        created_unix_ms: unix_ms(),
        created_here: true,
        note: None,
        schema: schema.map(str::to_string),
        file_id: file_id(&file, &path)?,
    };
    guard.id = Some(info.file_id);
    let pending = Pending { guard, file, header, kind, page, shape, data_bytes, schema: schema.map(str::to_string), info };
    Ok((region, pending))
}

/// (device, inode) of an open segment file.
#[cfg(unix)]
pub fn file_id(file: &File, path: &Path) -> Result<(u64, u64)> {
    let m = file.metadata().map_err(|e| io_err(path, "stat", &e))?;
    Ok((m.dev(), m.ino()))
}

/// Bytes of file allocated between two looks at the job (tens of milliseconds on /dev/shm).
const ALLOCATE_CHUNK: usize = 64 << 20;

/// Gives the file `len` bytes of real backing now, so running out of memory is an error here
/// rather than a SIGBUS later: `ALLOCATE_CHUNK` (whole pages of `page`) at a time, reporting
/// `Phase::Map` to `job` and stopping with `Error::Cancelled` between chunks.
#[cfg(unix)]
fn allocate(file: &File, path: &Path, len: usize, page: usize, job: &Job) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        let chunk = ALLOCATE_CHUNK.next_multiple_of(page);
        let r = crate::job::chunked(job, Phase::Map, len, chunk, |off, n| {
            // SAFETY: fallocate on a descriptor we own; it only allocates and zero-fills file blocks.
            let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, off as libc::off_t, n as libc::off_t) };
            if rc == 0 {
                Ok(())
            } else {
                Err(Error::SegmentIo { path: path.display().to_string(), op: "allocate space for", errno: crate::error::last_errno() })
            }
        });
        match r {
            Err(Error::SegmentIo { errno: libc::EOPNOTSUPP, .. }) => {}
            other => return other,
        }
    }
    job.check()?;
    file.set_len(len as u64).map_err(|e| io_err(path, "size", &e))?;
    job.finish(Phase::Map, len as u64);
    Ok(())
}

/// What `open` expects of a segment's layout (None: whatever it has).
#[derive(Clone, Copy, Debug, Default)]
pub struct Expect {
    pub slots: Option<u64>,
    pub replicas: Option<usize>,
    pub channel_offset: Option<usize>,
    /// A record segment (one whose header records a schema) rather than a plain slab of slots.
    /// Either kind refuses to open as the other.
    pub records: bool,
}

/// Opens segment `name`, validates its header against the file, and maps its slab.
///
/// Waits up to `wait` for a segment that another process is still creating. A missing,
/// truncated, foreign, wrong-version, corrupt or mismatched segment is an error, never a mapping.
#[cfg(unix)]
pub fn open(name: &str, lock: LockRequest, expect: Expect, wait: Duration, dir: Option<&Path>) -> Result<(Region, Layout, SharedInfo)> {
    validate_name(name)?;
    let all = places(dir);
    let Some((place, path)) = find(name, &all) else {
        return Err(Error::SegmentMissing {
            name: name.into(),
            searched: all.iter().map(|p| p.dir.display().to_string()).collect(),
            of: Segment::Slab,
        });
    };
    let file =
        OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOFOLLOW).open(&path).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => {
                Error::SegmentMissing { name: name.into(), searched: vec![place.dir.display().to_string()], of: Segment::Slab }
            }
            Some(libc::ELOOP) => invalid(&path, "it is a symbolic link, and segments never are"),
            _ => io_err(&path, "open", &e),
        })?;
    let fd = file.as_raw_fd();
    let (backing, page) = fs_of_fd(fd).unwrap_or((place.backing, place.page_size));
    let Some(kind) = page_kind_of(backing, page) else {
        return Err(invalid(&path, format!("it lives on {page}-byte huge pages, which ultraslayer does not map")));
    };

    let deadline = Instant::now() + wait;
    let (header, size) = loop {
        let meta = file.metadata().map_err(|e| io_err(&path, "stat", &e))?;
        if !meta.is_file() {
            return Err(invalid(&path, "it is not a regular file"));
        }
        let size = meta.size();
        let retry = Instant::now() < deadline;
        if size < page as u64 {
            if retry {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            return Err(invalid(
                &path,
                format!("it is {size} bytes, shorter than its {page}-byte header page (truncated, or its creator died before sizing it)"),
            ));
        }
        let header = HeaderPage::map(fd, kind, page)?;
        let ready = header.ready();
        let magic = header.get(W_MAGIC);
        if magic != 0 && magic != MAGIC {
            return Err(invalid(&path, format!("bad magic {magic:#018x} (expected {MAGIC:#018x}): not an ultraslayer segment")));
        }
        if ready == READY {
            break (header, size);
        }
        if ready != 0 {
            return Err(invalid(&path, format!("its ready word is {ready:#018x}, neither 0 nor the ready mark: the header is corrupt")));
        }
        let pid = header.get(W_CREATOR_PID);
        let alive = pid_alive(pid as u32);
        if retry && (alive || pid == 0) {
            drop(header);
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        if pid == 0 {
            return Err(invalid(&path, "its header was never written (its creator died while creating it, or it is not a segment)"));
        }
        return Err(Error::SegmentNotReady {
            path: path.display().to_string(),
            creator_pid: pid as u32,
            creator_alive: alive,
            of: Segment::Slab,
        });
    };

    let mut words = [0u64; W_CHECKSUM];
    for (w, v) in words.iter_mut().enumerate() {
        *v = header.get(w);
    }
    let version = words[W_VERSION];
    if version != VERSION && version != VERSION_NO_TABLE {
        return Err(invalid(
            &path,
            format!(
                "header format version {version}, this build reads versions {VERSION_NO_TABLE} and {VERSION}: open it with the ultraslayer release that created it"
            ),
        ));
    }
    let mut table_words = [0u64; TABLE_WORDS];
    if version == VERSION {
        for (k, v) in table_words.iter_mut().enumerate() {
            *v = header.get(W_TABLE_KIND + k);
        }
    }
    let stored = header.get(W_CHECKSUM);
    if stored != header_checksum(&words, &table_words) {
        return Err(invalid(&path, "header checksum mismatch: the header was overwritten or corrupted"));
    }
    let replicas = usize::try_from(words[W_REPLICAS]).unwrap_or(usize::MAX);
    let channel_offset = usize::try_from(words[W_CHANNEL_OFFSET]).unwrap_or(usize::MAX);
    let offset_layout = Layout::new(words[W_SLOTS], replicas, channel_offset)
        .map_err(|e| invalid(&path, format!("its header describes an impossible layout ({e})")))?;
    let header_page = words[W_PAGE_SIZE];
    if header_page != page as u64 || words[W_PAGE_KIND] != page_kind_code(kind) {
        return Err(invalid(
            &path,
            format!("its header says {header_page}-byte pages (kind {}), but the file lives on {page}-byte pages", words[W_PAGE_KIND]),
        ));
    }
    let table = match table_words[0] {
        TABLE_NONE if table_words[1..].iter().any(|&w| w != 0) => {
            return Err(invalid(&path, "its header has no frame table but table words set: the header is corrupt"))
        }
        TABLE_NONE => None,
        TABLE_FRAMED => Some(check_table_words(&path, &words, &table_words, &offset_layout, page)?),
        k => return Err(invalid(&path, format!("its header names table kind {k}, which this build does not know"))),
    };
    let data_bytes = match table {
        // The data area of a framed slab is the pool its table indexes: at least the frames named.
        Some(_) => words[W_DATA_BYTES],
        None => (offset_layout.span().div_ceil(page) * page) as u64,
    };
    let want_file = file_bytes(page, data_bytes as usize, table.map_or(0, |t| t.bytes));
    if words[W_DATA_OFFSET] != page as u64
        || words[W_DATA_BYTES] != data_bytes
        || data_bytes == 0
        || data_bytes % page as u64 != 0
        || words[W_FILE_BYTES] != want_file as u64
    {
        return Err(invalid(
            &path,
            format!(
                "its header's sizes (data at {}, {} data bytes, {} file bytes) do not match its layout ({} slots x {} replicas needs {data_bytes} data bytes at {page}{})",
                words[W_DATA_OFFSET],
                words[W_DATA_BYTES],
                words[W_FILE_BYTES],
                offset_layout.slots(),
                offset_layout.replicas(),
                if table.is_some() { ", whole pages, then the frame table" } else { "" }
            ),
        ));
    }
    if size != words[W_FILE_BYTES] {
        let what = if size < words[W_FILE_BYTES] { "truncated" } else { "size mismatch" };
        return Err(invalid(&path, format!("{what}: the file is {size} bytes but its header says {}", words[W_FILE_BYTES])));
    }
    let layout = match table {
        None => offset_layout,
        Some(t) => read_table(&path, fd, kind, page, &t, &offset_layout, data_bytes as usize / FRAME_BYTES)?,
    };
    check_expected(&path, &layout, expect)?;
    let schema = read_schema(&header, &path)?;
    match (&schema, expect.records) {
        (Some(text), false) => {
            return Err(Error::SegmentIncompatible {
                path: path.display().to_string(),
                message: format!("it holds records ({text}), not plain slots: open it with ⟦call:Records.open⟧"),
            })
        }
        (None, true) => {
            return Err(Error::SegmentIncompatible {
                path: path.display().to_string(),
                message: "it is a plain slab of slots with no record schema: open it with ⟦call:Slayer.open⟧".into(),
            })
        }
        _ => {}
    }
    let region = Region::map_file(fd, page, data_bytes as usize, kind, page, lock, Vec::new(), &Job::none())?;
    Ok((
        region,
        layout,
        SharedInfo {
            name: name.into(),
            path: path.display().to_string(),
            backing,
            page_size: page,
            creator_pid: words[W_CREATOR_PID] as u32,
            created_unix_ms: words[W_CREATED_UNIX_MS],
            created_here: false,
            note: None,
            schema,
            file_id: file_id(&file, &path)?,
        },
    ))
}

/// Where a version 2 header says its frame table is, checked against the rest of the header.
#[derive(Clone, Copy, Debug)]
struct TableAt {
    offset: usize,
    bytes: usize,
    chunks: u64,
    hash: u64,
}

fn check_table_words(path: &Path, words: &[u64; W_CHECKSUM], t: &[u64; TABLE_WORDS], l: &Layout, page: usize) -> Result<TableAt> {
    let chunks = l.slots().div_ceil((FRAME_BYTES / SLOT_BYTES) as u64);
    let bytes = chunks * l.replicas() as u64 * 4;
    let offset = words[W_DATA_OFFSET].checked_add(words[W_DATA_BYTES]);
    let mut wrong = Vec::new();
    if l.channel_offset() != FRAME_BYTES {
        wrong.push(format!("a framed slab has a {FRAME_BYTES} B channel offset, not {}", l.channel_offset()));
    }
    if t[1] % page as u64 != 0 || Some(t[1]) != offset {
        wrong.push(format!("the table is at byte {}, not right after the data (at a page boundary)", t[1]));
    }
    if t[2] != bytes {
        wrong.push(format!("the table is {} bytes, but {chunks} chunks x {} replicas need {bytes}", t[2], l.replicas()));
    }
    if t[3] != chunks || t[4] != l.replicas() as u64 {
        wrong.push(format!("the table is for {} chunks x {} replicas, the slab has {chunks} x {}", t[3], t[4], l.replicas()));
    }
    if !wrong.is_empty() {
        return Err(invalid(path, format!("its frame table does not fit its header: {}", wrong.join("; "))));
    }
    Ok(TableAt { offset: t[1] as usize, bytes: bytes as usize, chunks, hash: t[5] })
}

/// Reads the frame table the header points at (its bounds already checked against the file),
/// checks its hash and every entry, and lays the slab out through it.
#[cfg(unix)]
fn read_table(path: &Path, fd: i32, kind: PageKind, page: usize, t: &TableAt, l: &Layout, frames: usize) -> Result<Layout> {
    let area = Region::map_file(fd, t.offset, t.bytes.div_ceil(page) * page, kind, page, LockRequest::Off, Vec::new(), &Job::none())?;
    let mut bytes = vec![0u8; t.bytes];
    // SAFETY: the area maps `t.bytes` rounded up to whole pages of the file, which `open` checked
    // is long enough; the table is never written after `ready` was published, so a plain copy reads
    // what the creator wrote (the Acquire load of `ready` ordered it before this).
    unsafe { std::ptr::copy_nonoverlapping(area.ptr() as *const u8, bytes.as_mut_ptr(), t.bytes) };
    drop(area);
    if fnv1a(bytes.iter().copied()) != t.hash {
        return Err(invalid(path, "its frame table does not match its hash: the table was overwritten or corrupted"));
    }
    let table = FrameTable::from_bytes(t.chunks, l.replicas(), frames, &bytes)
        .map_err(|e| invalid(path, format!("its frame table is unusable: {e}")))?;
    Layout::framed(l.slots(), l.replicas(), std::sync::Arc::new(table))
        .map_err(|e| invalid(path, format!("its frame table does not lay out its slab: {e}")))
}

/// The schema text a header records, validated against its length and hash; None for plain slabs.
fn read_schema(header: &HeaderPage, path: &Path) -> Result<Option<String>> {
    let len = header.get(W_SCHEMA_LEN) as usize;
    if len == 0 {
        return Ok(None);
    }
    if len > MAX_SCHEMA_BYTES {
        return Err(invalid(path, format!("its schema length {len} is over the {MAX_SCHEMA_BYTES}-byte limit: the header is corrupt")));
    }
    let bytes: Vec<u8> = (0..len.div_ceil(8)).flat_map(|k| header.get(W_SCHEMA + k).to_le_bytes()).take(len).collect();
    if fnv1a(bytes.iter().copied()) != header.get(W_SCHEMA_HASH) {
        return Err(invalid(path, "its record schema does not match its hash: the header was overwritten or corrupted"));
    }
    String::from_utf8(bytes).map(Some).map_err(|_| invalid(path, "its record schema is not UTF-8: the header is corrupt"))
}

fn check_expected(path: &Path, layout: &Layout, expect: Expect) -> Result<()> {
    let mut diffs = Vec::new();
    if let Some(s) = expect.slots.filter(|&s| s != layout.slots()) {
        diffs.push(format!("slots: expected {s}, segment has {}", layout.slots()));
    }
    if let Some(r) = expect.replicas.filter(|&r| r != layout.replicas()) {
        diffs.push(format!("replicas: expected {r}, segment has {}", layout.replicas()));
    }
    if let Some(c) = expect.channel_offset.filter(|&c| c != layout.channel_offset()) {
        diffs.push(format!("⟦opt:channelOffset⟧: expected {c}, segment has {}", layout.channel_offset()));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(Error::SegmentIncompatible { path: path.display().to_string(), message: diffs.join("; ") })
    }
}

/// Removes segment `name` wherever it lives. Ok(false) when there was none. Processes that have it
/// open keep their mapping; the memory is freed when the last one closes it.
/// Removes the segment file `info` describes, which this process created, unless its path has
/// meanwhile become another file (another process's `overwrite`). For creations cancelled after
/// publishing; errors are ignored (there is nothing left to tell the caller).
#[cfg(unix)]
pub fn remove_created(info: &SharedInfo) {
    let path = Path::new(&info.path);
    if std::fs::symlink_metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == info.file_id) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(unix)]
pub fn unlink(name: &str, dir: Option<&Path>) -> Result<bool> {
    validate_name(name)?;
    let mut removed = false;
    for p in places(dir) {
        let path = p.path(name);
        match std::fs::remove_file(&path) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path, "unlink", &e)),
        }
    }
    Ok(removed)
}

/// Shared slabs on Windows: refused, with the error every entry point returns. (Named file
/// mappings, `CreateFileMapping`/`OpenFileMapping`, would carry the same header; not built yet.)
#[cfg(windows)]
fn unsupported() -> Error {
    Error::Unsupported {
        what: "shared slabs and record segments (a name) are Linux-only in this build: on Windows, create the slab or \
               store without a name (one process)"
            .into(),
    }
}

/// Never made on Windows (`create_pending_with` refuses).
#[cfg(windows)]
pub struct Pending {
    never: std::convert::Infallible,
}

#[cfg(windows)]
impl Pending {
    pub fn publish(self, _layout: &Layout) -> Result<SharedInfo> {
        match self.never {}
    }
    pub fn path(&self) -> &Path {
        match self.never {}
    }
}

#[cfg(windows)]
#[allow(clippy::too_many_arguments)]
pub fn create_pending(
    name: &str,
    _shape: Shape,
    _pages: PageRequest,
    _lock: LockRequest,
    _overwrite: bool,
    _dir: Option<&Path>,
    _schema: Option<&str>,
    job: &Job,
) -> Result<(Region, Pending)> {
    validate_name(name)?;
    job.check()?;
    Err(unsupported())
}

#[cfg(windows)]
pub fn file_id(_file: &File, _path: &Path) -> Result<(u64, u64)> {
    Err(unsupported())
}

#[cfg(windows)]
pub fn open(name: &str, _lock: LockRequest, _expect: Expect, _wait: Duration, _dir: Option<&Path>) -> Result<(Region, Layout, SharedInfo)> {
    validate_name(name)?;
    Err(unsupported())
}

/// Nothing to remove: no segment is ever created on Windows.
#[cfg(windows)]
pub fn remove_created(_info: &SharedInfo) {}

/// Nothing to remove: no segment is ever created on Windows, so no name is ever found.
#[cfg(windows)]
pub fn unlink(name: &str, _dir: Option<&Path>) -> Result<bool> {
    validate_name(name)?;
    Ok(false)
}

#[cfg(all(test, windows))]
mod windows_tests {
    use super::*;

    #[test]
    fn a_shared_slab_is_refused_on_windows_as_unsupported_and_a_bad_name_still_as_a_bad_name() {
        let layout = Layout::new(64, 2, 256).unwrap();
        let e = create("w", layout, PageRequest::Off, LockRequest::Off, false, None, None, &Job::none()).err().unwrap();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        assert!(e.to_string().contains("without a name"), "{e}");
        let e = open("w", LockRequest::Off, Expect::default(), Duration::ZERO, None).err().unwrap();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        assert!(!matches!(open("a/b", LockRequest::Off, Expect::default(), Duration::ZERO, None), Err(Error::Unsupported { .. })));
        assert!(!unlink("w", None).unwrap());
    }
}

#[cfg(all(test, unix))]
pub(crate) mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom, Write};

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

    fn layout() -> Layout {
        Layout::new(1000, 2, 256).unwrap()
    }

    fn mk(dir: &TempDir, name: &str) -> (Region, SharedInfo) {
        create(name, layout(), PageRequest::Off, LockRequest::Off, false, Some(&dir.0), None, &Job::none()).unwrap()
    }

    fn opened(dir: &TempDir, name: &str) -> Result<(Region, Layout, SharedInfo)> {
        open(name, LockRequest::Off, Expect::default(), Duration::from_millis(20), Some(&dir.0))
    }

    fn poke(path: &str, word: usize, v: u64) {
        let mut f = OpenOptions::new().write(true).open(path).unwrap();
        f.seek(SeekFrom::Start(word as u64 * 8)).unwrap();
        f.write_all(&v.to_le_bytes()).unwrap();
    }

    fn peek(path: &str, word: usize) -> u64 {
        let mut f = File::open(path).unwrap();
        f.seek(SeekFrom::Start(word as u64 * 8)).unwrap();
        let mut b = [0u8; 8];
        f.read_exact(&mut b).unwrap();
        u64::from_le_bytes(b)
    }

    fn message(r: Result<(Region, Layout, SharedInfo)>) -> String {
        match r {
            Ok(_) => panic!("opened a segment that should have been refused"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_cancelled_create_leaves_no_file_and_no_mapping() {
        let d = TempDir::new("cancel");
        let before = crate::region::live::count();
        let big = Layout::new(1 << 21, 2, 256).unwrap(); // 32 MiB of data
        for cancel_in in [Phase::Map, Phase::Prefault] {
            let (job, rec) = crate::job::testing::recording(move |p, done, _| p == cancel_in && done > 0);
            let r = create("cx", big.clone(), PageRequest::Off, LockRequest::Off, false, Some(&d.0), None, &job);
            assert!(matches!(r, Err(Error::Cancelled { phase: Some(p) }) if p == cancel_in.name()), "{:?}", r.err());
            rec.assert_monotonic();
            assert_eq!(crate::region::live::count(), before, "{cancel_in:?}: a mapping was left behind");
            assert_eq!(std::fs::read_dir(&d.0).unwrap().count(), 0, "{cancel_in:?}: the segment file was left behind");
        }
        let (r, _) = create("cx", big, PageRequest::Off, LockRequest::Off, false, Some(&d.0), None, &Job::new()).unwrap();
        drop(r);
        assert!(unlink("cx", Some(&d.0)).unwrap());
    }

    #[test]
    fn names_are_checked_before_any_file_is_touched() {
        for good in ["feed", "md.prices-v2", "A_1", &"x".repeat(MAX_NAME_LEN)] {
            validate_name(good).unwrap();
        }
        for bad in ["", "a/b", "/etc/passwd", "..", "a..b", ".hidden", "nul\0x", "sp ace", "é", &"x".repeat(MAX_NAME_LEN + 1)] {
            let e = validate_name(bad).unwrap_err();
            assert!(matches!(e, Error::BadSegmentName { .. }), "{bad:?}");
            assert!(e.to_string().contains("A-Z a-z 0-9"), "{e}");
        }
        assert!(matches!(unlink("../x", None), Err(Error::BadSegmentName { .. })));
    }

    #[test]
    fn create_writes_a_0600_file_with_a_ready_header_and_open_maps_the_same_memory() {
        let d = TempDir::new("roundtrip");
        let (region, info) = mk(&d, "rt");
        let meta = std::fs::metadata(&info.path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), (PAGE_4K + layout().span().div_ceil(PAGE_4K) * PAGE_4K) as u64);
        assert_eq!(peek(&info.path, W_MAGIC), MAGIC);
        assert_eq!(peek(&info.path, W_READY), READY);
        assert_eq!(info.backing, Backing::Shm);
        assert!(info.created_here);
        let (other, l, oinfo) = opened(&d, "rt").unwrap();
        assert_eq!(l, layout());
        assert_eq!(oinfo.creator_pid, std::process::id());
        assert!(!oinfo.created_here);
        // A store through one mapping is seen through the other.
        let a = region.ptr() as *const AtomicU64;
        let b = other.ptr() as *const AtomicU64;
        // SAFETY: both point at word 0 of the same mapped slab pages, aligned, in bounds.
        unsafe {
            (*a.add(7)).store(0xfeed, Ordering::Relaxed);
            assert_eq!((*b.add(7)).load(Ordering::Relaxed), 0xfeed);
        }
    }

    #[test]
    fn create_never_clobbers_unless_asked() {
        let d = TempDir::new("clobber");
        let (r1, info) = mk(&d, "seg");
        let e = create("seg", layout(), PageRequest::Off, LockRequest::Off, false, Some(&d.0), None, &Job::none()).err().unwrap();
        assert!(matches!(e, Error::SegmentExists { .. }), "{e}");
        assert!(e.message(crate::error::Front::Js).contains("overwrite: true"));
        // A foreign file of that name is not clobbered either.
        std::fs::write(d.0.join("ultraslayer.foreign"), b"not ours").unwrap();
        assert!(create("foreign", layout(), PageRequest::Off, LockRequest::Off, false, Some(&d.0), None, &Job::none()).is_err());
        assert_eq!(std::fs::read(d.0.join("ultraslayer.foreign")).unwrap(), b"not ours");
        // overwrite makes a new file; the old mapping stays valid and separate.
        // SAFETY: word 0 of a mapped slab.
        unsafe { (*(r1.ptr() as *const AtomicU64)).store(5, Ordering::Relaxed) };
        let (r2, info2) = create("seg", layout(), PageRequest::Off, LockRequest::Off, true, Some(&d.0), None, &Job::none()).unwrap();
        assert_eq!(info2.path, info.path);
        // SAFETY: as above.
        unsafe {
            assert_eq!((*(r2.ptr() as *const AtomicU64)).load(Ordering::Relaxed), 0);
            assert_eq!((*(r1.ptr() as *const AtomicU64)).load(Ordering::Relaxed), 5);
        }
    }

    #[test]
    fn missing_segments_and_unlink() {
        let d = TempDir::new("missing");
        let e = message(opened(&d, "nothing"));
        assert!(e.contains("no shared slab named \"nothing\""), "{e}");
        assert!(!unlink("nothing", Some(&d.0)).unwrap());
        mk(&d, "gone");
        assert!(unlink("gone", Some(&d.0)).unwrap());
        assert!(message(opened(&d, "gone")).contains("no shared slab"));
    }

    #[test]
    fn truncated_segments_are_refused() {
        let d = TempDir::new("trunc");
        let (_r, info) = mk(&d, "t");
        let f = OpenOptions::new().write(true).open(&info.path).unwrap();
        f.set_len(PAGE_4K as u64 + 4096).unwrap();
        let e = message(opened(&d, "t"));
        assert!(e.contains("truncated"), "{e}");
        f.set_len(100).unwrap();
        let e = message(opened(&d, "t"));
        assert!(e.contains("shorter than its 4096-byte header page"), "{e}");
        f.set_len(0).unwrap();
        assert!(message(opened(&d, "t")).contains("shorter"));
    }

    #[test]
    fn foreign_files_are_refused_by_magic() {
        let d = TempDir::new("foreign");
        std::fs::write(d.0.join("ultraslayer.f"), vec![0x41u8; 3 * PAGE_4K]).unwrap();
        let e = message(opened(&d, "f"));
        assert!(e.contains("bad magic") && e.contains("not an ultraslayer segment"), "{e}");
        // All zeros: looks unfinished, with no creator recorded.
        std::fs::write(d.0.join("ultraslayer.z"), vec![0u8; 3 * PAGE_4K]).unwrap();
        assert!(message(opened(&d, "z")).contains("never written"));
        std::fs::create_dir(d.0.join("ultraslayer.dir")).unwrap();
        assert!(opened(&d, "dir").is_err());
        std::os::unix::fs::symlink("/etc/passwd", d.0.join("ultraslayer.link")).unwrap();
        assert!(message(opened(&d, "link")).contains("symbolic link"));
    }

    #[test]
    fn wrong_versions_and_corrupt_headers_are_refused() {
        let d = TempDir::new("version");
        let (_r, info) = mk(&d, "v");
        // A segment without a table is written as version 1, which older builds read too.
        assert_eq!(peek(&info.path, W_VERSION), VERSION_NO_TABLE);
        poke(&info.path, W_VERSION, 3);
        let e = message(opened(&d, "v"));
        assert!(e.contains("version 3") && e.contains("reads versions 1 and 2"), "{e}");
        // Version 2 covers the table words too, so the version 1 checksum no longer holds.
        poke(&info.path, W_VERSION, VERSION);
        assert!(message(opened(&d, "v")).contains("checksum"));
        poke(&info.path, W_VERSION, VERSION_NO_TABLE);
        opened(&d, "v").unwrap();
        // Any other word changed without its checksum.
        poke(&info.path, W_SLOTS, 999_999);
        assert!(message(opened(&d, "v")).contains("checksum"));
        poke(&info.path, W_SLOTS, 1000);
        poke(&info.path, W_READY, 0x1234);
        assert!(message(opened(&d, "v")).contains("corrupt"));
    }

    /// Rewrites the header words and a matching checksum, as a buggy or hostile writer might.
    fn forge(path: &str, edit: impl Fn(&mut [u64; W_CHECKSUM])) {
        let mut words = [0u64; W_CHECKSUM];
        for (w, v) in words.iter_mut().enumerate() {
            *v = peek(path, w);
        }
        edit(&mut words);
        for (w, &v) in words.iter().enumerate() {
            poke(path, w, v);
        }
        poke(path, W_CHECKSUM, checksum(&words));
    }

    #[test]
    fn headers_whose_sizes_disagree_with_their_layout_or_file_are_refused() {
        let d = TempDir::new("size");
        let (_r, info) = mk(&d, "s");
        forge(&info.path, |w| w[W_SLOTS] = 1 << 20);
        let e = message(opened(&d, "s"));
        assert!(e.contains("do not match its layout"), "{e}");
        forge(&info.path, |w| w[W_SLOTS] = 1000);
        opened(&d, "s").unwrap();
        forge(&info.path, |w| w[W_REPLICAS] = 1);
        assert!(message(opened(&d, "s")).contains("impossible layout"));
        forge(&info.path, |w| w[W_REPLICAS] = 2);
        forge(&info.path, |w| w[W_PAGE_SIZE] = PAGE_2M as u64);
        assert!(message(opened(&d, "s")).contains("pages"));
        forge(&info.path, |w| w[W_PAGE_SIZE] = PAGE_4K as u64);
        // A file longer than its header says.
        let f = OpenOptions::new().write(true).open(&info.path).unwrap();
        f.set_len(peek(&info.path, W_FILE_BYTES) + 4096).unwrap();
        assert!(message(opened(&d, "s")).contains("size mismatch"));
    }

    /// A framed layout over `frames` frames with a scrambled (but valid) table: chunk k of
    /// replica r in frame (k·R + r)·5 mod `frames` (5 and `frames` coprime).
    fn framed_layout(slots: u64, replicas: usize, frames: u64) -> Layout {
        let chunks = slots.div_ceil(512);
        assert!(frames >= chunks * replicas as u64 && frames % 5 != 0);
        let t = FrameTable::build(chunks, replicas, |k, r| (k * replicas as u64 + r as u64) * 5 % frames).unwrap();
        Layout::framed(slots, replicas, std::sync::Arc::new(t)).unwrap()
    }

    /// The value the creator writes into replica r of slot i (distinct per replica).
    fn replica_value(r: usize, i: u64) -> u64 {
        ((r as u64) << 40) | (i + 1)
    }

    /// Stores `replica_value` into every replica of every slot of `slab`, replica by replica.
    fn write_every_replica(slab: &crate::slab::Slab) {
        let l = slab.layout();
        for i in 0..l.slots() {
            for r in 0..l.replicas() {
                let a = slab.address(r, i).unwrap() as *const AtomicU64;
                // SAFETY: `address` returns an aligned slot word inside the mapped slab.
                unsafe { (*a).store(replica_value(r, i), Ordering::Relaxed) };
            }
        }
    }

    /// Every replica of every slot of `slab` reads what `write_every_replica` stored there.
    fn assert_every_replica(slab: &crate::slab::Slab) {
        let l = slab.layout();
        for i in 0..l.slots() {
            for r in 0..l.replicas() {
                assert_eq!(slab.read_replica(r, i).unwrap(), replica_value(r, i), "replica {r} of slot {i}");
            }
        }
    }

    const FRAMED_SLOTS: u64 = 3000;
    const FRAMED_FRAMES: u64 = 23;

    fn mk_framed(dir: &TempDir, name: &str) -> (crate::slab::Slab, SharedInfo) {
        let l = framed_layout(FRAMED_SLOTS, 3, FRAMED_FRAMES);
        let (region, info) = create(name, l.clone(), PageRequest::Off, LockRequest::Off, false, Some(&dir.0), None, &Job::none()).unwrap();
        (crate::slab::Slab::from_region(region, l).unwrap(), info)
    }

    #[test]
    fn framed_segments_record_their_table_and_openers_lay_out_the_same_copies() {
        let d = TempDir::new("framed");
        let (slab, info) = mk_framed(&d, "f");
        assert_eq!(peek(&info.path, W_VERSION), VERSION);
        assert_eq!(peek(&info.path, W_TABLE_KIND), TABLE_FRAMED);
        // 3000 slots = 6 chunks x 3 replicas: 72 table bytes on a page after the 23 frames of data.
        assert_eq!(peek(&info.path, W_DATA_BYTES), FRAMED_FRAMES * 4096);
        assert_eq!(peek(&info.path, W_TABLE_OFFSET), 4096 + FRAMED_FRAMES * 4096);
        assert_eq!(peek(&info.path, W_TABLE_BYTES), 72);
        assert_eq!(std::fs::metadata(&info.path).unwrap().len(), 4096 * (1 + FRAMED_FRAMES + 1));
        write_every_replica(&slab);
        let (region, l, _) = opened(&d, "f").unwrap();
        assert_eq!(&l, slab.layout());
        let other = crate::slab::Slab::from_region(region, l).unwrap();
        let (b0, b1) = (slab.region().ptr() as usize, other.region().ptr() as usize);
        for i in (0..FRAMED_SLOTS).step_by(37) {
            for r in 0..3 {
                assert_eq!(slab.address(r, i).unwrap() - b0, other.address(r, i).unwrap() - b1);
            }
        }
        assert_every_replica(&other);
    }

    #[test]
    fn a_pool_larger_than_the_frames_named_is_kept_as_the_data_area() {
        let d = TempDir::new("pool");
        let l = framed_layout(1000, 2, 7);
        // Frames 0..7 named at most; the pool holds 40.
        let (region, pending) =
            create_pending("p", Shape::framed(1000, 2, 40), PageRequest::Off, LockRequest::Off, false, Some(&d.0), None, &Job::none())
                .unwrap();
        assert_eq!(region.mapped_bytes(), 40 * 4096);
        // Unfinished: an opener waits, then says so.
        assert!(message(opened(&d, "p")).contains("still being created"));
        // A layout of another shape is refused, and the segment stays unpublished.
        let path = pending.path().to_path_buf();
        let e = pending.publish(&Layout::new(1000, 2, 256).unwrap()).unwrap_err().to_string();
        assert!(e.contains("not the one the segment was made for"), "{e}");
        assert!(!path.exists(), "an unpublished segment is removed");
        let (_region, pending) =
            create_pending("p", Shape::framed(1000, 2, 40), PageRequest::Off, LockRequest::Off, false, Some(&d.0), None, &Job::none())
                .unwrap();
        pending.publish(&l).unwrap();
        let (r2, l2, _) = opened(&d, "p").unwrap();
        assert_eq!(l2, l);
        assert_eq!(r2.mapped_bytes(), 40 * 4096);
        // A pending segment whose name another process took over (overwrite) leaves that file be.
        let (_r, pending) =
            create_pending("o", Shape::framed(1000, 2, 8), PageRequest::Off, LockRequest::Off, false, Some(&d.0), None, &Job::none())
                .unwrap();
        let (_r2, _) = create("o", layout(), PageRequest::Off, LockRequest::Off, true, Some(&d.0), None, &Job::none()).unwrap();
        drop(pending);
        opened(&d, "o").unwrap();
        // Dropping a pending segment removes its file.
        let (_r, pending) =
            create_pending("q", Shape::framed(1000, 2, 8), PageRequest::Off, LockRequest::Off, false, Some(&d.0), None, &Job::none())
                .unwrap();
        drop(pending);
        assert!(!d.0.join("ultraslayer.q").exists());
    }

    /// Rewrites the version 2 header and table words with a matching checksum.
    fn forge_table(path: &str, edit: impl Fn(&mut [u64; W_CHECKSUM], &mut [u64; TABLE_WORDS])) {
        let mut words = [0u64; W_CHECKSUM];
        let mut table = [0u64; TABLE_WORDS];
        for (w, v) in words.iter_mut().enumerate() {
            *v = peek(path, w);
        }
        for (k, v) in table.iter_mut().enumerate() {
            *v = peek(path, W_TABLE_KIND + k);
        }
        edit(&mut words, &mut table);
        for (w, &v) in words.iter().enumerate() {
            poke(path, w, v);
        }
        for (k, &v) in table.iter().enumerate() {
            poke(path, W_TABLE_KIND + k, v);
        }
        poke(path, W_CHECKSUM, header_checksum(&words, &table));
    }

    /// Writes `entries` (u32 each) over the start of the table and the matching hash.
    fn rewrite_table(path: &str, entries: &[u32]) {
        let at = peek(path, W_TABLE_OFFSET);
        let mut f = OpenOptions::new().read(true).write(true).open(path).unwrap();
        let mut bytes = vec![0u8; peek(path, W_TABLE_BYTES) as usize];
        f.seek(SeekFrom::Start(at)).unwrap();
        f.read_exact(&mut bytes).unwrap();
        for (k, e) in entries.iter().enumerate() {
            bytes[4 * k..4 * k + 4].copy_from_slice(&e.to_le_bytes());
        }
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&bytes).unwrap();
        let hash = fnv1a(bytes.iter().copied());
        forge_table(path, |_, t| t[5] = hash);
    }

    fn table_entry(path: &str, k: usize) -> u32 {
        let mut f = File::open(path).unwrap();
        f.seek(SeekFrom::Start(peek(path, W_TABLE_OFFSET) + 4 * k as u64)).unwrap();
        let mut b = [0u8; 4];
        f.read_exact(&mut b).unwrap();
        u32::from_le_bytes(b)
    }

    #[test]
    fn bad_frame_tables_are_refused_with_what_is_wrong() {
        let d = TempDir::new("badtable");
        let (_slab, info) = mk_framed(&d, "b");
        let p = info.path.as_str();
        let (e0, e1) = (table_entry(p, 0), table_entry(p, 1));
        // Table bytes changed behind the header's back.
        rewrite_table(p, &[e0, e1]);
        opened(&d, "b").unwrap();
        let at = peek(p, W_TABLE_OFFSET);
        {
            let mut f = OpenOptions::new().write(true).open(p).unwrap();
            f.seek(SeekFrom::Start(at + 3)).unwrap();
            f.write_all(&[0x80]).unwrap();
        }
        let e = message(opened(&d, "b"));
        assert!(e.contains("frame table does not match its hash"), "{e}");
        // An entry past the data's frames, with its hash made to match.
        rewrite_table(p, &[FRAMED_FRAMES as u32]);
        let e = message(opened(&d, "b"));
        assert!(e.contains("names frame 23, outside the 23 frames of the data"), "{e}");
        rewrite_table(p, &[u32::MAX]);
        assert!(message(opened(&d, "b")).contains("outside the 23 frames"));
        // A frame named twice.
        rewrite_table(p, &[e0, e0]);
        let e = message(opened(&d, "b"));
        assert!(e.contains("named twice"), "{e}");
        rewrite_table(p, &[e0, e1]);
        opened(&d, "b").unwrap();
        // The hash word changed without the checksum, then with it.
        poke(p, W_TABLE_HASH, 12345);
        assert!(message(opened(&d, "b")).contains("checksum"));
        forge_table(p, |_, t| t[5] = 12345);
        assert!(message(opened(&d, "b")).contains("does not match its hash"));
        rewrite_table(p, &[e0, e1]);
        // Table words that disagree with the header's layout.
        forge_table(p, |_, t| t[2] = 64);
        let e = message(opened(&d, "b"));
        assert!(e.contains("does not fit its header") && e.contains("need 72"), "{e}");
        forge_table(p, |_, t| t[2] = 72);
        forge_table(p, |_, t| t[1] += 4096);
        assert!(message(opened(&d, "b")).contains("not right after the data"));
        forge_table(p, |_, t| t[1] -= 4096);
        forge_table(p, |w, _| w[W_SLOTS] = 5000);
        assert!(message(opened(&d, "b")).contains("the slab has 10 x 3"));
        forge_table(p, |w, _| w[W_SLOTS] = FRAMED_SLOTS);
        forge_table(p, |_, t| t[0] = 7);
        assert!(message(opened(&d, "b")).contains("table kind 7"));
        forge_table(p, |_, t| t[0] = TABLE_NONE);
        assert!(message(opened(&d, "b")).contains("table words set"));
        forge_table(p, |_, t| t[0] = TABLE_FRAMED);
        // A data area that does not hold the frames named (header and file shrunk to match).
        forge_table(p, |w, t| {
            w[W_DATA_BYTES] = 4 * 4096;
            w[W_FILE_BYTES] = 4096 * 6;
            t[1] = 5 * 4096;
        });
        let f = OpenOptions::new().write(true).open(p).unwrap();
        f.set_len(4096 * 6).unwrap();
        // Whatever is at the new table offset now, with a hash to match: entry 1 names frame 5.
        assert_eq!(e1, 5);
        rewrite_table(p, &[e0, e1]);
        let e = message(opened(&d, "b"));
        assert!(e.contains("names frame 5, outside the 4 frames"), "{e}");
        // A truncated table.
        let (_slab, info) = mk_framed(&d, "t");
        let f = OpenOptions::new().write(true).open(&info.path).unwrap();
        f.set_len(4096 * (1 + FRAMED_FRAMES)).unwrap();
        let e = message(opened(&d, "t"));
        assert!(e.contains("truncated"), "{e}");
        // Paired tables are never recorded.
        let t = FrameTable::build_paired(4, |k| (k, false)).unwrap();
        let l = Layout::paired(1000, 6, std::sync::Arc::new(t)).unwrap();
        assert!(create("paired", l, PageRequest::Off, LockRequest::Off, false, Some(&d.0), None, &Job::none()).is_err());
        assert!(!d.0.join("ultraslayer.paired").exists());
    }

    /// Env var naming `<dir>/<name>` for the child process of the test below.
    const OPENER_ENV: &str = "ULTRASLAYER_TEST_FRAMED_OPENER";

    #[test]
    fn a_second_process_opening_a_framed_segment_reads_the_copies_the_creator_wrote() {
        let d = TempDir::new("framed-child");
        let (slab, _info) = mk_framed(&d, "c");
        write_every_replica(&slab);
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "shm::tests::framed_opener_child", "--nocapture", "--test-threads=1"])
            .env(OPENER_ENV, d.0.join("c"))
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "the opener failed:\n{text}");
        assert!(text.contains("framed opener: every replica read back") && text.contains("1 passed"), "{text}");
    }

    /// The opener of the test above: runs only in its child process (a plain test run passes it).
    #[test]
    fn framed_opener_child() {
        let Some(target) = std::env::var_os(OPENER_ENV) else { return };
        let target = PathBuf::from(target);
        let (dir, name) = (target.parent().unwrap(), target.file_name().unwrap().to_str().unwrap());
        let (region, l, info) = open(name, LockRequest::Off, Expect::default(), Duration::from_secs(2), Some(dir)).unwrap();
        assert_ne!(info.creator_pid, std::process::id());
        assert_eq!(l, framed_layout(FRAMED_SLOTS, 3, FRAMED_FRAMES));
        assert_every_replica(&crate::slab::Slab::from_region(region, l).unwrap());
        println!("framed opener: every replica read back");
    }

    #[test]
    fn open_checks_the_expected_layout() {
        let d = TempDir::new("expect");
        mk(&d, "e");
        let ex = Expect { slots: Some(1000), replicas: Some(2), channel_offset: Some(256), ..Expect::default() };
        open("e", LockRequest::Off, ex, Duration::ZERO, Some(&d.0)).unwrap();
        let ex = Expect { replicas: Some(3), ..Expect::default() };
        let e = open("e", LockRequest::Off, ex, Duration::ZERO, Some(&d.0)).err().unwrap();
        assert!(matches!(e, Error::SegmentIncompatible { .. }));
        assert!(e.to_string().contains("replicas: expected 3, segment has 2"), "{e}");
    }

    #[test]
    fn a_record_schema_is_kept_in_the_header_and_each_kind_refuses_to_open_as_the_other() {
        let d = TempDir::new("schema");
        let text = "bid:f64,ask:f64,qty:u64";
        let (_r, info) = create("rec", layout(), PageRequest::Off, LockRequest::Off, false, Some(&d.0), Some(text), &Job::none()).unwrap();
        assert_eq!(info.schema.as_deref(), Some(text));
        let rec = Expect { records: true, ..Expect::default() };
        let (_, _, oinfo) = open("rec", LockRequest::Off, rec, Duration::ZERO, Some(&d.0)).unwrap();
        assert_eq!(oinfo.schema.as_deref(), Some(text));
        let e = message(opened(&d, "rec"));
        assert!(e.contains("holds records") && e.contains(text), "{e}");
        mk(&d, "plain");
        let e = open("plain", LockRequest::Off, rec, Duration::ZERO, Some(&d.0)).err().unwrap().to_string();
        assert!(e.contains("plain slab"), "{e}");
        // A schema changed behind the header's back.
        poke(&info.path, W_SCHEMA, u64::from_le_bytes(*b"ask:f64,"));
        let e = open("rec", LockRequest::Off, rec, Duration::ZERO, Some(&d.0)).err().unwrap().to_string();
        assert!(e.contains("does not match its hash"), "{e}");
    }

    #[test]
    fn unfinished_segments_name_their_creator() {
        let d = TempDir::new("unready");
        let (_r, info) = mk(&d, "u");
        poke(&info.path, W_READY, 0);
        // Our own pid: alive, so open waits, then says "still being created".
        let e = message(opened(&d, "u"));
        assert!(e.contains("still being created"), "{e}");
        // A pid that cannot exist: "never finished".
        poke(&info.path, W_CREATOR_PID, i32::MAX as u64 - 1);
        let e = message(opened(&d, "u"));
        assert!(e.contains("never finished") && e.contains("unlink"), "{e}");
    }

    #[test]
    fn thp_is_refused_and_explicit_huge_pages_need_a_mount() {
        let d = TempDir::new("pages");
        let e = create("p", layout(), PageRequest::Transparent, LockRequest::Off, false, Some(&d.0), None, &Job::none()).err().unwrap();
        assert!(matches!(e, Error::OptionOutOfRange { option: "hugePages", .. }));
        let e = create("p", layout(), PageRequest::Huge2M, LockRequest::Off, false, Some(&d.0), None, &Job::none()).err().unwrap();
        assert!(e.to_string().contains("not a hugetlbfs mount"), "{e}");
        assert!(!d.0.join("ultraslayer.p").exists());
    }

    #[test]
    fn hugetlbfs_mounts_are_used_when_present() {
        // Only meaningful where a hugetlbfs mount with free 2 MiB pages exists.
        let Some(place) = places(None).into_iter().find(|p| p.backing == Backing::HugeTlbFs && p.page_size == PAGE_2M) else {
            eprintln!("no hugetlbfs mount with 2 MiB pages: skipped");
            return;
        };
        let name = format!("unit-htlb-{}", std::process::id());
        match create(&name, layout(), PageRequest::Huge2M, LockRequest::Off, false, None, None, &Job::none()) {
            Ok((_r, info)) => {
                assert_eq!(info.backing, Backing::HugeTlbFs);
                eprintln!("hugetlbfs segment: {}", info.path);
                assert!(info.path.starts_with(&place.dir.display().to_string()));
                let (r2, _, i2) = open(&name, LockRequest::Off, Expect::default(), Duration::ZERO, None).unwrap();
                assert_eq!(r2.page_size(), PAGE_2M);
                assert_eq!(r2.ptr() as usize % PAGE_2M, 0);
                assert_eq!(i2.backing, Backing::HugeTlbFs);
                assert!(unlink(&name, None).unwrap());
            }
            Err(e) => {
                eprintln!("hugetlbfs segment refused: {e}");
                let _ = unlink(&name, None);
                assert!(e.to_string().contains("huge pages") || e.to_string().contains("room"), "{e}");
            }
        }
    }

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(unescape_mount("/mnt/huge\\040pages"), "/mnt/huge pages");
        assert_eq!(unescape_mount("/plain"), "/plain");
        assert_eq!(unescape_mount("/end\\04"), "/end\\04");
    }
}
