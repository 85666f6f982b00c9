//! Listings and attributes kept on disk, so that a later mount walks a known path without
//! asking S3 (`--metadata-dir`, `--persist-metadata`, or with the disk cache on).
//!
//! Owns one folder of small JSON files: one per complete directory listing and one per
//! single name found by a lookup, each named by an MD5 of (S3 endpoint, bucket, prefix or
//! key), so that two endpoints never share an entry. Each file records when S3 said what it
//! holds; an entry older than the metadata TTL is ignored (and removed), exactly as an
//! entry in memory would be. Nothing is scanned at start: a lookup reads the one file it
//! needs, a few hundred microseconds. A file that does not parse, or names another
//! endpoint, bucket or prefix than asked (a collision or tampering), is ignored.
//!
//! Writes go to a temporary file renamed into place, so a reader never sees half a file and
//! two mounts sharing the folder can both write.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::child::Child;
use crate::store::ObjectMeta;

/// The on-disk metadata of one mount's S3 endpoint.
#[derive(Debug)]
pub struct PersistedMetadata {
    dir: PathBuf,
    /// The S3 endpoint (or "aws:REGION") the entries belong to.
    endpoint: String,
    ttl: Duration,
}

#[derive(Serialize, Deserialize)]
struct ListingFile {
    endpoint: String,
    bucket: String,
    prefix: String,
    /// Seconds since the epoch when S3 sent the listing.
    fetched: f64,
    children: Vec<EntryRecord>,
}

#[derive(Serialize, Deserialize)]
struct NameFile {
    endpoint: String,
    bucket: String,
    key: String,
    fetched: f64,
    entry: EntryRecord,
}

#[derive(Serialize, Deserialize)]
struct EntryRecord {
    name: String,
    /// `None` for a folder.
    file: Option<FileRecord>,
}

#[derive(Serialize, Deserialize)]
struct FileRecord {
    size: u64,
    etag: String,
    /// Seconds since the epoch.
    modified: f64,
}

