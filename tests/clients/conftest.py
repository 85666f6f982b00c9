"""Fixtures for the client tests: the tree under test, its generated source, stand-in counters.

Run (today against the plain generated directory, later against a mount):

    scripts/testdata/make_all.sh /work/testdata-gen --small
    MASTFS_TEST_ROOT=/work/testdata-gen .venv/bin/python -m pytest tests/clients

See clientenv.py for every environment variable.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from clientenv import DRZ_KEY, FULL_DRZ_BYTES, ClientEnv, env_flag, load_env
from standin import Standin


@pytest.fixture(scope="session")
def client_env() -> ClientEnv:
    env = load_env()
    if env is None:
        message = "MASTFS_TEST_ROOT is not set (point it at a mastfs mount or make_all.sh's OUT_DIR)"
        if env_flag("MASTFS_REQUIRE_TOOLS"):
            pytest.fail(message)
        pytest.skip(message)
    drz = env.source_path(DRZ_KEY)
    if not drz.is_file():
        pytest.fail(f"expected generated source file {drz}; run scripts/testdata/make_all.sh first")
    is_full = drz.stat().st_size == FULL_DRZ_BYTES
    if is_full != env.full:
        pytest.fail(
            f"MASTFS_TEST_FULL is {'set' if env.full else 'unset'}, "
            f"so expected {'full' if env.full else 'small'} data, "
            f"got {drz} of {drz.stat().st_size} bytes; regenerate with make_all.sh "
            f"{'without' if env.full else 'with'} --small, or {'unset' if env.full else 'set'} MASTFS_TEST_FULL=1"
        )
    return env


@pytest.fixture(autouse=True)
def standin() -> Standin:
    """Counters reset before every test when MASTFS_STANDIN_URL is set; with
    MASTFS_COLD_CMD set (scripts/client-tests.sh sets it), every test starts cold: the
    mount's block cache and metadata and the kernel's page cache dropped first."""
    cold = os.environ.get("MASTFS_COLD_CMD")
    if cold:
        subprocess.run(cold, shell=True, check=True)
    counters = Standin(os.environ.get("MASTFS_STANDIN_URL"))
    if counters.enabled:
        counters.reset()
    return counters
