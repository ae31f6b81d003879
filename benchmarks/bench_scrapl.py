"""SCRAPL single-path JTFS forward+backward: ours vs the peer ``scrapl-loss`` 0.1.0, same run.

    python benchmarks/bench_scrapl.py [--configs granular,tr808] [--batches 1,4,8]
        [--path-stride 16] [--repeats 5] [--full-batches 1,4] [--quick] [--no-peer]
        [--out results.json]

Method (matches ``shared/peer/bench_peer.py``, section "scrapl", so that the two columns
compare like with like):

* every (config, batch) runs in a **fresh child process** with ``torch.set_num_threads(2)``
  (and OMP/MKL_NUM_THREADS=2); the parent imports no torch;
* inputs ``x = randn(B, 1, N)`` with ``requires_grad`` and an independent random target;
  one call = the loss value (``x`` **and** the target transformed) + ``backward``; the loss
  is ``SCRAPLLoss(..., use_p_adam=False, use_p_saga=False, cache_target=False)``
  (``scrapl.loss``): ``log1p(S / 1e-3)`` for tr808, then
  ``vector_norm(S_target - S_x, dim=(-2, -1)).mean()``;
* a fixed list of paths 0, s, 2s, ... (``--path-stride``); warm-up pass over the list, then
  ``--repeats`` interleaved rounds; per path the median; the summary is the **mean of the
  per-path medians** (expected cost of a step under uniform sampling);
* "target cached": the same, with ``cache_target=True`` and one target tensor reused, so that
  only the first order of x (and the target's second order of the path) is computed (if
  the loss does not hit its cache, the same distance through ``JTFS.scalogram`` of the
  target once and ``single_path(..., scalogram=)``; ``cached_via`` in the JSON says which);
* memory: RSS after setup (gc + malloc_trim), then the kernel's peak-RSS counter is reset
  (``/proc/self/clear_refs``) and ``peak_rss_delta_mb`` = VmHWM - that baseline, over the
  main (uncached) rounds; ``ru_maxrss`` is reported too;
* full JTFS f+b: ``scrapl.jtfs_loss.JTFSLoss`` (all channels, order 1 included, like the
  peer's full baseline) at ``--full-batches`` (a call over ``--full-time-cap`` s stops it);
* the peer: ``/tmp/peer-venv/bin/python shared/peer/bench_peer.py --sections scrapl`` with the
  same configs, batches, stride and repeats (``--out`` to a temp file), run after ours.

Prints a markdown table: our mean-over-paths time, the peer's, the ratio peer/ours, the
cached-target time and ratio, our full-JTFS time and full/SCRAPL ratio, peak RSS delta and
memory ratio; ``--out`` writes everything as JSON.  The machine must be otherwise idle for
absolute numbers; ratios come from the same invocation.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULT_MARK = "@@RESULT@@ "
PEER_SCRIPT = os.path.join(os.path.dirname(REPO), "shared", "peer", "bench_peer.py")
PEER_PYTHON = "/tmp/peer-venv/bin/python"

# The paper's configurations, as SCRAPLLoss arguments (same as bench_peer.CONFIGS).
CONFIGS = {
    "granular": dict(shape=32768, J=12, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=None, F=None),
    "tr808": dict(shape=44100, J=12, Q1=8, Q2=2, J_fr=5, Q_fr=2, T=2048, F=1,
                  use_rho_log1p=True, grad_mult=1.0),
}


# ---------------------------------------------------------------------------- helpers
def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return -1.0


def _after_setup():
    """gc + malloc_trim, RSS baseline, reset of the peak-RSS counter (VmHWM)."""
    gc.collect()
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except Exception:
        pass
    base = _status_mb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        ok = True
    except OSError:
        ok = False
    return base, ok


def _mem(base: float, ok: bool) -> dict:
    import resource
    hwm = _status_mb("VmHWM")
    return {"rss_setup_mb": round(base, 1),
            "peak_rss_delta_mb": round(hwm - base, 1) if ok else None,
            "peak_rss_total_mb": round(hwm, 1) if ok else None,
            "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "peak_reset_ok": ok}


def _emit(obj: dict) -> None:
    print(RESULT_MARK + json.dumps(obj), flush=True)


def _saved_mb(torch, fn) -> float:
    """MB of the storages autograd saves for backward during fn() (de-duplicated)."""
    seen = {}

    def pack(t):
        try:
            st = t.untyped_storage()
            seen[st.data_ptr()] = st.nbytes()
        except Exception:
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values()) / 2 ** 20


# ---------------------------------------------------------------------------- workers
def worker_scrapl(spec: dict) -> None:
    """Single-path f+b through SCRAPLLoss over a fixed path list (+ the cached-target variant)."""
    import torch
    torch.set_num_threads(spec["threads"])
    sys.path.insert(0, REPO)
    from scrapl.loss import SCRAPLLoss

    cfg, B = CONFIGS[spec["config"]], spec["batch"]
    t0 = time.perf_counter()
    kw = dict(cfg, use_p_adam=False, use_p_saga=False)
    loss_fn = SCRAPLLoss(**kw, cache_target=False)
    cached_fn = SCRAPLLoss(**kw, cache_target=True)
    init_s = time.perf_counter() - t0
    N = cfg["shape"]
    paths = list(range(0, loss_fn.n_paths, spec["path_stride"]))
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(B, 1, N, generator=g).requires_grad_(True)
    target = torch.randn(B, 1, N, generator=g)

    def call(fn, pi):
        x.grad = None
        a = time.perf_counter()
        d = fn(x, target, path_idx=pi)
        b = time.perf_counter()
        d.backward()
        c = time.perf_counter()
        return b - a, c - b

    def rounds(fn, n):
        times = {pi: [] for pi in paths}
        for _ in range(n):                      # interleaved: round -> path
            for pi in paths:
                times[pi].append(call(fn, pi))
        return times

    base, ok = _after_setup()
    saved, warm = {}, {}
    for pi in paths:                            # warm-up pass (+ saved-for-backward size)
        out = []
        saved[pi] = _saved_mb(torch, lambda: out.append(call(loss_fn, pi)))
        warm[pi] = sum(out[0])
    times = rounds(loss_fn, spec["repeats"])
    mem = _mem(base, ok)
    for pi in paths:                            # cached target: warm-up then rounds
        call(cached_fn, pi)
    cached_via = "SCRAPLLoss(cache_target=True)"
    if getattr(cached_fn, "_target_scalogram", None) is None:
        # the loss did not reuse the target's first order (its cache is keyed on the
        # tensor object it sees); same distance straight from the JTFS path API
        jtfs, log1p = loss_fn.jtfs, cfg.get("use_rho_log1p", False)
        with torch.no_grad():
            sc_target = jtfs.scalogram(target.reshape(-1, 1, N))

        def cached_fn(x_, target_, path_idx):
            n2, n_fr = loss_fn.scrapl_keys[path_idx]
            S_x = jtfs.single_path(x_.reshape(-1, 1, N), n2, n_fr)
            S_t = jtfs.single_path(None, n2, n_fr, scalogram=sc_target)
            if log1p:
                S_x, S_t = torch.log1p(S_x / 1e-3), torch.log1p(S_t / 1e-3)
            return torch.linalg.vector_norm(S_t - S_x, dim=(-2, -1)).mean()

        cached_via = "JTFS.scalogram + single_path(scalogram=) (loss cache missed)"
        for pi in paths:
            call(cached_fn, pi)
    times_cached = rounds(cached_fn, spec["repeats"])

    per_path = []
    for pi in paths:
        n2, n_fr = loss_fn.scrapl_keys[pi]
        tot = [f + b for f, b in times[pi]]
        tot_c = [f + b for f, b in times_cached[pi]]
        per_path.append(dict(
            path_idx=pi, n2=n2, n_fr=n_fr, j2=loss_fn.jtfs.j2[n2],
            n1_max=loss_fn.jtfs.n1_max(n2), median_s=round(statistics.median(tot), 5),
            min_s=round(min(tot), 5),
            fwd_median_s=round(statistics.median([f for f, _ in times[pi]]), 5),
            bwd_median_s=round(statistics.median([b for _, b in times[pi]]), 5),
            cached_median_s=round(statistics.median(tot_c), 5), warmup_s=round(warm[pi], 4),
            saved_for_backward_mb=round(saved[pi], 2)))
    meds = [p["median_s"] for p in per_path]
    out = dict(section="scrapl", config=spec["config"], batch=B, status="ok",
               n_paths=loss_fn.n_paths, n_paths_timed=len(paths),
               path_stride=spec["path_stride"], repeats=spec["repeats"],
               init_s=round(init_s, 2),
               mean_over_paths_of_median_s=round(statistics.fmean(meds), 5),
               median_over_paths_of_median_s=round(statistics.median(meds), 5),
               min_over_paths_of_min_s=round(min(p["min_s"] for p in per_path), 5),
               max_over_paths_of_median_s=round(max(meds), 5),
               cached_via=cached_via,
               cached_mean_over_paths_of_median_s=round(
                   statistics.fmean(p["cached_median_s"] for p in per_path), 5),
               mean_saved_for_backward_mb=round(statistics.fmean(saved.values()), 2),
               max_saved_for_backward_mb=round(max(saved.values()), 2),
               per_path=per_path, torch_threads=torch.get_num_threads(), **mem)
    _emit(out)


def worker_full(spec: dict) -> None:
    """Full JTFS distance f+b (all channels) with scrapl.jtfs_loss.JTFSLoss."""
    import torch
    torch.set_num_threads(spec["threads"])
    sys.path.insert(0, REPO)
    from scrapl.jtfs_loss import JTFSLoss

    cfg, B = dict(CONFIGS[spec["config"]]), spec["batch"]
    cfg.pop("grad_mult", None)
    t0 = time.perf_counter()
    loss_fn = JTFSLoss(**cfg)
    init_s = time.perf_counter() - t0
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(B, 1, cfg["shape"], generator=g).requires_grad_(True)
    target = torch.randn(B, 1, cfg["shape"], generator=g)

    def call():
        x.grad = None
        a = time.perf_counter()
        d = loss_fn(x, target)
        b = time.perf_counter()
        d.backward()
        return b - a, time.perf_counter() - b

    base, ok = _after_setup()
    f, b = call()
    times, status = [], "ok"
    if f + b > spec["time_cap_s"]:
        status = "over_time_cap_single_call"
    else:
        for _ in range(spec["repeats"]):
            times.append(call())
            if sum(times[-1]) > spec["time_cap_s"]:
                status = "over_time_cap"
                break
    tot = [f + b for f, b in times]
    out = dict(section="full_jtfs", config=spec["config"], batch=B, status=status,
               init_s=round(init_s, 2), warmup_s=round(f + b, 3), repeats_done=len(times),
               median_s=round(statistics.median(tot), 4) if tot else None,
               min_s=round(min(tot), 4) if tot else None,
               torch_threads=torch.get_num_threads(), **_mem(base, ok))
    _emit(out)


WORKERS = {"scrapl": worker_scrapl, "full": worker_full}


# ---------------------------------------------------------------------------- parent
def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_child(spec: dict, timeout_s: float) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(spec["threads"]),
               MKL_NUM_THREADS=str(spec["threads"]), PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    try:
        p = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker",
                            json.dumps(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=env, timeout=timeout_s)
        stdout, stderr, rc = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        stdout, stderr, rc = e.stdout or "", e.stderr or "", "timeout"
        stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
        stderr = stderr.decode() if isinstance(stderr, bytes) else stderr
    res = None
    for line in stdout.splitlines():
        if line.startswith(RESULT_MARK):
            res = json.loads(line[len(RESULT_MARK):])
    if res is None:
        res = dict(section=spec["kind"], config=spec["config"], batch=spec["batch"],
                   status=f"child_failed(rc={rc})", stderr_tail=stderr[-1500:])
    res["child_wall_s"] = round(time.perf_counter() - t0, 1)
    return res


def run_peer(a) -> list:
    """The peer harness, scrapl section, same settings; returns its results list."""
    if not (os.path.exists(a.peer_python) and os.path.exists(a.peer_script)):
        log(f"peer not found ({a.peer_python}, {a.peer_script}): skipped "
            "(bash shared/peer/setup_peer.sh builds the venv)")
        return []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "peer.json")
        cmd = [a.peer_python, a.peer_script, "--sections", "scrapl",
               "--configs", ",".join(a.configs), "--batches", ",".join(map(str, a.batches)),
               "--path-stride", str(a.path_stride), "--repeats", str(a.repeats),
               "--threads", str(a.threads), "--out", out,
               "--log-dir", os.path.join(tmp, "logs")]
        log("peer: " + " ".join(cmd))
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0 or not os.path.exists(out):
            log(f"peer harness failed (rc={p.returncode}): {p.stderr[-1000:]}")
            return []
        with open(out) as f:
            return json.load(f)["results"]


def _fmt(v, nd=3):
    return "-" if v is None else f"{v:.{nd}f}"


def table(ours: list, peer: list, full: list) -> str:
    peer_by = {(r["config"], r["batch"]): r for r in peer if r.get("section") == "scrapl"}
    full_by = {(r["config"], r["batch"]): r for r in full}
    L = ["| config | B | ours s | peer s | peer/ours | ours cached-target s | peer/cached | "
         "ours full JTFS s | full/ours | ours peak RSS MB | peer peak RSS MB | peer/ours mem |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in ours:
        key = (r["config"], r["batch"])
        if r.get("status") != "ok":
            L.append(f"| {key[0]} | {key[1]} | {r.get('status')} |" + " - |" * 10)
            continue
        t = r["mean_over_paths_of_median_s"]
        tc = r["cached_mean_over_paths_of_median_s"]
        p = peer_by.get(key, {})
        tp = p.get("mean_over_paths_of_median_s")
        fr = full_by.get(key, {})
        tf = fr.get("median_s") or (fr.get("warmup_s") if fr else None)
        m, mp = r.get("peak_rss_delta_mb"), p.get("peak_rss_delta_mb")
        L.append(f"| {key[0]} | {key[1]} | {_fmt(t)} | {_fmt(tp)} | "
                 f"{_fmt(tp / t if tp else None, 1)}x | {_fmt(tc)} | "
                 f"{_fmt(tp / tc if tp else None, 1)}x | {_fmt(tf, 2)} | "
                 f"{_fmt(tf / t if tf else None, 0)}x | {_fmt(m, 0)} | {_fmt(mp, 0)} | "
                 f"{_fmt(mp / m if (mp and m) else None, 1)}x |")
    return "\n".join(L) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--configs", default="granular,tr808")
    ap.add_argument("--batches", default="1,4,8")
    ap.add_argument("--path-stride", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--full-batches", default="1,4",
                    help="batches of the full-JTFS timing ('' for none)")
    ap.add_argument("--full-repeats", type=int, default=3)
    ap.add_argument("--full-time-cap", type=float, default=120.0,
                    help="s per full-JTFS call above which its repeats stop")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: stride 64, 2 repeats, batch 1, full batch 1")
    ap.add_argument("--no-peer", action="store_true", help="skip the peer harness")
    ap.add_argument("--peer-python", default=PEER_PYTHON)
    ap.add_argument("--peer-script", default=PEER_SCRIPT)
    ap.add_argument("--child-timeout", type=float, default=3600.0)
    ap.add_argument("--out", default=None, help="write all results as JSON here")
    a = ap.parse_args()
    if a.worker:
        spec = json.loads(a.worker)
        WORKERS[spec["kind"]](spec)
        return
    a.configs = [c.strip() for c in a.configs.split(",") if c.strip()]
    a.batches = [int(b) for b in a.batches.split(",") if b.strip()]
    a.full_batches = [int(b) for b in a.full_batches.split(",") if b.strip()]
    if a.quick:
        a.path_stride, a.repeats, a.batches, a.full_batches = 64, 2, [1], [1]
        a.full_repeats = 1
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    ours, full = [], []
    for c in a.configs:
        for b in a.batches:
            log(f"ours: scrapl {c} batch={b} ...")
            res = run_child(dict(kind="scrapl", config=c, batch=b, path_stride=a.path_stride,
                                 repeats=a.repeats, threads=a.threads), a.child_timeout)
            log(f"    -> {res.get('status')} mean {res.get('mean_over_paths_of_median_s')} s "
                f"in {res['child_wall_s']} s")
            ours.append(res)
        for b in a.full_batches:
            log(f"ours: full JTFS {c} batch={b} ...")
            res = run_child(dict(kind="full", config=c, batch=b, repeats=a.full_repeats,
                                 time_cap_s=a.full_time_cap, threads=a.threads),
                            a.child_timeout)
            log(f"    -> {res.get('status')} median {res.get('median_s')} s "
                f"in {res['child_wall_s']} s")
            full.append(res)
    peer = [] if a.no_peer else run_peer(a)
    text = table(ours, peer, full)
    print(f"\nSCRAPL single path f+b, mean over paths 0, {a.path_stride}, ... of the per-path "
          f"median ({a.repeats} repeats), {a.threads} threads; started {started}\n")
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(dict(started=started, settings=dict(
                configs=a.configs, batches=a.batches, path_stride=a.path_stride,
                repeats=a.repeats, threads=a.threads, full_batches=a.full_batches),
                ours=ours, full=full, peer=peer, table_markdown=text), f, indent=1)


if __name__ == "__main__":
    main()
