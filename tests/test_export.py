"""Deployment export (`kerascl.export`, `kerascl export`): every format loads and gives the `.keras` model's
features on a batch, on the backends that can export it; the others refuse with the fix."""

from __future__ import annotations

import importlib.util
import os
import sys

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from kerascl.backbones import ConvNet
from kerascl.cli import main
from kerascl.export import BACKEND_FORMATS, FORMATS, check_export, default_output, export_backbone

BACKEND = keras.backend.backend()
_ONNX_CONVERTER = {"tensorflow": "tf2onnx", "jax": "jax2onnx"}.get(BACKEND, "torch")


def _missing(*modules: str) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def _skip_unless_exportable(format: str) -> None:
    if format not in BACKEND_FORMATS[BACKEND]:
        pytest.skip(f"Keras cannot export {format} on {BACKEND} (test_backend_without_a_format_names_the_fix)")
    needed = {"onnx": [_ONNX_CONVERTER, "onnxruntime"], "keras_hub": ["keras_hub"],
              "litert": ["litert_torch"] if BACKEND == "torch" else []}.get(format, [])
    missing = _missing(*needed)
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (the extras export / hub; jax2onnx on JAX; litert-torch on torch)")


def _encoder():
    return ConvNet(width=0.125, input_shape=(16, 16, 3), base_channels=8)


@pytest.mark.parametrize("format", [f for f in FORMATS if f != "keras_hub"])
def test_each_format_loads_and_matches_the_keras_model(format, tmp_path):
    _skip_unless_exportable(format)
    model = _encoder()
    out = str(tmp_path / ("backbone" + {"keras": ".keras", "onnx": ".onnx", "litert": ".tflite"}.get(format, "_sm")))
    path = export_backbone(model, format, out=out)
    assert os.path.exists(path)
    result = check_export(model, path, format, batch_size=3)
    assert result["ok"] and result["shape"] == [3, 8], result


@pytest.mark.parametrize("format", ["saved_model", "onnx", "litert"])
def test_keras_hub_vit_exports_and_matches(format, tmp_path):
    """A transformer (GELU, position ids held as constants) through each deployment format."""
    if BACKEND != "tensorflow":
        pytest.skip("one backend is enough for the KerasHub variant; the ConvNet test covers both")
    _skip_unless_exportable(format)
    if _missing("keras_hub"):
        pytest.skip("needs keras_hub (pip install 'kerascl[hub]')")
    from kerascl.backbones import from_keras_hub
    from tests import hub_helpers

    encoder = from_keras_hub(hub_helpers.vit(image_size=16), pooling="cls")
    out = str(tmp_path / ("vit" + {"onnx": ".onnx", "litert": ".tflite"}.get(format, "_sm")))
    path = export_backbone(encoder, format, out=out)
    result = check_export(encoder, path, format)
    assert result["ok"], result


def test_backend_without_a_format_names_the_fix(tmp_path):
    missing = [f for f in FORMATS if f not in BACKEND_FORMATS[BACKEND]]
    if not missing:
        pytest.skip(f"{BACKEND} exports every format")
    with pytest.raises(ValueError, match="export it on TensorFlow.*kerascl export SOURCE --format"):
        export_backbone(_encoder(), missing[0], out=str(tmp_path / "x.tflite"))


def test_keras_hub_format_refuses_kerascl_backbones(tmp_path):
    if _missing("keras_hub"):
        pytest.skip("needs keras_hub")
    with pytest.raises(TypeError, match="--format keras"):
        export_backbone(_encoder(), "keras_hub", out=str(tmp_path / "preset"))


def test_missing_packages_say_how_to_install(tmp_path, monkeypatch):
    if BACKEND == "torch":
        pytest.skip("torch exports ONNX with torch itself")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == _ONNX_CONVERTER else real(name, *args))
    hint = r"pip install \"kerascl\[export\]\"" if BACKEND == "tensorflow" else "pip install jax2onnx"
    with pytest.raises(ImportError, match=hint):
        export_backbone(_encoder(), "onnx", out=str(tmp_path / "x.onnx"))
    monkeypatch.setitem(sys.modules, "keras_hub", None)
    from kerascl.backbones import from_keras_hub

    with pytest.raises(ImportError, match=r"pip install \"kerascl\[hub\]\""):
        from_keras_hub("some_preset")


def test_default_outputs():
    assert default_output("model.keras", "onnx") == "model.onnx"
    assert default_output("model.keras", "keras") == "model_export.keras"
    assert default_output("preset_dir", "litert") == "preset_dir.tflite"


def _run_dir(tmp_path) -> str:
    run = tmp_path / "run"
    run.mkdir()
    _encoder().save(str(run / "backbone.keras"))
    return str(run)


def test_cli_exports_a_run_folder_and_checks_it(tmp_path):
    run = _run_dir(tmp_path)
    format = "saved_model" if "saved_model" in BACKEND_FORMATS[BACKEND] else "keras"
    args = ["export", run, "--format", format, "--backend", BACKEND]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    expected = os.path.join(run, "export", "backbone" + {"keras": ".keras"}.get(format, "_saved_model"))
    assert f"Exported {format}: {expected}" in result.output and os.path.exists(expected)
    assert "largest difference from the source model" in result.output
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert CliRunner().invoke(main, args + ["--overwrite", "--no-check"]).exit_code == 0


def test_cli_refuses_what_is_not_a_backbone(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["export", str(tmp_path / "empty"), "--backend", BACKEND])
    assert result.exit_code == 1 and "backbone.keras" in result.output and "KerasHub preset" in result.output
    bogus = tmp_path / "notes.keras"
    bogus.write_text("not a model")
    result = CliRunner().invoke(main, ["export", str(bogus), "--backend", BACKEND])
    assert result.exit_code == 1 and "not a Keras archive" in result.output


def test_exported_batch_size_may_vary(tmp_path):
    _skip_unless_exportable("onnx")
    from kerascl.export import load_exported

    model = _encoder()
    path = export_backbone(model, "onnx", out=str(tmp_path / "m.onnx"))
    run = load_exported(path, "onnx")
    for n in (1, 5):
        images = np.random.default_rng(n).random((n, 16, 16, 3), dtype=np.float32)
        np.testing.assert_allclose(run(images), keras.ops.convert_to_numpy(model(images)), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(BACKEND != "jax", reason="shows the default --backend tensorflow taking over from JAX")
def test_cli_exports_litert_from_a_jax_run_on_tensorflow(tmp_path):
    import subprocess

    run = _run_dir(tmp_path)  # saved by this JAX process
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-m", "kerascl.cli", "export", run, "--format", "litert"],
                          capture_output=True, text=True, env=env, cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Exported litert" in done.stdout and "largest difference" in done.stdout
    assert os.path.exists(os.path.join(run, "export", "backbone.tflite"))
