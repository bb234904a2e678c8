"""`benchmarks/fit_overhead.py` runs and reports every field (no timing is asserted).

The fit case builds and compiles a ResNet-18 in a fresh process (30-45 s); like the other files that split their
cases between CI's backend runs (`tests/cases.py`), it runs in the TensorFlow run only, unless
`KERAS_CL_ALL_CASES=1`.
"""

import json
import os
import subprocess
import sys

import keras
import pytest

from tests.cases import in_this_share

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "fit_overhead.py")


def _run(*args):
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend(), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=600)


@pytest.mark.skipif(not in_this_share(0), reason="runs in CI's TensorFlow run (KERAS_CL_ALL_CASES=1 runs it here)")
def test_fit_reports_the_step_and_end_of_fit_times():
    proc = _run("--images", "32", "--batch-size", "16", "--width", "0.0625", "--epochs", "2", "--method", "byol")
    assert proc.returncode == 0, proc.stderr
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    assert line["steps"] == 4 and line["backend"] == keras.backend.backend()
    for key in ("first_step_s", "median_step_s", "slowest_step_s", "last_batch_to_train_end_s",
                "train_end_to_return_s", "total_s"):
        assert line[key] >= 0, (key, line)
    assert 1 <= line["slowest_step_index"] <= 3


def test_pipeline_only_and_bad_input():
    proc = _run("--images", "32", "--batch-size", "16", "--epochs", "2", "--pipeline-only", "--sleep", "0")
    assert proc.returncode == 0, proc.stderr
    epochs = json.loads(proc.stdout.strip().splitlines()[-1])["epochs"]
    assert [e["batches"] for e in epochs] == [2, 2]
    proc = _run("--images", "8", "--batch-size", "16")
    assert proc.returncode != 0 and "at least one batch" in proc.stderr
