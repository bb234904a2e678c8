"""Checks of the time-to-accuracy benchmark that need no CIFAR-10: its curve/floor summary, plot, input check, the
`TrainingTimeLimit` callback it shares with recipe runs, and the one-hour recipes' pinned settings."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.script_helpers import REPO, load_script, script_path

SCRIPT = script_path("time_to_accuracy.py")


def _script():
    return load_script("time_to_accuracy.py")


def _rows():
    rows = [{"event": "floor", "floor": "raw_pixels", "seed": 1, "knn_top1": 0.30},
            {"event": "floor", "floor": "raw_pixels", "seed": 2, "knn_top1": 0.32}]
    for seed, scale in ((1, 1.0), (2, 1.1)):
        for library in ("kerascl (tensorflow)", "lightly"):
            for step, minute in enumerate((0, 5, 10)):
                rows.append({"event": "checkpoint", "library": library, "recipe": "cifar10-byol-1h", "seed": seed,
                             "step": step * 100, "train_seconds": minute * 60.0,
                             "knn_top1": 0.27 + 0.01 * minute * scale})
    return rows


def test_curves_and_floors_from_rows():
    script = _script()
    rows = _rows()
    curves = script.curves(rows)
    assert sorted(curves) == ["kerascl (tensorflow)", "lightly"]
    assert [len(run) for run in curves["lightly"]] == [3, 3]
    assert curves["lightly"][1][-1] == pytest.approx((10.0, 0.27 + 0.11))
    floors = script.floors(rows)
    assert floors["raw pixels"] == pytest.approx(0.31)
    assert floors["random init (lightly)"] == pytest.approx(0.27)


def test_labels_tell_apart_two_result_files_of_one_library(tmp_path):
    script = _script()
    paths = []
    for name, scale in (("a", 1.0), ("b", 2.0)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({**row, "knn_top1": row["knn_top1"] * scale}) + "\n"
                                for row in _rows() if row.get("library") in (None, "kerascl (tensorflow)")))
        paths.append(str(path))
    assert sorted(script.curves(script.read_results(paths))) == ["kerascl (tensorflow)"]  # merged: ambiguous
    rows = script.read_results(paths, ["run A", "run B"])
    curves = script.curves(rows)
    assert sorted(curves) == ["run A", "run B"]
    assert curves["run B"][0][-1][1] == pytest.approx(2 * curves["run A"][0][-1][1])
    assert sum(row["event"] == "floor" for row in rows) == 4  # rows without a library are kept as they are
    assert sorted(script.curves(script.read_results(paths, ["-", "run B"]))) == ["kerascl (tensorflow)", "run B"]
    result = subprocess.run([sys.executable, SCRIPT, "--from-results", *paths, "--labels", "only one",
                             "--plot", str(tmp_path / "p.png")], capture_output=True, text=True)
    assert result.returncode != 0 and "one label per --from-results file" in result.stderr


def test_runs_with_one_floor_share_one_floor_line():
    script = _script()
    rows = _rows()
    shared = [{**row, "library": "run B"} for row in rows if row.get("library") == "lightly"]
    lines = dict(script.floor_lines([row for row in rows if row.get("library") != "kerascl (tensorflow)"] + shared))
    assert lines == {"raw pixels": pytest.approx(0.31), "random init": pytest.approx(0.27)}
    moved = [{**row, "knn_top1": 0.25} if row.get("step") == 0 else row for row in shared]
    lines = dict(script.floor_lines([row for row in rows if row.get("library") == "lightly"] + moved))
    assert lines == {"random init (lightly)": pytest.approx(0.27), "random init (run B)": pytest.approx(0.25)}
    # A random-init floor equal to the raw-pixel floor keeps both lines.
    level = [{**row, "knn_top1": 0.31} if row.get("step") == 0 else row for row in rows
             if row.get("library") != "kerascl (tensorflow)"]
    assert dict(script.floor_lines(level)) == {"random init (lightly)": pytest.approx(0.31),
                                               "raw pixels": pytest.approx(0.31)}


def test_plot_is_written(tmp_path):
    path = _script().plot_curves(_rows(), str(tmp_path / "curve.png"))
    assert os.path.getsize(path) > 1000


def test_training_clock_excludes_evaluation():
    clock = _script().TrainingClock()
    clock.exclude(5.0)
    assert clock.elapsed() < 0  # just started, 5 s excluded


def test_missing_data_dir_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, SCRIPT, "--data-dir", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "--data-dir" in result.stderr and "train/" in result.stderr


def test_from_results_replots(tmp_path):
    results = tmp_path / "rows.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    result = subprocess.run([sys.executable, SCRIPT, "--from-results", str(results), "--plot",
                             str(tmp_path / "p.png")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "p.png").exists()


def test_paired_differences_mean_and_standard_error_over_seeds():
    script = _script()
    rows = _rows()
    for row in rows:  # lightly 1 point lower on seed 1 and 3 points lower on seed 2; checkpoints a few s off the grid
        if row.get("library") == "lightly":
            row["knn_top1"] -= 0.01 if row["seed"] == 1 else 0.03
            row["train_seconds"] += 4.0
    table = script.paired_differences(rows, "kerascl (tensorflow)", "lightly", every=5)
    assert [entry["minute"] for entry in table] == [0, 5, 10]
    for entry in table:
        assert entry["seeds"] == [1, 2]
        np.testing.assert_allclose(entry["differences"], [0.01, 0.03], atol=1e-12)
        assert entry["mean"] == pytest.approx(0.02) and entry["se"] == pytest.approx(0.01)
    single = script.paired_differences([r for r in rows if r.get("seed") != 2], "kerascl (tensorflow)", "lightly")
    assert single[0]["se"] is None
    text = script.format_paired(table, "kerascl (tensorflow)", "lightly")
    assert "| 5 | 1, 2 | +1.0, +3.0 | +2.0 | 1.0 |" in text


def _model_with_tracked_schedule(total_steps: int):
    """A tiny compiled model whose cosine schedule keeps its plan in an optimizer variable, as recipes set it up."""
    import keras

    from kerascl.optimizers import WarmupCosineDecay

    schedule = WarmupCosineDecay(peak=0.1, total_steps=total_steps)
    optimizer = keras.optimizers.SGD(schedule)
    variable = schedule.track_total_steps(optimizer)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model, schedule, variable


def test_training_time_limit_stops_fit():
    import keras

    from kerascl.callbacks import TrainingTimeLimit

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    limit = TrainingTimeLimit(max_minutes=1e-9)
    history = model.fit(np.ones((32, 4)), np.ones((32, 1)), batch_size=4, epochs=3, callbacks=[limit], verbose=0)
    assert limit.stopped_early
    assert len(history.epoch) == 1  # stopped inside the first epoch
    with pytest.raises(ValueError, match="max_train_minutes|max_minutes"):
        TrainingTimeLimit(0)
    with pytest.raises(ValueError, match="plan must be one of"):
        TrainingTimeLimit(1, plan="minutes")


@pytest.mark.parametrize("name", ["cifar10-byol-1h", "cifar10-simsiam-1h"])
def test_one_hour_recipes_probe_the_whole_split_with_a_time_limit(name):
    from kerascl.recipe import get_recipe

    config = get_recipe(name).config
    assert config.max_train_minutes == 60
    assert config.probe_train_limit is None and config.probe_test_limit is None
    assert config.width >= 0.25 and config.image_size == 32
    with pytest.raises(ValueError, match="max_train_minutes"):
        get_recipe(name).with_overrides(sets=["max_train_minutes=-1"])


def test_time_budget_shortens_the_schedule_to_whole_epochs(monkeypatch):
    """With a schedule, the budget is met at an epoch end and the cosine decay is shortened to end there."""
    import itertools

    import keras

    import kerascl.callbacks as callbacks_module
    from kerascl.callbacks import TrainingTimeLimit

    ticks = itertools.count()  # a fake clock: one second per reading, so the test does not depend on speed
    monkeypatch.setattr(callbacks_module, "_now", lambda: float(next(ticks)))
    steps, epochs = 4, 10
    model, schedule, variable = _model_with_tracked_schedule(steps * epochs)
    # Each epoch reads the clock 6 times (begin, 4 batches, end): 6 "seconds"; 0.5 minutes fit 4 epochs.
    limit = TrainingTimeLimit(max_minutes=0.5, schedule=schedule, steps_per_epoch=steps, plan="epochs")
    history = model.fit(np.ones((16, 4)), np.ones((16, 1)), batch_size=4, epochs=epochs, callbacks=[limit],
                        verbose=0, shuffle=False)
    assert limit.stopped_early and 1 < limit.epochs_run < epochs
    assert len(history.epoch) == limit.epochs_run
    assert float(keras.ops.convert_to_numpy(variable)) == steps * limit.epochs_run
    # The learning rate reached the end of its (shortened) cosine decay.
    assert float(keras.ops.convert_to_numpy(schedule(steps * limit.epochs_run))) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("plan", ["steps", "epochs"])
def test_time_budget_lengthens_a_plan_cut_short_by_a_slow_first_epoch(monkeypatch, plan):
    """The first epoch pays for compilation: a plan it shortened grows again once later epochs show more fit."""
    import keras

    import kerascl.callbacks as callbacks_module
    from kerascl.callbacks import TrainingTimeLimit

    readings = iter([0.0] + [10.0 * i for i in range(1, 7)] + [60.0 + i for i in range(1, 1000)])
    monkeypatch.setattr(callbacks_module, "_now", lambda: next(readings))  # epoch 1: 50 s, then 5 s each
    steps, epochs = 4, 30
    model, schedule, variable = _model_with_tracked_schedule(steps * epochs)
    limit = TrainingTimeLimit(max_minutes=3, schedule=schedule, steps_per_epoch=steps, plan=plan)
    plans = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: plans.append(limit.planned_steps))
    model.fit(np.ones((16, 4)), np.ones((16, 1)), batch_size=4, epochs=epochs, callbacks=[limit, record],
              verbose=0, shuffle=False)
    # After epoch 1 (50 s of a 180 s budget) three epochs (12.5 s a step: 9 more steps) fit; after epoch 2 (5 s)
    # about twenty more epochs do.
    assert plans[0] == (3 * steps if plan == "epochs" else 4 + 9) and plans[1] > 20 * steps
    # It ends at (or, when this clock's readings between epochs cost more than the margin, one epoch before) the
    # last plan, far beyond the first one.
    assert limit.stopped_early and plans[-1] - steps <= limit.steps_run <= plans[-1] < epochs * steps
    assert limit.steps_run > 20 * steps
    assert float(keras.ops.convert_to_numpy(variable)) == plans[-1]


def test_epochs_that_fit_shortens_lengthens_with_a_margin_and_stays_in_bounds():
    from kerascl.callbacks import epochs_that_fit

    # 100 s left at 30 s an epoch after one epoch: 1 + 3 epochs.
    assert epochs_that_fit(1, 100.0, 30.0, planned=13, asked=13) == 4
    # Never beyond the epochs asked for, never fewer than those run (even past the budget).
    assert epochs_that_fit(1, 1e6, 1.0, planned=13, asked=13) == 13
    assert epochs_that_fit(5, -50.0, 10.0, planned=13, asked=13) == 5
    # A plan cut short grows again only when the extra epochs fit with 5 % to spare: 3 epochs of 10 s fit 30 s
    # exactly, not with the margin, so the plan of 4 stays; 31.5 s leaves room for the margin.
    assert epochs_that_fit(1, 30.0, 10.0, planned=4, asked=13) == 4
    assert epochs_that_fit(1, 31.5, 10.0, planned=3, asked=13) == 4
    assert epochs_that_fit(1, 200.0, 10.0, planned=3, asked=13) == 13


def test_steps_that_fit_uses_the_budget_with_a_margin_and_stays_in_bounds():
    from kerascl.callbacks import steps_that_fit

    # 100 s left at 0.5 s a step with the 2 % margin: 100 // 0.51 = 196 more steps.
    assert steps_that_fit(400, 100.0, 0.5, asked=5200) == 596
    assert steps_that_fit(400, 100.0, 0.5, asked=5200, margin=1.0) == 600
    # Never beyond the steps asked for, never fewer than those run (even past the budget).
    assert steps_that_fit(400, 1e6, 0.5, asked=5200) == 5200
    assert steps_that_fit(400, -30.0, 0.5, asked=5200) == 400


@pytest.mark.parametrize("plan", ["steps", "epochs"])
def test_time_budget_reads_the_clock_it_is_given(plan):
    """A clock that leaves pauses out (the benchmark's evaluations) decides the plan, not wall-clock."""
    import keras

    from kerascl.callbacks import TrainingTimeLimit

    now = [0.0]

    class Tick(keras.callbacks.Callback):  # each batch takes 2 "seconds" of the given clock
        def on_train_batch_end(self, batch, logs=None):
            now[0] += 2.0

    steps, epochs = 4, 10
    model, schedule, variable = _model_with_tracked_schedule(steps * epochs)
    limit = TrainingTimeLimit(max_minutes=0.5, schedule=schedule, steps_per_epoch=steps, clock=lambda: now[0],
                              plan=plan)
    history = model.fit(np.ones((16, 4)), np.ones((16, 1)), batch_size=4, epochs=epochs, callbacks=[Tick(), limit],
                        verbose=0, shuffle=False)
    if plan == "epochs":
        # 8 s an epoch on the given clock, a 30 s budget: after epoch 1, 1 + 22 // 8 = 3 epochs fit.
        assert limit.planned_epochs == 3 and limit.epochs_run == 3 and limit.steps_run == 12
        assert limit.seconds == pytest.approx(24.0)
    else:
        # 2 s a step: after epoch 1, 4 + 22 // 2.04 = 14 steps fit, and the plans after epochs 2 and 3 agree; the
        # run stops inside epoch 4, after its second step, with 2 of the 30 s left instead of 6.
        assert limit.planned_steps == 14 and limit.steps_run == 14 and limit.planned_epochs == 4
        assert limit.epochs_run == len(history.epoch) == 4
        assert limit.seconds == pytest.approx(28.0)
    assert limit.stopped_early
    assert float(keras.ops.convert_to_numpy(variable)) == limit.steps_run
    # The learning rate reached the end of its (shortened) cosine decay.
    assert float(keras.ops.convert_to_numpy(schedule(limit.steps_run))) == pytest.approx(0.0, abs=1e-7)


def test_time_budget_changes_nothing_when_the_plan_fits():
    import keras

    from kerascl.callbacks import TrainingTimeLimit

    model, schedule, variable = _model_with_tracked_schedule(8)
    limit = TrainingTimeLimit(max_minutes=60, schedule=schedule, steps_per_epoch=4)
    model.fit(np.ones((16, 4)), np.ones((16, 1)), batch_size=4, epochs=2, callbacks=[limit], verbose=0)
    assert not limit.stopped_early and limit.epochs_run == 2
    assert float(keras.ops.convert_to_numpy(variable)) == 8.0


def _image_folder(root, per_class: int = 24, size: int = 32) -> str:
    from PIL import Image

    rng = np.random.RandomState(0)
    for split in ("train", "test"):
        for label in ("cat", "dog"):
            folder = os.path.join(root, split, label)
            os.makedirs(folder)
            for i in range(per_class):
                Image.fromarray(rng.randint(0, 256, (size, size, 3), dtype=np.uint8)).save(
                    os.path.join(folder, f"{i}.jpg"))
    return str(root)


@pytest.mark.one_backend
def test_a_checkpoint_inside_an_epoch_reads_the_trained_weights(tmp_path):
    """Mid-epoch kNN checkpoints on the active backend (on JAX, fit's weights must be synced back first)."""
    import keras

    data = _image_folder(tmp_path / "data")
    out = tmp_path / "curve.jsonl"
    cmd = [sys.executable, SCRIPT, "--data-dir", data, "--libraries", "kerascl", "--backends", keras.backend.backend(),
           "--minutes", "100", "--every", "0.0001", "--epochs", "1", "--no-floor", "--out", str(out),
           "--set", "width=0.0625", "--set", "batch_size=16", "--set", "learning_rate=0.5"]
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = [json.loads(line) for line in open(out)]
    assert not [r for r in rows if r.get("event") == "error"], rows
    start = next(r for r in rows if r.get("event") == "start")
    assert start["xla_flags"] == env.get("XLA_FLAGS", "")  # JAX's speed depends on it; the curve must say
    assert "tf_onednn" in start
    checkpoints = [r for r in rows if r.get("event") == "checkpoint"]
    assert [r["step"] for r in checkpoints][:3] == [0, 1, 2]
    assert all(0.0 <= r["knn_top1"] <= 1.0 for r in checkpoints)
    # each checkpoint names its grid minute; the one at the end of the schedule has none
    assert [r["checkpoint_minute"] for r in checkpoints][:3] == pytest.approx([0.0, 0.0001, 0.0002])
    assert checkpoints[-1]["checkpoint_minute"] is None


@pytest.mark.one_backend
def test_schedule_minutes_gives_the_run_the_recipes_time_budget(tmp_path):
    """`--schedule minutes` runs kerascl under the recipes' `max_train_minutes` rule, on the training clock.

    The re-planning itself is `TrainingTimeLimit`'s (tested above with a given clock); here the budget (3 s) ends
    inside the first epoch, which also compiles the step, so the run stops there and scores that end.
    """
    import keras

    data = _image_folder(tmp_path / "data")
    out = tmp_path / "curve.jsonl"
    cmd = [sys.executable, SCRIPT, "--data-dir", data, "--libraries", "kerascl", "--backends", keras.backend.backend(),
           "--minutes", "0.05", "--every", "100", "--epochs", "10000", "--schedule", "minutes", "--no-floor",
           "--out", str(out), "--set", "width=0.0625", "--set", "batch_size=16"]
    proc = subprocess.run(cmd, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = [json.loads(line) for line in open(out)]
    start = next(r for r in rows if r.get("event") == "start")
    end = next(r for r in rows if r.get("event") == "end")
    assert start["schedule"] == "minutes" and start["config"]["max_train_minutes"] == 0.05
    assert end["schedule"] == "minutes" and end["epochs_planned"] == 10000
    # stopped by the budget (3 s, plus at most the one step that crossed it), not by the 10,000 epochs
    assert end["steps"] < 10000 * end["steps_per_epoch"] and end["epochs_run"] <= end["schedule_epochs"]
    assert "Training stopped by its time budget" in proc.stdout
    checkpoints = [r for r in rows if r.get("event") == "checkpoint"]
    assert checkpoints[-1]["checkpoint_minute"] is None and checkpoints[-1]["step"] == end["steps"]


def test_time_to_reach_interpolates_between_checkpoints():
    script = _script()
    rows = _rows()  # both libraries: 0.27 + 0.01 * minute * scale, checkpoints at minutes 0, 5, 10
    for row in rows:
        if row.get("library") == "lightly":
            row["knn_top1"] -= 0.02  # lightly's last checkpoint is 2 points lower
        elif row.get("library") == "kerascl (tensorflow)" and row["seed"] == 2:
            row["knn_top1"] = 0.27  # kerascl never learns on seed 2
    table = script.time_to_reach(rows, "kerascl (tensorflow)", "lightly")
    assert [entry["seed"] for entry in table] == [1, 2]
    seed1, seed2 = table
    # lightly seed 1 ends at 0.35 at minute 10; kerascl: 0.32 at 5, 0.37 at 10 -> crossing at 8.0
    assert seed1["target"] == pytest.approx(0.35) and seed1["minute_b"] == pytest.approx(10.0)
    assert seed1["minute_a"] == pytest.approx(8.0) and seed1["ratio"] == pytest.approx(0.8)
    assert seed2["minute_a"] is None and seed2["ratio"] is None
    text = script.format_time_to_reach(table, "kerascl (tensorflow)", "lightly")
    assert "| 1 | 35.0 % at minute 10.0 | minute 8.0 | 0.80x |" in text
    assert "| 2 |" in text and "not within its run" in text


def test_a_schedule_end_near_a_grid_minute_keeps_its_own_column():
    """A schedule that ends at minute 56 must not replace the minute-55 checkpoint (rounding to the grid would)."""
    script = _script()
    rows = []
    for seed in (1, 2):
        for library, lead in (("kerascl (tensorflow)", 0.02), ("lightly", 0.0)):
            for minute in (0, 55):
                rows.append({"event": "checkpoint", "library": library, "seed": seed, "step": 100 * minute,
                             "train_seconds": minute * 60.0 + 2.0, "knn_top1": 0.3 + lead,
                             "checkpoint_minute": float(minute)})
            rows.append({"event": "checkpoint", "library": library, "seed": seed, "step": 5600,
                         "train_seconds": 56.0 * 60.0, "knn_top1": 0.5 + 2 * lead, "checkpoint_minute": None})
    table = script.paired_differences(rows, "kerascl (tensorflow)", "lightly", every=5)
    assert [entry["minute"] for entry in table] == [0, 55, 56]
    assert [entry["mean"] for entry in table] == pytest.approx([0.02, 0.02, 0.04])
    steps = script.paired_at_equal_steps(rows, "kerascl (tensorflow)", "lightly", every=5)
    assert [entry["minute"] for entry in steps] == [0, 55, 56]


def test_a_run_that_finished_its_schedule_early_holds_its_end_accuracy_at_later_minutes():
    """kerascl ends its schedule at minute 55.3 on seed 2; lightly checks at minute 60: seed 2 is still compared
    there, with kerascl's end-of-schedule accuracy, and the table says so."""
    script = _script()
    rows = []
    for seed in (1, 2):
        for minute in (0, 30, 60):
            rows.append({"event": "checkpoint", "library": "lightly", "seed": seed, "step": 100 * minute,
                         "train_seconds": minute * 60.0 + 2.0, "knn_top1": 0.3 + 0.001 * minute,
                         "checkpoint_minute": float(minute)})
        kerascl_minutes = (0, 30, 60) if seed == 1 else (0, 30)
        for minute in kerascl_minutes:
            rows.append({"event": "checkpoint", "library": "kerascl (tensorflow)", "seed": seed, "step": 150 * minute,
                         "train_seconds": minute * 60.0 + 2.0, "knn_top1": 0.31 + 0.001 * minute,
                         "checkpoint_minute": float(minute)})
    rows.append({"event": "checkpoint", "library": "kerascl (tensorflow)", "seed": 2, "step": 8300,
                 "train_seconds": 55.3 * 60.0, "knn_top1": 0.37, "checkpoint_minute": None})
    table = script.paired_differences(rows, "kerascl (tensorflow)", "lightly", every=10)
    assert [entry["minute"] for entry in table] == [0, 30, 60]  # 55.3 has no lightly partner
    last = table[-1]
    assert last["seeds"] == [1, 2]
    np.testing.assert_allclose(last["differences"], [0.01, 0.37 - 0.36], atol=1e-12)
    assert last["held"] == [("kerascl (tensorflow)", 2, 55.3)]
    assert table[1]["held"] == []
    text = script.format_paired(table, "kerascl (tensorflow)", "lightly")
    assert "| 60 | 1, 2 | +1.0, +1.0 (held) | +1.0 | 0.0 |" in text
    assert "kerascl (tensorflow) seed 2 (schedule ended at minute 55.3)" in text
    # a run still training at a minute is never held: lightly without its minute-60 checkpoint drops out there
    cut = [r for r in rows if not (r["library"] == "lightly" and r["seed"] == 1 and r["step"] == 6000)]
    assert script.paired_differences(cut, "kerascl (tensorflow)", "lightly", every=10)[-1]["seeds"] == [2]


def test_paired_at_equal_steps_separates_learning_per_step_from_speed():
    script = _script()
    rows = []
    # kerascl makes twice lightly's steps per minute; both learn 0.01 per 100 steps, kerascl 1 point lower on seed 2
    for seed, offset in ((1, 0.0), (2, -0.01)):
        for minute in (0, 5, 10):
            rows.append({"event": "checkpoint", "library": "kerascl (tensorflow)", "seed": seed, "step": 40 * minute,
                         "train_seconds": minute * 60.0, "knn_top1": 0.27 + 0.0001 * 40 * minute + offset})
        for minute in (0, 5, 10, 15):  # lightly's minute 15 is step 300, within kerascl's 400
            rows.append({"event": "checkpoint", "library": "lightly", "seed": seed, "step": 20 * minute,
                         "train_seconds": minute * 60.0 + 3.0, "knn_top1": 0.27 + 0.0001 * 20 * minute})
    rows.append({"event": "checkpoint", "library": "lightly", "seed": 1, "step": 500, "train_seconds": 1500.0,
                 "knn_top1": 0.33})  # past kerascl's last step: left out
    table = script.paired_at_equal_steps(rows, "kerascl (tensorflow)", "lightly", every=5)
    assert [entry["minute"] for entry in table] == [0, 5, 10, 15]
    for entry in table:
        assert entry["seeds"] == [1, 2]
        np.testing.assert_allclose(entry["differences"], [0.0, -0.01], atol=1e-12)
        assert entry["mean"] == pytest.approx(-0.005) and entry["se"] == pytest.approx(0.005)
    assert table[2]["steps_b"] == [200, 200]
    # the same rows compared at equal minutes put kerascl ahead: the speed, not the learning per step
    at_minute_10 = script.paired_differences(rows, "kerascl (tensorflow)", "lightly", every=5)[2]
    assert at_minute_10["mean"] > 0.01
    text = script.format_paired_at_equal_steps(table, "kerascl (tensorflow)", "lightly")
    assert "| 10 | 1, 2 | 200, 200 | +0.0, -1.0 | -0.5 | 0.5 |" in text


@pytest.mark.slow
def test_a_recipe_stopped_inside_an_epoch_by_its_budget_records_the_steps_it_ran(tmp_path, monkeypatch, capsys):
    """`max_train_minutes` plans in steps: the run ends inside an epoch, and `metrics.json` counts what ran."""
    import itertools

    import kerascl.callbacks as callbacks_module
    from kerascl.recipe import get_recipe
    from kerascl.recipe_runner import run_recipe
    from tests.recipe_helpers import make_image_folder, tiny_sets

    ticks = itertools.count()  # a fake clock: one second per reading, so the plan does not depend on speed
    monkeypatch.setattr(callbacks_module, "_now", lambda: float(next(ticks)))
    recipe = get_recipe("cifar10-byol-1h")
    folder = make_image_folder(str(tmp_path / "data"))
    recipe = recipe.with_overrides(sets=tiny_sets(recipe) + [
        f"data_dir={folder}", "epochs=4", "limit=64", "batch_size=8", "max_train_minutes=0.5", "floors=false"])
    result = run_recipe(recipe, tmp_path / "run")
    metrics = result.metrics
    steps_per_epoch = metrics["steps_per_epoch"]
    assert steps_per_epoch > 2 and metrics["stopped_by_time_limit"]
    ran = metrics["steps_this_session"]
    assert 0 < ran < 4 * steps_per_epoch and ran % steps_per_epoch != 0  # it stopped inside an epoch
    assert metrics["epochs_this_session"] == -(-ran // steps_per_epoch)
    with open(tmp_path / "run" / "history.csv") as handle:
        assert len(handle.read().strip().splitlines()) == 1 + metrics["epochs_this_session"]
    assert metrics["timing"]["images_per_second"] > 0
    # The probe table's title says how much of the schedule ran, not the 4 epochs asked for.
    assert f"{ran / steps_per_epoch:.1f} of 4 epochs (time budget)" in capsys.readouterr().out
