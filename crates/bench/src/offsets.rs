//! The seeded read offsets of the random workload.
//!
//! `scripts/bench` computes the same offsets in Python for the FUSE clients, so the
//! generator is spelled out rather than taken from a crate whose sequence could change:
//! SplitMix64 (state += 0x9E3779B97F4A7C15, then the usual two multiply-xorshift
//! rounds), and offset = next % (object_size - read_size + 1). Any change here must be
//! made in `scripts/bench` (`random_offsets`) too; the script compares both lists.

/// SplitMix64, seeded with the raw seed value.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `count` start offsets of reads of `read_size` bytes, each wholly inside the object.
/// Returns `None` when the object is smaller than one read.
pub fn random_offsets(
    seed: u64,
    count: usize,
    object_size: u64,
    read_size: u64,
) -> Option<Vec<u64>> {
    if read_size == 0 || read_size > object_size {
        return None;
    }
    let span = object_size - read_size + 1;
    let mut rng = SplitMix64::new(seed);
    Some((0..count).map(|_| rng.next_u64() % span).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        let mut rng = SplitMix64::new(0);
        let got: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        let expected = vec![
            0xE220_A839_7B1D_CDAF,
            0x6E78_9E6A_A1B9_65F4,
            0x06C4_5D18_8009_454F,
        ];
        assert_eq!(got, expected, "expected the reference SplitMix64 outputs");
    }

    #[test]
    fn offsets_stay_inside_the_object_and_depend_on_the_seed() {
        let size = 1000;
        let read = 64;
        let a = random_offsets(1, 500, size, read).unwrap();
        assert!(
            a.iter().all(|&o| o + read <= size),
            "an offset overruns the object: {:?}",
            a.iter().find(|&&o| o + read > size)
        );
        assert_eq!(
            a,
            random_offsets(1, 500, size, read).unwrap(),
            "not deterministic"
        );
        assert_ne!(
            a,
            random_offsets(2, 500, size, read).unwrap(),
            "seed ignored"
        );
    }

    #[test]
    fn a_read_larger_than_the_object_has_no_offsets() {
        assert_eq!(random_offsets(1, 3, 10, 11), None);
        assert_eq!(random_offsets(1, 3, 10, 0), None);
        assert_eq!(random_offsets(1, 2, 10, 10), Some(vec![0, 0]));
    }
}
