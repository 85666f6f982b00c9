#!/usr/bin/env bash
# Tests of the Python package in python/: mastfs.query and mount/unmount against the local
# S3 and MAST stand-ins, Dask (4 worker processes sharing one daemon, a daemon killed
# mid-task), `pip install ./python`, and the Kubernetes manifests in deploy/kubernetes/
# validated offline against the Kubernetes schemas. About a minute and a half.
#
# Usage: scripts/python-tests.sh [pytest args...]
# Needs: scripts/setup-python.sh (the venv, with the package installed editable), root and
# /dev/fuse, and the debug binaries (cargo build --workspace --bins); builds them if missing.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bin="$repo/target/debug"
[[ -x "$bin/mastfs" && -x "$bin/mastfs-s3-standin" && -x "$bin/mastfs-mast-standin" ]] || cargo build --workspace --bins --quiet
export MASTFS_TARGET_DIR="$bin"
exec "$repo/.venv/bin/python" -m pytest python/tests -q -p no:cacheprovider "$@"
