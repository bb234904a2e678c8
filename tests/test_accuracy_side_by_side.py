"""Checks of `benchmarks/accuracy_side_by_side.py` that need no training: the paired summary and the input check."""

import subprocess
import sys

import numpy as np
import pytest

from tests.script_helpers import load_script, script_path

SCRIPT = script_path("accuracy_side_by_side.py")


def _script():
    return load_script("accuracy_side_by_side.py")


def _row(method, library, seed, knn=None):
    row = {"method": method, "library": library, "seed": seed}
    if knn is not None:
        row["knn_top1"] = knn
    return row


def test_paired_summary_matches_numpy():
    kerascl = [24.0, 27.5, 22.0, 25.25]
    lightly = [25.0, 26.0, 23.5, 24.0]
    rows = []
    for seed, (k, l) in enumerate(zip(kerascl, lightly)):
        rows += [_row("simsiam", "kerascl (tensorflow)", seed, k), _row("simsiam", "lightly", seed, l)]
    (summary,) = _script().paired_summary(rows)
    diffs = np.subtract(kerascl, lightly)
    assert summary["seeds"] == 4
    assert summary["kerascl_mean"] == pytest.approx(np.mean(kerascl), abs=0.005)
    assert summary["lightly_mean"] == pytest.approx(np.mean(lightly), abs=0.005)
    assert summary["difference_mean"] == pytest.approx(diffs.mean(), abs=0.005)
    assert summary["difference_se"] == pytest.approx(diffs.std(ddof=1) / np.sqrt(4), abs=0.005)


def test_paired_summary_drops_unpaired_and_failed_runs():
    rows = [
        _row("byol", "kerascl (jax)", 1, 30.0), _row("byol", "lightly", 1, 28.0),
        _row("byol", "kerascl (jax)", 2, 99.0),  # lightly missing for seed 2
        _row("byol", "kerascl (jax)", 3), _row("byol", "lightly", 3, 10.0),  # kerascl failed for seed 3
        _row("simsiam", "kerascl (jax)", 1),  # no pair at all: no summary row
    ]
    (summary,) = _script().paired_summary(rows)
    assert summary == {"method": "byol", "kerascl": "kerascl (jax)", "seeds": 1, "kerascl_mean": 30.0,
                       "lightly_mean": 28.0, "difference_mean": 2.0, "difference_se": None}


def test_each_kerascl_setting_is_paired_with_the_same_lightly_runs():
    rows = [_row("byol", "lightly", 1, 24.0), _row("byol", "lightly", 2, 26.0),
            _row("byol", "kerascl (jax)", 1, 23.0), _row("byol", "kerascl (jax)", 2, 25.0),
            _row("byol", "kerascl (jax, BYOL loss / 4)", 1, 25.0), _row("byol", "kerascl (jax, BYOL loss / 4)", 2, 27.0)]
    summary = {s["kerascl"]: s for s in _script().paired_summary(rows)}
    assert summary["kerascl (jax)"]["difference_mean"] == -1.0
    assert summary["kerascl (jax, BYOL loss / 4)"]["difference_mean"] == 1.0
    assert summary["kerascl (jax)"]["difference_se"] == 0.0


def test_missing_split_folder_is_a_clear_error(tmp_path):
    (tmp_path / "train").mkdir()
    proc = subprocess.run([sys.executable, SCRIPT, "--data-dir", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "has no test/ folder" in proc.stderr


def test_replot_from_a_saved_run(tmp_path):
    log = tmp_path / "run.log"
    lines = ["loading...", '{"method": "byol", "library": "kerascl (tensorflow)", "seed": 1, "knn_top1": 25.5}',
             '{"method": "byol", "library": "lightly", "seed": 1, "knn_top1": 24.0}',
             '{"method": "byol", "library": "kerascl (tensorflow)", "seed": 2, "knn_top1": 22.0}',
             '{"method": "byol", "library": "lightly", "seed": 2, "knn_top1": 23.5}']
    log.write_text("\n".join(lines) + "\n")
    out = tmp_path / "accuracy.png"
    proc = subprocess.run([sys.executable, SCRIPT, "--from-results", str(log), "--plot", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "| byol | kerascl (tensorflow) | 2 | 23.75 | 23.75 | +0.0 +- 1.5 |" in proc.stdout
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_no_data_dir_and_no_saved_run_is_a_clear_error():
    proc = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "--data-dir is required" in proc.stderr


def test_floors_are_stored_per_seed_and_averaged_in_the_summary(tmp_path):
    log = tmp_path / "run.log"
    floor = '{"method": "-", "library": "floors", "seed": %d, "random_init_knn_top1": %s, "raw_pixels_knn_top1": %s}'
    lines = [floor % (1, 27.0, 26.0), floor % (2, 25.0, 24.0),
             '{"method": "byol", "library": "kerascl (tensorflow)", "seed": 1, "knn_top1": 35.5}',
             '{"method": "byol", "library": "lightly", "seed": 1, "knn_top1": 34.0}',
             '{"method": "byol", "library": "kerascl (tensorflow)", "seed": 2, "knn_top1": 32.0}',
             '{"method": "byol", "library": "lightly", "seed": 2, "knn_top1": 33.5}']
    log.write_text("\n".join(lines) + "\n")
    rows = _script().attach_floors(_script().read_rows(str(log)))
    assert rows[2]["floor_random_init"] == 27.0 and rows[4]["floor_raw_pixels"] == 24.0
    (summary,) = _script().paired_summary(rows)
    assert summary["random_init_mean"] == 26.0 and summary["raw_pixels_mean"] == 25.0
    assert summary["kerascl_mean"] == 33.75  # the floor rows are not a library
    out = tmp_path / "accuracy.png"
    proc = subprocess.run([sys.executable, SCRIPT, "--from-results", str(log), "--plot", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "| byol | kerascl (tensorflow) | 1 | 35.5 | 27.0 | 26.0 |" in proc.stdout
    assert "random init 26.0, raw pixels 25.0" in proc.stdout


def test_floor_worker_scores_the_same_knn_on_random_init_and_raw_pixels():
    import argparse

    from kerascl.probes import knn_on_features

    rng = np.random.default_rng(0)
    train_x = rng.integers(0, 256, (40, 32, 32, 3)).astype("uint8")
    test_x = rng.integers(0, 256, (20, 32, 32, 3)).astype("uint8")
    train_y, test_y = np.arange(40) % 4, np.arange(20) % 4
    floors = _script()._floors(argparse.Namespace(width=0.125, seed=0), train_x, train_y, test_x, test_y)
    raw = knn_on_features(train_x.reshape(40, -1) / 255.0, train_y, test_x.reshape(20, -1) / 255.0, test_y, k=200,
                          temperature=0.1)
    assert floors["raw_pixels_knn_top1"] == round(100 * raw["top1"], 2)
    assert 0.0 <= floors["random_init_knn_top1"] <= 100.0
