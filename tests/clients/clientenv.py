"""Configuration of the client tests, read from the environment, and path/manifest helpers.

Environment:
  MASTFS_TEST_ROOT       directory under test: a mastfs mount, or the plain OUT_DIR of
                         scripts/testdata/make_all.sh (required).
  MASTFS_TEST_BUCKET_PATH  where the bucket's keys live under the root and the source
                         (default "stpubdata": ROOT/stpubdata/hst/public/...).
  MASTFS_TEST_SOURCE     the generated OUT_DIR (holds MANIFEST.tsv and the original files)
                         for byte comparisons; defaults to MASTFS_TEST_ROOT.
  MASTFS_TEST_FULL=1     the data are the full-size ones (220 MB DRZ, 4088^2 Roman L2); size
                         bounds are then absolute (4 MiB per 100x100 cutout, ...).
  MASTFS_STANDIN_URL     control URL of the local S3 stand-in; enables request/byte bounds.
  MASTFS_REQUIRE_TOOLS   set in CI: a missing tool (fitsverify, ds9, ...) fails instead of skipping.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytest

FULL_DRZ_BYTES = 219_608_640
DRZ_KEY = "hst/public/jbev/jbeveo010/jbeveo010_drz.fits"
DRZ2_KEY = "hst/public/jbev/jbevet010/jbevet010_drz.fits"
L2_KEY = "roman/nexus/soc_simulations/l2/r0003201001001001004_0001_wfi01_f158_cal.asdf"
L2_LZ4_KEY = "roman/nexus/soc_simulations/l2/r0003201001001001004_0001_wfi01_f158_cal_lz4.asdf"
PREFIX_KEY = "roman/nexus/soc_simulations/tutorial_data"
PREFIX_FILE_COUNT = 360


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class ClientEnv:
    root: Path
    source: Path
    bucket_path: str
    full: bool

    def path(self, key: str) -> Path:
        """The file under test for a bucket key."""
        return self.root / self.bucket_path / key

    def source_path(self, key: str) -> Path:
        """The generated original of a bucket key."""
        return self.source / "stpubdata" / key

    @cached_property
    def manifest(self) -> dict[str, tuple[int, str]]:
        """key -> (size, sha256) from the generator's MANIFEST.tsv."""
        manifest_file = self.source / "MANIFEST.tsv"
        if not manifest_file.is_file():
            pytest.fail(
                f"expected {manifest_file} (written by scripts/testdata/make_all.sh); "
                "set MASTFS_TEST_SOURCE to the generated OUT_DIR"
            )
        with manifest_file.open(newline="") as f:
            rows = csv.DictReader(f, delimiter="\t")
            return {row["key"]: (int(row["size"]), row["sha256"]) for row in rows}

    def cutout(self, shape: tuple[int, int]) -> tuple[slice, slice]:
        """The brief's [2000:2100, 2000:2100] on full-size data; a central 100x100 on small data."""
        if self.full:
            return slice(2000, 2100), slice(2000, 2100)
        ny, nx = shape
        y0, x0 = ny // 2 - 50, nx // 2 - 50
        return slice(y0, y0 + 100), slice(x0, x0 + 100)


def load_env() -> ClientEnv | None:
    root = os.environ.get("MASTFS_TEST_ROOT")
    if not root:
        return None
    source = os.environ.get("MASTFS_TEST_SOURCE") or root
    return ClientEnv(
        root=Path(root),
        source=Path(source),
        bucket_path=os.environ.get("MASTFS_TEST_BUCKET_PATH", "stpubdata"),
        full=env_flag("MASTFS_TEST_FULL"),
    )


def require_tool(*names: str) -> None:
    """Skips the test when a tool is missing, unless MASTFS_REQUIRE_TOOLS is set (then fails)."""
    missing = [n for n in names if shutil.which(n) is None]
    if not missing:
        return
    message = f"missing tool(s): {', '.join(missing)} (Debian: apt-get install -y fitsverify saods9 xpa-tools xvfb)"
    if env_flag("MASTFS_REQUIRE_TOOLS"):
        pytest.fail(message)
    pytest.skip(message)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(4 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
