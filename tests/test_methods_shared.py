"""Tests every method case (tests/cases_*.py): trains, matches the other backend, saves and loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import keras
import numpy as np
import pytest

from tests.cases import BACKEND, CI_BACKENDS, all_cases, this_share
from tests.helpers import JIT, set_deterministic_weights, train_losses

CASES = all_cases()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The cross-backend comparison is symmetric, and CI runs this file once per backend: each run compares its share of
# the cases (tests/cases.py) with every other installed backend, so every case is compared on all of them exactly
# once per CI run and the compile work is not repeated.
COMPARED = this_share(sorted(CASES))
OTHER_BACKENDS = [b for b in CI_BACKENDS if b != BACKEND]


def to_numpy(x) -> np.ndarray:
    # `convert_to_numpy`, not `np.asarray`: on the torch backend outputs carry autograd history and live on any device.
    return keras.ops.convert_to_numpy(x)


@pytest.fixture(scope="module")
def other_backend_losses() -> dict:
    """Losses of the compared cases on every other installed backend, one subprocess per backend, side by side
    (much of each is single-threaded start-up and tracing)."""
    procs = {}
    for other in OTHER_BACKENDS:
        env = {**os.environ, "KERAS_BACKEND": other,
               "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
        # Output to files, not pipes: a full pipe would stall the run that is not being read yet.
        outputs = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
        procs[other] = (subprocess.Popen([sys.executable, "-m", "tests.cross_backend_runner", *COMPARED], cwd=ROOT,
                                         env=env, stdout=outputs[0], stderr=outputs[1], text=True), outputs)
    results = {}
    for other, (proc, (stdout_file, stderr_file)) in procs.items():
        proc.wait(timeout=900)
        stdout_file.seek(0)
        stderr_file.seek(0)
        stdout, stderr = stdout_file.read(), stderr_file.read()
        lines = [l for l in stdout.splitlines() if l.startswith("CROSS_BACKEND_RESULT ")]
        assert proc.returncode == 0 and lines, f"{other} run failed:\n{stdout[-3000:]}\n{stderr[-5000:]}"
        results[other] = json.loads(lines[-1].split(" ", 1)[1])
    return results


@pytest.mark.skipif(not OTHER_BACKENDS, reason="needs a second backend installed")
@pytest.mark.parametrize("name", COMPARED)
def test_same_losses_on_every_backend(name, other_backend_losses):
    here = train_losses(*CASES[name]())
    for other, losses in other_backend_losses.items():
        np.testing.assert_allclose(here, losses[name], rtol=1e-4, atol=1e-5,
                                   err_msg=f"{name}: {here} on {BACKEND} vs {losses[name]} on {other}")


@pytest.mark.skipif(BACKEND != "torch", reason="only torch modules register parameters")
@pytest.mark.parametrize("name", sorted(CASES))
def test_every_trainable_weight_is_a_registered_torch_parameter(name):
    """Keras's torch trainer clears gradients with `torch.nn.Module.zero_grad()`, which reaches registered parameters
    only; a weight it misses (two variables with one path, say) would sum its gradients over all steps."""
    model, batch = CASES[name]()
    model(batch)
    registered = {id(p) for p in model.parameters()}
    missing = [v.path for v in model.trainable_variables if id(v.value) not in registered]
    assert not missing, f"{name}: trainable weights that are not torch parameters: {missing}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_fit_lowers_the_loss_then_save_and_load_round_trip(name, tmp_path):
    """One compiled model per case: a short fit lowers the loss; .keras save/load and backbone export round-trip."""
    model, batch = CASES[name]()
    model(batch)
    set_deterministic_weights(model, seed=1)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=JIT)
    history = model.fit(batch, batch_size=len(batch["view_1"]), epochs=15, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert min(losses[-3:]) < losses[0], f"{name}: loss went from {losses[0]} to {losses[-3:]}"
    assert "z_std" in history.history

    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    drop_backbone = lambda config: {k: v for k, v in config.items() if k != "backbone"}  # noqa: E731
    assert drop_backbone(loaded.get_config()) == drop_backbone(model.get_config())
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), err_msg=a.path)
    before = keras.tree.flatten(model(batch, training=False))
    after = keras.tree.flatten(loaded(batch, training=False))
    for a, b in zip(before, after):
        np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-5, atol=1e-5)
    backbone_path = str(tmp_path / "backbone.keras")
    model.export_backbone(backbone_path)
    backbone = keras.models.load_model(backbone_path)
    # The exported encoder is what `embed` computes: the backbone, plus decoupled uniformity's fc layer.
    np.testing.assert_allclose(to_numpy(backbone(batch["view_1"])), to_numpy(model.embed(batch["view_1"])),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(BACKEND != "torch" or not os.environ.get("KERAS_CL_TORCH_COMPILE"),
                    reason="torch.compile takes 1-3 minutes for one tiny method on 2 CPU cores (Keras's layer calls "
                           "recompile once per layer type), too long for CI: KERAS_CL_TORCH_COMPILE=1 runs it")
def test_torch_compile_gives_the_eager_losses():
    """The rest of the torch run trains eagerly (tests/helpers.py JIT); here one method trains under
    `torch.compile` (Keras's `jit_compile=True` on torch) and must give the eager losses."""
    name = "simclr"
    eager = train_losses(*CASES[name]())
    model, batch = CASES[name]()
    model(batch)
    set_deterministic_weights(model, 0)
    model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=True)
    compiled = [float(model.train_on_batch(batch, return_dict=True)["loss"]) for _ in range(3)]
    np.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-5)
