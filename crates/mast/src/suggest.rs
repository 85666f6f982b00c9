//! "Did you mean ...?" suggestions: the closest name by edit distance.

/// Levenshtein distance between two strings, compared case-insensitively.
pub fn edit_distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(&a.to_lowercase(), &b.to_lowercase())
}

/// The candidate closest to `name`, if it is close enough to be a plausible typo or
/// abbreviation: within a third of the longer name's length (at least 2 edits), or a
/// candidate that starts with what was typed.
pub fn closest_name<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let lowered = name.to_lowercase();
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| {
            let longest = c.chars().count().max(name.chars().count());
            *d <= (longest / 3).max(2)
                || (lowered.len() >= 3 && c.to_lowercase().starts_with(&lowered))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        let cases = [
            ("", "", 0),
            ("abc", "abc", 0),
            ("abc", "ABC", 0),
            ("kitten", "sitting", 3),
            ("", "ab", 2),
        ];
        for (a, b, want) in cases {
            assert_eq!(edit_distance(a, b), want, "distance({a:?}, {b:?})");
        }
    }

    #[test]
    fn far_names_get_no_suggestion() {
        let got = closest_name("zzzzzzzz", ["obs_collection", "filters"].into_iter());
        assert_eq!(got, None);
    }
}
