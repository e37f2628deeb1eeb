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
//!   same as in an anonymous slab.
//!
//! The creator writes every header word, then the `ready` word last with Release; an opener loads
//! `ready` with Acquire before it trusts any other word. Slot memory is never reused: a new file's
//! pages read as zero (kernel guarantee for tmpfs and hugetlbfs), so the slab is zeroed before
//! `ready` is set.

use std::fs::{File, OpenOptions, Permissions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::region::{LockRequest, PageKind, PageRequest, Region, AUTO_1G_THRESHOLD, PAGE_1G, PAGE_2M, PAGE_4K};

/// Longest name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 200;
/// Segment files are `FILE_PREFIX` + name, so a foreign file is never taken for a segment by name.
pub const FILE_PREFIX: &str = "ultraslayer.";
/// Where segments live when no hugetlbfs mount is used.
pub const SHM_DIR: &str = "/dev/shm";

/// "USLAYSHM" read as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"USLAYSHM");
/// The header format this build writes and reads.
pub const VERSION: u64 = 1;
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
const LAST_WORD: usize = W_SCHEMA + MAX_SCHEMA_BYTES / 8 - 1;

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

/// What a process knows about the shared segment behind its slab (for `info`).
#[derive(Clone, Debug)]
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
    pub note: Option<String>,
    /// For record segments: the schema text the header records (see `records::Schema::text`).
    pub schema: Option<String>,
    /// (device, inode) of the file this process mapped, so a later open of `path` can tell
    /// whether it is still the same segment (an `overwrite` replaces the file under the name).
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

fn fs_of_fd(fd: i32) -> Option<(Backing, usize)> {
    // SAFETY: an all-zero statfs is a valid out-buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is an open descriptor owned by the caller; fstatfs writes only into `st`.
    if unsafe { libc::fstatfs(fd, &mut st) } != 0 {
        return None;
    }
    Some(classify(&st))
}

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
    Error::SegmentInvalid { path: path.display().to_string(), message: message.into() }
}

/// Checksum of the header words before `W_CHECKSUM` (FNV-1a over their bytes, 64-bit).
fn checksum(words: &[u64]) -> u64 {
    fnv1a(words.iter().flat_map(|w| w.to_le_bytes()))
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
        Ok(HeaderPage { region: Region::map_file(fd, 0, page_size, kind, page_size, LockRequest::Off, Vec::new())? })
    }

    fn word(&self, w: usize) -> &AtomicU64 {
        debug_assert!(w <= LAST_WORD);
        // SAFETY: the region is at least one page (≥ 4096 bytes) and page-aligned, and callers pass
        // w ≤ LAST_WORD (143, byte 1151), so the word is in bounds and 8-aligned. Every process touches header words only through
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

fn pid_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes a file this call created if the call fails before disarming.
struct RemoveOnError<'a> {
    path: &'a Path,
    armed: bool,
}

impl Drop for RemoveOnError<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(self.path);
        }
    }
}

