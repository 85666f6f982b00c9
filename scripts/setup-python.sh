#!/usr/bin/env bash
# Creates (or refreshes) the Python virtualenv used by the test-data generators
# (scripts/testdata/), the client tests (tests/clients/), and the Python package in python/
# (installed editable, with its pinned extras from scripts/requirements-scale.txt).
#
# Usage: scripts/setup-python.sh [VENV_DIR]
#   VENV_DIR defaults to <repo>/.venv.
#
# Idempotent: a stamp file inside the venv records the sha256 of
# the requirements files plus the interpreter version; when it matches, the
# script exits at once without touching the network.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv_dir="${1:-$repo_root/.venv}"
requirements="$repo_root/scripts/requirements.txt"
requirements_scale="$repo_root/scripts/requirements-scale.txt"
python_bin="${PYTHON:-python3}"

if ! command -v "$python_bin" >/dev/null 2>&1; then
    echo "setup-python: '$python_bin' not found; install CPython 3.11+ or set PYTHON=/path/to/python3" >&2
    exit 1
fi

python_version="$("$python_bin" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
case "$python_version" in
    3.1[1-9].*) ;;
    *)
        echo "setup-python: need Python >= 3.11, '$python_bin' is $python_version" >&2
        exit 1
        ;;
esac

wanted_stamp="$(cat "$requirements" "$requirements_scale" "$repo_root/python/pyproject.toml" | sha256sum | cut -d' ' -f1) python-$python_version"
stamp_file="$venv_dir/.mastfs-requirements.stamp"

if [[ -x "$venv_dir/bin/python" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$wanted_stamp" ]]; then
    echo "setup-python: $venv_dir is up to date"
    exit 0
fi

if [[ ! -x "$venv_dir/bin/python" ]]; then
    echo "setup-python: creating venv at $venv_dir (python $python_version)"
    "$python_bin" -m venv "$venv_dir"
fi

echo "setup-python: installing pinned requirements into $venv_dir"
"$venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check \
    --requirement "$requirements" --requirement "$requirements_scale"
# The package itself, editable (its sources are live); its dependencies are pinned above.
"$venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    --editable "$repo_root/python"
# A venv that already had other packages keeps them; check that what is pinned
# is what is there, so a half-broken venv is reported rather than stamped.
"$venv_dir/bin/python" -m pip check
"$venv_dir/bin/python" - "$requirements" "$requirements_scale" <<'EOF'
import sys
from importlib.metadata import version, PackageNotFoundError

mismatches = []
for line in (line for path in sys.argv[1:] for line in open(path)):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, pinned = line.split("==")
    name = name.split("[", 1)[0]
    try:
        got = version(name)
    except PackageNotFoundError:
        got = "missing"
    if got != pinned:
        mismatches.append(f"{name}: expected {pinned}, got {got}")
if mismatches:
    sys.exit("setup-python: pinned versions not installed:\n  " + "\n  ".join(mismatches))
EOF

echo "$wanted_stamp" >"$stamp_file"
echo "setup-python: done ($venv_dir)"
