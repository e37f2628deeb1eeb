//! Which cores replica threads run on: the allowed set, the default choice, pinning.
//!
//! Never spins and never touches slab memory.

use crate::error::{Error, Result};

/// The cores this process may run on (sched_getaffinity), ascending.
pub fn allowed() -> Vec<usize> {
    sys::allowed()
}

/// The core the calling thread is running on right now, if the OS says.
pub(crate) fn current() -> Option<usize> {
    sys::current()
}

/// Pins the calling thread to `core`. Returns false when the OS refused.
pub(crate) fn pin_current(core: usize) -> bool {
    core_affinity::set_for_current(core_affinity::CoreId { id: core })
}

/// The cores chosen for a replica set, and whether they had to be shared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CoreAssignment {
    pub(crate) cores: Vec<usize>,
    /// Some replica shares a core with another replica or with the requester.
    pub(crate) shared: bool,
    /// Human-readable reason when `shared` (for info / bench headers).
    pub(crate) note: Option<String>,
}

/// Chooses one core per replica.
///
/// Explicit cores must be allowed and distinct. By default: distinct allowed cores, avoiding the
/// requester's core when there is one to spare; with fewer allowed cores than replicas the list
/// wraps around and the placement says it is shared.
pub(crate) fn choose(replicas: usize, explicit: Option<&[usize]>, allowed: &[usize], requester: Option<usize>) -> Result<CoreAssignment> {
    if let Some(list) = explicit {
        if list.len() != replicas {
            return Err(Error::option_range("cores", format!("needs exactly one core per replica ({replicas}), got {} cores", list.len())));
        }
        for (k, &c) in list.iter().enumerate() {
            if !allowed.contains(&c) {
                return Err(Error::CoreNotAllowed { core: c, allowed: allowed.to_vec() });
            }
            if list[..k].contains(&c) {
                return Err(Error::CoreListedTwice { core: c });
            }
        }
        let shared = requester.is_some_and(|r| list.contains(&r));
        return Ok(CoreAssignment {
            cores: list.to_vec(),
            shared,
            note: shared.then(|| format!("a replica thread shares the requester's core {}", requester.unwrap())),
        });
    }
    if allowed.is_empty() {
        return Err(Error::Thread { message: "the process has no allowed cores (sched_getaffinity returned none)".into() });
    }
    // Prefer cores other than the requester's, then the requester's own.
    let mut order: Vec<usize> = allowed.iter().copied().filter(|&c| Some(c) != requester).collect();
    let spare = order.len() >= replicas;
    if !spare {
        order = allowed.to_vec();
    }
    let cores: Vec<usize> = (0..replicas).map(|k| order[k % order.len()]).collect();
    let shared = !spare;
    let note = shared.then(|| {
        format!(
            "{} allowed core(s) for {replicas} replica threads plus the requester: threads share cores, \
             so hedged reads are correct but not fast (use ⟦set:spin=hybrid⟧ or give the process {} cores)",
            allowed.len(),
            replicas + 1
        )
    });
    Ok(CoreAssignment { cores, shared, note })
}

#[cfg(target_os = "linux")]
mod sys {
    pub(crate) fn allowed() -> Vec<usize> {
        // SAFETY: cpu_set_t is plain data; zeroed is the empty set. sched_getaffinity writes at
        // most size_of::<cpu_set_t>() bytes into it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return Vec::new();
            }
            (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
        }
    }

    pub(crate) fn current() -> Option<usize> {
        // SAFETY: sched_getcpu has no arguments and no preconditions.
        let c = unsafe { libc::sched_getcpu() };
        (c >= 0).then_some(c as usize)
    }
}

#[cfg(windows)]
mod sys {
    /// The cores this process may run on (core_affinity reads the process affinity mask).
    pub(crate) fn allowed() -> Vec<usize> {
        core_affinity::get_core_ids().unwrap_or_default().into_iter().map(|c| c.id).collect()
    }

    pub(crate) fn current() -> Option<usize> {
        // SAFETY: GetCurrentProcessorNumber has no arguments and no preconditions.
        Some(unsafe { windows_sys::Win32::System::Threading::GetCurrentProcessorNumber() } as usize)
    }
}

#[cfg(not(any(target_os = "linux", windows)))]
mod sys {
    pub(crate) fn allowed() -> Vec<usize> {
        core_affinity::get_core_ids().unwrap_or_default().into_iter().map(|c| c.id).collect()
    }
    pub(crate) fn current() -> Option<usize> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_avoids_the_requester_when_there_is_a_spare_core() {
        let p = choose(2, None, &[0, 1, 2, 3], Some(0)).unwrap();
        assert_eq!(p.cores, vec![1, 2]);
        assert!(!p.shared);
    }

    #[test]
    fn default_shares_cores_on_small_machines_and_says_so() {
        let p = choose(2, None, &[0, 1], Some(0)).unwrap();
        assert_eq!(p.cores, vec![0, 1]);
        assert!(p.shared);
        assert!(p.note.unwrap().contains("share"));
        let p = choose(8, None, &[0, 1], None).unwrap();
        assert_eq!(p.cores.len(), 8);
        assert!(p.shared);
    }

    #[test]
    fn explicit_cores_must_be_allowed_and_distinct() {
        assert_eq!(choose(2, Some(&[0, 7]), &[0, 1], None).unwrap_err(), Error::CoreNotAllowed { core: 7, allowed: vec![0, 1] });
        assert_eq!(choose(2, Some(&[1, 1]), &[0, 1], None).unwrap_err(), Error::CoreListedTwice { core: 1 });
        assert!(matches!(choose(3, Some(&[0, 1]), &[0, 1, 2], None).unwrap_err(), Error::OptionOutOfRange { option: "cores", .. }));
        let p = choose(2, Some(&[1, 0]), &[0, 1], Some(1)).unwrap();
        assert_eq!(p.cores, vec![1, 0]);
        assert!(p.shared);
    }

    #[test]
    fn allowed_set_is_not_empty_and_current_core_is_in_it() {
        let a = allowed();
        assert!(!a.is_empty());
        if let Some(c) = current() {
            assert!(a.contains(&c));
        }
    }
}
