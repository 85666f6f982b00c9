"""Idempotent mounts from Python: :func:`mount` starts one mastfs daemon per mount point and
host, reuses a live one started with the same settings, and refuses one started with other
settings; :func:`unmount` takes it down (a dead mount included).

Every call holds a per-mount-point lock file (``flock``) in the daemon's runtime folder, so
many processes on one host (Dask workers) race safely: the first mounts, the others reuse.
A record beside the lock holds the settings the live mount was started with."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from . import _binary

#: Errnos a FUSE mount answers once its daemon is gone.
DEAD_MOUNT_ERRNOS = (errno.ENOTCONN, errno.ECONNABORTED)


class MountConflict(_binary.MastfsError):
    """A live mount at that path was started with other settings."""


@dataclass(frozen=True)
class Mount:
    """A live mastfs mount."""

    path: Path
    settings: dict = field(compare=False, repr=False)

    def __fspath__(self) -> str:
        return str(self.path)

    def view(self, name: str) -> Path:
        """The folder of view ``name``."""
        return self.path / "views" / name

    def stats(self) -> dict:
        """The daemon's statistics (``mastfs stats``: requests, bytes fetched, cache)."""
        return json.loads((self.path / ".mastfs" / "stats.json").read_text())


def mount(
    mountpoint: str | os.PathLike,
    config: str | os.PathLike | Mapping[str, Any] | None = None,
    views: Mapping[str, Mapping[str, Any]] | Sequence[Mapping[str, Any]] | None = None,
    *,
    buckets: Sequence[str] | None = None,
    endpoint_url: str | None = None,
    force_path_style: bool = False,
    mast_url: str | None = None,
    cache_size: str | None = None,
    disk_cache: bool | str | os.PathLike = False,
    options: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> Mount:
    """Mounts mastfs at ``mountpoint`` (created if missing) and returns once it is live.

    ``config`` is a TOML file or the same content as a dict (None: the default config file,
    as on the command line); ``views`` adds views to it (to an empty config without one),
    as ``{name: {"criteria": {...}, "products": {...}}}`` or a list of ``[[views]]`` tables.
    The keywords are the command line's options (``options`` any other long option,
    ``{"metadata_ttl": "10m"}``); ``disk_cache`` is True or the cache folder.

    Calling it again with the same settings returns the live mount; with other settings it
    raises :class:`MountConflict` (unmount first). A mount whose daemon died is replaced.
    """
    path = _absolute(mountpoint)
    settings = _settings(config, views, buckets, endpoint_url, force_path_style, mast_url,
                         cache_size, disk_cache, options)
    with _locked(path) as files:
        state = mount_state(path)
        if state == "live":
            recorded = _read_record(files.record)
            if recorded is None:
                raise MountConflict(
                    f"{path} is already a mastfs mount that mastfs.mount did not start (a "
                    f"`mastfs mount` by hand, fstab, a DaemonSet); its settings are unknown: use "
                    f"the folder as it is, or unmount it first (mastfs.unmount({str(path)!r}))"
                )
            if recorded != settings:
                raise MountConflict(
                    f"{path} is already mounted with other settings ({_difference(recorded, settings)}); "
                    f"call mastfs.mount with the same settings to share it, or "
                    f"mastfs.unmount({str(path)!r}) first"
                )
            return Mount(path, settings)
        if state == "absent":
            path.mkdir(parents=True, exist_ok=True)
        args = ["mount", str(path), *_command_args(settings, files.config), "--log-file", str(files.log)]
        _binary.run(args, timeout=timeout)
        _write_record(files.record, settings)
        return Mount(path, settings)


def unmount(mountpoint: str | os.PathLike) -> bool:
    """Unmounts mastfs at ``mountpoint``; a mount whose daemon died is cleared too.
    Returns False when nothing was mounted there. Raises if files are still open on it."""
    path = _absolute(mountpoint)
    with _locked(path) as files:
        state = mount_state(path)
        with contextlib.suppress(FileNotFoundError):
            files.record.unlink()
        if state == "absent":
            return False
        _binary.run(["unmount", str(path)])
        return True


def mount_state(mountpoint: str | os.PathLike) -> str:
    """``live``, ``dead`` (its daemon is gone: ENOTCONN), ``absent``, or ``other`` (some
    other file system is mounted there)."""
    path = str(_absolute(mountpoint))
    mounted = _mounted_filesystem(path)
    if mounted is None:
        return "absent"
    try:
        os.statvfs(path)
    except OSError as e:
        if e.errno in DEAD_MOUNT_ERRNOS:
            return "dead"
        raise
    # mastfs mounts as type `fuse` with source `mastfs`; `fuse.mastfs` through mount(8).
    fstype, source = mounted
    return "live" if fstype == "fuse.mastfs" or (fstype == "fuse" and source == "mastfs") else "other"


def _mounted_filesystem(path: str) -> tuple[str, str] | None:
    """(type, source) of the file system mounted at ``path`` (the last one stacked there)."""
    found = None
    with open("/proc/self/mountinfo") as table:
        for line in table:
            fields = line.split()
            target = fields[4].encode().decode("unicode_escape")
            if target == path:
                rest = fields[fields.index("-") + 1:]
                found = (rest[0], rest[1] if len(rest) > 1 else "")
    return found


def _absolute(mountpoint: str | os.PathLike) -> Path:
    return Path(os.path.abspath(os.fspath(mountpoint)))


def _settings(config, views, buckets, endpoint_url, force_path_style, mast_url, cache_size,
              disk_cache, options) -> dict:
    """Everything that makes a mount what it is, as plain data (compared for reuse)."""
    if isinstance(config, Mapping):
        content: dict | None = dict(config)
    elif config is not None:
        content = tomllib.loads(Path(config).read_text())
    else:
        content = None
    if views:
        content = dict(content or {})
        content["views"] = list(content.get("views", [])) + _view_tables(views)
    flags = {
        "bucket": list(buckets) if buckets else None,
        "endpoint_url": endpoint_url,
        "force_path_style": bool(force_path_style),
        "mast_url": mast_url,
        "cache_size": cache_size,
        "disk_cache": os.fspath(disk_cache) if not isinstance(disk_cache, bool) else disk_cache,
        **{k.replace("-", "_"): str(v) for k, v in (options or {}).items()},
    }
    return json.loads(json.dumps({"config": content, "flags": flags}))


def _view_tables(views) -> list[dict]:
    if isinstance(views, Mapping):
        return [{"name": name, **dict(spec)} for name, spec in views.items()]
    return [dict(v) for v in views]


def _command_args(settings: dict, config_file: Path) -> list[str]:
    args = []
    if settings["config"] is not None:
        config_file.write_text(tomli_w.dumps(settings["config"]))
        args += ["--config", str(config_file)]
    for key, value in settings["flags"].items():
        if value is None or value is False:
            continue
        if key == "bucket":
            for bucket in value:
                args += ["--bucket", bucket]
        elif key == "disk_cache":
            args += ["--disk-cache"] if value is True else ["--cache-dir", value]
        elif value is True:
            args.append("--" + key.replace("_", "-"))
        else:
            args += ["--" + key.replace("_", "-"), str(value)]
    return args


def _difference(recorded: dict, wanted: dict) -> str:
    """Which settings differ, for the refusal message."""
    parts = []
    if recorded["config"] != wanted["config"]:
        def names(s):
            return sorted(v.get("name", "?") for v in (s["config"] or {}).get("views", []))
        parts.append(f"config differs; views {names(recorded)} mounted, {names(wanted)} asked")
    for key in sorted(set(recorded["flags"]) | set(wanted["flags"])):
        have, want = recorded["flags"].get(key), wanted["flags"].get(key)
        if have != want:
            parts.append(f"{key}: mounted {have!r}, asked {want!r}")
    return "; ".join(parts)


@dataclass
class _Files:
    record: Path
    config: Path
    log: Path


def state_dir() -> Path:
    """Where mastfs keeps its per-mount runtime files (the daemon's control sockets too)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "mastfs"
    if os.geteuid() == 0:
        return Path("/run/mastfs")
    return Path(os.environ.get("TMPDIR", "/tmp")) / f"mastfs-{os.geteuid()}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[_Files]:
    """Holds the host-wide lock of mount point ``path``."""
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stem = "py-" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
    with open(folder / f"{stem}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield _Files(folder / f"{stem}.json", folder / f"{stem}.toml", folder / f"{stem}.log")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_record(record: Path) -> dict | None:
    try:
        return json.loads(record.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_record(record: Path, settings: dict) -> None:
    partial = record.with_suffix(".partial")
    partial.write_text(json.dumps(settings))
    partial.replace(record)
