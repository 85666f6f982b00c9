//! The control socket of a running mount: how `mastfs views refresh` (and later `stats`)
//! talk to the daemon. One Unix socket per mount point, owner-only, one JSON request and
//! one JSON answer per connection.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::fs::Fs;

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
    /// The statistics of `crate::stats::snapshot`.
    Stats,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    pub message: String,
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// Where the control socket of the mount at `mountpoint` lives.
pub fn socket_path(mountpoint: &Path) -> PathBuf {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("mastfs"),
        None if nix::unistd::geteuid().is_root() => PathBuf::from("/run/mastfs"),
        None => std::env::temp_dir().join(format!("mastfs-{}", nix::unistd::geteuid())),
    };
    let canonical = mountpoint.to_string_lossy();
    let hash = crate::namespace::views::fnv1a(canonical.as_bytes());
    dir.join(format!("{hash:016x}.sock"))
}

/// Serves control requests for `fs` until the returned task is aborted.
pub fn serve(mountpoint: &Path, fs: Arc<Fs>) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let path = socket_path(mountpoint);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)
        .with_context(|| format!("cannot listen on {}", path.display()))?;
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let fs = fs.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                let mut reader = tokio::io::BufReader::new(read);
                if reader.read_line(&mut line).await.is_err() {
                    return;
                }
                let response = match serde_json::from_str::<Request>(&line) {
                    Ok(request) => handle(&fs, request).await,
                    Err(e) => Response {
                        ok: false,
                        message: format!("bad request: {e}"),
                        detail: serde_json::Value::Null,
                    },
                };
                let mut text = serde_json::to_string(&response).unwrap_or_default();
                text.push('\n');
                let _ = write.write_all(text.as_bytes()).await;
            });
        }
    }))
}

async fn handle(fs: &Fs, request: Request) -> Response {
    match request {
        Request::RefreshView { view } => {
            let Some(views) = fs.views() else {
                return Response {
                    ok: false,
                    message: "this mount has no views".into(),
                    detail: serde_json::Value::Null,
                };
            };
            match views.refresh(&view).await {
                Ok(listing) => Response {
                    ok: true,
                    message: format!("view '{view}' refreshed: {} files", listing.files.len()),
                    detail: serde_json::json!({ "summary": listing.summary }),
                },
                Err(e) => Response {
                    ok: false,
                    message: e.message,
                    detail: serde_json::Value::Null,
                },
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
            detail: crate::stats::snapshot(fs),
        },
        Request::Status => Response {
            ok: true,
            message: "running".into(),
            detail: serde_json::json!({
                "open_files": fs.open_files(),
                "views": fs.views().map(|v| v.status()),
            }),
        },
    }
}

/// Sends one request to the daemon of `mountpoint` and returns its answer.
pub fn call(mountpoint: &Path, request: &Request) -> anyhow::Result<Response> {
    let path = socket_path(mountpoint);
    let stream = std::os::unix::net::UnixStream::connect(&path).with_context(|| {
        format!(
            "no mastfs daemon answers for {} (socket {}); is it mounted?",
            mountpoint.display(),
            path.display()
        )
    })?;
    let mut text = serde_json::to_string(request)?;
    text.push('\n');
    (&stream).write_all(text.as_bytes())?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    if line.is_empty() {
        bail!("the daemon closed the connection without answering");
    }
    Ok(serde_json::from_str(&line)?)
}
