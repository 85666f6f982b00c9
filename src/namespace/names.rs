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

/// True when `name` has an extension (a dot after its first character and before its
/// last): archive files nearly always do (`jbeveo010_drz.fits`), archive folders nearly
/// never (`hst`, `jbeveo010`). Lookups use it to guess which question to ask S3 first.
pub fn has_extension(name: &str) -> bool {
    name.char_indices()
        .skip(1)
        .any(|(i, c)| c == '.' && i + 1 < name.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_after_the_first_character() {
        for with in ["a.fits", "jbeveo010_drz.fits", "x.tar.gz", "..a", ".a.b"] {
            assert!(has_extension(with), "{with:?}: expected an extension");
        }
        for without in ["hst", "jbeveo010", ".git", "a.", "", "."] {
            assert!(
                !has_extension(without),
                "{without:?}: expected no extension"
            );
        }
    }

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
