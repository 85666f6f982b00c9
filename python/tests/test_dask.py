"""Dask: 4 worker processes on one host share one mastfs daemon (the plugin's host-wide
lock), map a per-file statistic over a 120-file view and the same files by prefix, and get
exactly the numbers of the local copies while S3 is read at most once per block; a daemon
killed mid-task gives a clear task error and a fresh mount on retry."""

from __future__ import annotations

import json
import math
import urllib.request
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from distributed import Client, LocalCluster

import mastfs
import mastfs.dask
from conftest import FILES, VIEW, mastfs_daemons, sci_sum


@pytest.fixture
def cluster(env):
    with LocalCluster(processes=True, n_workers=4, threads_per_worker=1, dashboard_address=None,
                      worker_dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(4)
        yield client


def _read_stats(mountpoint: Path) -> dict:
    return json.loads((mountpoint / ".mastfs" / "stats.json").read_text())


def _standin(s3_url: str, what: str) -> dict:
    """The S3 stand-in's own counters (`stats`), or zeroes them (`reset`)."""
    request = urllib.request.Request(f"{s3_url}/_standin/{what}", method="POST" if what == "reset" else "GET")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_four_workers_share_one_daemon_and_fetch_each_block_once(cluster, mountpoint, mount_settings,
                                                                 local_sums, dataset):
    client = cluster
    _standin(mount_settings["endpoint_url"], "reset")
    client.register_plugin(mastfs.dask.MastfsPlugin(mountpoint, **mount_settings))
    daemons = mastfs_daemons(mountpoint)
    assert len(daemons) == 1, f"expected one mastfs daemon for 4 workers, found pids {daemons}"

    paths = mastfs.dask.view_paths(client, VIEW)
    assert len(paths) == FILES, f"view {VIEW} lists {len(paths)} files, expected {FILES}"
    started = time.monotonic()
    sums = client.gather(client.map(sci_sum, paths))
    view_seconds = time.monotonic() - started
    got = {Path(p).name: s for p, s in zip(paths, sums)}
    differ = {name: (local_sums[name], got.get(name)) for name in local_sums if got.get(name) != local_sums[name]}
    assert not differ, f"sums differ from the local copies (expected, got): {dict(list(differ.items())[:5])}"

    # All four worker processes set the plugin up (each mounted or reused) and see the mount.
    states = client.run(mastfs.mount_state, str(mountpoint))
    assert list(states.values()) == ["live"] * 4, states

    stats = _read_stats(mountpoint)
    sizes = [os.path.getsize(dataset / "stpubdata" / "hst/public/gen0" / n[:9] / n) for n in sorted(local_sums)]
    block = stats["cache"]["block_size"]
    blocks = sum(math.ceil(s / block) for s in sizes)
    fetched_after_view = stats["bytes_fetched"]
    assert fetched_after_view <= sum(sizes), (
        f"S3 bytes fetched {fetched_after_view} > the files' total {sum(sizes)}: some block was fetched twice")
    assert stats["cache"]["misses"] <= blocks, f"{stats['cache']['misses']} block fetches for {blocks} blocks"
    served = _standin(mount_settings["endpoint_url"], "stats")["get_body_bytes"]
    assert served <= sum(sizes), f"the S3 stand-in sent {served} body bytes for {sum(sizes)} bytes of files"

    # The same objects through the bucket tree: the same cached blocks, nothing more from S3.
    started = time.monotonic()
    prefix = mastfs.dask.prefix_paths(client, "stpubdata/hst/public/gen0")
    assert [Path(p).name for p in prefix] == sorted(local_sums)
    again = client.gather(client.map(sci_sum, prefix))
    prefix_seconds = time.monotonic() - started
    assert again == [local_sums[Path(p).name] for p in prefix]
    stats = _read_stats(mountpoint)
    assert stats["bytes_fetched"] == fetched_after_view, (
        f"reading the same objects by prefix fetched {stats['bytes_fetched'] - fetched_after_view} more bytes")
    assert _standin(mount_settings["endpoint_url"], "stats")["get_body_bytes"] == served
    assert mastfs_daemons(mountpoint) == daemons

    measured = {"files": FILES, "bytes": sum(sizes), "blocks": blocks, "bytes_fetched": fetched_after_view, "standin_body_bytes": served,
                "get_requests": stats["requests"]["get"], "block_fetches": stats["cache"]["misses"],
                "header_hint_fetches": stats["cache"]["format_hint_fetches"],
                "view_seconds": round(view_seconds, 2), "prefix_seconds_cached": round(prefix_seconds, 2),
                "daemon_rss_mib": (stats["memory"]["rss_bytes"] or 0) >> 20}
    print("measured:", json.dumps(measured))
    mastfs.unmount(mountpoint)


def _read_after_kill(path: str, started: str, killed: str) -> float:
    """Opens the file, says so, waits until the daemon has been killed, then reads."""
    with open(path, "rb") as f:
        f.read(2880)
        Path(started).write_text(str(os.getpid()))
        deadline = time.monotonic() + 60
        while not os.path.exists(killed) and time.monotonic() < deadline:
            time.sleep(0.05)
        f.read()
    return sci_sum(path)


def test_a_daemon_killed_mid_task_gives_a_clear_error_and_a_fresh_mount_on_retry(
        cluster, mountpoint, mount_settings, local_sums, tmp_path):
    client = cluster
    client.register_plugin(mastfs.dask.MastfsPlugin(mountpoint, **mount_settings))
    (pid,) = mastfs_daemons(mountpoint)
    path = mastfs.dask.view_paths(client, VIEW)[5]
    started, killed = tmp_path / "started", tmp_path / "killed"
    future = client.submit(mastfs.dask.checked(_read_after_kill), path, str(started), str(killed), pure=False)
    deadline = time.monotonic() + 60
    while not started.exists():
        assert time.monotonic() < deadline and future.status == "pending", f"task did not start: {future}"
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    while os.path.exists(f"/proc/{pid}"):
        time.sleep(0.05)
    killed.write_text("")

    with pytest.raises(mastfs.dask.MountLost) as lost:
        future.result(timeout=60)
    message = str(lost.value)
    assert "mastfs daemon" in message and "died" in message and "retry" in message, message

    started.unlink()
    future.retry()
    assert future.result(timeout=60) == local_sums[Path(path).name]
    daemons = mastfs_daemons(mountpoint)
    assert len(daemons) == 1 and daemons != [pid], f"daemons after the retry: {daemons} (killed {pid})"
    assert mastfs.mount_state(mountpoint) == "live"
    mastfs.unmount(mountpoint)


def test_external_mode_uses_a_node_mount_and_says_when_there_is_none(cluster, mountpoint, mount_settings,
                                                                     local_sums):
    """As with the Kubernetes DaemonSet: the plugin does not mount, it waits for the node's
    mount; without one, registering fails with a message naming the mount and the cause."""
    client = cluster
    mountpoint.mkdir()
    with pytest.raises(Exception) as missing:
        client.register_plugin(mastfs.dask.MastfsPlugin(mountpoint, external=True, external_wait=1))
    assert "no live mastfs mount at" in str(missing.value) and "DaemonSet" in str(missing.value), str(missing.value)

    config = mountpoint.parent / "node.toml"
    config.write_text('[[views]]\nname = "gen-drz"\ncriteria = { obs_collection = "HST", proposal_id = ["99999"] }\n'
                      'products = { productSubGroupDescription = "DRZ" }\n')
    subprocess.run([os.environ["MASTFS_BIN"], "mount", str(mountpoint), "--config", str(config), "--endpoint-url",
                    mount_settings["endpoint_url"], "--force-path-style", "--mast-url", mount_settings["mast_url"]],
                   check=True)
    client.register_plugin(mastfs.dask.MastfsPlugin(mountpoint, external=True))
    paths = mastfs.dask.view_paths(client, VIEW)[:8]
    assert client.gather(client.map(sci_sum, paths)) == [local_sums[Path(p).name] for p in paths]
    assert len(mastfs_daemons(mountpoint)) == 1
    mastfs.unmount(mountpoint)
