//! ultraslayer: hedged reads over a mirrored huge-page slab.
//!
//! A [`Slayer`] keeps N copies of a slab of 64-bit slots and reads one slot so that a DRAM
//! refresh stall on one copy does not reach the caller: by **hedging** (replica threads race to
//! read every copy; the first answer wins), by **steering** (the calling thread predicts which copy
//! is not refreshing and reads only that one) or **directly** (copy 0, no threads). [`Records`]
//! does the same for records of up to seven typed fields, each read consistent. Slabs and record
//! segments can be **shared** by name between processes.
//!
//! The costs: N× the memory; hedging keeps N cores busy; a hedged read is handed to another core
//! and back, which raises the median read time in exchange for a shorter tail. The repository's
//! `docs/` pages (benchmark.md, steering.md, refresh-model.md) hold the measurements.
//!
//! ```
//! use ultraslayer::{Options, Slayer, Strategy};
//!
//! let mut options = Options::new(1024);
//! options.strategy = Strategy::Direct; // Hedge for replica threads, Steer to predict
//! let mut slab = Slayer::new(options)?;
//! slab.write(7, 1.5f64.to_bits())?;
//! assert_eq!(f64::from_bits(slab.read(7)?), 1.5);
//! # Ok::<(), ultraslayer::Error>(())
//! ```
//!
//! Where it runs (the repository's docs/platforms.md has the details): built and tested on
//! x86_64 Linux. The refresh probes and placing copies by refresh group time flushed loads with
//! x86_64 code, and refuse elsewhere ([`Error::Unsupported`]); hugetlb and transparent huge pages
//! and shared slabs need Linux (Windows allocates large pages and refuses shared slabs; macOS
//! falls back to plain memory). aarch64 Linux builds and is tested under emulation only.
//!
//! # Modules
//!
//! - [`slayer`]: the slab handle; [`options`]: what a slab takes; [`strategy`]: how the strategy
//!   is chosen; [`records`]: typed records; [`shm`]: shared segments;
//! - [`region`]: memory (huge pages, locking); [`layout`]: where the copies of a slot live;
//!   [`slab`]: the mapped copies; [`replicas`]: the replica threads and the hedged protocol,
//!   [`spin`]: how they wait; the crate's one read path (hedge / steer / direct), where every
//!   read is counted;
//! - [`refresh`]: how this machine's DRAM refreshes (`refresh::phase` is public); [`placement`]:
//!   placing copies in different refresh groups; [`steer`]: steered reads;
//! - [`probe`]: the measurements behind `ultraslayer probe`; [`cores`], [`tsc`], [`cache`],
//!   [`rng`], [`job`] (progress and cancelling of a creation), [`stats`], [`error`];
//!   `bench` (feature `bench`): the measurement harness behind `npm run bench`.
//!
//! The Node addon (the repository's root crate) and the C ABI (`crates/capi`) only translate to
//! and from this crate.
//!
//! # A complete program
//!
//! `examples/quickstart.rs`, run as a test of this crate:
//!
#![doc = concat!("```\n", include_str!("../examples/quickstart.rs"), "```")]
#![warn(missing_docs)]

#[cfg(feature = "bench")]
pub mod bench;
pub mod cache;
pub mod cores;
pub mod error;
pub mod job;
pub mod layout;
pub mod options;
pub mod placement;
pub mod probe;
pub(crate) mod read_path;
pub mod records;
pub mod refresh;
pub mod region;
pub mod replicas;
mod report;
pub mod rng;
pub mod shm;
pub mod slab;
pub mod slayer;
pub mod spin;
pub mod stats;
pub mod steer;
pub mod strategy;
mod sync;
pub mod tsc;

pub use error::{Error, ErrorKind, Result};
pub use job::{Job, Phase};
pub use layout::Layout;
pub use options::{ChannelOffset, CopyPlacement, DirectReads, OpenOptions, Options, SharedOptions, Strategy, ThreadOptions};
pub use records::{RecordWriter, Records, RecordsInfo};
pub use region::{LockRequest, PageKind, PageRequest};
pub use slayer::{CopyPlacementInfo, Info, PlacementFallback, Slayer};
pub use spin::SpinPolicy;
pub use stats::{Percentiles, Stats};
pub use strategy::Choice;

/// The README's example, compiled and run as a doc test so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
