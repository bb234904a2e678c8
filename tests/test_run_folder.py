"""The run-folder rules (`kerascl.run_folder`) on hand-made folders: atomic writes, the lock, the settings check,
the staged rerun. No training here; `tests/test_run_folder_recipe.py` runs them through `run_recipe`."""

import json
import os
import socket
import subprocess
import sys

import pytest

from kerascl import run_folder
from kerascl.run_folder import (RunFolderBusy, RunFolderError, RunLock, align_history, atomic_path, inspect_folder,
                                plan_run, publish, run_settings, settings_diff, write_json_atomic)


def _resolved(**config):
    return {"recipe": "demo", "method": "BYOL", "description": "d", "source": "s",
            "config": {"width": 0.125, "learning_rate": 0.1, "linear_epochs": 2, "verbose": 0, **config},
            "options": {"partition": {"size": 0.25}}}


def _settings(**config):
    return run_settings(_resolved(**config), "jax")


def _write_run(folder, stage, files=("history.csv",), backup=False, **config):
    os.makedirs(folder, exist_ok=True)
    write_json_atomic(os.path.join(folder, "config.json"), {**_resolved(**config), "backend": "jax"})
    write_json_atomic(os.path.join(folder, "state.json"), {"stage": stage})
    for name in files:
        with open(os.path.join(folder, name), "w") as handle:
            handle.write(f"old {name}\n")
    if stage == "complete":
        write_json_atomic(os.path.join(folder, "metrics.json"), {"files": {"history": "history.csv"}})
    if stage == "pretrained":
        with open(os.path.join(folder, "pretrained.weights.h5"), "wb") as handle:
            handle.write(b"weights")
    if backup:
        os.makedirs(os.path.join(folder, "backup"))
        write_json_atomic(os.path.join(folder, "backup", "training_metadata.json"), {"epoch": 1, "batch": 0})


def _sleeper():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


# ------------------------------------------------------------------------------------------------------- atomic
def test_atomic_path_replaces_on_success_and_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert os.path.dirname(tmp) == str(tmp_path) and tmp.endswith(".json")
            with open(tmp, "w") as handle:
                handle.write("half")
            raise RuntimeError("killed while writing")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["metrics.json"]  # no temporary file left
    write_json_atomic(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1} and os.listdir(tmp_path) == ["metrics.json"]
    with atomic_path(tmp_path / "pretrained.weights.h5") as tmp:
        assert tmp.endswith(".weights.h5")  # Keras's save_weights insists on this suffix
        open(tmp, "wb").close()
    assert sorted(os.listdir(tmp_path)) == ["metrics.json", "pretrained.weights.h5"]


# --------------------------------------------------------------------------------------------------------- lock
def test_lock_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path, capsys):
    holder = _sleeper()
    try:
        write_json_atomic(tmp_path / "run.lock", {"pid": holder.pid, "host": socket.gethostname(),
                                                  "started": "2026-01-01T00:00:00+00:00",
                                                  "command": "kerascl recipe x"})
        with pytest.raises(RunFolderBusy) as error:
            RunLock(tmp_path).acquire()
        message = str(error.value)
        assert f"pid {holder.pid}" in message and "kerascl recipe x" in message
        assert "--out" in message and "run.lock" in message
    finally:
        holder.kill()
        holder.wait()
    with RunLock(tmp_path) as lock:  # the holder is gone: stale
        assert "stale lock" in lock.note and str(holder.pid) in lock.note
        assert json.loads((tmp_path / "run.lock").read_text())["pid"] == os.getpid()
        with pytest.raises(RunFolderBusy):  # held by this process: a second run in it is refused too
            RunLock(tmp_path).acquire()
    assert not (tmp_path / "run.lock").exists()
    assert "stale lock" in capsys.readouterr().out


def test_lock_of_another_host_or_unreadable_is_not_taken(tmp_path):
    write_json_atomic(tmp_path / "run.lock", {"pid": 1, "host": "elsewhere.example"})
    with pytest.raises(RunFolderBusy, match="elsewhere.example"):
        RunLock(tmp_path).acquire()
    (tmp_path / "run.lock").write_text("")
    with pytest.raises(RunFolderBusy, match="cannot be read"):
        RunLock(tmp_path).acquire()


# ----------------------------------------------------------------------------------------------------- settings
def test_settings_diff_lists_changed_keys_as_set_names():
    old, new = _settings(), _settings(width=0.25, verbose=1)
    new["partition.size"] = 0.5
    rows = settings_diff(old, new)
    assert rows == [("partition.size", 0.25, 0.5), ("width", 0.125, 0.25)]  # verbose never counts
    assert "width: 0.125 -> 0.25" in run_folder.format_diff(rows)
    assert settings_diff(old, {**old, "backend": "tensorflow"}) == [("backend", "jax", "tensorflow")]
    # A setting added since the old run, left unset (None), is no difference; set, it is.
    assert settings_diff(old, {**old, "eval_dir": None}) == []
    assert settings_diff(old, {**old, "eval_dir": "labeled/"}) == [("eval_dir", "(unset)", "labeled/")]


