//! Fuzz target: the FITS header scan of format-aware prefetch (`src/cache/hints.rs`), on
//! crafted heads and sizes: it must end, never overflow, and plan only ranges in the file.
//!
//! hints.rs is compiled in directly: it is pure std, and the crate would pull the whole AWS
//! SDK into an instrumented build for no extra coverage.

#![no_main]

#[path = "../harness.rs"]
mod harness;

#[allow(dead_code)]
#[path = "../../src/cache/hints.rs"]
mod hints;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::fits_header(
    data,
    &harness::FitsScan {
        plan: &hints::fits_plan,
        units: &hints::fits_units,
        units_at: &hints::fits_units_at,
    }
));
