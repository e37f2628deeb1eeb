//! One anonymous mapping: huge pages when they can be had, locked and pre-faulted.
//!
//! Owns the mapping's lifetime: maps, pre-faults, locks, reports what it got, unmaps exactly what
//! it mapped. It never reads or writes slot values; that is `slab`'s job.

#[cfg(unix)]
use crate::error::last_errno;
use crate::error::{errno_text, Error, Result};
use crate::job::{self, Job, Phase};

pub(crate) const PAGE_4K: usize = 4096;
pub(crate) const PAGE_2M: usize = 2 << 20;
pub(crate) const PAGE_1G: usize = 1 << 30;

/// The page source a caller asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum PageRequest {
    /// 1 GiB hugetlb (for slabs of 256 MiB and more), then 2 MiB hugetlb, then transparent huge
    /// pages, then base pages.
    Auto,
    /// 1 GiB hugetlb pages only.
    Huge1G,
    /// 2 MiB hugetlb pages only.
    Huge2M,
    /// Transparent huge pages (madvise), over base pages.
    Transparent,
    /// Base pages only.
    Off,
}

impl PageRequest {
    /// Parses `auto`, `1g`, `2m`, `thp` or `off`.
    ///
    /// # Errors
    ///
    /// [`Error::OptionOutOfRange`] for any other text.
    pub fn parse(s: &str) -> Result<PageRequest> {
        Ok(match s {
            "auto" => PageRequest::Auto,
            "1g" => PageRequest::Huge1G,
            "2m" => PageRequest::Huge2M,
            "thp" => PageRequest::Transparent,
            "off" => PageRequest::Off,
            other => return Err(Error::option_range("hugePages", format!("must be 'auto', '1g', '2m', 'thp' or 'off', got {other:?}"))),
        })
    }
}

/// The page source a region actually got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageKind {
    /// 1 GiB hugetlb pages.
    Huge1G,
    /// 2 MiB hugetlb pages.
    Huge2M,
    /// Transparent huge pages were asked for with madvise; `Region::thp_bytes` says how much of
    /// the region the kernel really backed with them.
    Transparent,
    /// Base pages (4 KiB on x86_64).
    Base,
}

impl PageKind {
    /// The short name: `1g`, `2m`, `thp` or `4k`.
    pub fn name(self) -> &'static str {
        match self {
            PageKind::Huge1G => "1g",
            PageKind::Huge2M => "2m",
            PageKind::Transparent => "thp",
            PageKind::Base => "4k",
        }
    }
}

/// Whether to mlock the region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockRequest {
    /// Try; a refusal is reported, not an error.
    Auto,
    /// A refusal is an error.
    Required,
    /// Do not lock.
    Off,
}

/// Pre-faulting goes this many bytes at a time (or a page, when pages are larger) between two
/// looks at the job: 2 MiB of 4 KiB pages is 512 faults, well under a millisecond or two.
const PREFAULT_CHUNK: usize = 2 << 20;

/// Slabs at least this large may take a 1 GiB page under `Auto`; smaller ones would waste most
/// of it and gain nothing over 2 MiB pages (a few TLB entries cover them).
pub(crate) const AUTO_1G_THRESHOLD: usize = 256 << 20;

/// An anonymous mapping of the pages asked for, pre-faulted and (if asked) locked; unmapped on
/// drop.
pub struct Region {
    ptr: *mut u8,
    mapped: usize,
    kind: PageKind,
    page_size: usize,
    locked: bool,
    lock_error: Option<String>,
    thp_bytes: usize,
    /// What was tried and why it was passed over, in order (for `info`).
    fallbacks: Vec<String>,
}

// SAFETY: the region is a plain block of memory with no thread affinity (any thread may use or
// unmap it), and the pointer itself is never changed after construction.
unsafe impl Send for Region {}
// SAFETY: all access to the region's bytes through a shared reference goes through atomics (see
// `slab`), so threads using it at once do not race.
unsafe impl Sync for Region {}

impl Region {
    /// Maps at least `bytes` bytes, zero-filled, pre-faulted.
    ///
    /// # Errors
    ///
    /// [`Error::HugePages`] when the page kind asked for cannot be had, [`Error::MapFailed`] when
    /// mmap fails, [`Error::LockRefused`] when a required lock is refused.
    pub fn map(bytes: usize, pages: PageRequest, lock: LockRequest) -> Result<Region> {
        Region::map_with(bytes, pages, lock, &Job::none())
    }

