//! Where segments live: the hugetlbfs mounts /proc/mounts lists (huge pages, never swapped) and
//! /dev/shm (tmpfs, 4 KiB pages), or one directory the caller names; which of them a new segment
//! may go to for a page request; and where an existing one is.
//!
//! Owns the reading of /proc/mounts and statfs. It never creates, opens or removes a segment file
//! (only looks whether a name exists), so asking where is always safe.

use std::path::{Path, PathBuf};

use super::name::FILE_PREFIX;
use super::Backing;
use crate::error::{Error, Result};
use crate::region::{PageKind, PageRequest, AUTO_1G_THRESHOLD, PAGE_1G, PAGE_2M, PAGE_4K};

/// Where segments live when no hugetlbfs mount is used.
pub const SHM_DIR: &str = "/dev/shm";

/// `statfs.f_type` of a hugetlbfs mount.
const HUGETLBFS_MAGIC: u64 = 0x9584_58f6;

/// A directory segments can live in.
#[derive(Clone, Debug)]
pub(super) struct Place {
    pub dir: PathBuf,
    pub backing: Backing,
    /// Bytes of the pages of the filesystem `dir` is on.
    pub page_size: usize,
}

impl Place {
    /// The file segment `name` is (or would be) here.
    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{FILE_PREFIX}{name}"))
    }
}

/// The pages a segment file on this backing and page size is mapped with; None for huge page
/// sizes ultraslayer does not map.
pub(super) fn page_kind_of(backing: Backing, page_size: usize) -> Option<PageKind> {
    match (backing, page_size) {
        (Backing::Shm, _) => Some(PageKind::Base),
        (Backing::HugeTlbFs, PAGE_2M) => Some(PageKind::Huge2M),
        (Backing::HugeTlbFs, PAGE_1G) => Some(PageKind::Huge1G),
        _ => None,
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

/// (backing, page size) of the filesystem holding the open file `fd`.
#[cfg(unix)]
pub(super) fn fs_of_fd(fd: i32) -> Option<(Backing, usize)> {
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
pub(super) fn places(dir: Option<&Path>) -> Vec<Place> {
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
pub(super) fn find(name: &str, places: &[Place]) -> Option<(Place, PathBuf)> {
    places.iter().find_map(|p| {
        let path = p.path(name);
        std::fs::symlink_metadata(&path).ok().map(|_| (p.clone(), path))
    })
}

/// The places of `all` to try, in order, for a new segment of `span` data bytes on the pages
/// `pages` asks for (`dir`: the one directory the caller named, if any), and the notes on why
/// `PageRequest::Auto` settled for 4 KiB pages when it did.
///
/// # Errors
/// `Error::OptionOutOfRange` for `PageRequest::Transparent` (not for files); `Error::HugePages`
/// when 2 MiB or 1 GiB pages are asked for and no place has them.
pub(super) fn candidates(all: &[Place], pages: PageRequest, span: usize, dir: Option<&Path>) -> Result<(Vec<Place>, Vec<String>)> {
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
            if span >= AUTO_1G_THRESHOLD {
                c.extend(huge(PAGE_1G));
            }
            c.extend(huge(PAGE_2M));
            if c.is_empty() {
                notes.push(if all.iter().any(|p| p.backing == Backing::HugeTlbFs) {
                    "hugetlbfs: no mount with a page size that suits this slab; used /dev/shm (4 KiB pages)".to_string()
                } else {
                    format!("hugetlbfs: {}; used {} (4 KiB pages)", no_mount_message(PAGE_2M, dir), shm_dir_name(all))
                });
            }
            c.extend(shm);
            c
        }
    };
    Ok((candidates, notes))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(unescape_mount("/mnt/huge\\040pages"), "/mnt/huge pages");
        assert_eq!(unescape_mount("/plain"), "/plain");
        assert_eq!(unescape_mount("/end\\04"), "/end\\04");
    }

    fn place(dir: &str, backing: Backing, page_size: usize) -> Place {
        Place { dir: PathBuf::from(dir), backing, page_size }
    }

    fn dirs(c: &[Place]) -> Vec<&str> {
        c.iter().map(|p| p.dir.to_str().unwrap()).collect()
    }

    #[test]
    fn a_page_request_picks_its_places_huge_pages_first() {
        let all =
            [place("/h2", Backing::HugeTlbFs, PAGE_2M), place("/h1g", Backing::HugeTlbFs, PAGE_1G), place(SHM_DIR, Backing::Shm, PAGE_4K)];
        let pick = |pages, span| candidates(&all, pages, span, None).unwrap();
        assert_eq!(dirs(&pick(PageRequest::Off, 1 << 20).0), [SHM_DIR]);
        assert_eq!(dirs(&pick(PageRequest::Huge2M, 1 << 20).0), ["/h2"]);
        assert_eq!(dirs(&pick(PageRequest::Huge1G, 1 << 20).0), ["/h1g"]);
        let (small, notes) = pick(PageRequest::Auto, 1 << 20);
        assert_eq!((dirs(&small), notes.len()), (vec!["/h2", SHM_DIR], 0));
        assert_eq!(dirs(&pick(PageRequest::Auto, AUTO_1G_THRESHOLD).0), ["/h1g", "/h2", SHM_DIR]);
    }

    #[test]
    fn without_a_mount_auto_falls_back_with_a_note_and_explicit_huge_pages_are_refused() {
        let all = [place(SHM_DIR, Backing::Shm, PAGE_4K)];
        let (c, notes) = candidates(&all, PageRequest::Auto, 1 << 20, None).unwrap();
        assert_eq!(dirs(&c), [SHM_DIR]);
        assert!(notes[0].contains("no hugetlbfs mount with 2 MiB pages") && notes[0].contains("used /dev/shm"), "{notes:?}");
        let e = candidates(&all, PageRequest::Huge1G, 1 << 20, None).unwrap_err();
        assert!(matches!(e, Error::HugePages { .. }) && e.to_string().contains("pagesize=1G"), "{e}");
        let e = candidates(&all, PageRequest::Huge2M, 1 << 20, Some(Path::new("/tmp/x"))).unwrap_err();
        assert!(e.to_string().contains("/tmp/x is not a hugetlbfs mount with 2 MiB pages"), "{e}");
        let e = candidates(&all, PageRequest::Transparent, 1 << 20, None).unwrap_err();
        assert!(matches!(e, Error::OptionOutOfRange { option: "hugePages", .. }), "{e}");
        // A mount of a page size nothing suits: a different note.
        let all = [place("/h1g", Backing::HugeTlbFs, PAGE_1G), place(SHM_DIR, Backing::Shm, PAGE_4K)];
        let (_, notes) = candidates(&all, PageRequest::Auto, 1 << 20, None).unwrap();
        assert!(notes[0].contains("no mount with a page size that suits this slab"), "{notes:?}");
    }
}
