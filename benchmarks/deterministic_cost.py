"""What `--deterministic` costs: a recipe's training speed with and without it, side by side.

Runs `kerascl recipe RECIPE --data-dir DIR --limit N --epochs E` in fresh processes (determinism is a process-wide
TensorFlow setting), alternating the two settings `--repeats` times so that a change of load on the machine hits
both, and reads each run's `history.csv`. The first epoch includes tracing and compilation, so the speed of a run is
the mean of `epoch_seconds` over its later epochs (the kNN monitor is off: `--set knn_every=0`; the probes after
training are not timed). One JSON line per run, then one summary line with the mean images/s of each setting and
their ratio (deterministic / default).

Usage:
    python benchmarks/deterministic_cost.py --data-dir cifar10/train [--recipe cifar10-byol] [--backend tensorflow]
        [--limit 5120] [--epochs 3] [--batch-size 128] [--width 0.25] [--repeats 2] [--out results.jsonl]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _machine() -> dict:
    sys.path.insert(0, REPO)
    from kerascl.bench import machine_info

    return machine_info()


def run_once(args, deterministic: bool, out_dir: str) -> dict:
    command = [sys.executable, "-m", "kerascl.cli", "recipe", args.recipe, "--data-dir", args.data_dir,
               "--limit", str(args.limit), "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
               "--backend", args.backend, "--seed", "1", "--probe-limit", "500", "--set", "knn_every=0",
               "--set", f"width={args.width}",
               "--out", out_dir, "--deterministic" if deterministic else "--no-deterministic"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"run failed (exit {proc.returncode}): {' '.join(command)}\n{proc.stderr[-3000:]}")
    with open(os.path.join(out_dir, "history.csv")) as handle:
        seconds = [float(row["epoch_seconds"]) for row in csv.DictReader(handle)]
    steps = args.limit // args.batch_size
    later = seconds[1:]
    return {"deterministic": deterministic, "recipe": args.recipe, "backend": args.backend, "limit": args.limit,
            "batch_size": args.batch_size, "width": args.width, "steps_per_epoch": steps, "epoch_seconds": [round(s, 2) for s in seconds],
            "images_per_second": round(steps * args.batch_size / statistics.mean(later), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="Labelled image folder (e.g. cifar10/train).")
    parser.add_argument("--recipe", default="cifar10-byol")
    parser.add_argument("--backend", default="tensorflow", choices=["tensorflow", "jax"])
    parser.add_argument("--limit", type=int, default=5120, help="Training images.")
    parser.add_argument("--epochs", type=int, default=3, help="Epochs per run (>= 2: the first is not timed).")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--width", type=float, default=0.25, help="ResNet-18 width (the benchmarks' 0.25).")
    parser.add_argument("--repeats", type=int, default=2, help="Runs of each setting, alternating.")
    parser.add_argument("--out", default=None, help="Also append the JSON lines to this file.")
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch (compilation) is not timed.")
    from json_lines import JsonLines

    lines = JsonLines(args.out)
    lines.emit({"machine": _machine(), "command": " ".join(sys.argv)})
    runs = []
    for repeat in range(args.repeats):
        for deterministic in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(lines.emit(dict(run_once(args, deterministic, os.path.join(tmp, "run")), repeat=repeat)))
    speeds = {flag: [line["images_per_second"] for line in runs if line["deterministic"] is flag]
              for flag in (False, True)}
    summary = {"summary": True, "default_images_per_second": round(statistics.mean(speeds[False]), 2),
               "deterministic_images_per_second": round(statistics.mean(speeds[True]), 2),
               "ratio_deterministic_to_default": round(statistics.mean(speeds[True]) / statistics.mean(speeds[False]),
                                                        3)}
    lines.emit(summary)


if __name__ == "__main__":
    main()
