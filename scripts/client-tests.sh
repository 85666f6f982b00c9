#!/usr/bin/env bash
# Client tests: the real astronomy tools (astropy, asdf, roman_datamodels, fitsverify, ds9)
# on a real mastfs mount of the generated test data served by the local S3 stand-in, with
# the seed view answered by the MAST stand-in. Every test starts cold (block cache, metadata
# and page cache dropped) and its S3 requests and bytes are counted and bounded.
#
# Usage: scripts/client-tests.sh [--small] [pytest args...]
# Needs: scripts/setup-python.sh, scripts/system-deps.sh --clients, and the debug binaries
# (cargo build --workspace --bins); builds them if missing.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
mode=full
if [[ "${1:-}" == "--small" ]]; then mode=small; shift; fi

bin="$repo/target/debug"
[[ -x "$bin/mastfs" && -x "$bin/mastfs-s3-standin" && -x "$bin/mastfs-mast-standin" ]] || cargo build --workspace --bins --quiet
data="$repo/.cache/testdata-$mode"
if [[ $mode == small ]]; then scripts/testdata/make_all.sh "$data" --small; else scripts/testdata/make_all.sh "$data"; fi

work="$(mktemp -d /tmp/mastfs-clients.XXXXXX)"
mnt="$work/mnt"
mkdir -p "$mnt"
pids=()
cleanup() {
    if grep -qs " $mnt " /proc/mounts; then umount -l "$mnt" || true; fi
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

wait_for_file() { # file seconds
    for _ in $(seq 1 $(( $2 * 10 ))); do [[ -s "$1" ]] && return 0; sleep 0.1; done
    echo "timed out waiting for $1" >&2; return 1
}

"$bin/mastfs-s3-standin" --public-bucket stpubdata --load "stpubdata=$data/stpubdata" \
    --port-file "$work/s3.port" >"$work/s3.log" 2>&1 &
pids+=($!)
"$bin/mastfs-mast-standin" --scenario seed --port-file "$work/mast.port" >"$work/mast.log" 2>&1 &
pids+=($!)
wait_for_file "$work/s3.port" 120
wait_for_file "$work/mast.port" 30
s3_url="http://127.0.0.1:$(cat "$work/s3.port")"
mast_url="http://127.0.0.1:$(cat "$work/mast.port")"

cat >"$work/config.toml" <<TOML
[[views]]
name     = "hst-12062-f606w-drz"
criteria = { obs_collection = "HST", filters = "F606W", instrument_name = "ACS/WFC", proposal_id = ["12062"], dataRights = "PUBLIC" }
products = { productSubGroupDescription = "DRZ" }
TOML

export XDG_CACHE_HOME="$work/cache" XDG_RUNTIME_DIR="$work/run" XDG_CONFIG_HOME="$work/config"
mkdir -p "$XDG_CONFIG_HOME"
unset AWS_ENDPOINT_URL AWS_PROFILE MASTFS_CONFIG
"$bin/mastfs" mount "$mnt" --foreground --config "$work/config.toml" --endpoint-url "$s3_url" \
    --force-path-style --mast-url "$mast_url" -v >"$work/mastfs.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do grep -qs " $mnt " /proc/mounts && break; sleep 0.1; done
grep -qs " $mnt " /proc/mounts || { echo "mount failed:"; cat "$work/mastfs.log"; exit 1; }

export MASTFS_TEST_ROOT="$mnt" MASTFS_TEST_SOURCE="$data" MASTFS_STANDIN_URL="$s3_url"
export MASTFS_TEST_VIEW="$mnt/views/hst-12062-f606w-drz"
export MASTFS_COLD_CMD="'$bin/mastfs' drop-caches '$mnt' >/dev/null && sync && echo 3 > /proc/sys/vm/drop_caches"
[[ $mode == full ]] && export MASTFS_TEST_FULL=1
status=0
"$repo/.venv/bin/python" -m pytest tests/clients -q -p no:cacheprovider "$@" || status=$?
if [[ $status -ne 0 ]]; then
    echo "---- mastfs log (last 80 lines)"; tail -n 80 "$work/mastfs.log"
fi
exit $status