    /// `map`, reporting `Phase::Map` and `Phase::Prefault` to `job` and stopping with
    /// `Error::Cancelled` between pre-fault chunks (a huge page at most) once it is cancelled,
    /// with the mapping unmapped.
    pub(crate) fn map_with(bytes: usize, pages: PageRequest, lock: LockRequest, job: &Job) -> Result<Region> {
        job.check()?;
        let bytes = bytes.max(1);
        let mut fallbacks = Vec::new();
        let attempts: &[PageKind] = match pages {
            PageRequest::Auto if bytes >= AUTO_1G_THRESHOLD => &[PageKind::Huge1G, PageKind::Huge2M, PageKind::Transparent, PageKind::Base],
            PageRequest::Auto => &[PageKind::Huge2M, PageKind::Transparent, PageKind::Base],
            PageRequest::Huge1G => &[PageKind::Huge1G],
            PageRequest::Huge2M => &[PageKind::Huge2M],
            PageRequest::Transparent => &[PageKind::Transparent],
            PageRequest::Off => &[PageKind::Base],
        };
        if pages == PageRequest::Auto && bytes < AUTO_1G_THRESHOLD {
            fallbacks.push(format!("1g: skipped, slab is under {} MiB", AUTO_1G_THRESHOLD >> 20));
        }
        job.report(Phase::Map, 0, bytes as u64);
        let mut last_err = None;
        for &kind in attempts {
            match sys::map(bytes, kind) {
                Ok(mut region) => {
                    job.finish(Phase::Map, bytes as u64);
                    // On an error or a cancel, `region` is dropped, which unmaps it.
                    let faulted = match region.kind {
                        PageKind::Huge1G | PageKind::Huge2M => region.populate(job),
                        PageKind::Transparent | PageKind::Base => region.prefault(job),
                    };
                    match faulted {
                        Ok(()) => {}
                        // Reserved but not to be faulted in (a cpuset or memory policy): the next kind.
                        Err(e @ Error::HugePages { .. }) => {
                            drop(region);
                            fallbacks.push(format!("{}: {}", kind.name(), e.marked()));
                            last_err = Some(e);
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                    region.fallbacks = fallbacks;
                    region.lock(lock)?;
                    if kind == PageKind::Transparent {
                        region.thp_bytes = sys::thp_bytes_in(region.ptr as usize, region.mapped);
                    }
                    return Ok(region);
                }
                Err(e) => {
                    fallbacks.push(format!("{}: {}", kind.name(), e.marked()));
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.expect("at least one page kind is always attempted"))
    }

    /// Maps `len` bytes of the open file `fd` from `offset`, shared with every process that maps
    /// the same file, pre-faulted (without writing: other processes' data must survive) and locked
    /// as `lock` asks. `offset` and `len` are whole pages of `page_size`, the file's page size
    /// (a hugetlbfs file's huge page size, else 4 KiB); `kind` is what those pages are.
    ///
    /// The caller keeps the file at least `offset + len` bytes long for as long as the region
    /// lives (a shorter file would turn accesses past its end into SIGBUS).
    /// Reports `Phase::Prefault` to `job` (`Job::none()` for nobody) and stops with
    /// `Error::Cancelled` between chunks once it is cancelled (the mapping unmapped; the file is
    /// the caller's).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn map_file(
        fd: i32,
        offset: usize,
        len: usize,
        kind: PageKind,
        page_size: usize,
        lock: LockRequest,
        fallbacks: Vec<String>,
        job: &Job,
    ) -> Result<Region> {
        if len == 0 || offset % page_size != 0 || len % page_size != 0 {
            return Err(Error::MapFailed { bytes: len, errno: libc::EINVAL });
        }
        job.check()?;
        let ptr = sys::map_shared_file(fd, offset, len, false)?;
        let mut region = Region { ptr, mapped: len, kind, page_size, locked: false, lock_error: None, thp_bytes: 0, fallbacks };
        live::add();
        let chunk = page_size.max(PREFAULT_CHUNK);
        let populated = job::chunked(job, Phase::Prefault, len, chunk, |off, n| {
            // SAFETY: [ptr + off, ptr + off + n) is inside the mapping made above.
            sys::populate(unsafe { region.ptr.add(off) }, n).map_err(|errno| Error::MapFailed { bytes: len, errno })
        });
        match populated {
            Ok(()) => {}
            Err(Error::MapFailed { errno: libc::EINVAL, .. }) => {
                // A kernel without MADV_POPULATE_WRITE (before 5.14): map again, populated at once
                // (not cancellable within, as before), and touch every page by reading.
                let fallbacks = std::mem::take(&mut region.fallbacks);
                drop(region);
                let ptr = sys::map_shared_file(fd, offset, len, true)?;
                region = Region { ptr, mapped: len, kind, page_size, locked: false, lock_error: None, thp_bytes: 0, fallbacks };
                live::add();
                region.prefault_read();
                job.finish(Phase::Prefault, len as u64);
            }
            Err(e) => return Err(e),
        }
        region.lock(lock)?;
        Ok(region)
    }

    /// A region made of whole 4 KiB pages of `pool`, in the order given: page j of the result is
    /// pool page `pages[j]`, moved there (not copied: the same physical page, still locked if the
    /// pool was). The pool is consumed; its pages that were not picked are unmapped with it.
    ///
    /// Each moved page becomes its own kernel mapping, so this needs about two mappings per page
    /// while it runs; it refuses up front when `vm.max_map_count` leaves too few.
    pub(crate) fn gather(pool: Region, pages: &[usize]) -> Result<Region> {
        let pool_pages = pool.mapped / PAGE_4K;
        if pool.kind != PageKind::Base || pool.page_size != PAGE_4K {
            return Err(Error::Unsupported { what: format!("gathering pages needs a pool of 4 KiB pages, not {}", pool.kind.name()) });
        }
        if pages.is_empty() {
            return Err(Error::MapFailed { bytes: 0, errno: libc::EINVAL });
        }
        let mut seen = vec![false; pool_pages];
        for &p in pages {
            if p >= pool_pages || std::mem::replace(&mut seen[p], true) {
                return Err(Error::bad_option("pages", format!("page {p} is outside the pool of {pool_pages} pages or listed twice")));
            }
        }
        check_mappings_for(pages.len())?;
        let len = pages.len() * PAGE_4K;
        let ptr = sys::gather(pool.ptr, pages, len)?;
        let mut fallbacks = pool.fallbacks.clone();
        fallbacks.push(format!("placement: {} pages gathered one by one from a pool of {pool_pages}", pages.len()));
        let region = Region {
            ptr,
            mapped: len,
            kind: PageKind::Base,
            page_size: PAGE_4K,
            locked: pool.locked,
            lock_error: pool.lock_error.clone(),
            thp_bytes: 0,
            fallbacks,
        };
        live::add();
        drop(pool);
        Ok(region)
    }

    /// Loads one byte in every base page, so page tables are filled before the region is used,
    /// without storing anything (the bytes may belong to another process's live data).
    fn prefault_read(&self) {
        let step = self.page_size.min(PAGE_4K);
        let mut off = 0;
        while off < self.mapped {
            // SAFETY: `off < mapped` and `off` is a multiple of 4096 from a page-aligned start, so
            // the word is inside a mapping we own and aligned for AtomicU64. Other processes store
            // to these words only with 8-byte atomics (see `slab`), so an atomic load is the sound
            // way to touch them. Relaxed: the value is discarded; only the page fault matters.
            let word = unsafe { &*(self.ptr.add(off) as *const std::sync::atomic::AtomicU64) };
            std::hint::black_box(word.load(std::sync::atomic::Ordering::Relaxed));
            off += step;
        }
    }

    /// Writes one byte in every base page so every page is backed before the region is used,
    /// `PREFAULT_CHUNK` at a time between looks at `job`.
    fn prefault(&mut self, job: &Job) -> Result<()> {
        let step = self.page_size.min(PAGE_4K);
        let chunk = self.page_size.max(PREFAULT_CHUNK);
        let ptr = self.ptr;
        job::chunked(job, Phase::Prefault, self.mapped, chunk, |from, len| {
            let mut off = from;
            while off < from + len {
                // SAFETY: `off < from + len <= mapped`, so the byte is inside the mapping we own;
                // nothing else can see the region yet (it is being constructed). A volatile write
                // of 0 keeps the zero fill and cannot be elided.
                unsafe { std::ptr::write_volatile(ptr.add(off), 0) };
                off += step;
            }
            Ok(())
        })
    }

    /// Faults in every huge page of a hugetlb region, a page (or `PREFAULT_CHUNK`) at a time
    /// between looks at `job`, with MADV_POPULATE_WRITE: a reservation that cannot be honoured is an
    /// error here rather than a SIGBUS on first touch. A kernel without it (before 5.14) gets the
    /// whole region mapped again with MAP_POPULATE, in one call, as before.
    fn populate(&mut self, job: &Job) -> Result<()> {
        let (len, page) = (self.mapped, self.page_size);
        let ptr = self.ptr;
        let huge = |errno: i32| Error::HugePages {
            message: format!(
                "{} huge pages could not be faulted in ({})",
                if page == PAGE_1G { "1 GiB" } else { "2 MiB" },
                errno_text(errno)
            ),
        };
        let done = job::chunked(job, Phase::Prefault, len, page.max(PREFAULT_CHUNK), |off, n| {
            // SAFETY: [ptr + off, ptr + off + n) is inside the mapping we own, in whole huge pages.
            sys::populate(unsafe { ptr.add(off) }, n).map_err(|errno| Error::MapFailed { bytes: n, errno })
        });
        match done {
            // EINVAL: a kernel without MADV_POPULATE_WRITE.
            Err(Error::MapFailed { errno: libc::EINVAL, .. }) => {
                let kind = self.kind;
                sys::unmap(self.ptr, self.mapped);
                live::sub();
                // Until the new mapping exists, this region must not unmap anything on drop.
                self.mapped = 0;
                let again = sys::map_huge_populated(len, kind)?;
                self.ptr = again;
                self.mapped = len;
                live::add();
                job.finish(Phase::Prefault, len as u64);
                Ok(())
            }
            Err(Error::MapFailed { errno, .. }) => Err(huge(errno)),
            other => other,
        }
    }

    fn lock(&mut self, lock: LockRequest) -> Result<()> {
        if lock == LockRequest::Off {
            return Ok(());
        }
        match sys::mlock(self.ptr, self.mapped) {
            Ok(()) => self.locked = true,
            Err(errno) if lock == LockRequest::Required => {
                return Err(Error::LockRefused { bytes: self.mapped, errno });
            }
            #[cfg(not(windows))]
            Err(errno) => {
                self.lock_error =
                    Some(format!("mlock refused ({}); raise the memlock limit (ulimit -l) or run with CAP_IPC_LOCK", errno_text(errno)))
            }
            #[cfg(windows)]
            Err(code) => {
                self.lock_error = Some(format!(
                    "VirtualLock refused ({}); the process's working-set quota (SetProcessWorkingSetSize) is too small for the slab",
                    errno_text(code)
                ))
            }
        }
        Ok(())
    }

    /// The first byte of the mapping.
    #[inline(always)]
    pub fn ptr(&self) -> *mut u8 {
        self.ptr
    }
    /// Bytes mapped (the size asked for, rounded up to whole pages).
    pub fn mapped_bytes(&self) -> usize {
        self.mapped
    }
    /// The page source the region got.
    pub fn kind(&self) -> PageKind {
        self.kind
    }
    pub(crate) fn page_size(&self) -> usize {
        self.page_size
    }
    /// Whether the region is mlocked.
    pub fn locked(&self) -> bool {
        self.locked
    }
    /// Why an `Auto` lock did not happen, if it did not.
    pub(crate) fn lock_error(&self) -> Option<&str> {
        self.lock_error.as_deref()
    }
    /// For transparent huge pages: bytes the kernel backed with huge pages at map time.
    pub fn thp_bytes(&self) -> usize {
        self.thp_bytes
    }
    /// The page sources tried and refused before the one the region got, with why.
    pub fn fallbacks(&self) -> &[String] {
        &self.fallbacks
    }
}

/// Whether `pages` single-page mappings can be gathered (`Region::gather`) under this process's
/// `vm.max_map_count`: while they are, about two mappings per page exist (the moved pages and the
/// holes they leave in the pool).
pub(crate) fn check_mappings_for(pages: usize) -> Result<()> {
    let (in_use, limit) = sys::mappings();
    let needed = 2 * pages + 64;
    if in_use + needed > limit {
        return Err(Error::Placement {
            message: format!("{pages} pages need about {needed} memory mappings while they are gathered, but vm.max_map_count is {limit} and {in_use} are in use"),
            hint: format!(
                "raise the limit as root (`sysctl vm.max_map_count={}`), ask for fewer slots (or records), or use ⟦set:placement=offset⟧",
                (in_use + needed).next_power_of_two()
            ),
        });
    }
    Ok(())
}

impl Drop for Region {
    fn drop(&mut self) {
        if self.mapped > 0 {
            sys::unmap(self.ptr, self.mapped);
            live::sub();
        }
    }
}

/// Regions alive, counted per thread, for tests that check a cancelled creation left no mapping
/// behind (a region made on a thread and dropped on another skews both threads' counts; tests count
/// only work done and undone on their own thread). Nothing outside tests.
pub(crate) mod live {
    #[cfg(test)]
    thread_local! {
        static LIVE: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
    }

    #[inline]
    pub(crate) fn add() {
        #[cfg(test)]
        LIVE.with(|c| c.set(c.get() + 1));
    }

    #[inline]
    pub(crate) fn sub() {
        #[cfg(test)]
        LIVE.with(|c| c.set(c.get() - 1));
    }

    /// Regions made on this thread and not yet dropped.
    #[cfg(test)]
    pub(crate) fn count() -> isize {
        LIVE.with(|c| c.get())
    }
}

/// How many pages of `page` bytes fit `bytes`.
fn pages_for(bytes: usize, page: usize) -> usize {
    bytes.div_ceil(page)
}

#[cfg(target_os = "linux")]
mod sys {
    use super::*;

    fn mmap(len: usize, extra_flags: libc::c_int) -> std::result::Result<*mut u8, i32> {
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches no
        // existing memory; the result is checked against MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra_flags,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            Err(last_errno())
        } else {
            Ok(p as *mut u8)
        }
    }

    fn hugetlb_hint(page: usize) -> String {
        let kb = page / 1024;
        if page == PAGE_2M {
            format!("reserve 2 MiB pages as root with `sysctl vm.nr_hugepages=N` (or echo N > /sys/kernel/mm/hugepages/hugepages-{kb}kB/nr_hugepages), or use ⟦set:hugePages=auto⟧")
        } else {
            format!("reserve 1 GiB pages as root with `echo N > /sys/kernel/mm/hugepages/hugepages-{kb}kB/nr_hugepages` (best at boot: hugepagesz=1G hugepages=N), or use ⟦set:hugePages=auto⟧")
        }
    }

    /// Maps `bytes` of `kind` pages, not yet faulted in (hugetlb pages are reserved, which
    /// fails here when too few are free; `Region::populate` faults them in).
    pub(crate) fn map(bytes: usize, kind: PageKind) -> Result<Region> {
        let region = |ptr, mapped, page_size| {
            live::add();
            Region { ptr, mapped, kind, page_size, locked: false, lock_error: None, thp_bytes: 0, fallbacks: Vec::new() }
        };
        match kind {
            PageKind::Huge1G | PageKind::Huge2M => {
                let (page, flag) = if kind == PageKind::Huge1G { (PAGE_1G, libc::MAP_HUGE_1GB) } else { (PAGE_2M, libc::MAP_HUGE_2MB) };
                let n = pages_for(bytes, page);
                let len = n * page;
                // A private hugetlb mapping reserves its pages here (ENOMEM when too few are free);
                // `Region::populate` faults them in, chunk by chunk.
                mmap(len, libc::MAP_HUGETLB | flag).map(|p| region(p, len, page)).map_err(|errno| no_huge_pages(errno, n, page))
            }
            PageKind::Transparent => {
                if thp_mode().as_deref() == Some("never") {
                    return Err(Error::HugePages {
                        message: "transparent huge pages are disabled (/sys/kernel/mm/transparent_hugepage/enabled is [never]): \
                                  as root, echo madvise > /sys/kernel/mm/transparent_hugepage/enabled, or use ⟦set:hugePages=auto⟧"
                            .into(),
                    });
                }
                // Over-map by one huge page so the used part can start on a 2 MiB boundary, then
                // give the unaligned ends back.
                let len = pages_for(bytes, PAGE_2M) * PAGE_2M;
                let raw = mmap(len + PAGE_2M, 0).map_err(|errno| Error::MapFailed { bytes: len, errno })?;
                let start = (raw as usize).next_multiple_of(PAGE_2M);
                let head = start - raw as usize;
                let tail = PAGE_2M - head;
                if head > 0 {
                    unmap(raw, head);
                }
                if tail > 0 {
                    unmap((start + len) as *mut u8, tail);
                }
                let p = start as *mut u8;
                // SAFETY: [p, p+len) is a mapping we own; madvise only changes how it is backed.
                let rc = unsafe { libc::madvise(p as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
                if rc != 0 {
                    let errno = last_errno();
                    unmap(p, len);
                    return Err(Error::HugePages { message: format!("madvise(MADV_HUGEPAGE) refused ({})", errno_text(errno)) });
                }
                Ok(region(p, len, PAGE_2M))
            }
            PageKind::Base => {
                let len = pages_for(bytes, PAGE_4K) * PAGE_4K;
                mmap(len, 0).map(|p| region(p, len, PAGE_4K)).map_err(|errno| Error::MapFailed { bytes: len, errno })
            }
        }
    }

    fn no_huge_pages(errno: i32, n: usize, page: usize) -> Error {
        Error::HugePages {
            message: format!(
                "no {} huge pages to be had for {n} page(s) ({}; {} free): {}",
                if page == PAGE_1G { "1 GiB" } else { "2 MiB" },
                errno_text(errno),
                free_huge_pages(page).map_or("unknown".into(), |f| f.to_string()),
                hugetlb_hint(page)
            ),
        }
    }

    /// `len` bytes (whole pages) of `kind` hugetlb pages, faulted in by the kernel in one call
    /// (MAP_POPULATE): for kernels without MADV_POPULATE_WRITE.
    pub(crate) fn map_huge_populated(len: usize, kind: PageKind) -> Result<*mut u8> {
        let (page, flag) = if kind == PageKind::Huge1G { (PAGE_1G, libc::MAP_HUGE_1GB) } else { (PAGE_2M, libc::MAP_HUGE_2MB) };
        mmap(len, libc::MAP_HUGETLB | flag | libc::MAP_POPULATE).map_err(|errno| no_huge_pages(errno, len / page, page))
    }

    /// Faults in `[ptr, ptr + len)` as if written, without writing (MADV_POPULATE_WRITE, Linux
    /// 5.14+; EINVAL before). The range must be whole pages of a mapping the caller owns.
    pub(crate) fn populate(ptr: *mut u8, len: usize) -> std::result::Result<(), i32> {
        // SAFETY: the caller passes whole pages of its own mapping; populating changes no byte.
        if unsafe { libc::madvise(ptr as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE) } == 0 {
            Ok(())
        } else {
            Err(last_errno())
        }
    }

    /// A shared read-write mapping of `len` bytes of `fd` from `offset`, populated now when
    /// `populate` (else by `populate`, later, chunk by chunk).
    pub(crate) fn map_shared_file(fd: i32, offset: usize, len: usize, populate: bool) -> Result<*mut u8> {
        let flags = libc::MAP_SHARED | if populate { libc::MAP_POPULATE } else { 0 };
        // SAFETY: a new shared mapping of a file at an address of the kernel's choosing touches no
        // existing memory; the result is checked against MAP_FAILED. MAP_POPULATE, when asked,
        // faults the pages in.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, flags, fd, offset as libc::off_t) };
        if p == libc::MAP_FAILED {
            Err(Error::MapFailed { bytes: len, errno: last_errno() })
        } else {
            Ok(p as *mut u8)
        }
    }

    /// Moves pool pages `pages[j]` (4 KiB each, from `pool`) to page j of a new range of `len`
    /// bytes, which it returns. On failure the new range is unmapped (with whatever had been
    /// moved into it) and the pool keeps the rest.
    pub(crate) fn gather(pool: *mut u8, pages: &[usize], len: usize) -> Result<*mut u8> {
        // SAFETY: a new inaccessible reservation at an address of the kernel's choosing touches
        // no existing memory; every page of it is replaced below by MREMAP_FIXED.
        let dst = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE, -1, 0)
        };
        if dst == libc::MAP_FAILED {
            return Err(Error::MapFailed { bytes: len, errno: last_errno() });
        }
        let dst = dst as *mut u8;
        for (j, &p) in pages.iter().enumerate() {
            // SAFETY: source and target are whole, page-aligned 4 KiB pages: `p` is a page of the
            // pool (checked by the caller, each listed once), which the caller owns and nobody
            // else references, and `j` is a page of the reservation made above. MREMAP_FIXED
            // replaces the reserved page; the pool page's physical page, contents and lock move
            // with it and its old address becomes a hole in the pool, unmapped later with the pool.
            let r = unsafe {
                libc::mremap(
                    pool.add(p * PAGE_4K) as *mut libc::c_void,
                    PAGE_4K,
                    PAGE_4K,
                    libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                    dst.add(j * PAGE_4K) as *mut libc::c_void,
                )
            };
            if r == libc::MAP_FAILED {
                let errno = last_errno();
                unmap(dst, len);
                return Err(Error::MapFailed { bytes: len, errno });
            }
        }
        Ok(dst)
    }

    /// (mappings this process has, vm.max_map_count).
    pub(crate) fn mappings() -> (usize, usize) {
        let in_use = std::fs::read_to_string("/proc/self/maps").map(|m| m.lines().count()).unwrap_or(0);
        let limit = std::fs::read_to_string("/proc/sys/vm/max_map_count").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(65530);
        (in_use, limit)
    }

    pub(crate) fn unmap(ptr: *mut u8, len: usize) {
        // SAFETY: callers pass exactly a range they mapped and no longer use; hugetlb ranges are
        // whole pages because `map` rounded them so.
        unsafe { libc::munmap(ptr as *mut libc::c_void, len) };
    }

    pub(crate) fn mlock(ptr: *mut u8, len: usize) -> std::result::Result<(), i32> {
        // SAFETY: locking a range we own has no effect on memory contents.
        if unsafe { libc::mlock(ptr as *const libc::c_void, len) } == 0 {
            Ok(())
        } else {
            Err(last_errno())
        }
    }

    /// The bracketed THP mode ("always", "madvise", "never").
    pub fn thp_mode() -> Option<String> {
        let s = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").ok()?;
        let start = s.find('[')? + 1;
        let end = s[start..].find(']')? + start;
        Some(s[start..end].to_string())
    }

    /// Free hugetlb pages of `page` bytes on this machine (None when the kernel does not say).
    pub fn free_huge_pages(page: usize) -> Option<u64> {
        let p = format!("/sys/kernel/mm/hugepages/hugepages-{}kB/free_hugepages", page / 1024);
        std::fs::read_to_string(p).ok()?.trim().parse().ok()
    }

    /// AnonHugePages of the mapping that starts at `start`, from /proc/self/smaps.
    pub(crate) fn thp_bytes_in(start: usize, len: usize) -> usize {
        let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return 0 };
        let mut inside = false;
        let mut total = 0usize;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((a, b)) = range.split_once('-') {
                    if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                        inside = a < start + len && b > start;
                        continue;
                    }
                }
            }
            if inside {
                if let Some(rest) = line.strip_prefix("AnonHugePages:") {
                    let kb: usize = rest.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    total += kb * 1024;
                }
            }
        }
        total
    }
}

