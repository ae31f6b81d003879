#!/usr/bin/env bash
# Make (or refresh) the project's virtual environment in .venv and install the project.
# Idempotent: does nothing when .venv already matches pyproject.toml. Override the place
# with SYNTHMATCH_VENV=/path. Uses pip (torch 2.14.1 is the release these machines hold).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${SYNTHMATCH_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
stamp="$venv/.synthmatch-installed"
want="$(cat "$root/pyproject.toml" "$root/scripts/bootstrap.sh" | sha256sum | cut -d' ' -f1)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$venv/bin/python" -c "import synths" 2>/dev/null; then
    exit 0
fi
echo "bootstrap: installing into $venv (about a minute) ..." >&2
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip setuptools 2>&1 | grep -v '^WARNING: Location' >&2 || true
"$venv/bin/python" -m pip install -q --disable-pip-version-check "torch==2.14.1" "torchaudio==2.11.0" 2>&1 | grep -v '^WARNING: Location' >&2 || true
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root[dev]" 2>&1 | grep -v '^WARNING: Location' >&2 || true
"$venv/bin/python" -c "import torch, torchaudio, kymatio, numba, mido, soundfile, synths" \
    || { echo "bootstrap: install failed" >&2; exit 1; }
echo "$want" > "$stamp"
