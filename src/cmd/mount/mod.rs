//! The mount lifecycle: checks the mount point (clearing a mount left stale by a crash),
//! daemonizes, builds the layers, mounts, reports readiness (to the parent process and to
//! systemd), reloads on SIGHUP, and unmounts cleanly on SIGINT/SIGTERM or when the kernel
//! ends the session.
//!
//! `mastfs mount /dev/fd/N` serves a mount someone else made: a privileged helper (a CSI
//! node plugin, a container runtime hook) opened /dev/fuse, mounted it with `fd=N` and
//! handed the descriptor over, as for mountpoint-s3 and gcsfuse. mastfs then neither
//! mounts nor unmounts; the helper owns the mount point.
//!
//! What to mount comes from `request.rs`. `mastfs unmount` is here too: it shares the mount
//! point checks.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};

use crate::cli::args::MountArgs;
use crate::daemon::logging::LogSettings;
use crate::daemon::{control, setup};
use crate::fs::Fs;
use crate::fuse::FuseAdapter;

mod request;

pub use request::MountRequest;

/// What kind of thing sits at a path, as far as mounting is concerned.
#[derive(Debug, PartialEq, Eq)]
enum MountPointState {
    Ready,
    /// A FUSE mount whose daemon is gone: "Transport endpoint is not connected".
    Stale,
    Mounted,
}

fn check_mount_point(path: &Path) -> anyhow::Result<MountPointState> {
    match std::fs::metadata(path) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => return Ok(MountPointState::Stale),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!(
                "mount point {} does not exist: create it with `mkdir -p {}`",
                path.display(),
                path.display()
            )
        }
        Err(e) => bail!("cannot use mount point {}: {e}", path.display()),
        Ok(m) if !m.is_dir() => bail!("mount point {} is not a directory", path.display()),
        Ok(_) => {}
    }
    if crate::mounts::is_mount_point(path) {
        // stat(2) can answer from attributes the kernel cached before the daemon died;
        // statfs(2) always asks the daemon, so a dead one shows here.
        if let Err(nix::errno::Errno::ENOTCONN | nix::errno::Errno::ECONNABORTED) =
            nix::sys::statfs::statfs(path)
        {
            return Ok(MountPointState::Stale);
        }
        return Ok(MountPointState::Mounted);
    }
    let mut entries = std::fs::read_dir(path)
        .with_context(|| format!("cannot read mount point {}", path.display()))?;
    if entries.next().is_some() {
        bail!(
            "mount point {} is not empty: mounting over files would hide them; choose an empty directory",
            path.display()
        );
    }
    Ok(MountPointState::Ready)
}

/// Detaches whatever is mounted at `path` (lazily, so open files do not block it).
fn detach(path: &Path) -> anyhow::Result<()> {
    nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH)
        .or_else(|e| {
            // Not root: let fusermount3 do it.
            let status = std::process::Command::new("fusermount3")
                .arg("-uz")
                .arg(path)
                .status();
            match status {
                Ok(s) if s.success() => Ok(()),
                _ => Err(e),
            }
        })
        .with_context(|| format!("cannot unmount {}", path.display()))
}

/// The descriptor N of a mount point given as `/dev/fd/N`.
fn fuse_fd_number(mountpoint: &Path) -> Option<RawFd> {
    mountpoint
        .to_str()?
        .strip_prefix("/dev/fd/")?
        .parse()
        .ok()
        .filter(|n: &RawFd| *n >= 0)
}

