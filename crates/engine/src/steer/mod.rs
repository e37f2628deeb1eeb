//! Steering: one thread, no helper core. Predict which copy of a slot is not being refreshed right
//! now and read only that one.
//!
//! `tracker` owns the prediction (pure arithmetic on observed timings, no I/O, deterministic);
//! `reader` owns the read path over a `Slab` (clock, load, observe; no allocation, no locking);
//! `pages` decides, from timings, which refresh group each 4 KiB page is in and which pages each
//! replica gets (pure); `arrange` measures a pool of pages and gathers the chosen ones into a
//! slab (refresh-group placement, used by `Slayer` for `placement: 'refresh-groups'`);
//! `orientation` holds, per frame of a slab learned in the background, which copy stalls where,
//! and `learner` learns it on a thread of its own while the slab serves, and calibrates the
//! reader's tracker there too (`handoff` carries it to the reader).
//! Nothing here uses Node types.

pub mod arrange;
pub(crate) mod handoff;
pub(crate) mod learner;
pub(crate) mod orientation;
pub(crate) mod pages;
pub(crate) mod reader;
pub(crate) mod tracker;

#[cfg(test)]
mod on_hosts;
#[cfg(test)]
mod synth;

pub use learner::Learning;
pub use reader::SteeredReader;
pub use tracker::{SteerReport, SteerState, Tracker, TrackerConfig, DEFAULT_PERIOD_NS};
