"""The NaN guard: a NaN / Inf loss stops training at once with an error naming the step and the checkpoint kept on
disk; non-finite float settings are refused before anything runs."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from kerascl.callbacks import NonFiniteLossError, StopOnNonFiniteLoss, default_callbacks
from kerascl.cli import main
from kerascl.methods import SimSiam
from kerascl.recipe import get_recipe
from tests.helpers import random_views, tiny_backbone
from tests.recipe_helpers import tiny_sets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_message_names_the_step_and_the_kept_checkpoint(tmp_path):
    guard = StopOnNonFiniteLoss(str(tmp_path))
    guard.on_epoch_begin(2)
    guard.on_train_batch_end(0, {"loss": 1.5})
    with pytest.raises(NonFiniteLossError, match="No epoch was completed"):
        guard.on_train_batch_end(3, {"loss": float("inf")})
    (tmp_path / "training_metadata.json").write_text(json.dumps({"epoch": 2}))
    with pytest.raises(NonFiniteLossError, match=r"became nan at epoch 3, step 5 of the epoch.*after epoch 2"):
        guard.on_train_batch_end(4, {"loss": np.float32("nan")})


class _ExplodeAtEpoch(keras.callbacks.Callback):
    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.optimizer.learning_rate.assign(1e30)


def test_fit_stops_in_the_bad_epoch_and_keeps_the_last_backup(tmp_path):
    model = SimSiam(tiny_backbone(), projection_dim=8, hidden_dim=8, prediction_hidden_dim=4)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    views = random_views(batch=16)
    model(views, training=False)  # BackupAndRestore needs built weights
    model.optimizer.build(model.trainable_variables)
    callbacks = [_ExplodeAtEpoch(1)] + default_callbacks(tmp_path)
    with pytest.raises(NonFiniteLossError, match=r"at epoch 2, step \d+ of the epoch.*after epoch 1") as error:
        model.fit(views, batch_size=8, epochs=3, verbose=0, callbacks=callbacks)
    assert str(tmp_path / "backup") in str(error.value)
    metadata = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert metadata["epoch"] == 1
    rows = (tmp_path / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 2  # header and the good epoch


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_non_finite_or_out_of_range_learning_rate_is_refused(value):
    result = CliRunner().invoke(main, ["recipe", "shapes-partitioned", "--set", f"learning_rate={value}"])
    assert result.exit_code == 1
    assert "learning_rate must be a finite number > 0" in result.output and "--set learning_rate=" in result.output


@pytest.mark.one_backend
def test_huge_learning_rate_exits_non_zero_with_the_step(tmp_path):
    recipe = get_recipe("shapes-partitioned")
    sets = [arg for item in tiny_sets(recipe) + ["learning_rate=1e30"] for arg in ("--set", item)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "kerascl.cli", "recipe", "shapes-partitioned", "--out",
                           str(tmp_path / "run"), *sets], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=600)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Error: The loss became" in proc.stderr and "at epoch 1, step" in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_a_diverging_finite_loss_stops_training_too():
    """A loss that explodes without reaching NaN (e.g. learning_rate=1e6: loss ~1e19) is stopped, naming the step."""
    from kerascl.callbacks import NonFiniteLossError, StopOnNonFiniteLoss

    guard = StopOnNonFiniteLoss(max_loss=1e8)
    guard.on_epoch_begin(0)
    guard.on_train_batch_end(0, {"loss": 3.5})  # an ordinary loss passes
    with pytest.raises(NonFiniteLossError, match=r"reached 9.6e\+18 at epoch 1, step 2.*diverged.*learning_rate"):
        guard.on_train_batch_end(1, {"loss": 9.6e18})
    StopOnNonFiniteLoss(max_loss=None).on_train_batch_end(0, {"loss": 9.6e18})  # the check can be turned off
