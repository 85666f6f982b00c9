//! The control socket of a running mount: how `mastfs views`, `stats`, `drop-caches` and
//! `get` talk to the daemon. One Unix socket per mount point, owner-only, one JSON request
//! and one JSON answer per connection.
//!
//! Where the socket lives depends only on the mount point and the user serving it (the
//! `user_id=` of the mount table), never on the caller's environment, so any shell, sudo,
//! root or a systemd unit reaches the daemon of a mount from its path alone. Its folder is
//! `/run/mastfs` for root, else `/run/user/UID/mastfs` when that runtime folder exists,
//! else `/tmp/mastfs-UID`; a folder not owned by that user, or writable by others, is
//! never used (by the daemon or by a caller).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use crate::config::Config;
use crate::fs::Fs;
use crate::mounts;

/// Longest request line the daemon reads; requests are a few hundred bytes.
const MAX_REQUEST_BYTES: u64 = 64 * 1024;
/// Longest answer a caller reads (statistics of a mount with many views stay far below).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Request {
    RefreshView {
        view: String,
    },
    Status,
    /// Forget cached blocks and metadata: the next reads and listings go to S3 (for cold
    /// benchmarks and tests; the kernel's page cache is dropped separately).
    DropCaches,
    /// The statistics of [`crate::stats::Snapshot`].
    Stats,
    /// The S3 settings the mount reads with ([`MountS3Settings`]), for `mastfs get`.
    S3Settings,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    pub message: String,
    #[serde(default)]
    pub detail: serde_json::Value,
}

impl Response {
    fn failed(message: impl Into<String>) -> Response {
        Response {
            ok: false,
            message: message.into(),
            detail: serde_json::Value::Null,
        }
    }
}

/// What `mastfs get` needs to fetch a mounted file's object the way the mount does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MountS3Settings {
    pub endpoint_url: Option<String>,
    pub force_path_style: bool,
    pub region: String,
    /// Buckets read with credentials; the others anonymously.
    pub signed_buckets: Vec<String>,
    pub ca_bundle: Option<PathBuf>,
    #[serde(default)]
    pub profile: Option<String>,
}

impl MountS3Settings {
    pub fn of(config: &Config) -> MountS3Settings {
        MountS3Settings {
            endpoint_url: config.s3.endpoint_url.clone(),
            force_path_style: config.s3.force_path_style,
            region: config.s3.region.clone(),
            signed_buckets: config
                .buckets
                .iter()
                .filter(|b| b.signed)
                .map(|b| b.name.clone())
                .collect(),
            ca_bundle: config.s3.ca_bundle.clone(),
            profile: config.s3.profile.clone(),
        }
    }

    /// `config` reading S3 as the mount does.
    pub fn apply_to(&self, config: &mut Config) {
        config.s3.endpoint_url = self.endpoint_url.clone();
        config.s3.force_path_style = self.force_path_style;
        config.s3.region = self.region.clone();
        config.s3.ca_bundle = self.ca_bundle.clone();
        config.s3.profile = self.profile.clone();
        for name in &self.signed_buckets {
            match config.buckets.iter_mut().find(|b| &b.name == name) {
                Some(b) => b.signed = true,
                None => config.buckets.push(crate::config::BucketConfig {
                    name: name.clone(),
                    prefix: None,
                    signed: true,
                }),
            }
        }
    }
}

/// Folders that may hold the control sockets of mounts served by `uid`, preferred first.
fn socket_dirs(uid: u32) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if uid == 0 {
        dirs.push(PathBuf::from("/run/mastfs"));
    }
    let runtime = PathBuf::from(format!("/run/user/{uid}"));
    if std::fs::symlink_metadata(&runtime).is_ok_and(|m| m.is_dir() && m.uid() == uid) {
        dirs.push(runtime.join("mastfs"));
    }
    dirs.push(PathBuf::from(format!("/tmp/mastfs-{uid}")));
    dirs
}

/// The socket's file name in its folder: a hash of the mount point as the mount table
/// records it.
fn socket_name(mountpoint: &Path) -> String {
    let hash = crate::namespace::views::fnv1a(mountpoint.as_os_str().as_encoded_bytes());
    format!("{hash:016x}.sock")
}