/// Takes over descriptor `n`, which must be an open /dev/fuse (character device 10:229).
fn take_fuse_fd(n: RawFd) -> anyhow::Result<OwnedFd> {
    let hint = "the process that starts mastfs must open /dev/fuse, mount it with `fd=N` and keep N open across exec";
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat only writes into `stat`; a descriptor that is not open yields EBADF.
    if unsafe { libc::fstat(n, stat.as_mut_ptr()) } != 0 {
        let e = std::io::Error::last_os_error();
        bail!("/dev/fd/{n} is not an open file descriptor ({e}): {hint}");
    }
    // SAFETY: fstat succeeded, so it filled `stat`.
    let stat = unsafe { stat.assume_init() };
    let is_char = stat.st_mode & libc::S_IFMT == libc::S_IFCHR;
    let (major, minor) = (libc::major(stat.st_rdev), libc::minor(stat.st_rdev));
    if !is_char || (major, minor) != (10, 229) {
        bail!("/dev/fd/{n} is not /dev/fuse: {hint}");
    }
    // SAFETY: `n` is open (fstat succeeded) and, by the `/dev/fd/N` contract, handed to us:
    // nothing else in this process uses it.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// `mastfs unmount`: unmounts, and clears a stale mount left by a crash.
pub fn unmount(path: &Path, lazy: bool) -> anyhow::Result<()> {
    let path = absolute(path)?;
    let stale =
        matches!(std::fs::metadata(&path), Err(e) if e.raw_os_error() == Some(libc::ENOTCONN));
    if !stale && !crate::mounts::is_mount_point(&path) {
        bail!("{} is not mounted", path.display());
    }
    if lazy || stale {
        return detach(&path);
    }
    match nix::mount::umount2(&path, nix::mount::MntFlags::empty()) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EBUSY) => bail!(
            "{} is busy: some process has files open there (see `fuser -m {}`); close them, or use `mastfs unmount --lazy`",
            path.display(),
            path.display()
        ),
        Err(nix::errno::Errno::EPERM) => detach(&path),
        Err(e) => Err(anyhow!("cannot unmount {}: {e}", path.display())),
    }
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

/// What to tell the user who shares a mount of signed buckets with every local user: the
/// daemon reads them with the mounting user's credentials, whoever asks.
fn allow_other_warning(
    buckets: &[crate::config::BucketConfig],
    allow_other: bool,
) -> Option<String> {
    let signed: Vec<&str> = buckets
        .iter()
        .filter(|b| b.signed)
        .map(|b| b.name.as_str())
        .collect();
    if !allow_other || signed.is_empty() {
        return None;
    }
    Some(format!(
        "--allow-other makes the signed bucket(s) {} readable by every local user, with your \
         credentials; use --gid and --file-mode 0440 --dir-mode 0550 to limit them to a group, \
         or mount private buckets without --allow-other",
        signed.join(", ")
    ))
}

/// `mastfs mount`: what to mount from the flags, the environment and the config file, then
/// [`mount`]; logging starts once it is known whether the process stays in the foreground.
pub fn run(args: &MountArgs, logging: &LogSettings) -> anyhow::Result<()> {
    mount(MountRequest::from_args(args)?, |foreground| {
        logging.init(foreground)
    })
}

