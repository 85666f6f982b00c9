"""Dask: one mastfs mount per host, shared by every worker process there.

:class:`MastfsPlugin` is a ``distributed`` WorkerPlugin. Each worker mounts through
:func:`mastfs.mount`, whose host-wide lock makes the first worker on a host start the
daemon and every other one reuse it. Before each task runs, the worker checks the mount and,
if its daemon has died, mounts afresh (so a retried task reads again); :func:`checked`
turns the kernel's "Transport endpoint is not connected" inside a task into a
:class:`MountLost` error that says what happened and what to do.

    client.register_plugin(mastfs.dask.MastfsPlugin("/tmp/mast", views=...))
    paths = mastfs.dask.view_paths(client, "drz")
    sums = client.gather(client.map(mastfs.dask.checked(fits_sum), paths, retries=1))

With a node-wide mount made by someone else (the Kubernetes DaemonSet of
deploy/kubernetes/), ``MastfsPlugin(path, external=True)`` only checks it is there."""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable

from distributed import Client, WorkerPlugin, get_worker

from . import mounts as _mount

logger = logging.getLogger("mastfs.dask")

PLUGIN_NAME = "mastfs"


class MountLost(OSError):
    """The mastfs daemon serving a task's files died while the task read them."""


class MastfsPlugin(WorkerPlugin):
    """Mounts mastfs once per host at ``mountpoint`` with ``settings`` (the keywords of
    :func:`mastfs.mount`) and keeps it mounted while the workers run."""

    name = PLUGIN_NAME

    def __init__(self, mountpoint: str | os.PathLike, *, external: bool = False,
                 external_wait: float = 60, **settings: Any):
        self.mountpoint = str(Path(os.path.abspath(os.fspath(mountpoint))))
        self.external = external
        self.external_wait = external_wait
        self.settings = settings

    def setup(self, worker) -> None:
        self.ensure_mounted()

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        if finish == "executing":
            self.ensure_mounted()

    def ensure_mounted(self) -> None:
        """Mounts (or checks, for an external mount) unless the mount is live."""
        state = _mount.mount_state(self.mountpoint)
        if state == "live":
            return
        if self.external:
            self._wait_for_external(state)
            return
        if state == "dead":
            logger.warning("mastfs at %s on %s had lost its daemon; mounting afresh",
                           self.mountpoint, socket.gethostname())
        _mount.mount(self.mountpoint, **self.settings)

    def _wait_for_external(self, state: str) -> None:
        deadline = time.monotonic() + self.external_wait
        while state != "live" and time.monotonic() < deadline:
            time.sleep(0.5)
            state = _mount.mount_state(self.mountpoint)
        if state != "live":
            raise MountLost(
                f"no live mastfs mount at {self.mountpoint} on {socket.gethostname()} "
                f"(state: {state}) after {self.external_wait:.0f} s: the node's mastfs "
                f"(DaemonSet) is not ready, or the path is not shared into this container "
                f"(mountPropagation: HostToContainer)"
            )


def checked(func: Callable) -> Callable:
    """Wraps a task function so that reading from a mount whose daemon died raises
    :class:`MountLost` naming the host and the mount (retry the task: the plugin mounts
    afresh before a task runs) instead of a bare ``OSError: [Errno 107]``."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except OSError as e:
            if e.errno not in _mount.DEAD_MOUNT_ERRNOS or isinstance(e, MountLost):
                raise
            raise MountLost(
                e.errno,
                f"the mastfs daemon on {socket.gethostname()} died while this task read "
                f"{e.filename or 'its files'} ({os.strerror(e.errno)}); the worker mounts "
                f"afresh before the next task: retry it (client.map(..., retries=1))",
            ) from e

    return wrapper


def view_paths(client: Client, view: str, mountpoint: str | os.PathLike | None = None) -> list[str]:
    """The paths of a view's files as every worker sees them (sorted; subfolders of a
    ``by-obs`` view included; the hidden ``.manifest.csv`` left out)."""
    return _paths_on_a_worker(client, ("views", view), mountpoint)


def prefix_paths(client: Client, prefix: str, mountpoint: str | os.PathLike | None = None) -> list[str]:
    """The paths of the files under ``BUCKET/PREFIX`` of the mount, as for :func:`view_paths`."""
    return _paths_on_a_worker(client, tuple(p for p in prefix.split("/") if p), mountpoint)


def _paths_on_a_worker(client: Client, parts: tuple[str, ...], mountpoint) -> list[str]:
    workers = sorted(client.scheduler_info()["workers"])
    if not workers:
        raise RuntimeError("the Dask cluster has no workers yet (client.wait_for_workers(1))")
    answer = client.run(_list_files, parts, mountpoint and os.fspath(mountpoint), workers=workers[:1])
    return answer[workers[0]]


def _list_files(parts: tuple[str, ...], mountpoint: str | None, dask_worker=None) -> list[str]:
    if mountpoint is None:
        plugin = (dask_worker or get_worker()).plugins.get(PLUGIN_NAME)
        if plugin is None:
            raise RuntimeError(
                "no mastfs plugin on the workers: client.register_plugin("
                "mastfs.dask.MastfsPlugin(MOUNTPOINT, ...)) first, or pass mountpoint="
            )
        plugin.ensure_mounted()
        mountpoint = plugin.mountpoint
    folder = Path(mountpoint, *parts)
    if not folder.is_dir():
        if parts[0] == "views":
            known = sorted(os.listdir(Path(mountpoint, "views")))
            raise FileNotFoundError(
                f"no view {parts[1]!r} at {mountpoint}/views (views there: {', '.join(known) or 'none'})"
            )
        raise FileNotFoundError(f"{folder} is not a folder of the mount")
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, f) for f in sorted(files) if not f.startswith(".")]
    return found
