"""Training callbacks: monitors log into `logs`, resume reproduces an uninterrupted run."""

import csv
import importlib.util
import math
import os

import keras
import numpy as np
import pytest

import kerascl.callbacks
from kerascl.callbacks import (
    CollapseMonitor,
    EpochTimer,
    HistoryCSVLogger,
    KNNMonitor,
    OnlineLinearProbe,
    default_callbacks,
    effective_rank,
    feature_std,
    resume_callback,
)
from kerascl.probes import extract_features, knn_probe


def _labelled(n, seed):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.uniform(0, 0.3, (n, 4, 4, 3)).astype("float32")
    x[np.arange(n), :, :, y] += 0.6  # the class is the dominant colour channel
    return x, y


class WithBackbone(keras.Model):
    """A supervised stand-in for a kerascl method: it exposes `backbone`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.backbone = keras.Sequential(
            [keras.Input((4, 4, 3)), keras.layers.Conv2D(4, 1, kernel_initializer=keras.initializers.GlorotUniform(0)),
             keras.layers.GlobalAveragePooling2D()],
            name="backbone",
        )
        self.head = keras.layers.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(1))

    def call(self, x):
        return self.head(self.backbone(x))

    def evaluation_encoder(self):
        return self.backbone


def _model():
    model = WithBackbone()
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model(np.zeros((1, 4, 4, 3), "float32"))
    return model


def test_knn_monitor_logs_into_history_and_csv(tmp_path):
    train, test = _labelled(48, 0), _labelled(24, 1)
    model = _model()
    monitor = KNNMonitor(train, test, every=2, k=10)
    csv_path = os.path.join(tmp_path, "history.csv")
    history = model.fit(*train, epochs=3, batch_size=16, verbose=0,
                        callbacks=[monitor, keras.callbacks.CSVLogger(csv_path)])
    values = history.history["knn_top1"]
    assert math.isnan(values[0]) and not math.isnan(values[1]) and not math.isnan(values[2])
    # The last logged value is the kNN accuracy of the final backbone.
    assert values[2] == pytest.approx(knn_probe(model.backbone, train, test, k=10, verbose=0)["top1"])
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and "knn_top1" in rows[0]
    assert [r["epoch"] for r in monitor.results] == [2, 3]


def test_online_linear_probe_logs_linear_top1():
    train, test = _labelled(48, 0), _labelled(24, 1)
    model = _model()
    history = model.fit(*train, epochs=1, batch_size=16, verbose=0,
                        callbacks=[OnlineLinearProbe(train, test, epochs=5)])
    assert history.history["linear_top1"][0] > 0.9  # colour is linearly readable from the pooled conv


def test_missing_backbone_attribute_is_explained():
    train = _labelled(12, 0)
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(AttributeError, match="encoder="):
        model.fit(*train, epochs=1, verbose=0, callbacks=[KNNMonitor(train, train)])


def test_feature_std_and_effective_rank():
    rng = np.random.default_rng(0)
    spread = rng.normal(size=(2000, 8))
    assert feature_std(spread) == pytest.approx(1 / np.sqrt(8), rel=0.05)
    assert feature_std(np.tile(rng.normal(size=(1, 8)), (50, 1))) == pytest.approx(0.0, abs=1e-6)
    assert effective_rank(spread) == pytest.approx(8, rel=0.05)
    rank_one = rng.normal(size=(50, 1)) @ rng.normal(size=(1, 8))
    assert effective_rank(rank_one) == pytest.approx(1.0, abs=0.01)


def test_collapse_monitor_warns_on_a_collapsed_backbone():
    train = _labelled(16, 0)
    collapsed = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                                  keras.layers.Dense(6, kernel_initializer="zeros", bias_initializer="ones")])
    model = _model()
    with pytest.warns(RuntimeWarning, match="collapsed"):
        history = model.fit(*train, epochs=1, verbose=0,
                            callbacks=[CollapseMonitor(train[0], encoder=collapsed)])
    assert history.history["feature_std"][0] == pytest.approx(0.0, abs=1e-6)
    assert history.history["effective_rank"][0] == pytest.approx(1.0, abs=0.01)
    healthy = model.fit(*train, epochs=1, verbose=0, callbacks=[CollapseMonitor(train)])
    assert healthy.history["feature_std"][0] > 0 and healthy.history["effective_rank"][0] > 1


def _resume_model(seed):
    init = keras.initializers.GlorotUniform
    model = keras.Sequential([
        keras.Input((6, 6, 3)),
        keras.layers.Conv2D(4, 3, kernel_initializer=init(seed)),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, kernel_initializer=init(seed + 1)),
    ])
    schedule = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=24)
    model.compile(keras.optimizers.SGD(schedule, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise RuntimeError("simulated interruption")


def test_resume_matches_an_uninterrupted_run(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(32, 6, 6, 3)).astype("float32"), rng.integers(0, 3, 32)
    fit_args = dict(batch_size=8, epochs=6, shuffle=False, verbose=0)

    reference = _resume_model(seed=1)
    reference.fit(x, y, **fit_args)

    interrupted = _resume_model(seed=1)
    with pytest.raises(RuntimeError, match="simulated"):
        interrupted.fit(x, y, callbacks=[resume_callback(tmp_path), _Interrupt(2)], **fit_args)
    assert os.path.exists(os.path.join(tmp_path, "backup", "latest.weights.h5"))

    # A fresh process would build a fresh model: different initial weights on purpose.
    resumed = _resume_model(seed=7)
    history = resumed.fit(x, y, callbacks=[resume_callback(tmp_path)], **fit_args)
    assert len(history.history["loss"]) == 3  # epochs 4..6 only
    assert int(resumed.optimizer.iterations) == int(reference.optimizer.iterations) == 24
    for got, want in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not os.path.exists(os.path.join(tmp_path, "backup"))  # deleted after completion


def test_default_callbacks_order_and_run(tmp_path):
    train, test = _labelled(24, 0), _labelled(12, 1)
    callbacks = default_callbacks(tmp_path, train, test, knn_k=5, online_linear=True, linear_epochs=2)
    names = [type(c).__name__ for c in callbacks]
    assert names == ["StopOnNonFiniteLoss", "EpochTimer", "KNNMonitor", "OnlineLinearProbe", "CollapseMonitor", "BackupAndRestore",
                     "HistoryCSVLogger"]
    model = _model()
    model.fit(*train, epochs=2, batch_size=12, verbose=0, callbacks=callbacks)
    with open(os.path.join(tmp_path, "history.csv")) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    assert {"knn_top1", "linear_top1", "feature_std", "effective_rank", "loss", "epoch_seconds"} <= set(rows[0])
    assert not [column for column in rows[0] if column.startswith("val_")]  # no validation data, no empty columns
    assert all(float(row["epoch_seconds"]) > 0 for row in rows)
    assert [type(c).__name__ for c in default_callbacks(tmp_path, resume=False)] == [
        "StopOnNonFiniteLoss", "EpochTimer", "HistoryCSVLogger"]
    assert [type(c).__name__ for c in default_callbacks(tmp_path, resume=False, stop_on_non_finite=False)] == [
        "EpochTimer", "HistoryCSVLogger"]
    with pytest.raises(ValueError, match="both"):
        default_callbacks(tmp_path, train_data=train)


def test_history_logger_appends_under_the_existing_header_and_keeps_validation_columns(tmp_path):
    x, y = _labelled(24, 0)
    path = os.path.join(tmp_path, "history.csv")
    # A file begun by Keras's CSVLogger (its empty val_* columns), then continued as a resumed run would.
    model = _model()
    model.fit(x, y, epochs=1, batch_size=12, verbose=0, callbacks=[keras.callbacks.CSVLogger(path)])
    with open(path) as f:
        header = f.readline().strip().split(",")
    assert "val_loss" in header
    model.fit(x, y, initial_epoch=1, epochs=3, batch_size=12, verbose=0,
              callbacks=[HistoryCSVLogger(path, append=True)])
    with open(path) as f:
        rows = list(csv.reader(f))
    assert rows[0] == header and [len(row) for row in rows[1:]] == [len(header)] * 3
    table = [dict(zip(header, row)) for row in rows[1:]]
    assert [row["epoch"] for row in table] == ["0", "1", "2"] and all(float(row["loss"]) > 0 for row in table)
    assert {row["val_loss"] for row in table} == {"NA"}
    # A new file gets only the logged columns; with validation data, its values.
    fresh = os.path.join(tmp_path, "validated.csv")
    model.fit(x, y, epochs=2, batch_size=12, verbose=0, validation_data=_labelled(12, 1),
              callbacks=[HistoryCSVLogger(fresh, append=True)])
    with open(fresh) as f:
        validated = list(csv.DictReader(f))
    assert len(validated) == 2 and all(float(row["val_loss"]) > 0 for row in validated)
    assert set(validated[0]) == {"epoch", "loss", "val_loss"}


def test_monitors_share_one_feature_pass_per_set_and_epoch(tmp_path, monkeypatch):
    """kNN monitor, online linear probe and collapse check run the backbone once per image set and epoch, and a
    second fit with the same callbacks reads the new weights, not the first fit's cached features."""
    calls = []
    real = kerascl.callbacks.extract_features

    def counting(encoder, data, *args, **kwargs):
        calls.append(len(data[0]) if isinstance(data, tuple) else len(data))
        return real(encoder, data, *args, **kwargs)

    monkeypatch.setattr(kerascl.callbacks, "extract_features", counting)
    train, test = _labelled(24, 0), _labelled(12, 1)
    callbacks = default_callbacks(tmp_path, train, test, knn_k=5, online_linear=True, linear_epochs=2, resume=False)
    model = _model()
    for _ in range(2):
        history = model.fit(*train, epochs=1, batch_size=12, verbose=0, callbacks=callbacks)
        expected = feature_std(real(model.backbone, train[0], verbose=0, require_labels=False)[0])
        assert history.history["feature_std"][-1] == pytest.approx(expected, rel=1e-5)
    assert calls == [24, 12, 24, 12]  # without sharing: 24, 12, 24, 12, 24 per epoch


