#!/usr/bin/env bash
# Generates all mastfs test data into OUT_DIR, laid out as bucket keys:
#
#   OUT_DIR/stpubdata/hst/public/jbev/jbeveo010/jbeveo010_drz.fits
#   OUT_DIR/stpubdata/hst/public/jbev/jbevet010/jbevet010_drz.fits
#   OUT_DIR/stpubdata/roman/nexus/soc_simulations/tutorial_data/   (360 files)
#   OUT_DIR/stpubdata/roman/nexus/soc_simulations/l2/r0003201001001001004_0001_wfi01_f158_cal{,_lz4}.asdf
#
# Usage: scripts/testdata/make_all.sh OUT_DIR [--small]
#
# Caching (for CI): each generator step records, in OUT_DIR/.stamps/<step>,
# a hash of its inputs (generator sources, pinned requirements, --small) and
# the size and sha256 of every file it wrote. A step is skipped when its stamp
# matches and every file is still there with the recorded size.
# OUT_DIR/MANIFEST.tsv lists key, size and sha256 of every generated file.
#
# Environment: MASTFS_VENV (default <repo>/.venv) is created/updated with
# scripts/setup-python.sh first.
set -euo pipefail

usage() { echo "usage: $0 OUT_DIR [--small]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
out_dir="$1"
mode="full"
if [[ $# -eq 2 ]]; then
    [[ "$2" == "--small" ]] || usage
    mode="small"
fi
small_flag=()
[[ "$mode" == "small" ]] && small_flag=(--small)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
gen_dir="$repo_root/scripts/testdata"
venv="${MASTFS_VENV:-$repo_root/.venv}"
"$repo_root/scripts/setup-python.sh" "$venv" >&2
python="$venv/bin/python"

mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
bucket="$out_dir/stpubdata"
stamps="$out_dir/.stamps"
mkdir -p "$bucket" "$stamps"

# Inputs shared by every step: the pinned environment and the helper modules.
common_inputs=("$repo_root/scripts/requirements.txt" "$gen_dir/starfield.py" "$gen_dir/asdf_determinism.py")

inputs_hash() { # mode step args... -> one hash line
    { echo "$mode"; printf '%s\n' "$@"; cat "${common_inputs[@]}"; } | sha256sum | cut -d' ' -f1
}

step_is_fresh() { # stamp_file hash
    local stamp="$1" want="$2"
    [[ -f "$stamp" ]] || return 1
    [[ "$(head -n1 "$stamp")" == "$want" ]] || return 1
    local size sha key
    while IFS=$'\t' read -r key size sha; do
        [[ -f "$out_dir/$key" ]] || return 1
        [[ "$(stat -c %s "$out_dir/$key")" == "$size" ]] || return 1
    done < <(tail -n +2 "$stamp")
}

write_stamp() { # stamp_file hash files...
    local stamp="$1" hash="$2"
    shift 2
    {
        echo "$hash"
        local f
        for f in "$@"; do
            printf '%s\t%s\t%s\n' "${f#"$out_dir"/}" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"
        done
    } >"$stamp.partial"
    mv "$stamp.partial" "$stamp"
}

drz() { # rootname
    local root="$1" dest="$bucket/hst/public/jbev/$1/$1_drz.fits"
    local stamp="$stamps/drz-$root"
    local hash
    hash="$(inputs_hash "drz-$root" "$(sha256sum "$gen_dir/make_drz.py" | cut -d' ' -f1)")"
    if step_is_fresh "$stamp" "$hash"; then echo "cached  $dest"; return; fi
    local started=$SECONDS
    "$python" "$gen_dir/make_drz.py" "$dest" --rootname "$root" "${small_flag[@]}"
    write_stamp "$stamp" "$hash" "$dest"
    echo "made    $dest in $((SECONDS - started))s"
}

roman_l2() {
    local dest="$bucket/roman/nexus/soc_simulations/l2"
    local stamp="$stamps/roman-l2"
    local hash
    hash="$(inputs_hash roman-l2 "$(sha256sum "$gen_dir/make_roman_asdf.py" | cut -d' ' -f1)")"
    if step_is_fresh "$stamp" "$hash"; then echo "cached  $dest"; return; fi
    local started=$SECONDS
    "$python" "$gen_dir/make_roman_asdf.py" "$dest" "${small_flag[@]}"
    write_stamp "$stamp" "$hash" "$dest"/r0003201001001001004_0001_wfi01_f158_cal.asdf \
        "$dest"/r0003201001001001004_0001_wfi01_f158_cal_lz4.asdf
    echo "made    $dest in $((SECONDS - started))s"
}

romanisim_prefix() {
    local dest="$bucket/roman/nexus/soc_simulations/tutorial_data"
    local stamp="$stamps/romanisim-prefix"
    local hash
    # The prefix files are small either way: --small does not change them.
    hash="$(mode=any inputs_hash romanisim-prefix "$(sha256sum "$gen_dir/make_romanisim_prefix.py" | cut -d' ' -f1)")"
    if step_is_fresh "$stamp" "$hash"; then echo "cached  $dest"; return; fi
    local started=$SECONDS
    rm -rf "$dest"
    "$python" "$gen_dir/make_romanisim_prefix.py" "$bucket"
    local files=()
    mapfile -t files < <(find "$dest" -type f | LC_ALL=C sort)
    if [[ ${#files[@]} -ne 360 ]]; then
        echo "error: $dest has ${#files[@]} files, expected 360" >&2
        exit 1
    fi
    write_stamp "$stamp" "$hash" "${files[@]}"
    echo "made    $dest (360 files) in $((SECONDS - started))s"
}

drz jbeveo010
drz jbevet010
roman_l2
romanisim_prefix

{
    printf 'key\tsize\tsha256\n'
    for s in drz-jbeveo010 drz-jbevet010 roman-l2 romanisim-prefix; do
        tail -n +2 "$stamps/$s"
    done | sed 's#^stpubdata/##'
} >"$out_dir/MANIFEST.tsv"

echo "test data ($mode) in $bucket:"
awk -F'\t' 'NR > 1 && $1 !~ /tutorial_data/ { printf "  %12d  %s  %s\n", $2, $3, $1 }' "$out_dir/MANIFEST.tsv"
awk -F'\t' 'NR > 1 && $1 ~ /tutorial_data/ { n++; total += $2 } END { printf "  %12d  (%d files)  roman/nexus/soc_simulations/tutorial_data/\n", total, n }' "$out_dir/MANIFEST.tsv"
echo "manifest: $out_dir/MANIFEST.tsv"
