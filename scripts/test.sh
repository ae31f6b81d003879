#!/usr/bin/env bash
# Bootstrap the environment and run the whole test suite (extra arguments go to pytest).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
exec "${SYNTHMATCH_VENV:-$root/.venv}/bin/python" -m pytest -q tests "$@"
