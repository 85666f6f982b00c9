"""Fixtures of the Python package's tests: the repository's S3 and MAST stand-ins serving
a generated 120-file view (`gen-drz`, MAST's `generated:120:1` scenario, one HST DRZ FITS
file of ~1 MiB of SCI data per observation), and a fresh runtime folder per test so every
mount's lock, record and control socket are its own.

Binaries: target/debug/{mastfs,mastfs-s3-standin,mastfs-mast-standin} (or MASTFS_TARGET_DIR);
`scripts/python-tests.sh` builds them. Tests that mount need root and /dev/fuse."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

REPO = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("MASTFS_TARGET_DIR", REPO / "target" / "debug"))
FILES = 120
SCI_SHAPE = (512, 512)  # float32: 1 MiB of data, two 1 MiB blocks per file with the headers
VIEW = "gen-drz"
VIEW_SPEC = {
    "criteria": {"obs_collection": "HST", "proposal_id": ["99999"], "instrument_name": "ACS/WFC"},
    "products": {"productSubGroupDescription": "DRZ"},
}


def binary(name: str) -> str:
    path = TARGET / name
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: run `cargo build --workspace --bins` (scripts/python-tests.sh does)")
    return str(path)


def gen_key(i: int) -> str:
    """Where MAST's generated scenario puts observation i's DRZ product."""
    return f"hst/public/gen0/gen{i:06d}/gen{i:06d}_drz.fits"


def make_fits(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sci = rng.normal(100.0, 15.0, SCI_SHAPE).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(sci, name="SCI")]).writeto(path, overwrite=True)


def sci_sum(path: str) -> float:
    """The per-file statistic the tests map: the sum of the SCI array, in float64."""
    with fits.open(path, memmap=False) as hdus:
        return float(np.sum(hdus["SCI"].data, dtype=np.float64))


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """The local copies: FILES FITS files laid out as keys of the bucket `stpubdata`."""
    root = tmp_path_factory.mktemp("data")
    for i in range(FILES):
        make_fits(root / "stpubdata" / gen_key(i), seed=i)
    return root


@pytest.fixture(scope="session")
def local_sums(dataset) -> dict[str, float]:
    """The statistic from the local copies, by file name."""
    return {Path(gen_key(i)).name: sci_sum(str(dataset / "stpubdata" / gen_key(i))) for i in range(FILES)}


def _start(args: list[str], port_file: Path, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{args[0]} did not start: {log.read_text()}")
        time.sleep(0.1)
    return proc


@pytest.fixture(scope="session")
def standins(dataset, tmp_path_factory):
    """(S3 URL, MAST URL) of the stand-ins, for the whole session."""
    work = tmp_path_factory.mktemp("standins")
    s3 = _start([binary("mastfs-s3-standin"), "--public-bucket", "stpubdata",
                 "--load", f"stpubdata={dataset / 'stpubdata'}", "--port-file", str(work / "s3.port")],
                work / "s3.port", work / "s3.log")
    mast = _start([binary("mastfs-mast-standin"), "--scenario", f"generated:{FILES}:1",
                   "--port-file", str(work / "mast.port")], work / "mast.port", work / "mast.log")
    try:
        yield (f"http://127.0.0.1:{(work / 's3.port').read_text().strip()}",
               f"http://127.0.0.1:{(work / 'mast.port').read_text().strip()}")
    finally:
        for proc in (s3, mast):
            proc.kill()
            proc.wait()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A clean environment for mastfs: its own runtime, cache and config folders, no AWS
    settings of the machine, the binary under test."""
    for key in list(os.environ):
        if key.startswith(("AWS_", "MASTFS_")) and key != "MASTFS_TARGET_DIR":
            monkeypatch.delenv(key)
    for name in ("run", "cache", "config"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("MASTFS_BIN", binary("mastfs"))
    return tmp_path


@pytest.fixture
def mount_settings(standins) -> dict:
    """The keywords of mastfs.mount for the stand-ins and the generated view."""
    s3_url, mast_url = standins
    return {"views": {VIEW: VIEW_SPEC}, "endpoint_url": s3_url, "force_path_style": True,
            "mast_url": mast_url}


@pytest.fixture
def mountpoint(env):
    """A fresh mount point, unmounted on every path (lazily: a dead daemon never hangs it)."""
    path = env / "mnt"
    yield path
    with open("/proc/self/mounts") as table:
        mounted = any(line.split()[1] == str(path) for line in table)
    if mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


def mastfs_daemons(mountpoint: Path) -> list[int]:
    """Pids of the `mastfs mount MOUNTPOINT` daemons on this host."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(argv) > 2 and argv[0].endswith(b"mastfs") and argv[1] == b"mount" and argv[2] == str(mountpoint).encode():
            found.append(int(entry.name))
    return sorted(found)
