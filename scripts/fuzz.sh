#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a short, bounded time (default 20 s each;
# `scripts/fuzz.sh 300` for longer), starting from the saved inputs in
# fuzz/regressions/<target>/. A crash is copied into fuzz/regressions/<target>/, where
# `cargo test --test it fuzz_regressions::` replays it from then on, and the script fails.
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 enables them on the stable toolchain.
set -euo pipefail
secs="${1:-20}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo/fuzz"
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets=(mast_envelope mast_path_lookup mast_columns query_args config fits_header disk_block)
cargo fuzz build -O

failed=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    echo "== fuzz $target for ${secs}s"
    # corpus/ (not kept in git) collects new inputs; regressions/ seeds it, read-only.
    if ! cargo fuzz run -O "$target" "corpus/$target" "regressions/$target" -- \
        -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 2>"artifacts/$target.log"; then
        failed+=("$target")
        tail -40 "artifacts/$target.log"
        for crash in artifacts/"$target"/crash-* artifacts/"$target"/oom-* artifacts/"$target"/timeout-*; do
            [[ -f "$crash" ]] || continue
            cp "$crash" "regressions/$target/"
            echo "saved $crash as regressions/$target/$(basename "$crash") (replayed by cargo test --test it fuzz_regressions::)"
        done
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "artifacts/$target.log" | sed "s/^/   $target /" || true
done

if (( ${#failed[@]} )); then
    echo "fuzz findings in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: no findings in ${#targets[@]} targets (${secs}s each)"