#[cfg(windows)]
mod sys {
    //! Windows: `VirtualAlloc` (large pages with MEM_LARGE_PAGES when the process holds
    //! SeLockMemoryPrivilege, else base pages), `VirtualLock`, `VirtualFree`. No hugetlbfs, no
    //! transparent huge pages, no shared files here (shared slabs are refused in `shm`). Errors
    //! carry the Win32 error code where the Linux side carries an errno; `errno_text` prints either
    //! as the OS words it means, since both go through `std::io::Error::from_raw_os_error`.
    use super::*;
    use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, ERROR_NOT_ALL_ASSIGNED, HANDLE, LUID};
    use windows_sys::Win32::Security::{
        AdjustTokenPrivileges, LookupPrivilegeValueW, LUID_AND_ATTRIBUTES, SE_LOCK_MEMORY_NAME, SE_PRIVILEGE_ENABLED,
        TOKEN_ADJUST_PRIVILEGES, TOKEN_PRIVILEGES, TOKEN_QUERY,
    };
    use windows_sys::Win32::System::Memory::{
        GetLargePageMinimum, VirtualAlloc, VirtualFree, VirtualLock, MEM_COMMIT, MEM_LARGE_PAGES, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE,
    };
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, GetProcessWorkingSetSize, OpenProcessToken, SetProcessWorkingSetSize};

    /// ERROR_NOT_SUPPORTED: what the calls with no Windows counterpart fail with.
    const NOT_SUPPORTED: i32 = 50;

    fn last_error() -> i32 {
        // SAFETY: GetLastError has no preconditions.
        unsafe { GetLastError() as i32 }
    }

    /// Enables SeLockMemoryPrivilege in this process's token; Err(why) when the account does not
    /// hold it (large pages then cannot be had).
    fn enable_lock_memory_privilege() -> std::result::Result<(), String> {
        let mut token: HANDLE = std::ptr::null_mut();
        // SAFETY: GetCurrentProcess returns a pseudo-handle that needs no closing; OpenProcessToken
        // writes one handle into `token`, closed below.
        if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY, &mut token) } == 0 {
            return Err(format!("OpenProcessToken failed ({})", errno_text(last_error())));
        }
        let mut luid = LUID { LowPart: 0, HighPart: 0 };
        // SAFETY: SE_LOCK_MEMORY_NAME is a static NUL-terminated UTF-16 string; the call writes `luid` only.
        let looked_up = unsafe { LookupPrivilegeValueW(std::ptr::null(), SE_LOCK_MEMORY_NAME, &mut luid) } != 0;
        let result = if !looked_up {
            Err(format!("LookupPrivilegeValue(SeLockMemoryPrivilege) failed ({})", errno_text(last_error())))
        } else {
            let privileges =
                TOKEN_PRIVILEGES { PrivilegeCount: 1, Privileges: [LUID_AND_ATTRIBUTES { Luid: luid, Attributes: SE_PRIVILEGE_ENABLED }] };
            // SAFETY: `token` is open with TOKEN_ADJUST_PRIVILEGES; `privileges` is a valid
            // one-entry TOKEN_PRIVILEGES that outlives the call; no previous state is asked for.
            let ok = unsafe { AdjustTokenPrivileges(token, 0, &privileges, 0, std::ptr::null_mut(), std::ptr::null_mut()) } != 0;
            // AdjustTokenPrivileges succeeds without enabling a privilege the account lacks; only
            // GetLastError (ERROR_NOT_ALL_ASSIGNED) tells.
            let err = last_error();
            if !ok {
                Err(format!("AdjustTokenPrivileges failed ({})", errno_text(err)))
            } else if err == ERROR_NOT_ALL_ASSIGNED as i32 {
                Err("this account does not hold SeLockMemoryPrivilege".into())
            } else {
                Ok(())
            }
        };
        // SAFETY: `token` was opened above and is closed once.
        unsafe { CloseHandle(token) };
        result
    }

    fn virtual_alloc(len: usize, large: bool) -> std::result::Result<*mut u8, i32> {
        let kind = MEM_RESERVE | MEM_COMMIT | if large { MEM_LARGE_PAGES } else { 0 };
        // SAFETY: a new private allocation at an address of the system's choosing touches no
        // existing memory; a null result is the failure, checked here. Committed pages read as zero.
        let p = unsafe { VirtualAlloc(std::ptr::null(), len, kind, PAGE_READWRITE) };
        if p.is_null() {
            Err(last_error())
        } else {
            Ok(p as *mut u8)
        }
    }

    /// Maps `bytes` of `kind` pages. Large pages are committed, resident and locked by the system
    /// at once (they are never paged out); base pages are committed and zeroed on first touch.
    pub(crate) fn map(bytes: usize, kind: PageKind) -> Result<Region> {
        let region = |ptr, mapped, page_size| {
            live::add();
            Region { ptr, mapped, kind, page_size, locked: false, lock_error: None, thp_bytes: 0, fallbacks: Vec::new() }
        };
        match kind {
            PageKind::Huge2M => {
                // SAFETY: GetLargePageMinimum has no preconditions.
                let page = unsafe { GetLargePageMinimum() };
                if page != PAGE_2M {
                    return Err(Error::HugePages {
                        message: format!(
                            "this Windows has no 2 MiB large pages (GetLargePageMinimum says {page} bytes); use ⟦set:hugePages=auto⟧"
                        ),
                    });
                }
                enable_lock_memory_privilege().map_err(|why| Error::HugePages {
                    message: format!(
                        "no 2 MiB large pages: {why}. Grant the account 'Lock pages in memory' (secpol.msc, Local Policies, User Rights \
                         Assignment; sign in again), or use ⟦set:hugePages=auto⟧"
                    ),
                })?;
                let n = pages_for(bytes, page);
                let len = n * page;
                virtual_alloc(len, true).map(|p| region(p, len, page)).map_err(|e| Error::HugePages {
                    message: format!(
                        "no 2 MiB large pages to be had for {n} page(s) ({}): physical memory is too fragmented or too small; \
                         large pages are best allocated soon after boot, or use ⟦set:hugePages=auto⟧",
                        errno_text(e)
                    ),
                })
            }
            PageKind::Huge1G => Err(Error::HugePages {
                message: "1 GiB pages are not supported on Windows by this build (2 MiB large pages are); use ⟦set:hugePages=auto⟧".into(),
            }),
            PageKind::Transparent => Err(Error::HugePages {
                message: "transparent huge pages are a Linux feature; on Windows ask for 2 MiB large pages or use ⟦set:hugePages=auto⟧"
                    .into(),
            }),
            PageKind::Base => {
                let len = pages_for(bytes, PAGE_4K) * PAGE_4K;
                virtual_alloc(len, false).map(|p| region(p, len, PAGE_4K)).map_err(|errno| Error::MapFailed { bytes: len, errno })
            }
        }
    }
    pub(crate) fn map_shared_file(_: i32, _: usize, len: usize, _: bool) -> Result<*mut u8> {
        Err(Error::MapFailed { bytes: len, errno: NOT_SUPPORTED }) // shared slabs are refused before this on Windows
    }
    pub(crate) fn map_huge_populated(len: usize, _: PageKind) -> Result<*mut u8> {
        Err(Error::MapFailed { bytes: len, errno: NOT_SUPPORTED }) // never reached: `populate` never fails here
    }
    pub(crate) fn populate(_: *mut u8, _: usize) -> std::result::Result<(), i32> {
        Ok(()) // large pages are resident from VirtualAlloc on; base pages are pre-faulted by writing
    }
    pub(crate) fn gather(_: *mut u8, _: &[usize], _: usize) -> Result<*mut u8> {
        Err(Error::Unsupported { what: "gathering pages (mremap) is Linux-only".into() })
    }
    pub(crate) fn mappings() -> (usize, usize) {
        (0, usize::MAX / 4)
    }
    pub(crate) fn unmap(ptr: *mut u8, _len: usize) {
        // SAFETY: `ptr` is the base of an allocation made by `virtual_alloc` that callers no longer
        // use; MEM_RELEASE frees the whole of it (the size must then be 0).
        unsafe { VirtualFree(ptr as *mut core::ffi::c_void, 0, MEM_RELEASE) };
    }

    /// VirtualLock, after growing the process's minimum working set by `len` (VirtualLock can lock
    /// no more than the working set minimum, a few hundred KiB by default). Large pages are
    /// locked already: VirtualLock on them succeeds and changes nothing.
    pub(crate) fn mlock(ptr: *mut u8, len: usize) -> std::result::Result<(), i32> {
        let (mut min, mut max) = (0usize, 0usize);
        // SAFETY: the pseudo-handle needs no closing; the call writes the two sizes only.
        if unsafe { GetProcessWorkingSetSize(GetCurrentProcess(), &mut min, &mut max) } != 0 {
            let want_min = min.saturating_add(len).saturating_add(1 << 20);
            // SAFETY: as above; this only changes the process's working-set limits.
            unsafe { SetProcessWorkingSetSize(GetCurrentProcess(), want_min, max.max(want_min.saturating_add(1 << 20))) };
        }
        // SAFETY: locking a range we own has no effect on memory contents.
        if unsafe { VirtualLock(ptr as *const core::ffi::c_void, len) } != 0 {
            Ok(())
        } else {
            Err(last_error())
        }
    }
    /// The THP mode: Windows has none.
    pub fn thp_mode() -> Option<String> {
        None
    }
    /// Free huge pages: Windows does not say how many large pages it could give.
    pub fn free_huge_pages(_: usize) -> Option<u64> {
        None
    }
    pub(crate) fn thp_bytes_in(_: usize, _: usize) -> usize {
        0
    }
}

