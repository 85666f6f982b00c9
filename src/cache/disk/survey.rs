//! Taking stock of the disk cache's folder at start: what it holds goes into the index
//! (oldest first to evict), leftovers of crashed writers are removed, and a folder holding
//! anything but the cache's own files is refused: it is someone's data.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::folder::{annotate, DiskCache, METADATA_DIR, OBJECTS_DIR, STALE_TEMP_AGE};
use super::whole;
use crate::cache::block_file::MAGIC;

impl DiskCache {
    /// What the folder holds, for the index. Only the cache's own files
    /// (block files with its header, its temporary files, in its two-hex-digit subfolders)
    /// are counted or removed; anything else makes the folder someone else's, refused.
    pub(super) fn survey(&self) -> io::Result<Survey> {
        let mut found: Vec<(SystemTime, PathBuf, u64)> = Vec::new();
        let mut stale_temps = Vec::new();
        let mut fresh_temps = 0;
        let now = SystemTime::now();
        let foreign = |path: &Path| {
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} holds {}, which is not a mastfs cache file: the cache folder must be \
                     one mastfs owns; give an empty or new folder with --cache-dir",
                    self.dir.display(),
                    path.strip_prefix(&self.dir).unwrap_or(path).display()
                ),
            )
        };
        let fans = fs::read_dir(&self.dir).map_err(|e| annotate(&self.dir, "cannot read", e))?;
        for fan in fans {
            let fan = fan?;
            let fan_name = fan.file_name();
            let is_dir = fan.file_type().is_ok_and(|t| t.is_dir());
            // Our own subfolders: whole-object files (scanned below) and the persisted
            // listings of --persist-metadata.
            if is_dir && (fan_name == OBJECTS_DIR || fan_name == METADATA_DIR) {
                continue;
            }
            let is_fan = fan_name.to_str().is_some_and(|n| is_hex(n, 2)) && is_dir;
            if !is_fan {
                return Err(foreign(&fan.path()));
            }
            for entry in fs::read_dir(fan.path())? {
                let entry = entry?;
                let meta = entry.metadata()?;
                let name = entry.file_name();
                let name = name.to_str().unwrap_or("");
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                let ours = meta.is_file() && name.starts_with(fan_name.to_str().unwrap_or("-"));
                if ours && is_temp_name(name) {
                    let age = now.duration_since(modified).unwrap_or_default();
                    if age > STALE_TEMP_AGE {
                        stale_temps.push(entry.path());
                    } else {
                        fresh_temps += 1;
                    }
                    continue;
                }
                if !(ours && is_block_name(name) && has_magic(&entry.path())) {
                    return Err(foreign(&entry.path()));
                }
                found.push((modified, Path::new(&fan_name).join(name), meta.len()));
            }
        }
        found.extend(whole::scan_objects(&self.dir));
        found.sort();
        Ok(Survey {
            blocks: found,
            stale_temps,
            fresh_temps,
        })
    }

    /// Takes what [`DiskCache::survey`] found into the index (oldest first to evict) and
    /// removes the leftovers of crashed writers.
    pub(super) fn adopt(&self, survey: Survey) {
        for temp in survey.stale_temps {
            let _ = fs::remove_file(temp);
        }
        let mut index = self.index.lock();
        for (_, relative, size) in survey.blocks {
            index.bytes += size;
            index.files.put(relative, size);
        }
        self.evict_locked(&mut index);
    }
}

/// The cache's own files found in its folder at start.
pub(super) struct Survey {
    /// (last used, relative path, size) of each block file, oldest first.
    blocks: Vec<(SystemTime, PathBuf, u64)>,
    stale_temps: Vec<PathBuf>,
    fresh_temps: usize,
}

impl Survey {
    pub(super) fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.stale_temps.is_empty() && self.fresh_temps == 0
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `<32 hex digits>.<index>`: what [`DiskBlock::relative_path`] names a block file.
fn is_block_name(name: &str) -> bool {
    name.split_once('.').is_some_and(|(digest, index)| {
        is_hex(digest, 32) && !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit())
    })
}

/// `<32 hex digits>.tmp<pid>.<seq>`: a block file being written.
fn is_temp_name(name: &str) -> bool {
    let Some((digest, rest)) = name.split_once(".tmp") else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    is_hex(digest, 32)
        && rest
            .split_once('.')
            .is_some_and(|(p, q)| digits(p) && digits(q))
}

/// Whether the file starts with the cache's header.
fn has_magic(path: &Path) -> bool {
    let mut start = [0u8; MAGIC.len()];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut start))
        .is_ok_and(|()| &start == MAGIC)
}
