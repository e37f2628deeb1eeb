//! Measurement probes behind `ultraslayer info` / `probe refresh` / `probe placement` /
//! `probe groups`: what the machine is, whether reads stall with the DRAM refresh period, which
//! address bits move a line into the other refresh group, and where replicas physically live.
//!
//! Plain Rust, no Node types. Every probe returns a struct holding all its evidence. How this
//! machine's DRAM refreshes (timing loads, spike analysis and the periodogram, the period, each
//! line's stall) is `crate::refresh`'s; the probes run it and report (`refresh`, `groups`,
//! `placement`, `pagemap`), with `phases` the pure part of `probe groups`, tested on synthetic
//! data.
//! Probes never panic on bad options: they return `Error`.

pub mod groups;
pub mod machine;
pub(crate) mod pagemap;
pub(crate) mod phases;
pub mod placement;
pub mod refresh;

pub use groups::{GroupsOptions, GroupsReport};
pub use machine::MachineInfo;
pub use placement::{ChannelModel, PlacementReport};
pub use refresh::{RefreshOptions, RefreshReport};