#[cfg(not(any(target_os = "linux", windows)))]
mod sys {
    //! Portable fallback: page-aligned heap memory, no huge pages, no locking.
    use super::*;
    use std::alloc::{alloc_zeroed, dealloc, Layout as AllocLayout};

    pub(crate) fn map(bytes: usize, kind: PageKind) -> Result<Region> {
        if kind != PageKind::Base {
            return Err(Error::HugePages { message: format!("{} pages are only supported on Linux", kind.name()) });
        }
        let len = pages_for(bytes, PAGE_4K) * PAGE_4K;
        let layout = AllocLayout::from_size_align(len, PAGE_4K).map_err(|_| Error::MapFailed { bytes: len, errno: 0 })?;
        // SAFETY: the layout has non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err(Error::MapFailed { bytes: len, errno: 12 });
        }
        live::add();
        Ok(Region { ptr, mapped: len, kind, page_size: PAGE_4K, locked: false, lock_error: None, thp_bytes: 0, fallbacks: Vec::new() })
    }
    pub(crate) fn map_shared_file(_: i32, _: usize, len: usize, _: bool) -> Result<*mut u8> {
        Err(Error::MapFailed { bytes: len, errno: 95 }) // EOPNOTSUPP: shared slabs are Linux-only
    }
    pub(crate) fn map_huge_populated(len: usize, _: PageKind) -> Result<*mut u8> {
        Err(Error::MapFailed { bytes: len, errno: 95 }) // no hugetlb here
    }
    pub(crate) fn populate(_: *mut u8, _: usize) -> std::result::Result<(), i32> {
        Ok(()) // heap memory from alloc_zeroed: nothing to fault in ahead
    }
    pub(crate) fn gather(_: *mut u8, _: &[usize], _: usize) -> Result<*mut u8> {
        Err(Error::Unsupported { what: "gathering pages (mremap) is Linux-only".into() })
    }
    pub(crate) fn mappings() -> (usize, usize) {
        (0, usize::MAX / 4)
    }
    pub(crate) fn unmap(ptr: *mut u8, len: usize) {
        // SAFETY: allocated in `map` with exactly this size and alignment.
        unsafe { dealloc(ptr, AllocLayout::from_size_align_unchecked(len, PAGE_4K)) }
    }
    pub(crate) fn mlock(_: *mut u8, _: usize) -> std::result::Result<(), i32> {
        Err(95) // EOPNOTSUPP
    }
    /// The THP mode: Windows has none.
    pub fn thp_mode() -> Option<String> {
        None
    }
    /// Free huge pages: Windows does not say how many large pages it could give.
    pub fn free_huge_pages(_: usize) -> Option<u64> {
        None
    }
    pub(crate) fn thp_bytes_in(_: usize, _: usize) -> usize {
        0
    }
}

