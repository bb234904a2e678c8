"""The `kerascl` command line, through click's CliRunner (and a subprocess for import-cost checks)."""

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from kerascl.cli import main
from tests.recipe_helpers import TINY_SETS, make_image_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_help_is_fast_and_imports_no_framework():
    code = ("import sys; from click.testing import CliRunner; from kerascl.cli import main; "
            "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0, r.output; "
            "r = CliRunner().invoke(main, ['recipe', '--help']); assert r.exit_code == 0, r.output; "
            "print('tensorflow' in sys.modules, 'jax' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False", "False"]


def test_recipes_lists_names_with_descriptions():
    result = _invoke("recipes")
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    names = [line.split()[0] for line in lines]
    assert "shapes-partitioned" in names and "cifar10-byol" in names
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)


def test_unknown_recipe_gets_suggestions():
    result = CliRunner().invoke(main, ["recipe", "shapes-partitoned"])
    assert result.exit_code != 0
    assert "Did you mean 'shapes-partitioned'" in result.output


def test_bad_set_is_reported():
    result = CliRunner().invoke(main, ["recipe", "shapes-partitioned", "--set", "epochs"])
    assert result.exit_code != 0 and "KEY=VALUE" in result.output
    result = CliRunner().invoke(main, ["recipe", "shapes-partitioned", "--set", "widht=0.5"])
    assert result.exit_code != 0 and "Did you mean 'width'" in result.output


def test_cifar_recipe_needs_data_dir_offline(tmp_path):
    result = CliRunner().invoke(main, ["recipe", "cifar10-byol", "--data-dir", str(tmp_path / "missing"),
                                       "--out", str(tmp_path / "run")])
    assert result.exit_code != 0
    assert "--data-dir" in result.output and "train/<class>" in result.output


@pytest.mark.slow
@pytest.mark.one_backend
def test_recipe_then_probe_on_its_backbone(tmp_path):
    out = tmp_path / "run"
    args = ["recipe", "shapes-partitioned", "--epochs", "1", "--limit", "32", "--batch-size", "16", "--seed", "1",
            "--probe-limit", "15", "--out", str(out)]
    for item in TINY_SETS + ["hidden_dim=32", "prediction_hidden_dim=32", "projection_dim=16"]:
        if not item.startswith(("epochs=", "limit=", "batch_size=", "probe_test_limit=")):
            args += ["--set", item]
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    assert "| separability | class_acc_content |" in result.output
    # the plan, a line per stage, and every accuracy beside its floors
    assert "Plan of shapes-partitioned" in result.output
    for stage in ("pretraining", "kNN probe", "linear probe", "floor probes (raw pixels)", "separability probe"):
        assert f"[stage] {stage}: done in" in result.output, stage
    assert "| probe | metric | trained | random init | raw pixels |" in result.output
    assert "| separability | class_acc_content |" in result.output
    with open(out / "metrics.json") as handle:
        metrics = json.load(handle)
    assert metrics["batch_size"] == 16 and metrics["train_images"] == 32
    assert metrics["probe_test_images"] == 15 and metrics["probes"]["knn"]["num_test"] == 15
    for floor in ("random_init", "raw_pixels"):
        assert 0.0 <= metrics["floors"][floor]["knn"]["top1"] <= 1.0
        assert metrics["floors"][floor]["knn"]["num_test"] == 15
        assert "top1" in metrics["floors"][floor]["linear"]
    assert metrics["timing"]["stages"]["pretraining"] > 0
    with open(out / "config.json") as handle:
        assert json.load(handle)["config"]["seed"] == 1

    folder = make_image_folder(str(tmp_path / "images"))
    report = tmp_path / "probe.json"
    result = _invoke("probe", str(out / "backbone.keras"), "--data-dir", folder, "--linear-epochs", "2",
                     "--no-robustness", "--color", "--out", str(report))
    assert result.exit_code == 0, result.output
    assert "| knn | top1 |" in result.output and "| linear | top1 |" in result.output
    assert "| color | hue |" in result.output and "colour-sensitivity probe" in result.output
    assert "| probe | metric | trained | random init | raw pixels |" in result.output
    with open(report) as handle:
        written = json.load(handle)
    assert 0.0 <= written["probes"]["linear"]["top1"] <= 1.0
    assert 0.0 <= written["floors"]["raw_pixels"]["knn"]["top1"] <= 1.0
    assert "top1" in written["floors"]["random_init"]["knn"]
    assert set(written["probes"]["color"]) == set(written["floors"]["raw_pixels"]["color"]) >= {"hue", "mean"}


def test_probe_reports_a_missing_test_split(tmp_path):
    pytest.importorskip("PIL")
    folder = make_image_folder(str(tmp_path / "images"), train_per_class=2, test_per_class=1)
    import shutil

    shutil.rmtree(os.path.join(folder, "test"))
    backbone = tmp_path / "b.keras"
    backbone.write_bytes(b"")
    result = CliRunner().invoke(main, ["probe", str(backbone), "--data-dir", folder])
    assert result.exit_code != 0
    assert "no 'test' subfolder" in result.output


def test_probe_color_on_too_few_test_images_fails_before_probing(tmp_path):
    pytest.importorskip("PIL")
    from tests.helpers import tiny_backbone

    folder = make_image_folder(str(tmp_path / "images"), train_per_class=2, test_per_class=1)
    backbone = tmp_path / "b.keras"
    tiny_backbone(image_size=32).save(backbone)
    result = CliRunner().invoke(main, ["probe", str(backbone), "--data-dir", folder, "--color"])
    assert result.exit_code != 0
    assert "needs at least 10 test images" in result.output and "--test-limit" in result.output
    assert "kNN probe" not in result.output  # stopped before any probe ran


def test_devices_must_be_positive():
    result = CliRunner().invoke(main, ["recipe", "shapes-partitioned", "--devices", "0"])
    assert result.exit_code != 0 and "--devices" in result.output


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "torch", reason="the torch backend's one-device limit")
def test_torch_refuses_more_than_one_device(tmp_path):
    result = CliRunner().invoke(main, ["recipe", "shapes-partitioned", "--devices", "2", "--epochs", "1", "--limit",
                                       "32", "--batch-size", "16", "--out", str(tmp_path / "run")])
    assert result.exit_code != 0 and "one device only" in result.output, result.output


def test_a_seed_on_the_command_line_makes_the_run_replayable():
    from kerascl.cli import _configured

    def deterministic(**options):
        settings = dict(data_dir=None, epochs=None, batch_size=None, limit=None, seed=None, sets=())
        settings.update(options)
        return _configured("shapes-partitioned", **settings).config.deterministic

    assert deterministic() is False  # no seed: the fast default
    assert deterministic(seed=3) is True
    assert deterministic(seed=3, deterministic=False) is False  # --seed 3 --no-deterministic
    assert deterministic(deterministic=True) is True
    result = CliRunner().invoke(main, ["recipe", "--help"])
    assert "--no-deterministic" in result.output
