"""Knob readings on real TR-808 recordings (issue 14): how well ``match_preset`` reads the panel.

    .venv/bin/python benchmarks/bench_real808.py [--recordings DIR] [--calibration NAME]
        [--cv [--cv-detect] [--skip-full]] [--no-detect] [--voices BD,SD,...]
        [--figure docs/tr808_calibration.png] [--spectral-floor-db 60|none] [--attack-weight W]
        [--scrapl-weight W] [--out results.json]

Every recording of ``--recordings`` (default ``../shared/tr808-real`` from the repository
root; file names give the knob positions, see :mod:`matching.tr808_recordings`) is matched
with ``matching.match.match_preset(path, synth="tr808", voice=..., seed=0, progress=False)``
twice: with its voice given, and with the voice detected (``voice=None``; ``--no-detect``
skips it). Printed:

* per knob: the mean absolute dial error (0-10 scale) of ``result.preset.params[knob]``
  against the recorded position, and Spearman's rho between them;
* the confusion table of detected voices;
* per recording, acoustic features (:func:`matching.acoustics.voice_features`) of the
  recording next to the model rendered at the recording's knob settings (level 10, the
  recording's length): fundamental and glide, T60 and audible lengths, centroid,
  noise-to-tone balance, peak level;
* log-mel distances (:func:`matching.objective.match_distances`) to the recording of the
  model at the true knob settings and of the best match.

The level knob is not scored: every recording has it at maximum, but the recording chain's
gain is unknown, so ``match_preset`` fits it like any other knob and its reading measures the
recording's loudness, not a panel setting. The model at the true settings renders at level 10.

``--calibration NAME`` selects the TR-808 model's calibration (a shipped name such as
``legacy`` or ``fischer-103852``, or a JSON file); the default is the synth's default.
``--cv`` cross-validates by knob position: for each position p in {0, 5, 10} a calibration is
fitted (:func:`matching.tr808_fit.fit_calibration`) on the recordings whose knobs are all
at the other two positions, and the recordings with a knob at p are matched with it; each
knob reading is scored in the fold of its own position (``--cv-detect``: the held-out
recordings are also matched with detection; ``--skip-full``: only the folds). ``--figure`` draws, per voice, the
recording's and the model's spectrogram and envelope (at the recording's settings).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

import synths  # noqa: E402
from matching.acoustics import voice_features  # noqa: E402
from matching.match import match_preset  # noqa: E402
import matching.objective as match_objective  # noqa: E402
from matching.objective import match_distances, objective_weights  # noqa: E402
from matching.tr808_recordings import Recording, select_recordings  # noqa: E402

FEATURES = ("peak_db", "f0_hz", "glide", "t60_s", "drop40_s", "centroid_hz", "attack_centroid_hz",
            "noise_to_tone_db", "sd_balance_db", "noise_t60_s")


def calibration_context(calibration: Any) -> contextlib.AbstractContextManager:
    """A context in which ``synths.get("tr808", ...)`` builds voices with ``calibration``
    (``None``: leave the synth's default)."""
    if calibration is None:
        return contextlib.nullcontext()
    from synths.tr808 import default_calibration
    return default_calibration(calibration)


def render_at(recording: Recording, n_samples: int, calibration: Any = None) -> np.ndarray:
    """The model at the recording's knob settings (level 10), ``[n_samples]`` float64."""
    options = {} if calibration is None else {"calibration": calibration}
    synth = synths.get("tr808", voice=recording.voice, duration=n_samples / 44100, seed=0, **options)
    params = {"level": 10.0, **recording.knobs}
    with torch.no_grad():
        return synth.render(params, batch_size=1, dtype=torch.float64)[0, 0].numpy()


#: options passed on to every ``match_preset`` call (``--scrapl-weight``, ``--attack-weight``);
#: empty: its defaults
MATCH_OPTIONS: dict[str, Any] = {}


def match(recording: Recording, voice: Optional[str], calibration: Any) -> dict[str, Any]:
    """One ``match_preset`` call: readings, voice, distances, the target and timing."""
    started = time.perf_counter()
    with calibration_context(calibration):
        result = match_preset(str(recording.path), synth="tr808", voice=voice, seed=0, progress=False,
                              **MATCH_OPTIONS)
    return {"voice": result.preset.voice, "params": dict(result.preset.params),
            "log_mel": result.report["distances"]["log_mel"], "target": result.target,
            "time_s": time.perf_counter() - started}


def score(rows: list[tuple[str, str, float, float]]) -> dict[str, dict[str, float]]:
    """``[(voice, knob, true, read)]`` -> ``{"BD.decay": {"mae", "rho", "rho_max", "order", "n"}}``.

    ``rho_max`` is the highest Spearman rho any readings can reach against these true positions:
    several recordings share a position (ties), so readings that differ from one another, even
    in the right order, give ``rho_max`` < 1 (0.949 for three positions x three recordings).
    ``order`` is the fraction of recording pairs at different positions whose readings are in
    the positions' order (a tie between readings counts half).
    """
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for voice, knob, true, read in rows:
        groups[f"{voice}.{knob}"].append((true, read))
    table = {}
    for key, pairs in groups.items():
        true, read = np.array(pairs).T
        varied = len(set(true)) > 1
        rho = float(spearmanr(true, read).statistic) if varied and len(set(read)) > 1 else float("nan")
        rho_max = float(spearmanr(true, np.arange(len(true))[np.argsort(np.argsort(true, kind="stable"))]).statistic) \
            if varied else float("nan")
        i, j = np.triu_indices(len(true), 1)
        apart = true[i] != true[j]
        agree = np.sign(true[i] - true[j])[apart] * np.sign(read[i] - read[j])[apart]
        order = float(np.mean((agree + 1) / 2)) if apart.any() else float("nan")
        table[key] = {"mae": float(np.mean(np.abs(true - read))), "rho": rho, "rho_max": rho_max,
                      "order": order, "n": len(pairs)}
    return table


def knob_rows(recording: Recording, result: dict[str, Any], knobs=None) -> list[tuple[str, str, float, float]]:
    """The scored readings of one match (only when it picked the right voice's knobs)."""
    if result["voice"] != recording.voice:
        return []
    names = recording.knobs if knobs is None else knobs
    return [(recording.voice, k, recording.knobs[k], float(result["params"][k])) for k in names]


def run_matches(recordings: list[Recording], calibration: Any, detect: bool, label: str) -> dict[str, dict]:
    """Match every recording (voice given and, with ``detect``, detected)."""
    out: dict[str, dict] = {}
    for i, rec in enumerate(recordings):
        given = match(rec, rec.voice, calibration)
        detected = match(rec, None, calibration) if detect else None
        out[rec.name] = {"given": given, "detected": detected}
        print(f"  [{label} {i + 1}/{len(recordings)}] {rec.name}: given {_fmt_params(given['params'])}"
              + (f"; detected {detected['voice']} {_fmt_params(detected['params'])}" if detected else "")
              + f" ({given['time_s']:.1f} s)", flush=True)
    return out


def _fmt_params(params: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.1f}" for k, v in params.items())


def print_knob_table(title: str, columns: dict[str, dict[str, dict[str, float]]]) -> None:
    keys = sorted({k for table in columns.values() for k in table})
    print(f"\n{title}")
    print("| knob | " + " | ".join(f"{c} MAE | {c} rho (max) | {c} order" for c in columns) + " |")
    print("|---|" + "---|---|---|" * len(columns))
    for key in keys:
        cells = []
        for table in columns.values():
            entry = table.get(key)
            cells += [f"{entry['mae']:.2f}", f"{entry['rho']:.3f} ({entry['rho_max']:.3f})",
                      f"{entry['order']:.3f}"] if entry else ["-", "-", "-"]
        print(f"| {key} | " + " | ".join(cells) + " |")
    for name, table in columns.items():
        if table:
            print(f"  {name}: mean MAE over knobs {np.mean([e['mae'] for e in table.values()]):.2f}, "
                  f"worst {max(table.items(), key=lambda kv: kv[1]['mae'])[0]} "
                  f"{max(e['mae'] for e in table.values()):.2f}; lowest rho "
                  f"{np.nanmin([e['rho'] for e in table.values()]):.3f}; knobs below their rho ceiling: "
                  + (", ".join(k for k, e in table.items() if e["rho"] < e["rho_max"] - 1e-9) or "none")
                  + f"; lowest pair order {np.nanmin([e['order'] for e in table.values()]):.3f}")


def print_confusion(recordings: list[Recording], detected: dict[str, str], title: str) -> float:
    voices = sorted({r.voice for r in recordings} | set(detected.values()))
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for rec in recordings:
        counts[rec.voice, detected[rec.name]] += 1
    correct = sum(counts[v, v] for v in voices)
    print(f"\n{title}: {correct}/{len(recordings)} correct ({100 * correct / len(recordings):.0f} %); "
          "rows: recorded voice, columns: detected")
    print("| | " + " | ".join(voices) + " |")
    print("|---|" + "---|" * len(voices))
    for true in sorted({r.voice for r in recordings}):
        print(f"| {true} | " + " | ".join(str(counts[true, v] or ".") for v in voices) + " |")
    wrong = [f"{r.name}->{detected[r.name]}" for r in recordings if detected[r.name] != r.voice]
    if wrong:
        print("  misdetected: " + ", ".join(wrong))
    return correct / len(recordings)


def feature_table(recordings: list[Recording], calibration: Any) -> dict[str, dict[str, dict[str, float]]]:
    """Per recording: ``{"recording": features, "model": features}`` (model at the same knobs)."""
    table = {}
    for rec in recordings:
        audio, rate = rec.audio()
        model = render_at(rec, len(audio), calibration)
        table[rec.name] = {"recording": voice_features(audio, rate, rec.voice),
                           "model": voice_features(model, rate, rec.voice)}
    return table


def print_features(table: dict[str, dict[str, dict[str, float]]]) -> None:
    print("\nAcoustic features, recording / model at the recording's knob settings (level 10):")
    print("| file | " + " | ".join(FEATURES) + " |")
    print("|---|" + "---|" * len(FEATURES))
    for name, both in table.items():
        cells = []
        for f in FEATURES:
            if f in both["recording"]:
                cells.append(f"{_num(both['recording'][f])} / {_num(both['model'][f])}")
            else:
                cells.append("")
        print(f"| {name} | " + " | ".join(cells) + " |")


def _num(value: float) -> str:
    if not math.isfinite(value):
        return "inf"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def true_setting_distances(recordings: list[Recording], results: dict[str, dict], calibration: Any
                           ) -> dict[str, dict[str, float]]:
    """log-mel of the model at the true settings and of the best match (voice given), per file."""
    out = {}
    for rec in recordings:
        target = results[rec.name]["given"]["target"]
        model = torch.from_numpy(render_at(rec, len(target), calibration)).float()
        true_lm = match_distances(model, target.reshape(-1), 44100)["log_mel"]
        out[rec.name] = {"true_settings": true_lm, "best_match": results[rec.name]["given"]["log_mel"]}
    return out


@contextlib.contextmanager
def _quiet_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cross_validate(recordings: list[Recording], detect: bool) -> dict[str, Any]:
    """Per knob position p: fit on recordings without p, match those with p (see module doc)."""
    from matching.tr808_fit import POSITIONS, fit_calibration
    rows_given, rows_detected, detected, fold_distance = [], [], {}, {}
    for p in POSITIONS:
        train = [r for r in recordings if p not in r.positions()]  # level-only voices: always
        test = [r for r in recordings if p in r.positions()]
        calibration = fit_calibration(train, held_out=p)
        print(f"fold {p:g}: fitted on {len(train)} recordings, matching {len(test)}", flush=True)
        results = run_matches(test, calibration, detect, f"cv{p:g}")
        for rec in test:
            knobs = [k for k, v in rec.knobs.items() if v == p]
            rows_given += knob_rows(rec, results[rec.name]["given"], knobs)
            if detect:
                rows_detected += knob_rows(rec, results[rec.name]["detected"], knobs)
                detected[f"{rec.name}@{p:g}"] = results[rec.name]["detected"]["voice"]
        for name, d in true_setting_distances(test, results, calibration).items():
            fold_distance[f"{name}@{p:g}"] = d
    return {"given": score(rows_given), "detected": score(rows_detected) if detect else {},
            "detected_voices": detected, "distances": fold_distance}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recordings", type=Path, default=ROOT.parent / "shared" / "tr808-real")
    parser.add_argument("--calibration", default=None,
                        help="tr808 calibration: a shipped name (legacy, fischer-103852) or a JSON file")
    parser.add_argument("--cv", action="store_true", help="also cross-validate by knob position")
    parser.add_argument("--cv-detect", action="store_true",
                        help="with --cv, also detect the voice of the held-out recordings (doubles its time)")
    parser.add_argument("--skip-full", action="store_true",
                        help="with --cv: match only the cross-validation folds (no full-fit matches)")
    parser.add_argument("--no-detect", action="store_true", help="skip the voice-detection matches")
    parser.add_argument("--voices", default="", help="comma-separated voices (default: all recorded)")
    parser.add_argument("--figure", type=Path, default=None, help="write the calibration figure here")
    parser.add_argument("--out", type=Path, default=None, help="write all numbers as JSON")
    parser.add_argument("--spectral-floor-db", default=None,
                        help="the match objective's log-spectral floor in dB below the target's peak "
                             "(matching.objective.SPECTRAL_FLOOR_DB; 'none': plain log1p, as before issue 14)")
    parser.add_argument("--attack-weight", type=float, default=None,
                        help="match_preset's attack_weight (the objective's attack term; default: its default)")
    parser.add_argument("--scrapl-weight", type=float, default=None,
                        help="match_preset's scrapl_weight (the refinement's SCRAPL term; default: its default)")
    args = parser.parse_args(argv)
    if args.scrapl_weight is not None:
        MATCH_OPTIONS["scrapl_weight"] = args.scrapl_weight
    if args.attack_weight is not None:
        MATCH_OPTIONS["attack_weight"] = args.attack_weight
    if args.spectral_floor_db is not None:
        match_objective.SPECTRAL_FLOOR_DB = (None if args.spectral_floor_db.lower() == "none"
                                                else float(args.spectral_floor_db))
    try:
        recordings = select_recordings(args.recordings, args.voices)
    except ValueError as error:
        print(f"bench_real808: {error}", file=sys.stderr)
        return 2
    calibration = args.calibration
    if calibration is not None:
        from synths.tr808_calibration import load_calibration
        calibration = load_calibration(calibration)
    detect = not args.no_detect
    print(f"{len(recordings)} recordings from {args.recordings}; calibration "
          f"{getattr(calibration, 'name', None) or 'default'}; objective spectral floor "
          f"{match_objective.SPECTRAL_FLOOR_DB} dB; match options {MATCH_OPTIONS or 'defaults'} "
          f"(attack and SCRAPL weights {objective_weights('tr808', MATCH_OPTIONS.get('attack_weight'), MATCH_OPTIONS.get('scrapl_weight'))}); "
          f"torch {torch.__version__}")
    with _quiet_threads():
        started = time.perf_counter()
        out: dict[str, Any] = {"calibration": getattr(calibration, "name", None), "n": len(recordings)}
        columns: dict[str, dict] = {}
        if not args.skip_full:
            results = run_matches(recordings, calibration, detect, "full")
            out["given"] = columns["given"] = score(
                [row for r in recordings for row in knob_rows(r, results[r.name]["given"])])
            if detect:
                out["detected"] = columns["detected"] = score(
                    [row for r in recordings for row in knob_rows(r, results[r.name]["detected"])])
        cv = cross_validate(recordings, detect and args.cv_detect) if args.cv else None
        if cv:
            columns["given CV"] = cv["given"]
            if cv["detected"]:
                columns["detected CV"] = cv["detected"]
            out["cv"] = cv
        print_knob_table("Mean absolute dial error (0-10) and Spearman rho per knob; the level knob "
                         "is not scored", columns)
        if detect and not args.skip_full:
            voices_found = {r.name: results[r.name]["detected"]["voice"] for r in recordings}
            out["detection_accuracy"] = print_confusion(recordings, voices_found, "Voice detection")
            out["detected_voices"] = voices_found
        if cv and cv["detected_voices"]:
            wrong = {k: v for k, v in cv["detected_voices"].items() if k.split("@")[0][:2] != v}
            n_cv = len(cv["detected_voices"])
            print(f"  CV folds: {n_cv - len(wrong)}/{n_cv} (recording, fold) pairs detected right"
                  + (": wrong " + ", ".join(f"{k}->{v}" for k, v in wrong.items()) if wrong else ""))
        if not args.skip_full:
            features = feature_table(recordings, calibration)
            print_features(features)
            distances = true_setting_distances(recordings, results, calibration)
            print("\nlog-mel distance to the recording (voice given): model at the true knob settings / best match")
            for name, d in distances.items():
                print(f"  {name}: {d['true_settings']:.3f} / {d['best_match']:.3f}")
            mean_true = np.mean([d["true_settings"] for d in distances.values()])
            mean_best = np.mean([d["best_match"] for d in distances.values()])
            print(f"  mean: {mean_true:.3f} / {mean_best:.3f}")
            times = [results[r.name]["given"]["time_s"] for r in recordings]
            print(f"\nmatch_preset time per recording (voice given, 1 thread): median {np.median(times):.1f} s")
            out.update(features=features, distances=distances)
        if cv:
            print("\nCV: log-mel at the true settings of the model fitted without the position / best match:")
            for name, d in cv["distances"].items():
                print(f"  {name}: {d['true_settings']:.3f} / {d['best_match']:.3f}")
            print(f"  mean: {np.mean([d['true_settings'] for d in cv['distances'].values()]):.3f} / "
                  f"{np.mean([d['best_match'] for d in cv['distances'].values()]):.3f}")
        print(f"total wall {time.perf_counter() - started:.0f} s")
    if args.figure:
        from matching.tr808_figure import calibration_figure
        calibration_figure(recordings, calibration, args.figure)
        print(f"figure: {args.figure}")
    if args.out:
        args.out.write_text(json.dumps(out, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