/// Whether `dir` can be trusted to hold sockets of `uid`: a real folder (not a symlink),
/// owned by `uid`, writable by nobody else. The reason when not.
fn check_socket_dir(dir: &Path, uid: u32) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a folder", dir.display()));
    }
    if meta.uid() != uid {
        return Err(format!(
            "{} belongs to uid {}, not {uid}: someone else made it; remove it",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{} is writable by other users (mode {:o}); remove it or `chmod 700` it",
            dir.display(),
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// Creates (owner-only) or checks the first usable socket folder of this user.
fn prepare_socket_dir(uid: u32) -> anyhow::Result<PathBuf> {
    let mut refused = Vec::new();
    for dir in socket_dirs(uid) {
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                refused.push(format!("cannot create {}: {e}", dir.display()));
                continue;
            }
        }
        match check_socket_dir(&dir, uid) {
            Ok(()) => return Ok(dir),
            Err(reason) => refused.push(reason),
        }
    }
    bail!(
        "no safe folder for the control socket: {}",
        refused.join("; ")
    )
}

/// The control socket of a running mount; removed when the mount ends.
pub struct ControlSocket {
    pub path: PathBuf,
    pub task: tokio::task::JoinHandle<()>,
}

/// Serves control requests for `fs` (mounted at `mountpoint`, reading S3 with `s3`) until
/// the task is aborted. Call it before mounting: the mount point's path is resolved then.
pub fn serve(mountpoint: &Path, fs: Arc<Fs>, s3: MountS3Settings) -> anyhow::Result<ControlSocket> {
    let uid = nix::unistd::geteuid().as_raw();
    let dir = prepare_socket_dir(uid)?;
    let path = dir.join(socket_name(&mounts::canonical_mountpoint(mountpoint)));
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)
        .with_context(|| format!("cannot listen on {}", path.display()))?;
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    let s3 = Arc::new(s3);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (fs, s3) = (fs.clone(), s3.clone());
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let response = match read_request(tokio::io::BufReader::new(read)).await {
                    Ok(request) => handle(&fs, &s3, request).await,
                    Err(message) => Response::failed(message),
                };
                let mut text = serde_json::to_string(&response).unwrap_or_default();
                text.push('\n');
                let _ = write.write_all(text.as_bytes()).await;
            });
        }
    });
    Ok(ControlSocket { path, task })
}

/// Reads one request line, at most [`MAX_REQUEST_BYTES`] of it.
async fn read_request(reader: impl AsyncBufRead + Unpin) -> Result<Request, String> {
    let mut line = Vec::new();
    let mut bounded = reader.take(MAX_REQUEST_BYTES);
    bounded
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| format!("cannot read the request: {e}"))?;
    if !line.ends_with(b"\n") && line.len() as u64 >= MAX_REQUEST_BYTES {
        return Err(format!(
            "request longer than {MAX_REQUEST_BYTES} bytes refused"
        ));
    }
    serde_json::from_slice(&line).map_err(|e| format!("bad request: {e}"))
}

async fn handle(fs: &Fs, s3: &MountS3Settings, request: Request) -> Response {
    match request {
        Request::RefreshView { view } => {
            let Some(views) = fs.views() else {
                return Response::failed("this mount has no views");
            };
            match views.refresh(&view).await {
                Ok(listing) => Response {
                    ok: true,
                    message: format!("view '{view}' refreshed: {} files", listing.files.len()),
                    detail: serde_json::json!({ "summary": listing.summary }),
                },
                Err(e) => Response::failed(e.message),
            }
        }
        Request::DropCaches => {
            fs.cache().clear();
            fs.drop_metadata();
            Response {
                ok: true,
                message: "cached blocks and metadata dropped".into(),
                detail: serde_json::Value::Null,
            }
        }
        Request::Stats => Response {
            ok: true,
            message: String::new(),
            detail: fs.stats().to_json(),
        },
        Request::Status => Response {
            ok: true,
            message: String::new(),
            detail: serde_json::json!({
                "open_files": fs.open_files(),
                "views": fs.views().map(|v| v.status()).unwrap_or_default()
                    .iter().map(crate::daemon::view_status::to_json).collect::<Vec<_>>(),
            }),
        },
        Request::S3Settings => Response {
            ok: true,
            message: String::new(),
            detail: serde_json::to_value(s3).unwrap_or_default(),
        },
    }
}

