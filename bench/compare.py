#!/usr/bin/python3
"""attn against its peers, back to back in one run, as one table.

For every configuration asked for, this runs attn's benchmark and then the
same work in Debian's PyTorch 1.13, PyTorch 2.x from PyPI (a virtual
environment outside the repository) and, for decoding, CTranslate2, one after
the other on the same machine, and prints one Markdown table of tokens/s,
peak RSS and the ratios attn / peer. Runs on a shared 2-core machine vary by
10-15% from one run to the next; what one run says is the ratios, which is
why every pair runs back to back (bench/README.md, "attn against PyTorch").

    /usr/bin/python3 bench/compare.py                        # everything (about 40 minutes)
    /usr/bin/python3 bench/compare.py --what train --configs tiny --threads 2
    /usr/bin/python3 bench/compare.py --what decode --threads 2,1

The peers (../shared/peers/README.md):
  --torch113  an interpreter with Debian's python3-torch (default /usr/bin/python3),
              run with --omp-wait-policy PASSIVE, its best on 2 cores;
  --torch2    an interpreter with PyTorch 2.x (default ~/pt2/bin/python: python3 -m venv ~/pt2,
              then ~/pt2/bin/pip install torch numpy ctranslate2), run with its default wait policy;
  CTranslate2 is run by the --torch2 interpreter when it can import ctranslate2.
A peer that is missing is said so in the table, not skipped in silence.

This file only runs programs and reads what they print: nothing here is timed.
"""

import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd, env_threads):
    """Runs cmd with the thread count in the environment; returns its stdout (or None and says why)."""
    env = dict(os.environ)
    env["ATTN_NUM_THREADS"] = str(env_threads)
    # The peers set their own thread counts from --threads; OpenBLAS and OpenMP
    # read these when they start, so no peer gets more threads than asked for.
    env["OMP_NUM_THREADS"] = str(env_threads)
    env["OPENBLAS_NUM_THREADS"] = str(env_threads)
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    except OSError as e:
        print(f"  could not run: {e}", file=sys.stderr)
        return None
    if p.returncode != 0:
        print(f"  exit {p.returncode}: {p.stderr.strip()[-400:]}", file=sys.stderr)
        return None
    print(p.stdout.rstrip(), file=sys.stderr, flush=True)
    return p.stdout


def grab(pattern, text):
    m = re.search(pattern, text or "", re.MULTILINE)
    return float(m.group(1)) if m else None


def attn_train(bench, model, config, threads, steps):
    out = run([os.path.join(bench, "bench_train_step"), "--model", model, "--config", config]
              + (["--steps", str(steps)] if steps else []), threads)
    return dict(tok=grab(r"([0-9.]+) target tok/s", out), rss=grab(r"peak RSS ([0-9.]+) MB", out))


def torch_train(python, model, config, threads, steps, passive):
    cmd = [python, os.path.join(ROOT, "..", "shared", "peers", "torch_ref.py"), "--model", model,
           "--config", config, "--threads", str(threads)]
    cmd += ["--omp-wait-policy", "PASSIVE"] if passive else []
    cmd += ["--steps", str(steps)] if steps else []
    out = run(cmd, threads)
    return dict(tok=grab(r"target tokens/s ([0-9.]+)", out), rss=grab(r"peak RSS ([0-9.]+) MB", out))


def attn_decode(bench, config, threads, reps):
    out = run([os.path.join(bench, "bench_decode"), "--config", config, "--reps", str(reps)], threads)
    return dict(tok=grab(r"^\s*cached\s+total.*?([0-9.]+) tok/s", out),
                recompute=grab(r"^\s*recomputed\s+total.*?([0-9.]+) tok/s", out),
                rss=grab(r"peak RSS ([0-9.]+) MB", out))


def torch_decode(python, config, threads, passive, reps):
    cmd = [python, os.path.join(ROOT, "..", "shared", "peers", "torch_ref.py"), "--model", "transformer",
           "--config", config, "--bench", "decode", "--threads", str(threads), "--decode-reps", str(reps)]
    cmd += ["--omp-wait-policy", "PASSIVE"] if passive else []
    out = run(cmd, threads)
    return dict(tok=grab(r"^\s*kv_cache\s+total.*?([0-9.]+) tok/s", out),
                rss=grab(r"peak RSS ([0-9.]+) MB", out))