impl PersistedMetadata {
    /// Entries of `endpoint` in folder `dir` (created owner-only if missing), trusted for
    /// `ttl` after S3 sent them.
    pub fn open(dir: &Path, endpoint: &str, ttl: Duration) -> std::io::Result<PersistedMetadata> {
        crate::paths::create_private_dir(dir)?;
        Ok(PersistedMetadata {
            dir: dir.to_path_buf(),
            endpoint: endpoint.to_string(),
            ttl,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The complete listing of `prefix` in `bucket`, and its age, if one is on disk and fresh.
    pub fn listing(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Option<(BTreeMap<String, Child>, Duration)> {
        let path = self.path_of("list", bucket, prefix);
        let file: ListingFile = self.read(&path)?;
        if file.endpoint != self.endpoint || file.bucket != bucket || file.prefix != prefix {
            return None;
        }
        let age = self.fresh_age(&path, file.fetched)?;
        let children = file
            .children
            .into_iter()
            .map(|e| {
                let child = child_of(prefix, &e);
                (e.name, child)
            })
            .collect();
        Some((children, age))
    }

    /// Saves the complete listing of `prefix` in `bucket`, as S3 sent it at `fetched`.
    pub fn save_listing(
        &self,
        bucket: &str,
        prefix: &str,
        children: &BTreeMap<String, Child>,
        fetched: SystemTime,
    ) {
        let file = ListingFile {
            endpoint: self.endpoint.clone(),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            fetched: epoch_secs(fetched),
            children: children
                .iter()
                .map(|(name, child)| record_of(name, child))
                .collect(),
        };
        self.write(&self.path_of("list", bucket, prefix), &file);
    }

    /// What a lookup found at `key` in `bucket`, and its age, if on disk and fresh.
    pub fn name(&self, bucket: &str, key: &str) -> Option<(Child, Duration)> {
        let path = self.path_of("name", bucket, key);
        let file: NameFile = self.read(&path)?;
        if file.endpoint != self.endpoint || file.bucket != bucket || file.key != key {
            return None;
        }
        let age = self.fresh_age(&path, file.fetched)?;
        let parent = key.rsplit_once('/').map_or("", |(p, _)| p);
        let dir = if parent.is_empty() {
            String::new()
        } else {
            format!("{parent}/")
        };
        Some((child_of(&dir, &file.entry), age))
    }

    /// Saves what a lookup found at `key` in `bucket`.
    pub fn save_name(&self, bucket: &str, key: &str, child: &Child, fetched: SystemTime) {
        let name = key.rsplit('/').next().unwrap_or(key);
        let file = NameFile {
            endpoint: self.endpoint.clone(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            fetched: epoch_secs(fetched),
            entry: record_of(name, child),
        };
        self.write(&self.path_of("name", bucket, key), &file);
    }

    /// Removes every entry (SIGHUP, `drop-caches`: the next lookups ask S3 again).
    pub fn clear(&self) {
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                let ours = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(".json") || n.contains(".json.tmp"));
                if ours {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }

    fn path_of(&self, kind: &str, bucket: &str, what: &str) -> PathBuf {
        let mut hasher = Md5::new();
        for part in [kind, &self.endpoint, bucket, what] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        let digest = hasher.finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{kind}-{hex}.json"))
    }

    /// The age of an entry fetched at `fetched` if it is still within the TTL; a stale
    /// entry's file is removed.
    fn fresh_age(&self, path: &Path, fetched: f64) -> Option<Duration> {
        let now = epoch_secs(SystemTime::now());
        let age = Duration::try_from_secs_f64((now - fetched).max(0.0)).ok()?;
        if age >= self.ttl {
            let _ = std::fs::remove_file(path);
            return None;
        }
        Some(age)
    }

    fn read<T: for<'de> Deserialize<'de>>(&self, path: &Path) -> Option<T> {
        let bytes = std::fs::read(path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::debug!(path = %path.display(), "persisted metadata ignored: {e}");
                let _ = std::fs::remove_file(path);
                None
            }
        }
    }

    fn write<T: Serialize>(&self, path: &Path, value: &T) {
        let Ok(bytes) = serde_json::to_vec(value) else {
            return;
        };
        let tmp = path.with_extension(format!("json.tmp{}", std::process::id()));
        let written = std::fs::write(&tmp, &bytes).and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            tracing::debug!(path = %path.display(), "persisted metadata not written: {e}");
        }
    }
}

fn epoch_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn record_of(name: &str, child: &Child) -> EntryRecord {
    EntryRecord {
        name: name.to_string(),
        file: match child {
            Child::Dir => None,
            Child::File(meta) => Some(FileRecord {
                size: meta.size,
                etag: meta.etag.clone(),
                modified: epoch_secs(meta.last_modified),
            }),
        },
    }
}

fn child_of(dir: &str, record: &EntryRecord) -> Child {
    match &record.file {
        None => Child::Dir,
        Some(f) => Child::File(ObjectMeta {
            key: format!("{dir}{}", record.name),
            size: f.size,
            etag: f.etag.clone(),
            last_modified: Duration::try_from_secs_f64(f.modified.max(0.0))
                .ok()
                .and_then(|d| UNIX_EPOCH.checked_add(d))
                .unwrap_or(UNIX_EPOCH),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(key: &str) -> ObjectMeta {
        ObjectMeta {
            key: key.into(),
            size: 219_608_640,
            etag: "\"abc\"".into(),
            last_modified: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        }
    }

    #[test]
    fn a_listing_comes_back_as_saved_while_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let p = PersistedMetadata::open(dir.path(), "http://127.0.0.1:9", Duration::from_secs(60))
            .unwrap();
        let mut children = BTreeMap::new();
        children.insert("a.fits".to_string(), Child::File(meta("hst/a.fits")));
        children.insert("sub".to_string(), Child::Dir);
        p.save_listing("stpubdata", "hst/", &children, SystemTime::now());
        let (got, age) = p.listing("stpubdata", "hst/").expect("listing on disk");
        assert_eq!(got, children);
        assert!(age < Duration::from_secs(5), "age {age:?}");
        assert!(p.listing("stpubdata", "jwst/").is_none(), "another prefix");
        assert!(p.listing("other", "hst/").is_none(), "another bucket");
        let elsewhere =
            PersistedMetadata::open(dir.path(), "http://127.0.0.1:10", Duration::from_secs(60))
                .unwrap();
        assert!(
            elsewhere.listing("stpubdata", "hst/").is_none(),
            "another endpoint must not see it"
        );
    }

    #[test]
    fn a_stale_entry_is_ignored_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = PersistedMetadata::open(dir.path(), "e", Duration::from_secs(60)).unwrap();
        let old = SystemTime::now() - Duration::from_secs(120);
        p.save_name("b", "k/x.fits", &Child::File(meta("k/x.fits")), old);
        assert!(p.name("b", "k/x.fits").is_none(), "older than the TTL");
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(files, 0, "the stale file is removed");
    }

    #[test]
    fn a_name_keeps_its_key_size_and_etag() {
        let dir = tempfile::tempdir().unwrap();
        let p = PersistedMetadata::open(dir.path(), "e", Duration::from_secs(60)).unwrap();
        p.save_name(
            "b",
            "k/x.fits",
            &Child::File(meta("k/x.fits")),
            SystemTime::now(),
        );
        p.save_name("b", "k/sub", &Child::Dir, SystemTime::now());
        assert_eq!(
            p.name("b", "k/x.fits").map(|(c, _)| c),
            Some(Child::File(meta("k/x.fits")))
        );
        assert_eq!(p.name("b", "k/sub").map(|(c, _)| c), Some(Child::Dir));
        p.clear();
        assert!(p.name("b", "k/x.fits").is_none(), "cleared");
    }

    #[test]
    fn a_damaged_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let p = PersistedMetadata::open(dir.path(), "e", Duration::from_secs(60)).unwrap();
        p.save_name("b", "k/x.fits", &Child::Dir, SystemTime::now());
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::write(&file, b"{not json").unwrap();
        assert!(p.name("b", "k/x.fits").is_none());
    }
}