/// Creates segment `name` for `layout` and maps its slab. Refuses when a segment of that name
/// exists anywhere segments live, unless `overwrite` (then the old file is unlinked first).
///
/// `pages`: `Auto` uses a hugetlbfs mount when there is one with free pages (1 GiB pages only for
/// slabs of 256 MiB and more), else /dev/shm and says why in `SharedInfo::note`; `Huge2M` /
/// `Huge1G` need a mount of that page size; `Off` uses /dev/shm; `Transparent` is refused.
/// `dir` (tests, containers) puts the segment in that directory instead.
/// `schema`: a record segment's schema text (≤ `MAX_SCHEMA_BYTES`), recorded in the header.
pub fn create(
    name: &str,
    layout: Layout,
    pages: PageRequest,
    lock: LockRequest,
    overwrite: bool,
    dir: Option<&Path>,
    schema: Option<&str>,
) -> Result<(Region, SharedInfo)> {
    validate_name(name)?;
    if let Some(s) = schema.filter(|s| s.is_empty() || s.len() > MAX_SCHEMA_BYTES) {
        return Err(Error::option_range(
            "fields",
            format!("the schema text is {} bytes; a segment header holds 1 to {MAX_SCHEMA_BYTES}", s.len()),
        ));
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
        return Err(Error::SegmentExists { name: name.into(), path: path.display().to_string() });
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
            if layout.span() >= AUTO_1G_THRESHOLD {
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
        match create_in(place, name, layout.clone(), lock, notes.clone(), schema) {
            Ok((region, mut info)) => {
                info.note = (!notes.is_empty()).then(|| notes.join("; "));
                return Ok((region, info));
            }
            // Another process created it between our check and O_EXCL: never fall through.
            Err(e @ Error::SegmentExists { .. }) => return Err(e),
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

fn create_in(
    place: &Place,
    name: &str,
    layout: Layout,
    lock: LockRequest,
    fallbacks: Vec<String>,
    schema: Option<&str>,
) -> Result<(Region, SharedInfo)> {
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
                Error::SegmentExists { name: name.into(), path: path.display().to_string() }
            } else {
                io_err(&path, "create", &e)
            }
        })?;
    let mut guard = RemoveOnError { path: &path, armed: true };
    // The umask may have taken bits from 0600; set exactly 0600 (owner read/write only).
    file.set_permissions(Permissions::from_mode(0o600)).map_err(|e| io_err(&path, "chmod 0600", &e))?;

    let data_bytes = layout.span().div_ceil(page) * page;
    let file_bytes = page + data_bytes;
    allocate(&file, &path, file_bytes)?;
    let fd = file.as_raw_fd();
    let header = HeaderPage::map(fd, kind, page)?;
    let region = Region::map_file(fd, page, data_bytes, kind, page, lock, fallbacks)?;

    let pid = std::process::id() as u64;
    let created = unix_ms();
    // The pid first, so an opener that finds the segment unfinished can say whose it is.
    header.set(W_CREATOR_PID, pid);
    let mut words = [0u64; W_CHECKSUM];
    words[W_MAGIC] = MAGIC;
    words[W_VERSION] = VERSION;
    words[W_SLOTS] = layout.slots();
    words[W_REPLICAS] = layout.replicas() as u64;
    words[W_CHANNEL_OFFSET] = layout.channel_offset() as u64;
    words[W_PAGE_KIND] = page_kind_code(kind);
    words[W_PAGE_SIZE] = page as u64;
    words[W_DATA_OFFSET] = page as u64;
    words[W_DATA_BYTES] = data_bytes as u64;
    words[W_FILE_BYTES] = file_bytes as u64;
    words[W_CREATOR_PID] = pid;
    words[W_CREATED_UNIX_MS] = created;
    for (w, &v) in words.iter().enumerate() {
        header.set(w, v);
    }
    header.set(W_CHECKSUM, checksum(&words));
    if let Some(text) = schema {
        for (k, chunk) in text.as_bytes().chunks(8).enumerate() {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            header.set(W_SCHEMA + k, u64::from_le_bytes(b));
        }
        header.set(W_SCHEMA_HASH, fnv1a(text.bytes()));
        header.set(W_SCHEMA_LEN, text.len() as u64);
    }
    // Release: pairs with the Acquire load in `HeaderPage::ready` (every opener), publishing the
    // header words above and the zero-filled, pre-faulted slab.
    header.word(W_READY).store(READY, Ordering::Release);
    guard.armed = false;
    Ok((
        region,
        SharedInfo {
            name: name.into(),
            path: path.display().to_string(),
            backing: place.backing,
            page_size: page,
            creator_pid: pid as u32,
            created_unix_ms: created,
            created_here: true,
            note: None,
            schema: schema.map(str::to_string),
            file_id: file_id(&file, &path)?,
        },
    ))
}

/// (device, inode) of an open segment file.
pub fn file_id(file: &File, path: &Path) -> Result<(u64, u64)> {
    let m = file.metadata().map_err(|e| io_err(path, "stat", &e))?;
    Ok((m.dev(), m.ino()))
}

/// Gives the file `len` bytes of real backing now, so running out of memory is an error here
/// rather than a SIGBUS later.
fn allocate(file: &File, path: &Path, len: usize) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: fallocate on a descriptor we own; it only allocates and zero-fills file blocks.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as libc::off_t) };
        if rc == 0 {
            return Ok(());
        }
        let errno = crate::error::last_errno();
        if errno != libc::EOPNOTSUPP {
            return Err(Error::SegmentIo { path: path.display().to_string(), op: "allocate space for", errno });
        }
    }
    file.set_len(len as u64).map_err(|e| io_err(path, "size", &e))
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
pub fn open(name: &str, lock: LockRequest, expect: Expect, wait: Duration, dir: Option<&Path>) -> Result<(Region, Layout, SharedInfo)> {
    validate_name(name)?;
    let all = places(dir);
    let Some((place, path)) = find(name, &all) else {
        return Err(Error::SegmentMissing { name: name.into(), searched: all.iter().map(|p| p.dir.display().to_string()).collect() });
    };
    let file =
        OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOFOLLOW).open(&path).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => Error::SegmentMissing { name: name.into(), searched: vec![place.dir.display().to_string()] },
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
        return Err(Error::SegmentNotReady { path: path.display().to_string(), creator_pid: pid as u32, creator_alive: alive });
    };

    let mut words = [0u64; W_CHECKSUM];
    for (w, v) in words.iter_mut().enumerate() {
        *v = header.get(w);
    }
    let version = words[W_VERSION];
    if version != VERSION {
        return Err(invalid(
            &path,
            format!(
                "header format version {version}, this build reads version {VERSION}: open it with the ultraslayer release that created it"
            ),
        ));
    }
    let stored = header.get(W_CHECKSUM);
    if stored != checksum(&words) {
        return Err(invalid(&path, "header checksum mismatch: the header was overwritten or corrupted"));
    }
    let replicas = usize::try_from(words[W_REPLICAS]).unwrap_or(usize::MAX);
    let channel_offset = usize::try_from(words[W_CHANNEL_OFFSET]).unwrap_or(usize::MAX);
    let layout = Layout::new(words[W_SLOTS], replicas, channel_offset)
        .map_err(|e| invalid(&path, format!("its header describes an impossible layout ({e})")))?;
    let header_page = words[W_PAGE_SIZE];
    if header_page != page as u64 || words[W_PAGE_KIND] != page_kind_code(kind) {
        return Err(invalid(
            &path,
            format!("its header says {header_page}-byte pages (kind {}), but the file lives on {page}-byte pages", words[W_PAGE_KIND]),
        ));
    }
    let data_bytes = (layout.span().div_ceil(page) * page) as u64;
    if words[W_DATA_OFFSET] != page as u64 || words[W_DATA_BYTES] != data_bytes || words[W_FILE_BYTES] != page as u64 + data_bytes {
        return Err(invalid(
            &path,
            format!(
                "its header's sizes (data at {}, {} data bytes, {} file bytes) do not match its layout ({} slots x {} replicas needs {data_bytes} data bytes at {page})",
                words[W_DATA_OFFSET],
                words[W_DATA_BYTES],
                words[W_FILE_BYTES],
                layout.slots(),
                layout.replicas()
            ),
        ));
    }
    if size != words[W_FILE_BYTES] {
        let what = if size < words[W_FILE_BYTES] { "truncated" } else { "size mismatch" };
        return Err(invalid(&path, format!("{what}: the file is {size} bytes but its header says {}", words[W_FILE_BYTES])));
    }
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
    let region = Region::map_file(fd, page, data_bytes as usize, kind, page, lock, Vec::new())?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom, Write};

    /// A private directory per test, removed afterwards.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let d = PathBuf::from(SHM_DIR).join(format!("uslayer-test-{tag}-{}", std::process::id()));
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
        create(name, layout(), PageRequest::Off, LockRequest::Off, false, Some(&dir.0), None).unwrap()
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
        let e = create("seg", layout(), PageRequest::Off, LockRequest::Off, false, Some(&d.0), None).err().unwrap();
        assert!(matches!(e, Error::SegmentExists { .. }), "{e}");
        assert!(e.message(crate::error::Front::Js).contains("overwrite: true"));
        // A foreign file of that name is not clobbered either.
        std::fs::write(d.0.join("ultraslayer.foreign"), b"not ours").unwrap();
        assert!(create("foreign", layout(), PageRequest::Off, LockRequest::Off, false, Some(&d.0), None).is_err());
        assert_eq!(std::fs::read(d.0.join("ultraslayer.foreign")).unwrap(), b"not ours");
        // overwrite makes a new file; the old mapping stays valid and separate.
        // SAFETY: word 0 of a mapped slab.
        unsafe { (*(r1.ptr() as *const AtomicU64)).store(5, Ordering::Relaxed) };
        let (r2, info2) = create("seg", layout(), PageRequest::Off, LockRequest::Off, true, Some(&d.0), None).unwrap();
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
        poke(&info.path, W_VERSION, 2);
        let e = message(opened(&d, "v"));
        assert!(e.contains("version 2") && e.contains("reads version 1"), "{e}");
        poke(&info.path, W_VERSION, VERSION);
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
        let (_r, info) = create("rec", layout(), PageRequest::Off, LockRequest::Off, false, Some(&d.0), Some(text)).unwrap();
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
        let e = create("p", layout(), PageRequest::Transparent, LockRequest::Off, false, Some(&d.0), None).err().unwrap();
        assert!(matches!(e, Error::OptionOutOfRange { option: "hugePages", .. }));
        let e = create("p", layout(), PageRequest::Huge2M, LockRequest::Off, false, Some(&d.0), None).err().unwrap();
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
        match create(&name, layout(), PageRequest::Huge2M, LockRequest::Off, false, None, None) {
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
