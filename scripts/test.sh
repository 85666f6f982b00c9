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
step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "rust tests (unit, stand-ins, FUSE mounts)"
cargo test --workspace --no-fail-fast

if [[ -x scripts/client-tests.sh ]]; then
    step "client tests (astropy, asdf, roman_datamodels, fitsverify, ds9 on a mount)"
    scripts/client-tests.sh
fi
step "fuzz (each target 20 s; findings saved to fuzz/regressions/)"
scripts/fuzz.sh
step "done"
