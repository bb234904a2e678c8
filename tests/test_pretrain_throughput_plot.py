"""`benchmarks/pretrain_throughput.py --plot`: one bar per library setting, from saved `kerascl bench` lines."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "pretrain_throughput.py")


def _line(onednn, images_per_second):
    return json.dumps({"method": "byol", "backend": "tensorflow", "width": 0.25, "batch_size": 128,
                       "placement": "host", "images_per_second": images_per_second, "tf_onednn": onednn,
                       "lightly_images_per_second": 100.0, "lightly_threads": None})


def test_plot_keeps_onednn_settings_apart(tmp_path):
    results = tmp_path / "run.jsonl"
    results.write_text("\n".join(['{"machine": "x"}', _line(True, 136.0), _line(False, 94.0)]) + "\n")
    out = tmp_path / "throughput.png"
    code = ("import sys, runpy; import matplotlib.axes as a; bars = [];"
            "orig = a.Axes.bar; a.Axes.bar = lambda self, x, h, w, label=None, **k: (bars.append((label, list(h))),"
            " orig(self, x, h, w, label=label, **k))[1];"
            f"sys.argv = ['p', '--plot', {str(out)!r}, {str(results)!r}];"
            f"runpy.run_path({SCRIPT!r}, run_name='__main__'); print(sorted(bars))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert "('kerascl tensorflow host, threads default, oneDNN on', [136.0])" in proc.stdout
    assert "('kerascl tensorflow host, threads default, oneDNN off', [94.0])" in proc.stdout
    assert "('lightly, torch threads default', [100.0])" in proc.stdout
