//! How replica threads wait for work: the spin policy, an option the caller picks and the replica
//! threads (`replicas`) follow. Owns the policy's names and parsing; nothing here runs on a read
//! path.

use crate::error::{Error, Result};

/// How replica threads wait for work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpinPolicy {
    /// Spin with a pause instruction forever: lowest latency, one full core per replica.
    Busy,
    /// Spin, then yield the core, then park after an idle spell; the next request wakes them.
    Hybrid,
    /// Park as soon as there is no work; reads that find them parked are served directly.
    Sleep,
}

impl SpinPolicy {
    /// The policy named `s` ("busy", "hybrid" or "sleep", as `name` spells them).
    ///
    /// # Errors
    /// [`Error::OptionOutOfRange`] (option "spin") for any other name.
    pub fn parse(s: &str) -> Result<SpinPolicy> {
        match s {
            "busy" => Ok(SpinPolicy::Busy),
            "hybrid" => Ok(SpinPolicy::Hybrid),
            "sleep" => Ok(SpinPolicy::Sleep),
            other => Err(Error::option_range("spin", format!("must be 'busy', 'hybrid' or 'sleep', got {other:?}"))),
        }
    }

    /// The policy's name, as `parse` reads it.
    pub fn name(self) -> &'static str {
        match self {
            SpinPolicy::Busy => "busy",
            SpinPolicy::Hybrid => "hybrid",
            SpinPolicy::Sleep => "sleep",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_parses_from_its_name_and_nothing_else_does() {
        for p in [SpinPolicy::Busy, SpinPolicy::Hybrid, SpinPolicy::Sleep] {
            assert_eq!(SpinPolicy::parse(p.name()), Ok(p));
        }
        assert!(SpinPolicy::parse("Busy").is_err());
    }
}
