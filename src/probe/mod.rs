//! Measurement probes behind `ultraslayer info` / `probe refresh` / `probe placement` /
//! `probe groups`: what the machine is, whether reads stall with the DRAM refresh period, which
//! address bits move a line into the other refresh group, and where replicas physically live.
//!
//! Plain Rust, no Node types. Every probe returns a struct holding all its evidence; the pure
//! analysis (`spikes`, `phases`) is separate from the code that touches memory and clocks
//! (`refresh`, `groups`, `placement`, `pagemap`; the timing primitives are `crate::refresh::timing`) so it can be tested on synthetic data.
//! Probes never panic on bad options: they return `Error`.

pub mod groups;
pub mod machine;
pub mod pagemap;
pub mod phases;
pub mod placement;
pub mod refresh;
pub mod spikes;

pub use groups::{GroupsOptions, GroupsReport};
pub use machine::MachineInfo;
pub use placement::{ChannelModel, PlacementReport, PlacementVerdict};
pub use refresh::{RefreshOptions, RefreshReport};
pub use spikes::{AnalysisOptions, Sample, SpikeReport, Verdict};