pub use sys::{free_huge_pages, thp_mode};

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(windows))]
    fn total_huge(page: usize) -> u64 {
        let p = format!("/sys/kernel/mm/hugepages/hugepages-{}kB/nr_hugepages", page / 1024);
        std::fs::read_to_string(p).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    }

    #[test]
    fn base_pages_are_zeroed_whole_pages() {
        let r = Region::map(10_000, PageRequest::Off, LockRequest::Off).unwrap();
        assert_eq!(r.kind(), PageKind::Base);
        assert_eq!(r.mapped_bytes(), 12_288);
        assert!(!r.locked());
        // SAFETY: reading bytes of a mapping we own.
        let all_zero = (0..r.mapped_bytes()).all(|i| unsafe { *r.ptr().add(i) } == 0);
        assert!(all_zero);
    }

    #[test]
    fn auto_always_gets_some_pages_and_says_what_it_passed_over() {
        let r = Region::map(3 << 20, PageRequest::Auto, LockRequest::Auto).unwrap();
        assert!(r.mapped_bytes() >= 3 << 20);
        assert_eq!(r.mapped_bytes() % r.page_size(), 0);
        if r.kind() != PageKind::Huge2M {
            assert!(r.fallbacks().iter().any(|f| f.starts_with("2m:")), "{:?}", r.fallbacks());
        }
        // Under Auto a lock either happened or left a reason.
        assert!(r.locked() || r.lock_error().is_some());
    }

    #[cfg(not(windows))]
    #[test]
    fn explicit_huge_pages_either_come_or_fail_with_how_to_reserve_them() {
        for (req, page) in [(PageRequest::Huge2M, PAGE_2M), (PageRequest::Huge1G, PAGE_1G)] {
            let free = free_huge_pages(page).unwrap_or(0);
            match Region::map(page / 2, req, LockRequest::Off) {
                Ok(r) => {
                    assert!(free >= 1);
                    assert_eq!(r.page_size(), page);
                    assert_eq!(r.mapped_bytes(), page);
                }
                Err(Error::HugePages { message }) => {
                    assert_eq!(free, 0, "{message}");
                    assert!(message.contains("nr_hugepages"), "{message}");
                }
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        let _ = total_huge(PAGE_2M);
    }

    #[cfg(not(windows))]
    #[test]
    fn more_huge_pages_than_reserved_fail_cleanly() {
        let free = free_huge_pages(PAGE_2M).unwrap_or(0) as usize;
        let e = Region::map((free + 1) * PAGE_2M, PageRequest::Huge2M, LockRequest::Off).err();
        assert!(matches!(e, Some(Error::HugePages { .. })), "{e:?}");
    }

    #[cfg(not(windows))]
    #[test]
    fn transparent_pages_are_aligned_and_report_their_backing() {
        match Region::map(4 * PAGE_2M, PageRequest::Transparent, LockRequest::Off) {
            Ok(r) => {
                assert_eq!(r.ptr() as usize % PAGE_2M, 0);
                assert!(r.thp_bytes() <= r.mapped_bytes());
            }
            Err(Error::HugePages { message }) => assert!(message.contains("never")),
            Err(e) => panic!("{e}"),
        }
    }

    #[cfg(windows)]
    #[test]
    fn windows_large_pages_come_with_the_lock_privilege_or_say_how_to_get_it_and_no_other_huge_kind_is_offered() {
        match Region::map(PAGE_2M / 2, PageRequest::Huge2M, LockRequest::Off) {
            Ok(r) => {
                assert_eq!(r.kind(), PageKind::Huge2M);
                assert_eq!(r.page_size(), PAGE_2M);
                assert_eq!(r.mapped_bytes(), PAGE_2M);
            }
            Err(Error::HugePages { message }) => assert!(message.contains("large pages"), "{message}"),
            Err(e) => panic!("unexpected error {e}"),
        }
        let e = Region::map(PAGE_1G, PageRequest::Huge1G, LockRequest::Off).err();
        assert!(matches!(&e, Some(Error::HugePages { message }) if message.contains("not supported on Windows")), "{e:?}");
        let e = Region::map(PAGE_2M, PageRequest::Transparent, LockRequest::Off).err();
        assert!(matches!(&e, Some(Error::HugePages { message }) if message.contains("Linux feature")), "{e:?}");
        let r = Region::map(3 << 20, PageRequest::Auto, LockRequest::Auto).unwrap();
        if r.kind() != PageKind::Huge2M {
            assert_eq!(r.kind(), PageKind::Base);
            assert!(r.fallbacks().iter().any(|f| f.starts_with("2m:") && f.contains("large pages")), "{:?}", r.fallbacks());
        }
    }

    #[cfg(windows)]
    #[test]
    fn a_windows_lock_grows_the_working_set_so_a_slab_larger_than_the_default_quota_is_locked() {
        // The default minimum working set is a few hundred KiB; 64 MiB locks only if `mlock` raised it.
        let r = Region::map(64 << 20, PageRequest::Off, LockRequest::Required).unwrap();
        assert!(r.locked());
        assert!(r.lock_error().is_none());
    }

    #[test]
    fn required_lock_is_honoured_as_root() {
        let r = Region::map(1 << 20, PageRequest::Off, LockRequest::Required);
        match r {
            Ok(r) => assert!(r.locked()),
            Err(e) => assert!(e.to_string().contains("memlock"), "{e}"),
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn gathered_pages_keep_their_contents_in_the_order_asked_and_the_pool_is_gone() {
        let pool = Region::map(64 * PAGE_4K, PageRequest::Off, LockRequest::Auto).unwrap();
        let locked = pool.locked();
        for p in 0..64 {
            // SAFETY: page p's first word is inside the pool, which nothing else uses yet.
            unsafe { (pool.ptr().add(p * PAGE_4K) as *mut u64).write(0xA000 + p as u64) };
        }
        let (before, _) = sys::mappings();
        let order = [5usize, 3, 60, 0, 63];
        let r = Region::gather(pool, &order).unwrap();
        assert_eq!(r.mapped_bytes(), order.len() * PAGE_4K);
        assert_eq!(r.locked(), locked);
        assert_eq!(r.kind(), PageKind::Base);
        for (j, &p) in order.iter().enumerate() {
            // SAFETY: page j is inside the gathered region.
            let v = unsafe { (r.ptr().add(j * PAGE_4K) as *const u64).read() };
            assert_eq!(v, 0xA000 + p as u64, "page {j}");
        }
        drop(r);
        let (after, _) = sys::mappings();
        assert!(after <= before + 2, "mappings {before} -> {after}: pool or pages left behind");
    }

    #[test]
    fn a_cancel_mid_prefault_unmaps_the_region_and_says_where_it_stopped() {
        let before = live::count();
        let (job, rec) = crate::job::testing::recording(|p, done, _| p == Phase::Prefault && done >= 4 << 20);
        let r = Region::map_with(16 << 20, PageRequest::Off, LockRequest::Off, &job);
        assert!(matches!(r, Err(Error::Cancelled { phase: Some("prefault") })), "{:?}", r.err());
        assert_eq!(live::count(), before, "the mapping was left behind");
        assert_eq!(rec.phases(), vec![Phase::Map, Phase::Prefault]);
        rec.assert_monotonic();
        let last = *rec.calls.lock().unwrap().last().unwrap();
        assert!(last.1 < last.2, "stopped before the end: {last:?}");
    }

    #[test]
    fn a_job_cancelled_before_mapping_maps_nothing() {
        let before = live::count();
        let job = Job::new();
        job.cancel();
        assert!(matches!(Region::map_with(1 << 20, PageRequest::Auto, LockRequest::Auto, &job), Err(Error::Cancelled { phase: None })));
        assert_eq!(live::count(), before);
    }

    #[test]
    fn a_whole_map_reports_every_byte_in_order() {
        let (job, rec) = crate::job::testing::recording(|_, _, _| false);
        let r = Region::map_with(5 << 20, PageRequest::Off, LockRequest::Off, &job).unwrap();
        rec.assert_monotonic();
        let calls = rec.calls.lock().unwrap().clone();
        assert_eq!(rec.phases(), vec![Phase::Map, Phase::Prefault]);
        assert_eq!(calls.last(), Some(&(Phase::Prefault, r.mapped_bytes() as u64, r.mapped_bytes() as u64)));
        assert!(calls.iter().filter(|c| c.0 == Phase::Prefault).count() >= 3, "{calls:?}");
    }

    #[test]
    fn gather_refuses_bad_page_lists_and_huge_pools() {
        let pool = || Region::map(8 * PAGE_4K, PageRequest::Off, LockRequest::Off).unwrap();
        assert!(matches!(Region::gather(pool(), &[1, 1]), Err(Error::BadOption { .. })));
        assert!(matches!(Region::gather(pool(), &[8]), Err(Error::BadOption { .. })));
        assert!(Region::gather(pool(), &[]).is_err());
        if let Ok(thp) = Region::map(4 << 20, PageRequest::Transparent, LockRequest::Off) {
            assert!(matches!(Region::gather(thp, &[0]), Err(Error::Unsupported { .. })));
        }
    }
}