/// Mounts and serves until unmounted. Without `foreground`, forks: the parent returns only
/// once the mount is live (exit 0, one line saying what is mounted where) or has failed.
pub fn mount(req: MountRequest, init_logging: impl FnOnce(bool)) -> anyhow::Result<()> {
    if let Some(n) = fuse_fd_number(&req.mountpoint) {
        // Checked before forking, so a wrong descriptor fails the command itself.
        take_fuse_fd(n).map(std::mem::forget)?;
    }
    let mountpoint = absolute(&req.mountpoint)?;
    let state = match fuse_fd_number(&mountpoint) {
        Some(_) => MountPointState::Ready,
        None => check_mount_point(&mountpoint)?,
    };
    match state {
        MountPointState::Ready => {}
        MountPointState::Stale => {
            eprintln!(
                "mastfs: clearing a stale mount at {} (its daemon is gone)",
                mountpoint.display()
            );
            detach(&mountpoint)?;
        }
        MountPointState::Mounted => bail!(
            "{} is already a mount point; unmount it first (`mastfs unmount {}`)",
            mountpoint.display(),
            mountpoint.display()
        ),
    }
    if req.allow_other && !nix::unistd::geteuid().is_root() {
        let conf = std::fs::read_to_string("/etc/fuse.conf").unwrap_or_default();
        if !conf.lines().any(|l| l.trim() == "user_allow_other") {
            bail!("--allow-other needs `user_allow_other` in /etc/fuse.conf (or mount as root)");
        }
    }
    if let Some(warning) = allow_other_warning(&req.config.buckets, req.allow_other) {
        eprintln!("mastfs: warning: {warning}");
    }
    if req.foreground {
        init_logging(true);
        return serve(&req, &mountpoint, None);
    }
    let (read_end, write_end) = nix::unistd::pipe().context("cannot create a pipe")?;
    // SAFETY: no other threads exist yet (the runtime is built after the fork).
    match unsafe { nix::unistd::fork() }.context("cannot fork the daemon")? {
        nix::unistd::ForkResult::Parent { .. } => {
            drop(write_end);
            let mut report = String::new();
            std::fs::File::from(read_end)
                .read_to_string(&mut report)
                .ok();
            match report.strip_prefix("ok ") {
                Some(line) => {
                    println!("{}", line.trim_end());
                    Ok(())
                }
                None if report.is_empty() => {
                    bail!("the mastfs daemon exited before mounting (see its log)")
                }
                None => bail!("{}", report.trim_end()),
            }
        }
        nix::unistd::ForkResult::Child => {
            drop(read_end);
            let _ = nix::unistd::setsid();
            init_logging(false);
            let result = serve(&req, &mountpoint, Some(write_end));
            if let Err(e) = &result {
                tracing::error!("{e:#}");
                // The parent has the error through the pipe and prints it: printing it here
                // as well would interleave two copies on the same terminal.
                std::process::exit(1);
            }
            result
        }
    }
}

