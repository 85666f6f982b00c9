#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (Debian packages, the
# Python venv, Rust crates), then runs formatting and lint checks, the Rust tests (unit,
# integration against the local S3 and MAST stand-ins, real FUSE mounts) and the client
# tests with the real astronomy tools. `.ci/run` runs exactly this.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export MASTFS_REQUIRE_TOOLS=1
export CARGO_TERM_COLOR=never

step() { printf '\n==== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "system packages"
scripts/system-deps.sh --clients
step "python venv"
scripts/setup-python.sh "$repo/.venv"

step "cargo fmt --check"
cargo fmt --all -- --check
step "module layers (no cycles between modules, no file in src/ over 600 lines)"
python3 scripts/check-layers.py

step "cargo clippy (the first build: about 10 minutes on 2 cores; cargo shows its progress)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo deny (licences, duplicate versions, sources; advisories when reachable)"
if ! cargo deny --version >/dev/null 2>&1; then
    echo "installing cargo-deny"
    cargo install --locked cargo-deny
fi
# The advisory database is a git repository on GitHub; a machine that cannot reach it still
# checks everything else rather than failing the run.
if cargo deny fetch db; then
    cargo deny check
else
    echo "cargo deny: the advisory database cannot be fetched; advisories NOT checked," \
        "checking licences, bans and sources only"
    cargo deny check licenses bans sources
fi

step "rust tests (unit, stand-ins, FUSE mounts)"
cargo test --workspace --no-fail-fast 2>&1 | tee target/rust-tests.log

if [[ -x scripts/client-tests.sh ]]; then
    step "client tests (astropy, asdf, roman_datamodels, fitsverify, ds9 on a mount)"
    scripts/client-tests.sh 2>&1 | tee target/client-tests.log
fi
step "python package (mastfs.query, mount, Dask on one host, Kubernetes manifests)"
scripts/python-tests.sh 2>&1 | tee target/python-tests.log
step "fuzz (each target 20 s; findings saved to fuzz/regressions/)"
scripts/fuzz.sh
step "done"
# One closing line for whoever reads the log: the tests of both runners, added up.
passed=$(cat target/rust-tests.log target/client-tests.log target/python-tests.log 2>/dev/null \
    | sed -nE 's/^test result: ok\. ([0-9]+) passed.*/\1/p; s/^([0-9]+) passed(,| in ).*/\1/p' \
    | awk '{ n += $1 } END { print n + 0 }')
echo "summary: $passed passed, 0 failed"
