#!/usr/bin/env bash
# Bootstrap the environment and run the main job on the bundled example.
# match_preset on examples/sounds/kick.wav (made by examples/sounds/make_examples.py, not by
# this repo's synths): writes out/kick.json (preset), out/kick.mid (MIDI), out/kick_match.wav.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/bootstrap.sh"
cd "$root"
mkdir -p out
exec "${SYNTHMATCH_VENV:-$root/.venv}/bin/synthmatch" match examples/sounds/kick.wav --synth tr808 \
    -o out/kick.json --midi out/kick.mid --wav out/kick_match.wav --plot out/kick.png "$@"