/// Where the daemon serving `mount` listens, if a trusted socket is there.
fn find_socket(mount: &mounts::MastfsMount) -> Result<PathBuf, String> {
    let name = socket_name(&mount.mountpoint);
    let mut reasons = Vec::new();
    for dir in socket_dirs(mount.uid) {
        let path = dir.join(&name);
        if std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        if let Err(reason) = check_socket_dir(&dir, mount.uid) {
            reasons.push(reason);
            continue;
        }
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.uid() == mount.uid => return Ok(path),
            Ok(m) => reasons.push(format!(
                "{} belongs to uid {}, not the mount's uid {}",
                path.display(),
                m.uid(),
                mount.uid
            )),
            Err(e) => reasons.push(format!("{}: {e}", path.display())),
        }
    }
    if reasons.is_empty() {
        reasons.push(format!(
            "no control socket {name} in {}",
            socket_dirs(mount.uid)
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    }
    Err(reasons.join("; "))
}

/// Sends one request to the daemon of the mastfs mount at (or containing) `path` and
/// returns its answer.
pub fn call(path: &Path, request: &Request) -> anyhow::Result<Response> {
    let mount = mounts::mount_containing(path).ok_or_else(|| {
        anyhow!(
            "{} is not a mastfs mount (not in /proc/self/mountinfo); mount it with `mastfs mount {}`",
            path.display(),
            path.display()
        )
    })?;
    let socket = find_socket(&mount).map_err(|reason| {
        anyhow!(
            "the daemon of {} cannot be reached ({reason}); it may have been started by an older mastfs: unmount and mount again",
            mount.mountpoint.display()
        )
    })?;
    let stream = std::os::unix::net::UnixStream::connect(&socket).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
            format!(
                "the mount belongs to uid {}: run this as that user or as root",
                mount.uid
            )
        } else {
            "its daemon may be hung or gone: `mastfs unmount` it and mount again".to_string()
        };
        anyhow!(
            "cannot reach the daemon of {} at {}: {e}; {hint}",
            mount.mountpoint.display(),
            socket.display()
        )
    })?;
    let mut text = serde_json::to_string(request)?;
    text.push('\n');
    (&stream).write_all(text.as_bytes())?;
    let mut line = String::new();
    BufReader::new((&stream).take(MAX_RESPONSE_BYTES)).read_line(&mut line)?;
    if line.is_empty() {
        bail!(
            "the daemon of {} closed the connection without answering",
            mount.mountpoint.display()
        );
    }
    serde_json::from_str(&line).with_context(|| {
        format!(
            "the daemon of {} answered something unreadable",
            mount.mountpoint.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_endless_request_line_is_refused_not_buffered() {
        let endless = tokio::io::BufReader::new(tokio::io::repeat(b'a'));
        let answer =
            tokio::time::timeout(std::time::Duration::from_secs(10), read_request(endless)).await;
        match answer {
            Ok(Err(message)) => assert!(
                message.contains("longer than"),
                "expected a refusal naming the length, got {message:?}"
            ),
            Ok(Ok(request)) => panic!("expected a refusal, got request {request:?}"),
            Err(_) => {
                panic!("expected a refusal, got an unbounded read (still reading after 10 s)")
            }
        }
    }

    #[tokio::test]
    async fn a_request_line_is_read() {
        let line = &b"{\"command\":\"stats\"}\n"[..];
        let request = read_request(line).await;
        assert!(matches!(request, Ok(Request::Stats)), "got {request:?}");
    }

    #[test]
    fn socket_folders_of_others_or_open_to_others_are_refused() {
        let uid = nix::unistd::geteuid().as_raw();
        let root = tempfile::tempdir().unwrap();
        let own = root.path().join("own");
        std::fs::DirBuilder::new().mode(0o700).create(&own).unwrap();
        assert_eq!(check_socket_dir(&own, uid), Ok(()));

        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let refusal = check_socket_dir(&open, uid);
        assert!(
            refusal
                .as_ref()
                .is_err_and(|r| r.contains("writable by other users")),
            "expected a world-writable folder refused, got {refusal:?}"
        );

        let link = root.path().join("link");
        std::os::unix::fs::symlink(&own, &link).unwrap();
        let refusal = check_socket_dir(&link, uid);
        assert!(
            refusal.as_ref().is_err_and(|r| r.contains("not a folder")),
            "expected a symlink refused, got {refusal:?}"
        );

        let refusal = check_socket_dir(&own, uid + 1);
        assert!(
            refusal
                .as_ref()
                .is_err_and(|r| r.contains("belongs to uid")),
            "expected a folder of another uid refused, got {refusal:?}"
        );
    }
}