/// Builds the layers, mounts, reports, and blocks until the mount ends.
fn serve(req: &MountRequest, mountpoint: &Path, ready: Option<OwnedFd>) -> anyhow::Result<()> {
    let mut ready = ready.map(std::fs::File::from);
    // Block buffers are allocated and freed all the time. glibc's dynamic mmap threshold
    // soon serves them from heap arenas that fragment and never shrink (RSS grew ~100 MiB
    // past the cache budget); a fixed 128 KiB threshold maps and unmaps each one, so the
    // daemon's memory follows the cache.
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only tunes the allocator; called before the runtime's threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
    let outcome = (|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("mastfs-io")
            .build()
            .context("cannot start the async runtime")?;
        // Handlers first: a SIGTERM sent as soon as the mount is announced (systemd, a
        // test) must unmount cleanly, not kill the process by the default action.
        let signals = {
            let _context = runtime.enter();
            Signals::listen().context("cannot listen for signals")?
        };
        if let Some(limit) = req.config.cache.size_from_memory_limit {
            tracing::info!(
                "block cache budget {} MiB, from the cgroup memory limit of {} MiB (give --cache-size to choose)",
                req.config.cache.size >> 20,
                limit >> 20
            );
        }
        let layers = runtime.block_on(setup::build(&req.config))?;
        let fs = layers.fs;
        let fuse_fd = fuse_fd_number(mountpoint);
        let control_socket = if fuse_fd.is_some() {
            // The mount point is the helper's and unknown here: no socket to key by it.
            tracing::info!(
                "serving a mount made by another process; its statistics are in MOUNTPOINT/.mastfs/stats.json"
            );
            None
        } else {
            let settings = control::MountS3Settings::of(&req.config);
            let control =
                runtime.block_on(async { control::serve(mountpoint, fs.clone(), settings) });
            match control {
                Ok(socket) => Some((socket.path.clone(), file_id(&socket.path))),
                Err(e) => {
                    tracing::warn!(
                        "no control socket ({e:#}); `mastfs stats`, `views` and `drop-caches` will not reach this mount"
                    );
                    None
                }
            }
        };
        if let Some(addr) = req.metrics_addr {
            let _context = runtime.enter();
            crate::daemon::metrics::serve(addr, fs.clone())?;
        }
        let adapter = FuseAdapter::new(fs.clone(), runtime.handle().clone());
        let mut fuse_config = fuser::Config::default();
        fuse_config.mount_options = vec![
            fuser::MountOption::FSName("mastfs".into()),
            fuser::MountOption::Subtype("mastfs".into()),
            fuser::MountOption::RO,
            fuser::MountOption::NoDev,
            fuser::MountOption::NoSuid,
            fuser::MountOption::DefaultPermissions,
        ];
        // Several session threads, each on its own clone of the /dev/fuse descriptor, read
        // and dispatch requests in parallel: one thread caps how fast the kernel's requests
        // are taken off the queue when many reads are in flight.
        fuse_config.n_threads = Some(fuse_session_threads());
        fuse_config.clone_fd = true;
        fuse_config.acl = if req.allow_other {
            fuser::SessionACL::All
        } else {
            fuser::SessionACL::Owner
        };
        let session = match fuse_fd {
            Some(n) => {
                let fd = take_fuse_fd(n)?;
                let acl = fuse_config.acl;
                fuser::Session::from_fd(adapter, fd, acl, fuse_config).with_context(|| {
                    format!("cannot serve the FUSE mount of /dev/fd/{n} (is it mounted?)")
                })?
            }
            None => fuser::Session::new(adapter, mountpoint, &fuse_config)
                .with_context(|| format!("cannot mount at {}", mountpoint.display()))?,
        };
        let background = session.spawn().context("cannot start the FUSE session")?;
        anyhow::Ok((runtime, background, fs, control_socket, signals))
    })();
    let (runtime, background, fs, control_socket, signals) = match outcome {
        Ok(v) => v,
        Err(e) => {
            if let Some(f) = ready.as_mut() {
                // The parent prints it after its own "mastfs: ".
                let _ = write!(f, "{e:#}");
            }
            return Err(e);
        }
    };
    let what: Vec<String> = req
        .config
        .buckets
        .iter()
        .map(|b| {
            let auth = if b.signed { "signed" } else { "anonymous" };
            format!(
                "s3://{}/{} ({auth})",
                b.name,
                b.prefix.as_deref().unwrap_or("")
            )
        })
        .collect();
    let endpoint = req.config.s3.endpoint_url.as_deref().unwrap_or("AWS");
    let line = format!(
        "mastfs: mounted {} from {endpoint} at {}",
        what.join(", "),
        mountpoint.display()
    );
    tracing::info!("{line}");
    crate::daemon::notify::ready(&line);
    match ready.take() {
        Some(mut f) => {
            let _ = write!(f, "ok {line}");
            drop(f);
            detach_stdio();
        }
        None => eprintln!("{line}"),
    }
    let reason = runtime.block_on(wait_for_end(&background, &fs, signals));
    tracing::info!("{reason}; unmounting {}", mountpoint.display());
    crate::daemon::notify::stopping(&format!("{reason}; unmounting {}", mountpoint.display()));
    if fuse_fd_number(mountpoint).is_some() && !background.guard.is_finished() {
        // The helper that mounted owns the mount point and unmounts it; until it does, the
        // mount answers ENOTCONN. Joining the session would wait for that unmount.
        std::mem::forget(background);
    } else if background.guard.is_finished() {
        // The kernel ended the session (an external `umount`). Dropping the session would
        // make fuser unmount the mount point by path, and fuser can still believe it is
        // mounted: that path may already hold a new mount (`umount X; mount X`), which it
        // would take down. The process exits right after; nothing needs releasing.
        std::mem::forget(background);
    } else if let Err(e) = background.umount_and_join() {
        tracing::warn!(
            "clean unmount failed ({e}); detaching {}",
            mountpoint.display()
        );
        let _ = detach(mountpoint);
    }
    // Only our own socket: a new mount of the same path may have replaced it already.
    if let Some((socket, id)) = control_socket {
        if id.is_some() && file_id(&socket) == id {
            let _ = std::fs::remove_file(&socket);
        }
    }
    // Blocks fetched last are still being written to the disk cache: let them land, so the
    // next mount finds them (bounded: a stuck disk must not hold up the exit for long).
    if fs.cache().disk().is_some()
        && !runtime.block_on(fs.cache().flush_disk(Duration::from_secs(10)))
    {
        tracing::warn!("disk cache writes still pending after 10 s; some blocks were not kept");
    }
    runtime.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}

