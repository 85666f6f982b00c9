//! A map bounded by bytes: the metadata caches (listings, names found missing, first pages
//! of long listings) keep what was used last and drop the rest once their entries' sizes
//! pass a budget, so a walk over millions of folders cannot grow the daemon without end.

use std::hash::Hash;

use lru::LruCache;

/// Least recently used entries go first once the total size passes `budget` bytes. An
/// entry larger than the whole budget is not kept at all.
pub struct BytesBounded<K: Hash + Eq, V> {
    entries: LruCache<K, (V, u64)>,
    bytes: u64,
    budget: u64,
}

impl<K: Hash + Eq, V> BytesBounded<K, V> {
    pub fn new(budget: u64) -> Self {
        BytesBounded {
            entries: LruCache::unbounded(),
            bytes: 0,
            budget,
        }
    }

    /// The value of `key`, marked as used now.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(v, _)| v)
    }

    /// Keeps `value` (of about `bytes` bytes) under `key`, dropping the least recently used
    /// entries as needed.
    pub fn insert(&mut self, key: K, value: V, bytes: u64) {
        self.remove(&key);
        if bytes > self.budget {
            return;
        }
        self.bytes += bytes;
        self.entries.put(key, (value, bytes));
        while self.bytes > self.budget {
            let Some((_, (_, dropped))) = self.entries.pop_lru() else {
                break;
            };
            self.bytes -= dropped;
        }
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let (value, bytes) = self.entries.pop(key)?;
        self.bytes -= bytes;
        Some(value)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// The sizes of the entries kept, as given to [`BytesBounded::insert`].
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_entries_go_past_the_budget() {
        let mut map = BytesBounded::new(100);
        map.insert("a", 1, 40);
        map.insert("b", 2, 40);
        assert_eq!(map.get(&"a"), Some(&1), "a before the third insert");
        map.insert("c", 3, 40);
        assert_eq!(
            (
                map.get(&"a").copied(),
                map.get(&"b").copied(),
                map.get(&"c").copied()
            ),
            (Some(1), None, Some(3)),
            "b was least recently used"
        );
        assert_eq!(map.bytes(), 80, "bytes kept");
        map.insert("huge", 4, 101);
        assert_eq!(
            (map.get(&"huge").copied(), map.bytes()),
            (None, 80),
            "larger than the budget"
        );
        map.insert("a", 5, 10);
        assert_eq!(
            (map.get(&"a").copied(), map.bytes()),
            (Some(5), 50),
            "replaced entry"
        );
    }
}
