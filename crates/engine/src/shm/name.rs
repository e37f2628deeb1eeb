//! Segment names: which names are accepted, and the file name each one gives.
//!
//! Owns the rule for names only. It never touches the filesystem, so a bad name is refused before
//! any file is looked at.

use crate::error::{Error, Result};

/// Longest name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 200;
/// Segment files are `FILE_PREFIX` + name, so a foreign file is never taken for a segment by name.
pub const FILE_PREFIX: &str = "ultraslayer.";

/// Checks a segment name: 1..=`MAX_NAME_LEN` bytes of `A-Z a-z 0-9 . _ -`, not starting with
/// '.', no "..". (So no '/', no NUL, nothing a shell or a path could misread.)
///
/// # Errors
/// `Error::BadSegmentName`, saying what is wrong with the name and what a name may hold.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |what: String| {
        let message = format!("{what}: use 1 to {MAX_NAME_LEN} characters from A-Z a-z 0-9 . _ - (not starting with '.')");
        Err(Error::BadSegmentName { name: name.chars().take(64).collect(), message })
    };
    if name.is_empty() {
        return bad("is empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return bad(format!("is {} bytes long, over the limit of {MAX_NAME_LEN}", name.len()));
    }
    if let Some((k, c)) = name.char_indices().find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return bad(format!("contains {c:?} at byte {k}"));
    }
    if name.starts_with('.') {
        return bad("starts with '.'".into());
    }
    if name.contains("..") {
        return bad("contains '..'".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_any_file_is_touched() {
        for good in ["feed", "md.prices-v2", "A_1", &"x".repeat(MAX_NAME_LEN)] {
            validate_name(good).unwrap();
        }
        for bad in ["", "a/b", "/etc/passwd", "..", "a..b", ".hidden", "nul\0x", "sp ace", "é", &"x".repeat(MAX_NAME_LEN + 1)] {
            let e = validate_name(bad).unwrap_err();
            assert!(matches!(e, Error::BadSegmentName { .. }), "{bad:?}");
            assert!(e.to_string().contains("A-Z a-z 0-9"), "{e}");
        }
    }
}
