#!/usr/bin/env bash
# The main job. With network access to AWS: mounts the public MAST bucket stpubdata with
# the seed notebook's view (HST proposal 12062, F606W, DRZ) resolved by the real MAST.
# Without: an offline demo - the local S3 stand-in serving generated sample files (an
# HST-like DRZ FITS file, Roman-like ASDF files, a romanisim-like folder) under their
# realistic keys, the MAST stand-in answering the seed query, and the same mount.
#
# Usage: scripts/demo.sh [--offline] [--mountpoint DIR] [--no-wait]
#   --no-wait: mount, print what to try, run a short self-check, unmount and exit.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
offline=0 wait=1 mnt="${MASTFS_DEMO_MOUNTPOINT:-/tmp/mastfs-demo/mnt}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --offline) offline=1 ;;
        --no-wait) wait=0 ;;
        --mountpoint) mnt="$2"; shift ;;
        *) echo "usage: $0 [--offline] [--mountpoint DIR] [--no-wait]" >&2; exit 2 ;;
    esac
    shift
done

scripts/system-deps.sh
if [[ ! -x target/release/mastfs ]]; then
    echo "building mastfs (release): the first build downloads crates from crates.io and takes about 10 minutes on 2 cores"
fi
# Cargo's own progress (crates compiled, the one being built) instead of silence.
cargo build --release -p mastfs -p mastfs-s3-standin -p mastfs-mast-standin
bin="$repo/target/release"

if [[ $offline -eq 0 ]] && curl -s -o /dev/null --max-time 5 "https://stpubdata.s3.amazonaws.com/?list-type=2&max-keys=1"; then
    mode=online
else
    mode=offline
fi

work="$(dirname "$mnt")"
mkdir -p "$mnt" "$work"
pids=()
cleanup() {
    if grep -qs " $mnt " /proc/mounts; then "$bin/mastfs" unmount "$mnt" 2>/dev/null || umount -l "$mnt" || true; fi
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
if grep -qs " $mnt " /proc/mounts || ! stat "$mnt" >/dev/null 2>&1; then "$bin/mastfs" unmount "$mnt" 2>/dev/null || true; fi

cat >"$work/config.toml" <<'TOML'
# The seed notebook's query as a view: HST, ACS/WFC, F606W, proposal 12062, DRZ products.
[[views]]
name     = "hst-12062-f606w-drz"
criteria = { obs_collection = "HST", filters = "F606W", instrument_name = "ACS/WFC", proposal_id = ["12062"], dataRights = "PUBLIC" }
products = { productSubGroupDescription = "DRZ" }
TOML

args=(--config "$work/config.toml")
if [[ $mode == offline ]]; then
    echo "no network to AWS: offline demo with generated sample files"
    data="$repo/.cache/testdata-small"
    scripts/testdata/make_all.sh "$data" --small >/dev/null
    "$bin/mastfs-s3-standin" --public-bucket stpubdata --load "stpubdata=$data/stpubdata" --port-file "$work/s3.port" >"$work/s3.log" 2>&1 &
    pids+=($!)
    "$bin/mastfs-mast-standin" --scenario seed --port-file "$work/mast.port" >"$work/mast.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 300); do [[ -s "$work/s3.port" && -s "$work/mast.port" ]] && break; sleep 0.1; done
    args+=(--endpoint-url "http://127.0.0.1:$(cat "$work/s3.port")" --force-path-style --mast-url "http://127.0.0.1:$(cat "$work/mast.port")")
fi
export XDG_CACHE_HOME="$work/cache"
# -vv: the log has one line per S3 request (LIST, HEAD, GET with its byte range).
"$bin/mastfs" mount "$mnt" "${args[@]}" --log-file "$work/mastfs.log" -vv
drz="$mnt/stpubdata/hst/public/jbev/jbeveo010/jbeveo010_drz.fits"
mast_hint=""
[[ $mode == offline ]] && mast_hint=" --mast-url http://127.0.0.1:$(cat "$work/mast.port")"
view="$mnt/views/hst-12062-f606w-drz"
py="python3"; [[ -x "$repo/.venv/bin/python" ]] && py="$repo/.venv/bin/python"
cat <<EOF_TRY

mastfs is mounted at $mnt ($mode). The binary is $bin/mastfs (not on PATH;
\`sudo bash scripts/install.sh\` installs it in /usr/local/bin). Things to try in another terminal:

  export PATH="$bin:\$PATH"     # so that \`mastfs\` is found
  ls -l $view/                 # the seed query as a folder (MAST-resolved)
  head -3 $view/.manifest.csv
  getfattr -d $view/jbeveo010_drz.fits
  $py -c "from astropy.io import fits; fits.open('$drz').info()"
  $py -c "from astropy.io import fits; print(fits.open('$drz')[1].data[200:210, 200:210])"
  ls $mnt/stpubdata/roman/nexus/soc_simulations/
  mastfs stats $mnt            # requests, bytes, cache hits
  mastfs views status $mnt
  mastfs query obs_collection=HST filters=F606W instrument_name=ACS/WFC proposal_id=12062 dataRights=PUBLIC --products productSubGroupDescription=DRZ$mast_hint
  tail -f $work/mastfs.log | grep 'S3 '     # each request mastfs sends to S3

EOF_TRY
ls -l "$view/"
"$py" -c "from astropy.io import fits; fits.open('$drz').info()" 2>/dev/null || true
if [[ $wait -eq 1 ]]; then
    echo "Press Ctrl-C to unmount and stop."
    while grep -qs " $mnt " /proc/mounts; do sleep 1; done
fi
