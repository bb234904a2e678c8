"""Smoke runs: how long a small run of every CIFAR recipe takes, whole command and per stage.

Runs `kerascl recipe NAME --data-dir DIR --epochs 1 --limit N` for each `cifar10-*` recipe (or those given with
`--recipe`), one after the other in fresh processes, and reads each run's `metrics.json` for the wall-clock seconds
of every stage ("loading data", "pretraining", "kNN probe", ...). Prints one JSON line per run (the whole command's
wall-clock seconds, the load average before it, the stage seconds), after a first line describing the machine. Run
it on a quiet machine: one run at a time, nothing else heavy beside it.

Usage:
    python benchmarks/smoke_runs.py --data-dir cifar10 [--limit 512] [--backend tensorflow] [--recipe NAME ...]
        [--out results.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # kerascl from this checkout, as the runs' `python -m kerascl.cli` in REPO use it


def _machine() -> dict:
    from kerascl.bench import machine_info

    return machine_info()


def cifar_recipes() -> list[str]:
    from kerascl.recipe import list_recipes

    return [name for name in list_recipes() if name.startswith("cifar10-")]


def run_once(recipe: str, args, out_dir: str) -> dict:
    command = [sys.executable, "-m", "kerascl.cli", "recipe", recipe, "--data-dir", args.data_dir, "--epochs", "1",
               "--limit", str(args.limit), "--backend", args.backend, "--out", out_dir]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    seconds = time.perf_counter() - start
    line = {"recipe": recipe, "backend": args.backend, "limit": args.limit, "epochs": 1,
            "command": " ".join(["kerascl"] + command[3:-2]), "load_before": round(load, 2),
            "seconds": round(seconds, 1), "exit_code": proc.returncode}
    if proc.returncode != 0:
        line["error"] = proc.stderr[-2000:]
        return line
    with open(os.path.join(out_dir, "metrics.json")) as handle:
        timing = json.load(handle).get("timing", {})
    line["stages"] = {name: round(value, 1) for name, value in (timing.get("stages") or {}).items()}
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="CIFAR-10 folder with train/ and test/ class folders.")
    parser.add_argument("--limit", type=int, default=512, help="Training images (also bounds the probes).")
    parser.add_argument("--backend", default="tensorflow", choices=["tensorflow", "jax", "torch"])
    parser.add_argument("--recipe", action="append", help="A recipe to run (repeatable; default: every cifar10-*).")
    parser.add_argument("--out", help="Also append the JSON lines to this file.")
    args = parser.parse_args()
    from json_lines import JsonLines

    lines = JsonLines(args.out)
    lines.emit({"machine": _machine(), "argv": sys.argv[1:]})
    for recipe in args.recipe or cifar_recipes():
        with tempfile.TemporaryDirectory() as tmp:
            lines.emit(run_once(recipe, args, os.path.join(tmp, "run")))


if __name__ == "__main__":
    main()
