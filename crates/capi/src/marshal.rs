//! Checks on what C passes in before Rust touches it: out pointers (NULL, alignment), arrays
//! (NULL, alignment, size, overlap) and versioned structs (a leading `size` field: an older
//! caller's struct is refused, a newer one's unknown tail must be zero and is left alone).
//!
//! What it must never do: dereference a pointer it has not checked, or read or write past the
//! `size` a caller's struct declares.

use std::mem::{align_of, size_of};
use std::ops::Range;
use std::ptr;

use crate::error::{null, Failure};
use crate::types::*;

/// Checks a pointer the library will write one `T` through.
///
/// # Errors
/// `US_ERR_NULL` for NULL, `US_ERR_TYPE` for a pointer not aligned for `T`; `what` names it.
pub(crate) fn out_ptr<T>(p: *mut T, what: &str) -> Result<*mut T, Failure> {
    if p.is_null() {
        return Err(null(what));
    }
    if (p as usize) % align_of::<T>() != 0 {
        return Err(Failure::new(US_ERR_TYPE, format!("{what} {p:p} is not aligned to {} bytes", align_of::<T>())));
    }
    Ok(p)
}

/// Checks a C array of `n` elements and returns its address range in bytes.
///
/// # Errors
/// For n > 0: `US_ERR_NULL` for NULL, `US_ERR_TYPE` when misaligned, `US_ERR_RANGE` when `n`
/// elements cannot fit in the address space.
pub(crate) fn array<T>(p: *const T, n: usize, what: &str) -> Result<Range<usize>, Failure> {
    if n == 0 {
        return Ok(0..0);
    }
    if p.is_null() {
        return Err(null(what));
    }
    if (p as usize) % align_of::<T>() != 0 {
        return Err(Failure::new(US_ERR_TYPE, format!("{what} {p:p} is not aligned to {} bytes", align_of::<T>())));
    }
    let bytes = n
        .checked_mul(size_of::<T>())
        .filter(|&b| b <= isize::MAX as usize && (p as usize).checked_add(b).is_some())
        .ok_or_else(|| Failure::new(US_ERR_RANGE, format!("a batch of {n} elements does not fit in memory")))?;
    Ok(p as usize..p as usize + bytes)
}

/// A checked C array as a slice.
///
/// # Safety
/// `range` came from `array(p, n, ..)`, and the caller of the entry point promised `p` points at
/// `n` readable elements that no one writes during the call.
pub(crate) unsafe fn slice_in<'a, T>(p: *const T, n: usize, range: &Range<usize>) -> &'a [T] {
    if range.is_empty() {
        return &[];
    }
    // SAFETY: non-NULL, aligned, size fits isize (checked by `array`); readable per the contract.
    unsafe { std::slice::from_raw_parts(p, n) }
}

/// A checked C array as a mutable slice.
///
/// # Safety
/// As `slice_in`, for `n` writable elements no one else reads or writes during the call.
pub(crate) unsafe fn slice_out<'a, T>(p: *mut T, n: usize, range: &Range<usize>) -> &'a mut [T] {
    if range.is_empty() {
        return &mut [];
    }
    // SAFETY: non-NULL, aligned, size fits isize (checked by `array`); writable per the contract.
    unsafe { std::slice::from_raw_parts_mut(p, n) }
}

/// Refuses two checked arrays (byte ranges from `array`) that share a byte; `what` names them.
pub(crate) fn overlap(a: &Range<usize>, b: &Range<usize>, what: &str) -> Result<(), Failure> {
    if a.start < b.end && b.start < a.end {
        return Err(Failure::new(US_ERR_TYPE, format!("{what} overlap: pass separate arrays")));
    }
    Ok(())
}

/// No version of a struct will ever be this large; a bigger `size` is an uninitialized field, and
/// reading that many bytes would run off the caller's struct.
const MAX_STRUCT_SIZE: usize = 4096;

/// Reads a caller's versioned struct of which we know `size_of::<T>()` bytes into `known`.
/// Bytes the caller has beyond ours (a newer header) must be zero: we cannot honour them.
///
/// # Errors
/// `US_ERR_TYPE` when `size` is smaller than ours or absurdly large, or a byte past ours is set.
///
/// # Safety
/// `p` is non-NULL, aligned, and points at a struct whose first field is its own `size` in bytes,
/// all of them readable.
pub(crate) unsafe fn read_versioned<T: Copy>(p: *const T, known: &mut T, name: &str) -> Result<(), Failure> {
    // SAFETY: every versioned struct starts with a `size_t size` field; `p` is readable and aligned.
    let size = unsafe { ptr::read(p as *const usize) };
    let ours = size_of::<T>();
    if !(ours..=MAX_STRUCT_SIZE).contains(&size) {
        return Err(Failure::new(
            US_ERR_TYPE,
            format!("{name}.size is {size}, expected {ours} (sizeof({name})): fill it with {name}_default or set size = sizeof({name})"),
        ));
    }
    // SAFETY: the caller's struct is `size >= ours` readable bytes; bytes past `ours` are read as u8.
    let extra = unsafe { std::slice::from_raw_parts((p as *const u8).add(ours), size - ours) };
    if extra.iter().any(|&b| b != 0) {
        return Err(Failure::new(
            US_ERR_TYPE,
            format!(
                "{name} has fields past byte {ours} that this libultraslayer (ABI {US_ABI_VERSION}) does not know: \
                 leave them zero, or load a newer libultraslayer"
            ),
        ));
    }
    // SAFETY: `ours` bytes are readable at `p` and `T` is plain-old-data (repr(C), Copy).
    *known = unsafe { ptr::read(p) };
    Ok(())
}

/// Writes `value` into a caller's versioned struct, after checking its `size`.
///
/// # Errors
/// `US_ERR_TYPE` when the caller's `size` is smaller than ours (nothing is written).
///
/// # Safety
/// `p` is non-NULL, aligned, and points at a writable struct whose first field is its `size`.
pub(crate) unsafe fn write_versioned<T: Copy>(p: *mut T, value: T, name: &str) -> Result<(), Failure> {
    // SAFETY: every versioned struct starts with a `size_t size` field; `p` is readable and aligned.
    let size = unsafe { ptr::read(p as *const usize) };
    let ours = size_of::<T>();
    if size < ours {
        return Err(Failure::new(
            US_ERR_TYPE,
            format!("{name}.size is {size}, expected {ours}: set size = sizeof({name}) before the call"),
        ));
    }
    // SAFETY: the caller's struct has at least `ours` writable bytes; a larger (newer) struct keeps
    // its own `size` and its unknown tail untouched.
    unsafe { ptr::write(p, value) };
    // SAFETY: as above; restore the caller's size so a newer caller can see what it got.
    unsafe { ptr::write(p as *mut usize, size) };
    Ok(())
}
