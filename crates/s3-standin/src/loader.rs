//! Loading a directory tree into a bucket (each regular file read once into
//! memory) and guessing content types from key names.

use std::io;
use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;

use crate::store::{Store, StoreError, StoredObject, DEFAULT_CONTENT_TYPE};

/// Content type for a key, from its extension (S3 itself stores whatever the
/// uploader sent; this is what a typical uploader would send).
pub(crate) fn content_type_for_key(key: &str) -> &'static str {
    let name = key.rsplit('/').next().unwrap_or(key);
    let ext = match name.rsplit_once('.') {
        Some((_, ext)) => ext.to_ascii_lowercase(),
        None => return DEFAULT_CONTENT_TYPE,
    };
    match ext.as_str() {
        "fits" | "fit" | "fts" => "application/fits",
        "json" => "application/json",
        "xml" => "application/xml",
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gz" => "application/gzip",
        "zip" => "application/zip",
        "tar" => "application/x-tar",
        _ => DEFAULT_CONTENT_TYPE,
    }
}

/// Puts every regular file under `dir` (following symlinks to files, not to
/// directories) into `bucket` as `key_prefix` + its path relative to `dir`
/// with `/` separators. Returns the number of objects stored.
pub(crate) fn load_dir(
    store: &Store,
    bucket: &str,
    dir: &Path,
    key_prefix: &str,
) -> io::Result<usize> {
    if !store.bucket_exists(bucket) {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "bucket {bucket:?} does not exist; create it before loading {}",
                dir.display()
            ),
        ));
    }
    let mut count = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let path = entry.path();
            let file_type = entry.file_type()?;
            let is_file = if file_type.is_symlink() {
                std::fs::metadata(&path)
                    .map(|m| m.is_file())
                    .unwrap_or(false)
            } else {
                file_type.is_file()
            };
            if file_type.is_dir() {
                pending.push(path);
                continue;
            }
            if !is_file {
                continue;
            }
            let relative = path.strip_prefix(dir).map_err(io::Error::other)?;
            let mut key = key_prefix.to_owned();
            for (i, part) in relative.components().enumerate() {
                let part = part.as_os_str().to_str().ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} is not valid UTF-8 and cannot be an S3 key",
                            path.display()
                        ),
                    )
                })?;
                if i > 0 {
                    key.push('/');
                }
                key.push_str(part);
            }
            let mtime = std::fs::metadata(&path)?
                .modified()
                .unwrap_or_else(|_| SystemTime::now());
            let data = Bytes::from(std::fs::read(&path)?);
            let object = StoredObject::new(data, mtime, content_type_for_key(&key).to_owned());
            store
                .put(bucket, &key, object)
                .map_err(|StoreError::NoSuchBucket| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("bucket {bucket:?} vanished while loading"),
                    )
                })?;
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type_for_key("a/b/x_cal.FITS"), "application/fits");
        assert_eq!(content_type_for_key("a.b/noext"), DEFAULT_CONTENT_TYPE);
        assert_eq!(content_type_for_key("x.json"), "application/json");
    }
}
