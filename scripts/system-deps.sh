#!/usr/bin/env bash
# Installs the Debian packages mastfs's tests and demo need, only those missing.
# Usage: scripts/system-deps.sh [--clients] [--peers]
#   always:     fuse3 (fusermount3, /etc/fuse.conf), curl, attr (getfattr, shown by the demo)
#   --clients:  fitsverify, saods9, xpa-tools, xvfb for the client tests
#   --peers:    rclone, s3fs (the benchmark's peers) and fio (its fio workloads)
set -euo pipefail
want=(fuse3 curl attr)
for arg in "$@"; do
    case "$arg" in
        --clients) want+=(fitsverify saods9 xpa-tools xvfb xauth libtk-img) ;;
        --peers) want+=(rclone s3fs fio) ;;
        *) echo "usage: $0 [--clients] [--peers]" >&2; exit 2 ;;
    esac
done
missing=()
for pkg in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "system-deps: all present (${want[*]})"
    exit 0
fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
