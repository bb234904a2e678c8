"""`--seed` with `--deterministic` replays a run: two processes running the shapes recipe for two epochs write the
same history.csv (every column but the epoch times), on the backend under test."""

import csv
import os
import subprocess
import sys

import keras

from kerascl.recipe import get_recipe
from tests.recipe_helpers import tiny_sets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _history(out_dir: str) -> list[dict]:
    recipe = get_recipe("shapes-partitioned")
    sets = [item for item in tiny_sets(recipe) if not item.startswith("epochs=")]
    args = [arg for item in sets for arg in ("--set", item)]
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "kerascl.cli", "recipe", "shapes-partitioned", "--epochs", "2",
                           "--seed", "3", "--deterministic", "--out", out_dir, *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(os.path.join(out_dir, "history.csv")) as handle:
        rows = list(csv.DictReader(handle))
    assert all(float(row.pop("epoch_seconds")) > 0 for row in rows)  # wall-clock time, the one column that differs
    return rows


def test_same_seed_gives_the_same_history(tmp_path):
    first = _history(str(tmp_path / "first"))
    second = _history(str(tmp_path / "second"))
    assert len(first) == 2 and "loss" in first[0]
    assert first == second
