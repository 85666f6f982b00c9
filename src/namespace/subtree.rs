//! Subtree pages: the first page of a LIST without delimiter under a folder, kept as it came
//! (keys in order) so that the listing of any folder below it that the page shows whole is
//! made when it is first asked for. A path walk then learns several levels from one round
//! trip, and a page of other programs' folders costs nothing until one of them is visited.

use std::time::Instant;

use crate::store::{ListPage, ObjectMeta};

/// One subtree page of a folder (`top`, ending in `/`).
pub struct SubtreePage {
    top: String,
    /// Keys under `top`, in key order.
    objects: Vec<ObjectMeta>,
    /// More keys follow the page: the folders holding its last key may go on beyond it.
    truncated: bool,
    pub fetched: Instant,
}

impl SubtreePage {
    pub fn new(top: &str, page: ListPage) -> SubtreePage {
        SubtreePage {
            top: top.to_string(),
            objects: page.objects,
            truncated: page.next_token.is_some(),
            fetched: Instant::now(),
        }
    }

    /// Estimated memory, for the metadata budget.
    pub fn bytes(&self, per_entry: u64) -> u64 {
        self.objects
            .iter()
            .map(|o| o.key.len() as u64 + o.etag.len() as u64 + per_entry)
            .sum::<u64>()
            + self.top.len() as u64
            + per_entry
    }

    /// The delimiter listing of `dir` (a folder strictly below `top`, ending in `/`) when the
    /// page shows it whole and it holds at least one key: the keys under a prefix are
    /// contiguous in key order, so only a folder holding the page's last key may go on
    /// beyond a truncated page. `None` also for a folder with no key in the page: that it
    /// does not exist is for a request to say.
    pub fn listing_of(&self, dir: &str) -> Option<ListPage> {
        if dir.len() <= self.top.len() || !dir.starts_with(&self.top) || !dir.ends_with('/') {
            return None;
        }
        if self.truncated {
            let last = self.objects.last()?;
            if last.key.starts_with(dir) {
                return None;
            }
        }
        let start = self.objects.partition_point(|o| o.key.as_str() < dir);
        let mut listing = ListPage::default();
        for obj in self.objects[start..]
            .iter()
            .take_while(|o| o.key.starts_with(dir))
        {
            let rest = &obj.key[dir.len()..];
            match rest.find('/') {
                Some(slash) => {
                    let prefix = &obj.key[..dir.len() + slash + 1];
                    if listing.prefixes.last().map(String::as_str) != Some(prefix) {
                        listing.prefixes.push(prefix.to_string());
                    }
                }
                None => listing.objects.push(obj.clone()),
            }
        }
        (!listing.objects.is_empty() || !listing.prefixes.is_empty()).then_some(listing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn page(keys: &[&str], truncated: bool) -> ListPage {
        ListPage {
            objects: keys
                .iter()
                .map(|k| ObjectMeta {
                    key: k.to_string(),
                    size: 1,
                    etag: "e".into(),
                    last_modified: SystemTime::UNIX_EPOCH + Duration::from_secs(1),
                })
                .collect(),
            prefixes: Vec::new(),
            next_token: truncated.then(|| "more".to_string()),
        }
    }

    fn names(listing: Option<ListPage>) -> Option<(Vec<String>, Vec<String>)> {
        listing.map(|l| (l.objects.into_iter().map(|o| o.key).collect(), l.prefixes))
    }

    #[test]
    fn folders_below_the_top_are_listed_from_the_page() {
        let sub = SubtreePage::new(
            "t/",
            page(&["t/a/1", "t/a/b/2", "t/a/b/3", "t/a/c/4", "t/z"], false),
        );
        assert_eq!(
            names(sub.listing_of("t/a/")),
            Some((
                vec!["t/a/1".to_string()],
                vec!["t/a/b/".to_string(), "t/a/c/".to_string()]
            )),
            "t/a/: its file and its two folders"
        );
        assert_eq!(
            names(sub.listing_of("t/")),
            None,
            "the top lists itself by delimiter"
        );
        assert_eq!(
            names(sub.listing_of("t/q/")),
            None,
            "a folder the page does not hold"
        );
        assert_eq!(names(sub.listing_of("u/a/")), None, "outside the top");
    }

    #[test]
    fn a_truncated_page_answers_only_for_folders_it_ends_after() {
        let sub = SubtreePage::new("t/", page(&["t/a/1", "t/a/2", "t/b/1"], true));
        assert!(
            sub.listing_of("t/a/").is_some(),
            "t/a/ ends before the page does"
        );
        assert!(
            sub.listing_of("t/b/").is_none(),
            "t/b/ may go on beyond the page"
        );
    }
}