def test_recipe_probes_reuse_the_monitors_features_of_the_last_epoch(tmp_path):
    """A recipe's probes encode only the images the kNN monitor did not encode with the final weights, and get the
    features a fresh pass gives; features of an earlier epoch or of another encoder are not reused."""
    from kerascl.recipe_runner import _final_monitor_features, _probe_features

    train, test = _labelled(24, 0), _labelled(12, 1)
    head_train, head_test = (train[0][:16], train[1][:16]), (test[0][:12], test[1][:12])
    callbacks = default_callbacks(tmp_path, head_train, head_test, knn_k=5, resume=False)
    model = _model()
    history = model.fit(*train, epochs=2, batch_size=12, verbose=0, callbacks=callbacks)
    cached = _final_monitor_features(callbacks, model, history.epoch, head_train, head_test)
    assert set(cached) == {"train", "test"}
    for arrays, head in ((train, cached["train"]), (test, cached["test"])):
        features, labels = _probe_features(model.backbone, arrays, head, verbose=0)
        fresh_features, fresh_labels = extract_features(model.backbone, arrays, verbose=0)
        np.testing.assert_allclose(features, fresh_features, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(labels, fresh_labels)
    assert _final_monitor_features(callbacks, model, [history.epoch[-1] + 1], head_train, head_test) == {}
    model.evaluation_encoder = lambda: keras.Sequential([model.backbone, keras.layers.Dense(2)])
    assert _final_monitor_features(callbacks, model, history.epoch, head_train, head_test) == {}


def test_epoch_timer_stops_before_later_callbacks(monkeypatch):
    """epoch_seconds is the time from the epoch's start to the timer's own epoch end: a slow monitor after it
    (here one that moves a fake clock by 100 s) is not counted."""
    clock = [0.0]
    monkeypatch.setattr(kerascl.callbacks, "_now", lambda: clock[0])

    class Step(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            clock[0] += 1.0

    class SlowMonitor(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            clock[0] += 100.0

    history = _model().fit(*_labelled(24, 0), epochs=2, batch_size=12, verbose=0,
                           callbacks=[Step(), EpochTimer(), SlowMonitor()])
    assert history.history["epoch_seconds"] == [2.0, 2.0]


def test_tensorboard_flag(tmp_path):
    if importlib.util.find_spec("tensorboard") is None:
        with pytest.raises(ImportError, match="pip install tensorboard"):
            default_callbacks(tmp_path, tensorboard=True)
        return
    callbacks = default_callbacks(tmp_path, tensorboard=True)
    assert type(callbacks[-1]).__name__ == "TensorBoard"
    model = _model()
    model.fit(*_labelled(12, 0), epochs=1, verbose=0, callbacks=callbacks)
    assert os.path.isdir(os.path.join(tmp_path, "tensorboard"))
