"""`--seed` replays a run (it turns `--deterministic` on): two processes running the shapes recipe for two epochs
write the same history.csv (every column but the epoch times), on the backend under test."""

import csv
import os
import subprocess
import sys

import keras

from kerascl.recipe import get_recipe
from tests.recipe_helpers import tiny_sets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _start(out_dir: str) -> subprocess.Popen:
    recipe = get_recipe("shapes-partitioned")
    # Only the history is compared: the stages after training (floors, separability, pictures) are left out.
    sets = [item for item in tiny_sets(recipe) if not item.startswith(("epochs=", "embedding_plot="))]
    sets += ["floors=false", "separability=false", "embedding_plot=none"]
    args = [arg for item in sets for arg in ("--set", item)]
    env = dict(os.environ, KERAS_BACKEND=keras.backend.backend(), TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with open(out_dir + ".log", "w") as log:  # a file, not a pipe: a full pipe would stall the run not read yet
        return subprocess.Popen([sys.executable, "-m", "kerascl.cli", "recipe", "shapes-partitioned", "--epochs",
                                 "2", "--seed", "3", "--out", out_dir, *args],
                                stdout=log, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)


def _history(proc: subprocess.Popen, out_dir: str) -> list[dict]:
    proc.wait(timeout=600)
    with open(out_dir + ".log") as handle:
        assert proc.returncode == 0, handle.read()[-3000:]
    with open(os.path.join(out_dir, "history.csv")) as handle:
        rows = list(csv.DictReader(handle))
    assert all(float(row.pop("epoch_seconds")) > 0 for row in rows)  # wall-clock time, the one column that differs
    return rows


def test_same_seed_gives_the_same_history(tmp_path):
    # The two runs side by side: a replay must not depend on the machine being otherwise idle.
    first_dir, second_dir = str(tmp_path / "first"), str(tmp_path / "second")
    first_proc, second_proc = _start(first_dir), _start(second_dir)
    first, second = _history(first_proc, first_dir), _history(second_proc, second_dir)
    assert len(first) == 2 and "loss" in first[0]
    assert first == second
