"""Run folders through `run_recipe` and the CLI: a failed or different rerun keeps the finished results, a second
run into a locked folder stops at once, an interrupted run resumes only with its settings, and probes stopped after
training resume without training again. Tiny shapes runs (1-2 epochs, 32 images), on each backend."""

import json
import os
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

import kerascl.callbacks
import kerascl.probes
from kerascl.cli import main
from kerascl.recipe import get_recipe
from kerascl.recipe_runner import run_recipe
from kerascl.run_folder import RunFolderBusy, RunFolderError, read_json, write_json_atomic
from tests.recipe_helpers import tiny_sets

NAME = "shapes-partitioned"
RESULTS = ("config.json", "history.csv", "metrics.json", "backbone.keras", "curves.png", "embedding.png")


def _recipe(*sets):
    recipe = get_recipe(NAME)
    return recipe.with_overrides(sets=tiny_sets(recipe) + ["separability=false", *sets])


def _snapshot(folder):
    return {name: (folder / name).read_bytes() for name in RESULTS}


def _interrupt_after_first_epoch(monkeypatch):
    """Makes the next run's `fit` stop with a KeyboardInterrupt once epoch 1 is backed up and logged."""
    import keras

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    original = kerascl.callbacks.default_callbacks
    monkeypatch.setattr(kerascl.callbacks, "default_callbacks",
                        lambda *args, **kwargs: original(*args, **kwargs) + [StopAfterFirstEpoch()])


@pytest.mark.slow
@pytest.mark.one_backend
def test_failed_or_different_rerun_keeps_the_finished_results(tmp_path, capsys):
    out = tmp_path / "run"
    first = run_recipe(_recipe(), out, print_table=False)
    before = _snapshot(out)

    result = CliRunner().invoke(main, ["recipe", NAME, "--out", str(out), "--batch-size", "5000"]
                                + [arg for item in tiny_sets(get_recipe(NAME)) + ["separability=false"]
                                   if not item.startswith("batch_size=") for arg in ("--set", item)])
    assert result.exit_code != 0
    assert "batch_size: 16 -> 5000" in result.output and "--force" in result.output
    assert _snapshot(out) == before

    with pytest.raises(ValueError, match="32 example.*batch_size=5000"):
        run_recipe(_recipe("batch_size=5000"), out, print_table=False, force=True)
    assert "finished results in" in capsys.readouterr().out
    assert _snapshot(out) == before and read_json(out / "state.json")["stage"] == "complete"

    reused = run_recipe(_recipe(), out, print_table=False)  # same settings: reused, the failed rerun cleared
    assert reused.model is None and reused.metrics == first.metrics
    assert "reusing its results" in capsys.readouterr().out
    assert not (out / "rerun").exists() and _snapshot(out) == before

    rerun = run_recipe(_recipe("width=0.25"), out, print_table=False, force=True)
    assert rerun.run_dir == str(out) and not (out / "rerun").exists()
    assert read_json(out / "config.json")["config"]["width"] == 0.25
    assert read_json(out / "metrics.json") == json.loads(json.dumps(rerun.metrics, default=str))
    assert sorted(os.listdir(out)) == sorted(RESULTS + ("content_style.png", "state.json"))


@pytest.mark.slow
@pytest.mark.one_backend
def test_interrupted_probes_resume_without_training(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(kerascl.probes, "probes_on_features", stop)
        with pytest.raises(KeyboardInterrupt):
            run_recipe(_recipe(), out, print_table=False)
    assert "keeps the finished training" in capsys.readouterr().out
    assert read_json(out / "state.json")["stage"] == "pretrained"
    assert (out / "backbone.keras").exists() and (out / "pretrained.weights.h5").exists()
    assert not (out / "metrics.json").exists() and not (out / "run.lock").exists()
    history = (out / "history.csv").read_bytes()

    def no_training(*args, **kwargs):
        raise AssertionError("the rerun set up training again")

    monkeypatch.setattr(kerascl.callbacks, "default_callbacks", no_training)
    result = run_recipe(_recipe("linear_epochs=3"), out, print_table=False)  # a probe setting may change
    assert "without training again" in capsys.readouterr().out
    metrics = result.metrics
    assert metrics["epochs_this_session"] == 0 and metrics["resumed_from_epoch"] == 1
    assert "loss" in metrics["final"] and metrics["timing"]["pretrain_seconds"] > 0  # from the training session
    assert read_json(out / "config.json")["config"]["linear_epochs"] == 3
    assert (out / "history.csv").read_bytes() == history
    assert not (out / "pretrained.weights.h5").exists() and read_json(out / "state.json")["stage"] == "complete"


@pytest.mark.slow
@pytest.mark.one_backend
def test_resume_refuses_other_settings_and_continues_with_the_same(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        _interrupt_after_first_epoch(patch)
        with pytest.raises(KeyboardInterrupt):
            run_recipe(_recipe("epochs=2"), out, print_table=False)
    assert "keeps the last finished epoch" in capsys.readouterr().out
    assert read_json(out / "backup" / "training_metadata.json")["epoch"] == 1

    for change, line in (("width=0.25", "width: 0.125 -> 0.25"), ("learning_rate=0.5", "learning_rate: ")):
        with pytest.raises(RunFolderError) as error:
            run_recipe(_recipe("epochs=2", change), out, print_table=False, resume=True)
        assert line in str(error.value) and "--force" in str(error.value)
    assert read_json(out / "config.json")["config"]["width"] == 0.125

    result = run_recipe(_recipe("epochs=2"), out, print_table=False, resume=True)
    assert result.metrics["resumed_from_epoch"] == 1 and result.metrics["epochs_this_session"] == 1
    rows = (out / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 3 and rows[1].startswith("0,") and rows[2].startswith("1,")
    assert not (out / "backup").exists()


@pytest.mark.slow
def test_a_second_run_into_a_locked_folder_stops_at_once(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        os.makedirs(out)
        write_json_atomic(out / "run.lock", {"pid": holder.pid, "host": socket.gethostname(),
                                             "started": "2026-01-01T00:00:00+00:00", "command": "kerascl recipe x"})
        with pytest.raises(RunFolderBusy, match=f"pid {holder.pid}"):
            run_recipe(_recipe(), out, print_table=False)
        result = CliRunner().invoke(main, ["recipe", NAME, "--out", str(out), "--epochs", "1"])
        assert result.exit_code != 0 and f"pid {holder.pid}" in result.output and "--out" in result.output
        assert os.listdir(out) == ["run.lock"]  # refused before writing anything
    finally:
        holder.kill()
        holder.wait()


def test_force_and_resume_exclude_each_other():
    for command in (["recipe", NAME], ["compare", NAME, NAME]):
        result = CliRunner().invoke(main, command + ["--force", "--resume"])
        assert result.exit_code != 0 and "not both" in result.output
    result = CliRunner().invoke(main, ["recipe", "--help"])
    assert "--force" in result.output and "--resume" in result.output
