"""mastfs.query / cloud_uris through the binary against the MAST stand-in, and mastfs.mount /
unmount: idempotent with the same settings, refused with other ones, a dead mount replaced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from astropy.table import Table

import mastfs
from conftest import FILES, VIEW, gen_key, mastfs_daemons, sci_sum


def test_query_returns_the_filtered_products_as_a_table(env, standins):
    _, mast_url = standins
    table = mastfs.query(obs_collection="HST", proposal_id="99999", mast_url=mast_url,
                         products={"productSubGroupDescription": "DRZ"})
    assert isinstance(table, Table)
    assert len(table) == FILES, f"expected {FILES} DRZ rows, got {len(table)}: {table}"
    assert set(table["productSubGroupDescription"]) == {"DRZ"}
    expected = [f"gen{i:06d}_drz.fits" for i in range(FILES)]
    assert sorted(table["productFilename"]) == expected
    assert table.meta["s3_uris"] == [f"s3://stpubdata/{gen_key(i)}" for i in range(FILES)]


def test_cloud_uris_with_a_list_and_a_product_filter(env, standins):
    _, mast_url = standins
    uris = mastfs.cloud_uris(obs_collection=["HST", "JWST"], proposal_id="99999",
                             products={"productSubGroupDescription": ["DRZ"], "mrp_only": True},
                             mast_url=mast_url)
    assert uris == [f"s3://stpubdata/{gen_key(i)}" for i in range(FILES)]


def test_query_errors_carry_the_binarys_message(env, standins):
    _, mast_url = standins
    with pytest.raises(mastfs.MastfsError) as failure:
        mastfs.query(obs_colection="HST", mast_url=mast_url)
    assert "obs_collection" in str(failure.value), str(failure.value)


def test_mount_is_idempotent_and_refuses_other_settings(mountpoint, mount_settings, local_sums):
    first = mastfs.mount(mountpoint, **mount_settings)
    again = mastfs.mount(mountpoint, **mount_settings)
    assert again.path == first.path
    assert len(mastfs_daemons(mountpoint)) == 1, mastfs_daemons(mountpoint)
    name = "gen000007_drz.fits"
    assert sci_sum(str(first.view(VIEW) / name)) == local_sums[name]

    with pytest.raises(mastfs.MountConflict) as refused:
        mastfs.mount(mountpoint, **{**mount_settings, "cache_size": "64MiB"})
    message = str(refused.value)
    assert "cache_size: mounted None, asked '64MiB'" in message and "unmount" in message, message
    with pytest.raises(mastfs.MountConflict) as refused:
        mastfs.mount(mountpoint, **{**mount_settings, "views": {"other": {"criteria": {"obs_collection": "HST"}}}})
    assert "views ['gen-drz'] mounted, ['other'] asked" in str(refused.value), str(refused.value)

    assert mastfs.unmount(mountpoint) is True
    assert mastfs.mount_state(mountpoint) == "absent"
    assert mastfs.unmount(mountpoint) is False


def test_a_mount_made_by_hand_is_not_taken_over(mountpoint, mount_settings):
    mountpoint.mkdir()
    subprocess.run([os.environ["MASTFS_BIN"], "mount", str(mountpoint), "--endpoint-url",
                    mount_settings["endpoint_url"], "--force-path-style"], check=True)
    with pytest.raises(mastfs.MountConflict) as refused:
        mastfs.mount(mountpoint, **mount_settings)
    assert "did not start" in str(refused.value), str(refused.value)
    assert mastfs.unmount(mountpoint) is True


def test_a_dead_mount_is_replaced(mountpoint, mount_settings, local_sums):
    mastfs.mount(mountpoint, **mount_settings)
    (pid,) = mastfs_daemons(mountpoint)
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid)
    assert mastfs.mount_state(mountpoint) == "dead"
    mnt = mastfs.mount(mountpoint, **mount_settings)
    assert mastfs.mount_state(mountpoint) == "live"
    (new_pid,) = mastfs_daemons(mountpoint)
    assert new_pid != pid
    name = "gen000003_drz.fits"
    assert sci_sum(str(mnt.view(VIEW) / name)) == local_sums[name]
    mastfs.unmount(mountpoint)


def test_pip_install_builds_the_package(tmp_path):
    """`pip install ./python` as on a fresh machine (its dependencies are already here, so
    only the build and the install are exercised; the build backend comes from PyPI)."""
    package = os.path.join(os.path.dirname(__file__), "..")
    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--disable-pip-version-check", "--target", str(target), package],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    check = subprocess.run([sys.executable, "-c", "import mastfs, mastfs.dask; print(mastfs.__file__)"],
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(target)})
    assert check.returncode == 0 and str(target) in check.stdout, check.stderr + check.stdout


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
