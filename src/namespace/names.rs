//! Which strings can be file names. Keys from S3 and names from MAST pass through here so
//! that nothing can escape the mount's namespace or confuse the kernel.

/// True when `name` can be one path component: not empty, not `.` or `..`, no `/` or NUL,
/// at most 255 bytes (the kernel's NAME_MAX).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= 255
        && !name.contains('/')
        && !name.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_cannot_be_a_component() {
        for bad in ["", ".", "..", "a/b", "nul\0", &"x".repeat(256)] {
            assert!(!is_valid_name(bad), "{bad:?} accepted");
        }
        for good in [
            "a",
            "...",
            "jbeveo010_drz.fits",
            "ctl\x01char",
            &"x".repeat(255),
        ] {
            assert!(is_valid_name(good), "{good:?} refused");
        }
    }
}
