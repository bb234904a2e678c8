"""The lightly comparison lives outside the package: `benchmarks/lightly_harness.py`, run by
`kerascl bench --compare lightly` in its own process.

torch and TensorFlow / JAX must not share a process (importing torchvision beside them can crash it), so everything
that imports torch runs in a subprocess, and is skipped where the `bench` extra is not installed (CI).
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from kerascl import bench
from tests.script_helpers import REPO, load_script, script_path

HARNESS = script_path("lightly_harness.py")
HAS_BENCH_EXTRA = all(importlib.util.find_spec(name) for name in bench.HARNESS_PACKAGES)
needs_bench_extra = pytest.mark.skipif(not HAS_BENCH_EXTRA, reason="needs the bench extra (lightly, torch)")


def _harness_module():
    # Imports kerascl.bench only: torch is imported inside its functions.
    return load_script("lightly_harness.py", "lightly_harness_under_test")


def test_kerascl_never_imports_the_harness_or_torch():
    code = ("import sys, kerascl, kerascl.bench, kerascl.cli; "
            "print(sorted(m for m in ('torch', 'lightly', 'torchvision', 'lightly_harness') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO,
                         env=dict(os.environ, PYTHONPATH=REPO))
    assert out.stdout.strip() == "[]"
    for name in ("run_lightly", "build_lightly_model", "torch_cifar_resnet18", "lightly_transform"):
        assert not hasattr(bench, name), name


def test_harness_settings_match_the_presets_and_need_no_torch_to_load():
    from kerascl.augment import presets

    harness = _harness_module()
    assert harness.LIGHTLY_SMALL_IMAGE_SIZE == presets.SMALL_IMAGE_SIZE
    assert harness.LIGHTLY_SMALL_JITTER_STRENGTH == presets.SMALL_IMAGE_JITTER_STRENGTH
    assert harness.HEAD_SIZES is bench.HEAD_SIZES


def test_find_harness_in_the_checkout_and_by_path(tmp_path, monkeypatch):
    assert bench.find_harness() == HARNESS
    own = tmp_path / "my_harness.py"
    own.write_text("")
    assert bench.find_harness(own) == str(own)
    monkeypatch.setenv(bench.HARNESS_ENV, str(own))
    assert bench.find_harness() == str(own)


def test_missing_harness_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv(bench.HARNESS_ENV, raising=False)
    monkeypatch.setattr(bench, "__file__", str(tmp_path / "site-packages" / "kerascl" / "bench.py"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(bench.HarnessUnavailableError, match="--harness PATH"):
        bench.find_harness()


def test_compare_without_the_bench_extra_stops_before_timing(monkeypatch):
    monkeypatch.setattr(bench, "_importable", lambda name: name != "lightly")
    monkeypatch.setattr(bench, "run_in_subprocess", lambda *a, **k: pytest.fail("nothing may run"))
    result = CliRunner().invoke(bench.bench_command, ["--backend", "tensorflow", "--compare", "lightly"])
    assert result.exit_code == 1
    assert "not installed: lightly" in result.output and 'pip install -e ".[bench]"' in result.output


def test_compare_passes_the_harness_to_the_lightly_run(tmp_path, monkeypatch):
    own = tmp_path / "harness.py"
    own.write_text("")
    calls = []

    def fake(config, library="kerascl", timeout=None, harness=None):
        calls.append((library, harness))
        return {**config.__dict__, "library": library, "images_per_second": 10.0, "step_seconds": 0.1,
                "peak_memory_mb": 1.0}

    monkeypatch.setattr(bench, "_importable", lambda name: True)
    monkeypatch.setattr(bench, "run_in_subprocess", fake)
    result = CliRunner().invoke(bench.bench_command, ["--backend", "jax", "--compare", "lightly",
                                                      "--harness", str(own)])
    assert result.exit_code == 0, result.output
    assert calls == [("kerascl", None), ("lightly", str(own))]
    assert json.loads(result.output.strip().splitlines()[-1])["ratio"] == 1.0


@needs_bench_extra
def test_reference_model_shapes_in_a_torch_process():
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(HARNESS)!r}); import torch; "
            "from lightly_harness import HEAD_SIZES, build_lightly_model\n"
            "for method in ('byol', 'simsiam'):\n"
            "    model = build_lightly_model(method, width=0.0625)\n"
            "    z, p = model(torch.rand(2, 3, 8, 8))\n"
            "    assert tuple(z.shape) == (2, HEAD_SIZES[method][1]) == tuple(p.shape)\n"
            "    assert tuple(model.backbone(torch.rand(2, 3, 8, 8)).shape) == (2, 32)\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env=dict(os.environ, PYTHONPATH=REPO))
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


@pytest.mark.slow
@needs_bench_extra
def test_bench_compare_lightly_example_of_the_docs_runs(tmp_path):
    """The check command of docs/benchmarks.md, from a folder outside the checkout (the harness is found beside
    the kerascl package)."""
    text = open(os.path.join(REPO, "docs", "benchmarks.md")).read()
    (line,) = [line for line in text.splitlines() if line.startswith("kerascl bench ") and "--width 0.0625" in line]
    args = line.split()[2:]
    out = subprocess.run([sys.executable, "-m", "kerascl.bench", *args], capture_output=True, text=True,
                         cwd=tmp_path, env=dict(os.environ, PYTHONPATH=REPO), timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["lightly_images_per_second"] > 0 and line["ratio"] > 0


def test_lightly_transform_refuses_a_crop_range_lightly_cannot_make():
    # lightly's crops always reach the whole image; the check runs before lightly is imported.
    with pytest.raises(ValueError, match="high = 1.0"):
        _harness_module().lightly_transform("byol", 32, crop_scale=(0.2, 0.9))
