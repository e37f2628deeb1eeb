//! ultraslayer: hedged reads over a mirrored huge-page slab.
//!
//! The engine (every module here except `binding`) is plain Rust with no Node types, tested with
//! `cargo test --no-default-features`. The Node binding in `binding` only translates.

pub mod bench;
pub mod cores;
pub mod error;
pub mod layout;
pub mod region;
pub mod replicas;
pub mod shm;
pub mod slab;
pub mod slayer;
pub mod stats;
pub mod tsc;

pub use error::{Error, ErrorKind, Result};
pub use layout::Layout;
pub use region::{LockRequest, PageKind, PageRequest};
pub use replicas::SpinPolicy;
pub use slayer::{Info, OpenOptions, Options, SharedOptions, Slayer};
pub use stats::{Percentiles, Stats};

#[cfg(feature = "node")]
mod binding;
