"""`benchmarks/pretrain_throughput.py --plot`: one bar per library setting, from saved `kerascl bench` lines."""

import json
import subprocess
import sys

from tests.script_helpers import REPO, load_script, script_path

SCRIPT = script_path("pretrain_throughput.py")


def _line(onednn, images_per_second):
    return json.dumps({"method": "byol", "backend": "tensorflow", "width": 0.25, "batch_size": 128,
                       "placement": "host", "images_per_second": images_per_second, "tf_onednn": onednn,
                       "lightly_images_per_second": 100.0, "lightly_threads": None})


def _results(tmp_path):
    results = tmp_path / "run.jsonl"
    results.write_text("\n".join(['{"machine": "x"}', _line(True, 136.0), _line(False, 94.0)]) + "\n")
    return results


def test_bars_keep_onednn_settings_apart(tmp_path):
    module = load_script("pretrain_throughput.py")
    (bars,) = module.throughput_bars([str(_results(tmp_path))]).values()
    assert bars == {"kerascl tensorflow host, threads default, oneDNN on": 136.0,
                    "kerascl tensorflow host, threads default, oneDNN off": 94.0,
                    "lightly, torch threads default": 100.0}


def test_plot_writes_a_png(tmp_path):
    out = tmp_path / "throughput.png"
    proc = subprocess.run([sys.executable, SCRIPT, "--plot", str(out), str(_results(tmp_path))],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:4] == b"\x89PNG"