/// The signals a mount acts on, listened for from before the mount exists.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Must run inside the runtime's context.
    fn listen() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

/// (device, inode) of a file, to tell whether it is still the one we created.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Tells the kernel to drop the names and attributes it cached from this mount (its
/// timeouts equal metadata_ttl): after SIGHUP every path is looked up again.
async fn forget_in_kernel(notifier: fuser::Notifier, entries: Vec<(u64, std::ffi::OsString, u64)>) {
    let count = entries.len();
    // Each notification is a write to /dev/fuse the kernel handles at once; off the runtime.
    let done = tokio::task::spawn_blocking(move || {
        let mut inodes = std::collections::HashSet::new();
        for (parent, name, ino) in &entries {
            // ENOENT: the kernel had already let go of it.
            let _ = notifier.inval_entry(fuser::INodeNo(*parent), name);
            if inodes.insert(*ino) {
                let _ = notifier.inval_inode(fuser::INodeNo(*ino), -1, 0);
            }
        }
    })
    .await;
    if done.is_err() {
        tracing::warn!("SIGHUP: could not make the kernel forget {count} cached names");
    } else {
        tracing::debug!("SIGHUP: the kernel was told to forget {count} cached names");
    }
}

/// Waits for SIGINT, SIGTERM, or the end of the FUSE session (an external `umount`).
/// SIGHUP on the way reloads: cached listings and attributes are dropped and every view is
/// re-resolved in the background (a view whose refresh fails keeps its last listing).
async fn wait_for_end(
    background: &fuser::BackgroundSession,
    fs: &Arc<Fs>,
    signals: Signals,
) -> &'static str {
    let Signals {
        mut term,
        mut int,
        mut hup,
    } = signals;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            _ = term.recv() => return "SIGTERM received",
            _ = int.recv() => return "SIGINT received",
            _ = hup.recv() => {
                crate::daemon::notify::reloading(false);
                fs.drop_metadata();
                forget_in_kernel(background.notifier(), fs.known_entries()).await;
                if let Some(views) = fs.views() {
                    views.refresh_all();
                }
                tracing::info!("SIGHUP: dropped cached metadata; refreshing views");
                crate::daemon::notify::reloading(true);
            }
            _ = tick.tick() => {
                if background.guard.is_finished() {
                    return "the file system was unmounted";
                }
            }
        }
    }
}

/// A daemon keeps no terminal: stdin, stdout and stderr go to /dev/null.
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors of our own process.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}

/// FUSE session threads: one per CPU, 2 to 8 (`MASTFS_FUSE_THREADS` overrides, 1 to 64).
fn fuse_session_threads() -> usize {
    if let Some(n) = std::env::var("MASTFS_FUSE_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        return n.clamp(1, 64);
    }
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BucketConfig;

    fn bucket(name: &str, signed: bool) -> BucketConfig {
        BucketConfig {
            name: name.into(),
            prefix: None,
            signed,
        }
    }

    #[test]
    fn allow_other_with_signed_buckets_is_warned_about() {
        let mixed = [bucket("stpubdata", false), bucket("private-sandbox", true)];
        let warning = allow_other_warning(&mixed, true).unwrap_or_default();
        assert!(
            warning.contains("private-sandbox") && warning.contains("every local user"),
            "warning for a signed bucket shared with --allow-other: {warning:?}"
        );
        assert!(
            !warning.contains("stpubdata"),
            "public buckets are not named: {warning:?}"
        );
        assert_eq!(
            allow_other_warning(&mixed, false),
            None,
            "without --allow-other"
        );
        assert_eq!(
            allow_other_warning(&[bucket("stpubdata", false)], true),
            None,
            "public buckets only"
        );
    }
}
