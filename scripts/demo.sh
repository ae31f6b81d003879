#!/usr/bin/env bash
# Bootstrap the environment and run the main job on the bundled example.
# (Until match_preset lands: render the bundled TR-808 kick preset and print its parameters.)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
mkdir -p out
exec "${SYNTHMATCH_VENV:-$root/.venv}/bin/synthmatch" render examples/presets/tr808_bd.json -o out/tr808_bd.wav
