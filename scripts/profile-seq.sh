#!/usr/bin/env bash
# CPU profile of a sequential read (W3) through mastfs on loopback: the S3 stand-in serves
# the DRZ, mastfs mounts it, `dd bs=1M` reads it once while `perf record` samples every CPU
# (software clock: machines without hardware counters work too). Prints dd's speed and the
# top of `perf report` per command (mastfs threads, the stand-in, dd) and per symbol.
# Usage: scripts/profile-seq.sh [OUT_DIR]   (root; release binaries in target/release;
#        the DRZ from scripts/testdata/make_all.sh .cache/testdata-full)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$repo/target/profile-seq}"
rel="$repo/target/release"
key="hst/public/jbev/jbeveo010/jbeveo010_drz.fits"
drz="$repo/.cache/testdata-full/stpubdata/$key"
[[ -f "$drz" ]] || { echo "no $drz: run scripts/testdata/make_all.sh .cache/testdata-full" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf missing: apt-get install linux-perf" >&2; exit 1; }
mkdir -p "$out"
work="$(mktemp -d)"
mnt="$work/mnt"; mkdir -p "$mnt" "$work/load"
ln -s "$drz" "$work/load/$(basename "$drz")"
port_file="$work/port"
cleanup() {
    fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
    [[ -n "${standin:-}" ]] && kill "$standin" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
[[ -n "${KEEP:-}" ]] && trap - EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$rel/mastfs-s3-standin" --port "$port" --public-bucket stpubdata \
    --load "stpubdata=$work/load:${key%/*}/" >"$work/standin.log" 2>&1 &
standin=$!
# The stand-in answers before it has loaded (and hashed) the file: wait for the key.
for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$port/stpubdata?list-type=2&prefix=$key" 2>/dev/null | grep -q "<Key>" && break
    sleep 0.2
done
"$rel/mastfs" mount "$mnt" --bucket stpubdata --endpoint-url "http://127.0.0.1:$port" \
    --force-path-style --no-sign-request
for _ in $(seq 50); do mountpoint -q "$mnt" && break; sleep 0.1; done
stat "$mnt/stpubdata/$key" >/dev/null
sync; echo 3 >/proc/sys/vm/drop_caches
perf record -a -g -F 999 -o "$out/perf.data" -- \
    dd if="$mnt/stpubdata/$key" of=/dev/null bs=1M 2>"$out/dd.txt" >/dev/null
cat "$out/dd.txt"
perf report -i "$out/perf.data" --no-children --sort comm --stdio 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -15 | tee "$out/by-comm.txt"
perf report -i "$out/perf.data" --no-children --sort comm,dso,sym --stdio -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -40 | tee "$out/by-symbol.txt"
