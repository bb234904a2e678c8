"""Smoke tests of `kerascl.bench`: the JSON line schema, configuration checks and the click command.

No timing is asserted anywhere: the measured numbers only need to be present, finite and positive. The lightly side
(`benchmarks/lightly_harness.py`) is tested in tests/test_lightly_harness.py.
"""

import json
import math
import os

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from kerascl import bench
from kerascl.bench import BenchConfig


def _tiny(**overrides) -> BenchConfig:
    fields = dict(method="byol", backend=keras.backend.backend(), width=0.0625, image_size=8, batch_size=4,
                  steps=1, warmup_steps=1, num_images=8)
    fields.update(overrides)
    return BenchConfig(**fields)


@pytest.mark.one_backend
@pytest.mark.parametrize("method,placement", [("byol", "host")])
def test_run_kerascl_reports_every_measure(method, placement):
    result = bench.run_kerascl(_tiny(method=method, placement=placement))
    for key in ("images_per_second", "step_seconds", "compile_seconds", "peak_memory_mb"):
        assert math.isfinite(result[key]) and result[key] > 0, (key, result)
    assert result["images_per_second"] == pytest.approx(4 / result["step_seconds"], rel=0.02)
    # the XLA options the step ran under (tests/__init__.py sets one on JAX)
    assert result["xla_flags"] == os.environ.get("XLA_FLAGS", "")


def test_result_line_has_required_keys_and_ratio():
    config = _tiny()
    kerascl_result = {**config.__dict__, "library": "kerascl", "images_per_second": 30.0, "step_seconds": 0.1,
                      "compile_seconds": 2.0, "peak_memory_mb": 900.0}
    lightly_result = {"images_per_second": 20.0, "step_seconds": 0.2, "peak_memory_mb": 700.0,
                      "worker_peak_memory_mb": 650.0}
    line = bench._line(config, kerascl_result, lightly_result)
    json.dumps(line)
    assert set(bench.REQUIRED_KEYS) <= set(line)
    assert line["ratio"] == pytest.approx(1.5)
    assert line["lightly_images_per_second"] == 20.0
    assert "library" not in line
    failed = bench._line(config, kerascl_result, {"error": "exit code 1: ImportError"})
    assert "ratio" not in failed and failed["lightly_error"].startswith("exit code 1")


@pytest.mark.parametrize(
    "overrides,match",
    [
        ({"method": "mocov9"}, "method"),
        ({"backend": "mxnet"}, "backend"),
        ({"placement": "gpu"}, "placement"),
        ({"batch_size": 0}, "batch_size"),
        ({"image_size": 4}, "image_size"),
        ({"warmup_steps": 0}, "warmup_steps"),
        ({"jit_compile": "yes"}, "jit_compile"),
    ],
)
def test_bad_configuration_raises(overrides, match):
    with pytest.raises(ValueError, match=match):
        _tiny(**overrides)


def test_missing_data_dir_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_dir"):
        _tiny(data_dir=str(tmp_path / "nowhere"))


def test_config_json_round_trip_and_cross_product():
    config = _tiny(jit_compile=False, data_threads=2)
    assert BenchConfig.from_json(config.to_json()) == config
    configs = bench.expand_configs(["byol", "simsiam"], ["tensorflow", "jax"], ["host"], [32], [64, 128],
                                   width=0.25)
    assert len(configs) == 8
    assert {(c.method, c.backend, c.batch_size) for c in configs} == {
        (m, b, n) for m in ("byol", "simsiam") for b in ("tensorflow", "jax") for n in (64, 128)
    }


def test_load_images_reads_a_folder(tmp_path):
    from PIL import Image

    for i in range(3):
        Image.fromarray(np.full((10, 12, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    images = bench.load_images(_tiny(data_dir=str(tmp_path), num_images=5, image_size=8))
    assert images.shape == (5, 8, 8, 3) and images.dtype == np.uint8
    assert sorted(set(images[:3, 0, 0, 0].tolist())) == [0, 40, 80]


def test_command_rejects_bad_values_and_shows_help():
    runner = CliRunner()
    result = runner.invoke(bench.bench_command, ["--help"])
    assert result.exit_code == 0 and "--compare" in result.output
    result = runner.invoke(bench.bench_command, ["--batch-size", "0"])
    assert result.exit_code != 0 and "batch_size" in result.output


def test_a_crashed_subprocess_is_reported_as_a_crash():
    import subprocess
    import sys

    code = ("import os, signal, sys; sys.stderr.write('malloc(): corrupted top size\\n"
            "E0000 00:00:1796221789.084102 4318 cuda_platform.cc:52] failed call to cuInit\\n'); sys.stderr.flush(); "
            "os.kill(os.getpid(), signal.SIGSEGV)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    message = bench.describe_failure(proc.returncode, proc.stderr)
    assert message == "crashed with signal 11 (SIGSEGV): malloc(): corrupted top size"
    assert bench.describe_failure(1, "Traceback\nValueError: bad") == "exit code 1: Traceback | ValueError: bad"


def test_command_exits_non_zero_when_a_configuration_fails(monkeypatch):
    def crashed(config, library="kerascl", timeout=None):
        return {**config.__dict__, "library": library, "error": "crashed with signal 11 (SIGSEGV), no error message"}

    monkeypatch.setattr(bench, "run_in_subprocess", crashed)
    result = CliRunner().invoke(bench.bench_command, ["--backend", "tensorflow", "--batch-size", "15"])
    assert result.exit_code == 1, result.output
    assert "1 of 1 configuration(s) failed" in result.output and "signal 11 (SIGSEGV)" in result.output


def test_precision_is_validated_and_mixed_precision_is_its_float16_shorthand():
    with pytest.raises(ValueError, match="precision"):
        _tiny(precision="int8")
    assert _tiny(mixed_precision=True).precision == "mixed_float16"
    assert _tiny(precision="mixed_bfloat16").precision == "mixed_bfloat16"


@pytest.mark.one_backend
def test_bfloat16_run_leaves_the_global_policy_as_it_was():
    before = keras.mixed_precision.global_policy().name
    result = bench.run_kerascl(_tiny(precision="mixed_bfloat16"))
    assert math.isfinite(result["images_per_second"]) and result["images_per_second"] > 0
    assert keras.mixed_precision.global_policy().name == before


def test_machine_info_names_the_cpu_features():
    info = bench.machine_info()
    assert isinstance(info["cpu_features"], list)
    assert set(info["cpu_features"]) <= {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}
