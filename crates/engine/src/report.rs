//! How the engine's reports serialize: `Info` (with `CopyPlacementInfo`, `Choice`, `SharedInfo`),
//! `RecordsInfo` and `Stats` derive `serde::Serialize` in camelCase, and a front end shows them as
//! they come (the Node binding's `info()` and `stats()` are this form, as index.d.ts declares it).
//! What a derive cannot say lives here: the enums a report holds serialize as their names, and a
//! sentinel (an unknown core, threads that never park) as -1.
//!
//! What it must never do: spell messages for a front end (they keep their markers; each front
//! end spells them, `error::spell`), or change a name or shape index.d.ts declares.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::options::Strategy;
use crate::records::Schema;
use crate::region::PageKind;
use crate::shm::Backing;
use crate::spin::SpinPolicy;

/// `Serialize` as the value's `name()`: the word the options take and `info()` reports.
macro_rules! serialize_by_name {
    ($($ty:ty),*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }
    )*};
}

serialize_by_name!(PageKind, SpinPolicy, Strategy, Backing);

/// Each thread's core, -1 where it is unknown.
pub(crate) fn cores_or_minus_one<S: Serializer>(cpus: &[Option<usize>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(cpus.iter().map(|c| c.map_or(-1, |c| c as i64)))
}

/// Idle microseconds before threads park, -1 for never (`u64::MAX`, busy threads).
pub(crate) fn never_as_minus_one<S: Serializer>(us: &u64, s: S) -> Result<S::Ok, S::Error> {
    match *us {
        u64::MAX => s.serialize_i64(-1),
        us => s.serialize_u64(us),
    }
}

/// A record schema as its text (`name:type,...`, `Schema::text`).
pub(crate) fn schema_text<S: Serializer>(schema: &Schema, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&schema.text())
}

/// The cores this process may run on (`allowedCpus`) and how many (`cpuCount`): two keys, for a
/// field serialized with `#[serde(flatten)]`.
pub(crate) fn allowed_cpus<S: Serializer>(cpus: &[usize], s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(2))?;
    m.serialize_entry("allowedCpus", cpus)?;
    m.serialize_entry("cpuCount", &cpus.len())?;
    m.end()
}
