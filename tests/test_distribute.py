"""Data-parallel training: one device and two (virtual CPU) devices give the same loss, gradients and state.

The two-device runs need virtual devices configured before the backend starts, so one subprocess per test session
(`tests/distribute_runner.py`, on the current backend) trains every method case of `tests/cases.py` one SGD step
(learning rate 1) on 1 and on 2 devices from the same weights and the same global batch; the tests here compare:

* the reported loss;
* the gradient of every trainable weight (`before - after`, learning rate 1): a loss whose cross-replica gather
  or scaling were wrong would be off by the number of devices, or computed on half the batch;
* every non-trainable weight after the step (batch-norm statistics, EMA targets, step counters).

CI runs the suite once per backend; the cases rotate over the TensorFlow and JAX runs (a third to TensorFlow, two
thirds to JAX, in sorted order: `CASES` below), so every case is checked on two devices once per CI run and the
slowest file of the suite is not paid twice. kerascl trains on one device on torch. `KERAS_CL_ALL_CASES=1` runs
every case on the current backend.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerascl import distribute
from tests.cases import all_cases, this_share

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Split between the backends that train on several devices (torch does not in kerascl), two thirds to JAX, whose
# runner compiles these cases in half the time TensorFlow's MirroredStrategy takes to trace them.
CASES = this_share(sorted(all_cases()), among=("tensorflow", "jax", "jax"))
# The missing-gather control (TensorFlow) compares with SimCLR on one device, whichever share SimCLR falls in.
RUNNER_CASES = CASES + ["simclr"] if keras.backend.backend() == "tensorflow" and "simclr" not in CASES else CASES


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("distribute")
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend(), "PYTHONPATH": str(ROOT)}
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "tests.distribute_runner", str(out), *RUNNER_CASES],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    if proc.returncode != 0:
        pytest.fail(f"distribute_runner failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return out


def _load(out: pathlib.Path, name: str, n: int) -> dict:
    path = out / f"{name}-{n}.npz"
    assert path.exists(), f"the runner wrote no result for {name} on {n} device(s)"
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _gradients(result: dict) -> dict:
    return {
        key[len("init/"):]: result[key] - result["after/" + key[len("init/"):]]
        for key in result
        if key.startswith("init/") and "/trainable/" in key
    }


ONE_DEVICE_ONLY = pytest.mark.skipif(keras.backend.backend() == "torch",
                                     reason="kerascl trains on one device only on the torch backend")


@ONE_DEVICE_ONLY
@pytest.mark.parametrize("name", CASES)
def test_two_devices_match_one_device(runs, name):
    one, two = _load(runs, name, 1), _load(runs, name, 2)
    assert int(one["num_devices"]) == 1 and int(two["num_devices"]) == 2
    np.testing.assert_allclose(float(two["loss"]), float(one["loss"]), rtol=1e-4, atol=1e-5,
                               err_msg=f"{name}: loss on 2 devices differs from 1 device")

    g1, g2 = _gradients(one), _gradients(two)
    assert g1.keys() == g2.keys()
    scale = max(float(np.abs(g).max()) for g in g1.values())
    assert scale > 1e-3, f"{name}: the one-device step changed no trainable weight; nothing to compare"
    for key in g1:
        np.testing.assert_allclose(
            g2[key], g1[key], rtol=2e-3, atol=1e-4 * scale,
            err_msg=f"{name}: gradient of {key} on 2 devices differs from 1 device",
        )

    for key in one:
        if key.startswith("after/") and "/state/" in key:
            ref = one[key]
            np.testing.assert_allclose(
                two[key], ref, rtol=1e-3, atol=1e-4 * max(1.0, float(np.abs(ref).max())),
                err_msg=f"{name}: non-trainable weight {key} after the step differs between 1 and 2 devices",
            )


# ------------------------------------------------------------------------------------------ in-process API
def test_single_device_gather_is_identity_and_float32():
    x = np.arange(12, dtype="float16").reshape(6, 2)
    y = keras.ops.convert_to_numpy(distribute.gather_global_batch(x))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x.astype("float32"))
    a, none = distribute.gather_global_batch(x, None, dtype=None)
    assert none is None and keras.backend.standardize_dtype(a.dtype) == "float16"


def test_gather_needs_a_tensor():
    with pytest.raises(ValueError, match="at least one tensor"):
        distribute.gather_global_batch()


def test_scale_loss_is_noop_outside_replicas():
    assert distribute.num_replicas_in_sync() == 1
    assert float(distribute.scale_loss_for_replicas(keras.ops.convert_to_tensor(3.0))) == 3.0


def test_configure_one_device_and_bad_counts():
    setup = distribute.configure_devices(1)
    assert setup.num_devices == 1 and setup.strategy is None and setup.distribution is None
    with setup.scope():
        pass
    assert setup.per_device_batch(8) == 8
    with pytest.raises(ValueError, match=">= 1"):
        distribute.configure_devices(0)
    with pytest.raises(TypeError, match="positive int"):
        distribute.configure_devices(2.0)
    if keras.backend.backend() == "torch":
        with pytest.raises(NotImplementedError, match="one device only"):
            distribute.configure_devices(2)
        with pytest.raises(NotImplementedError, match="one device only"):
            distribute.configure_devices(1, multi_worker=True)
        return
    with pytest.raises(ValueError, match="set_virtual_cpu_devices"):
        distribute.configure_devices(10_000, device_type="cpu")


def test_per_device_batch_must_divide():
    setup = distribute.DeviceSetup(keras.backend.backend(), 4)
    assert setup.per_device_batch(256) == 64
    with pytest.raises(ValueError, match="multiple of 4"):
        setup.per_device_batch(10)


def test_synchronize_batch_norm_flips_every_layer_on_tensorflow():
    inputs = keras.Input((4,))
    x = keras.layers.BatchNormalization()(keras.layers.Dense(3)(inputs))
    inner = keras.Model(inputs, x)
    model = keras.Sequential([keras.Input((4,)), inner, keras.layers.BatchNormalization()])
    count = distribute.synchronize_batch_norm(model)
    bns = [l for l in model._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    if keras.backend.backend() == "tensorflow":
        assert count == 2 and all(l.synchronized for l in bns)
        assert distribute.synchronize_batch_norm(model, False) == 2 and not any(l.synchronized for l in bns)
    else:  # global statistics already; Keras rejects synchronized=True off TensorFlow
        assert count == 0 and not any(l.synchronized for l in bns)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="JAX has no per-replica losses to get wrong")
def test_comparison_catches_a_missing_gather(runs):
    """SimCLR whose replicas see only their own negatives (the gather removed) must fail the comparison."""
    one, local = _load(runs, "simclr", 1), _load(runs, "simclr_local_negatives", 2)
    g1, g2 = _gradients(one), _gradients(local)
    worst = max(float(np.abs(g2[k] - g1[k]).max() / (np.abs(g1[k]).max() + 1e-8)) for k in g1)
    assert abs(float(local["loss"]) - float(one["loss"])) > 1e-3 or worst > 1e-2
