//! ultraslayer: hedged reads over a mirrored huge-page slab.
//!
//! The engine, in plain Rust with no Node types: memory (`region`), the layout of the copies
//! (`layout`, `slab`), the replica threads and the hedged protocol (`replicas`), how this machine's
//! DRAM refreshes (`refresh`), placing copies by it (`placement`), steering (`steer`), records
//! (`records`) and shared segments (`shm`). The Node addon (the workspace root) and the C ABI
//! (`crates/capi`) only translate to and from it.

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
pub mod records;
pub mod refresh;
pub mod region;
pub mod replicas;
pub mod rng;
pub mod shm;
pub mod slab;
pub mod slayer;
pub mod stats;
pub mod steer;
pub mod strategy;
mod sync;
pub mod tsc;

pub use error::{Error, ErrorKind, Result};
pub use job::{Job, Phase};
pub use layout::Layout;
pub use options::{ChannelOffset, CopyPlacement, OpenOptions, Options, SharedOptions, Strategy, ThreadOptions};
pub use records::{RecordWriter, Records, RecordsInfo};
pub use region::{LockRequest, PageKind, PageRequest};
pub use replicas::SpinPolicy;
pub use slayer::{CopyPlacementInfo, Info, PlacementFallback, Slayer};
pub use stats::{Percentiles, Stats};
pub use strategy::Choice;