# --------------------------------------------------------------------------------------------------------- plan
def test_empty_folder_runs_fresh_and_resume_needs_something(tmp_path):
    assert plan_run(tmp_path / "new", _settings()).action == "fresh"
    with pytest.raises(RunFolderError, match="no interrupted run.*Drop --resume"):
        plan_run(tmp_path / "new", _settings(), resume=True)
    with pytest.raises(RunFolderError, match="not both"):
        plan_run(tmp_path / "new", _settings(), force=True, resume=True)


def test_finished_run_is_reused_refused_or_rerun_in_a_staging_folder(tmp_path):
    _write_run(tmp_path, "complete")
    plan = plan_run(tmp_path, _settings())
    assert plan.action == "reuse" and "--force" in plan.notes[0]
    with pytest.raises(RunFolderError) as error:
        plan_run(tmp_path, _settings(learning_rate=0.5))
    assert "learning_rate: 0.1 -> 0.5" in str(error.value) and "--force" in str(error.value)
    plan = plan_run(tmp_path, _settings(learning_rate=0.5), force=True)
    assert plan.action == "fresh" and plan.staged and plan.work_dir == str(tmp_path / "rerun")
    assert (tmp_path / "history.csv").read_text() == "old history.csv\n"  # untouched until the rerun finishes


def test_interrupted_run_resumes_only_with_its_settings(tmp_path):
    _write_run(tmp_path, "training", backup=True)
    plan = plan_run(tmp_path, _settings(verbose=1))
    assert plan.action == "resume" and "epoch 1" in plan.notes[0]
    assert plan_run(tmp_path, _settings(), resume=True).action == "resume"
    for change, line in (({"width": 0.25}, "width: 0.125 -> 0.25"), ({"learning_rate": 1.0}, "learning_rate")):
        with pytest.raises(RunFolderError) as error:
            plan_run(tmp_path, _settings(**change), resume=True)
        assert line in str(error.value) and "--force" in str(error.value) and "its own settings" in str(error.value)
    plan = plan_run(tmp_path, _settings(width=0.25), force=True)
    assert plan.action == "fresh" and not plan.staged
    assert not (tmp_path / "backup").exists() and not (tmp_path / "history.csv").exists()


def test_backup_without_config_is_not_resumed(tmp_path):
    os.makedirs(tmp_path / "backup")
    (tmp_path / "backup" / "latest.weights.h5").write_bytes(b"someone else's")
    with pytest.raises(RunFolderError, match="no config.json"):
        plan_run(tmp_path, _settings())
    assert plan_run(tmp_path, _settings(), force=True).action == "fresh" and not (tmp_path / "backup").exists()


def test_unfinished_run_without_progress_is_replaced(tmp_path):
    _write_run(tmp_path, "training")  # stopped before its first epoch: nothing to keep
    assert plan_run(tmp_path, _settings(batch_size=8)).action == "fresh"


def test_pretrained_run_runs_probes_and_accepts_new_probe_settings(tmp_path):
    _write_run(tmp_path, "pretrained")
    plan = plan_run(tmp_path, _settings(linear_epochs=5))
    assert plan.action == "probes" and "linear_epochs: 2 -> 5" in plan.notes[0]
    with pytest.raises(RunFolderError, match="width"):
        plan_run(tmp_path, _settings(width=1.0))


def test_folder_written_before_state_json_is_understood(tmp_path):
    _write_run(tmp_path, "complete")
    os.remove(tmp_path / "state.json")
    assert inspect_folder(str(tmp_path)).kind == "complete"


def test_publish_replaces_results_and_a_half_done_publish_is_finished(tmp_path):
    _write_run(tmp_path, "complete", files=("history.csv", "old_only.png"))
    write_json_atomic(tmp_path / "metrics.json", {"files": {"history": "history.csv", "extra": "old_only.png"}})
    plan = plan_run(tmp_path, _settings(width=0.5), force=True)
    _write_run(plan.work_dir, "complete", width=0.5)
    (tmp_path / "rerun" / "history.csv").write_text("new\n")
    os.replace(tmp_path / "rerun" / "history.csv", tmp_path / "history.csv")  # stopped after one file moved
    assert plan_run(tmp_path, _settings(width=0.5)).action == "reuse"  # the next run finishes the publish
    assert not (tmp_path / "rerun").exists() and not (tmp_path / "old_only.png").exists()
    assert json.loads((tmp_path / "config.json").read_text())["config"]["width"] == 0.5
    publish(plan)  # nothing staged any more: no-op


def test_align_history_drops_partial_and_extra_rows(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\r\n0,1.0\r\n1,0.9\r\n2,0.")
    assert "cut" in align_history(str(path), 2)
    assert path.read_bytes() == b"epoch,loss\r\n0,1.0\r\n1,0.9\r\n"  # CSVLogger's line ends kept
    assert align_history(str(path), 2) is None
    assert "holds 2 of the 3" in align_history(str(path), 3)
