"""Finding and running the mastfs binary: the one place where a failed command becomes a
:class:`MastfsError` carrying the binary's own message."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence


class MastfsError(RuntimeError):
    """A mastfs command failed; the message is the binary's explanation."""


def binary() -> str:
    """The mastfs executable: ``$MASTFS_BIN``, else ``mastfs`` on PATH."""
    explicit = os.environ.get("MASTFS_BIN")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise MastfsError(f"MASTFS_BIN={explicit} is not an executable file")
        return explicit
    found = shutil.which("mastfs")
    if found is None:
        raise MastfsError(
            "the mastfs binary is not on PATH: install it (`cargo install --path .` or "
            "`sudo bash scripts/install.sh` in the mastfs repository) or set MASTFS_BIN"
        )
    return found


def run(args: Sequence[str], *, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Runs ``mastfs ARGS``; returns the finished process, raises on a non-zero exit."""
    command = [binary(), *args]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as e:
        raise MastfsError(f"`mastfs {' '.join(args)}` did not finish within {timeout} s") from e
    if done.returncode != 0:
        reason = done.stderr.strip() or done.stdout.strip() or f"exit status {done.returncode}"
        raise MastfsError(f"`mastfs {args[0]}` failed: {reason}")
    return done
