//! The opaque handle C holds as `us_slayer*`: the engine's `Slayer` behind a try-lock, so that
//! the engine's `&mut self` reads, start/stop, info and stats never run on two threads at once
//! (the second caller gets `US_ERR_BUSY`), and a panic inside the lock poisons the handle.
//!
//! What it must never do: hand out a reference to the `Slayer` without holding `busy`, or block.
//! Writes and direct replica reads go to the shared `Slab`, which needs no lock.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ultraslayer::slab::Slab;
use ultraslayer::slayer::Slayer;

use crate::error::{null, Failure};
use crate::types::{US_ERR_BUSY, US_ERR_PANIC};
/// The opaque handle C holds as `us_slayer*`.
pub struct us_slayer {
    /// Held by every call that needs the `Slayer` itself: reads (`&mut`), start/stop, info, stats.
    busy: AtomicBool,
    /// Set when a panic unwound while `busy` was held; the `Slayer` may be half-updated.
    poisoned: AtomicBool,
    slayer: UnsafeCell<Slayer>,
    /// The same slab the `Slayer` owns: writes and direct replica reads go here, lock-free.
    slab: Arc<Slab>,
}

// SAFETY: `slayer` is only reached through `Exclusive`, which holds `busy` (a mutual-exclusion
// flag with Acquire/Release hand-over), so at most one thread touches it at a time; `Slayer` is
// `Send` (asserted below). Everything else in the struct is `Sync` on its own.
unsafe impl Sync for us_slayer {}
const _: fn() = || {
    fn send<T: Send>() {}
    send::<Slayer>();
    send::<Arc<Slab>>();
};

/// Exclusive access to a handle's `Slayer` for the length of one call.
pub(crate) struct Exclusive<'a> {
    handle: &'a us_slayer,
}

impl us_slayer {
    /// A handle owning `slayer`, unlocked.
    pub(crate) fn new(slayer: Slayer) -> us_slayer {
        us_slayer { busy: AtomicBool::new(false), poisoned: AtomicBool::new(false), slab: slayer.slab(), slayer: UnsafeCell::new(slayer) }
    }

    /// The slab the `Slayer` reads: writes and direct replica reads, from any thread, lock-free.
    pub(crate) fn slab(&self) -> &Slab {
        &self.slab
    }

    /// Takes the handle's lock for one call.
    ///
    /// # Errors
    /// `US_ERR_BUSY` when another thread holds it; `US_ERR_PANIC` when the handle is poisoned.
    pub(crate) fn exclusive(&self) -> Result<Exclusive<'_>, Failure> {
        // Acquire: pairs with the Release store in `Exclusive::drop`, so this call sees every
        // change the previous holder made to the `Slayer`.
        if self.busy.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            return Err(Failure::new(
                US_ERR_BUSY,
                "another thread is using this handle (read, start, stop, info or stats): a handle has \
                 one requester at a time; give each reading thread its own handle, or serialize the calls",
            ));
        }
        let guard = Exclusive { handle: self };
        // Relaxed: `poisoned` is only written while `busy` is held; the Acquire above orders it.
        if self.poisoned.load(Ordering::Relaxed) {
            return Err(Failure::new(
                US_ERR_PANIC,
                "this handle is poisoned by an earlier panic inside ultraslayer: us_destroy it and create a new one",
            ));
        }
        Ok(guard)
    }
}

impl Deref for Exclusive<'_> {
    type Target = Slayer;
    fn deref(&self) -> &Slayer {
        // SAFETY: this guard holds `busy`, so no other reference to the `Slayer` exists.
        unsafe { &*self.handle.slayer.get() }
    }
}

impl DerefMut for Exclusive<'_> {
    fn deref_mut(&mut self) -> &mut Slayer {
        // SAFETY: as in `deref`; `&mut self` keeps this the only reference from this guard.
        unsafe { &mut *self.handle.slayer.get() }
    }
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Relaxed: published by the Release store of `busy` just below.
            self.handle.poisoned.store(true, Ordering::Relaxed);
        }
        // Release: pairs with the Acquire compare_exchange in `us_slayer::exclusive`.
        self.handle.busy.store(false, Ordering::Release);
    }
}

/// The handle behind a C pointer.
///
/// # Safety
/// `h` is NULL or a pointer `us_create` returned that has not been passed to `us_destroy`.
pub(crate) unsafe fn handle<'a>(h: *const us_slayer) -> Result<&'a us_slayer, Failure> {
    // SAFETY: per this function's contract, a non-NULL `h` points at a live `us_slayer`.
    unsafe { h.as_ref() }.ok_or_else(|| null("the handle"))
}

#[cfg(test)]
mod tests {
    use crate::error::run;
    use crate::exports::*;
    use crate::test_support::{last_error_text, quietly, small_handle};
    use crate::types::*;

    #[test]
    fn a_panic_inside_the_lock_poisons_the_handle_but_not_writes() {
        let h = small_handle();
        // SAFETY: `h` is live until us_destroy below.
        let handle = unsafe { &*h };
        let rc = quietly(|| {
            run(|| {
                let _g = handle.exclusive()?;
                panic!("inside the lock");
            })
        });
        assert_eq!(rc, US_ERR_PANIC);
        let mut v = 0;
        // SAFETY: live handle, valid out pointer.
        assert_eq!(unsafe { us_read_u64(h, 1, &mut v) }, US_ERR_PANIC);
        assert!(last_error_text().contains("poisoned"), "{}", last_error_text());
        // SAFETY: as above.
        unsafe {
            assert_eq!(us_write_u64(h, 1, 5), US_OK);
            assert_eq!(us_read_replica_u64(h, 1, 1, &mut v), US_OK);
            us_destroy(h);
        }
        assert_eq!(v, 5);
    }

    #[test]
    fn a_second_requester_is_told_busy() {
        let h = small_handle();
        // SAFETY: `h` is live until us_destroy below.
        let handle = unsafe { &*h };
        let guard = handle.exclusive().ok().unwrap();
        let mut v = 0;
        // SAFETY: live handle, valid out pointer.
        assert_eq!(unsafe { us_read_u64(h, 0, &mut v) }, US_ERR_BUSY);
        assert!(last_error_text().contains("another thread"));
        // SAFETY: as above.
        assert_eq!(unsafe { us_write_u64(h, 0, 9) }, US_OK, "writes never take the lock");
        drop(guard);
        // SAFETY: as above.
        unsafe {
            assert_eq!(us_read_u64(h, 0, &mut v), US_OK);
            us_destroy(h);
        }
        assert_eq!(v, 9);
    }
}