def ct2_decode(python, config, threads):
    out = run([python, os.path.join(ROOT, "..", "shared", "peers", "ct2_ref.py"), "--config", config,
               "--threads", str(threads)], threads)
    # ct2_ref.py prints one line a repetition; take the best, as it is the steady state.
    rates = [float(x) for x in re.findall(r"([0-9.]+) tok/s", out or "")]
    return dict(tok=max(rates) if rates else None)


def fmt(x, digits=0):
    if x is None:
        return "n/a"
    return f"{x:,.{digits}f}"


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"),
                    help="attn's build folder (its bench/ holds bench_train_step and bench_decode)")
    ap.add_argument("--what", default="train,decode", help="train, decode or both")
    ap.add_argument("--models", default="transformer,bahdanau,luong")
    ap.add_argument("--configs", default="tiny,small")
    ap.add_argument("--threads", default="2,1", help="thread counts, each run on every side")
    ap.add_argument("--train-threads", default="2",
                    help="thread counts for training (issue 14's goal is at 2); the rest decode only")
    ap.add_argument("--steps", type=int, default=0, help="timed training steps (default: each side's 30)")
    ap.add_argument("--decode-reps", type=int, default=1,
                    help="timed decodes per variant, median, on both sides (bench_decode --reps, "
                         "torch_ref.py --decode-reps): 3 steadies a noisy machine, at 3x the time")
    ap.add_argument("--torch113", default="/usr/bin/python3")
    ap.add_argument("--torch2", default=os.path.expanduser("~/pt2/bin/python"))
    a = ap.parse_args()

    bench = os.path.join(a.build, "bench")
    for prog in ("bench_train_step", "bench_decode"):
        if not os.access(os.path.join(bench, prog), os.X_OK):
            sys.exit(f"compare.py: no {prog} in {bench}: build first (cmake --preset release && "
                     f"cmake --build build/release), or name the build folder with --build")
    torch2 = a.torch2 if os.access(a.torch2, os.X_OK) else None
    if torch2 is None:
        print(f"compare.py: no PyTorch 2.x interpreter at {a.torch2}: its columns say n/a", file=sys.stderr)
    what = a.what.split(",")
    threads = [int(t) for t in a.threads.split(",")]
    train_threads = [int(t) for t in a.train_threads.split(",")]

    rows = []
    for t in threads:
        if "train" in what and t in train_threads:
            for config in a.configs.split(","):
                for model in a.models.split(","):
                    at = attn_train(bench, model, config, t, a.steps)
                    p1 = torch_train(a.torch113, model, config, t, a.steps, passive=True)
                    p2 = torch_train(torch2, model, config, t, a.steps, False) if torch2 else {}
                    rows.append((f"train {config} {model}, {t} thr", at, p1, p2, None))
        if "decode" in what:
            for config in a.configs.split(","):
                at = attn_decode(bench, config, t, a.decode_reps)
                p1 = torch_decode(a.torch113, config, t, True, a.decode_reps)
                p2 = torch_decode(torch2, config, t, False, a.decode_reps) if torch2 else {}
                ct = ct2_decode(torch2, config, t) if torch2 else {}
                rows.append((f"decode {config} transformer (KV cache), {t} thr", at, p1, p2, ct))

    print()
    print("| tok/s (peak RSS MB) | attn | PyTorch 1.13 | PyTorch 2.x | CTranslate2 | attn/1.13 | attn/2.x "
          "| attn/CT2 | RSS attn/1.13 | cache/recompute |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, at, p1, p2, ct in rows:
        cell = lambda r: f"{fmt(r.get('tok'))} ({fmt(r.get('rss'))})" if r.get("rss") else fmt(r.get("tok"))
        ct = ct or {}
        print(f"| {name} | {cell(at)} | {cell(p1)} | {cell(p2)} | {fmt(ct.get('tok')) if ct else ''} "
              f"| {ratio(at.get('tok'), p1.get('tok'))} | {ratio(at.get('tok'), p2.get('tok'))} "
              f"| {ratio(at.get('tok'), ct.get('tok')) if ct else ''} "
              f"| {ratio(at.get('rss'), p1.get('rss'))} "
              f"| {ratio(at.get('tok'), at.get('recompute')) if at.get('recompute') else ''} |")


if __name__ == "__main__":
    main()
