"""Mixed precision: every method case trains under `mixed_bfloat16` and `mixed_float16` (with loss scaling), with
the layers computing in half precision and the loss in float32.

CI runs the suite once per backend; the (case, policy) pairs rotate over the backend runs (pair (i, j) of case i
and policy j goes to run (i + j) mod the number of runs, tests/cases.py), so every pair runs once per CI run.
`KERAS_CL_ALL_CASES=1` runs every pair on the current backend.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.cases import all_cases, in_this_share
from tests.helpers import JIT, set_deterministic_weights

POLICIES = ("mixed_bfloat16", "mixed_float16")
HALF = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}


@pytest.fixture
def policy(request):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(request.param)
    try:
        yield request.param
    finally:
        keras.config.set_dtype_policy(previous)


PAIRS = [(name, policy) for i, name in enumerate(sorted(all_cases())) for j, policy in enumerate(POLICIES)
         if in_this_share(i + j)]


@pytest.mark.parametrize("name, policy", PAIRS, indirect=["policy"])
def test_trains_under_mixed_precision(policy, name):
    model, batch = all_cases()[name]()
    model(batch)
    set_deterministic_weights(model, seed=0)
    half = [l for l in model.backbone._flatten_layers() if isinstance(l, keras.layers.Conv2D)]
    assert half and all(l.compute_dtype == HALF[policy] for l in half), "the policy did not reach the backbone"
    assert all(w.dtype == "float32" for w in model.trainable_weights), "weights must stay float32"

    model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=JIT)
    if policy == "mixed_float16":  # Keras wraps the optimizer to scale the loss
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    losses = [float(model.train_on_batch(batch, return_dict=True)["loss"]) for _ in range(2)]
    assert np.all(np.isfinite(losses)), f"{name} under {policy}: losses {losses}"
    assert all(np.all(np.isfinite(keras.ops.convert_to_numpy(w))) for w in model.trainable_weights)

    loss = model.compute_loss(y_pred=model(batch, training=False), training=False)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    assert np.isfinite(float(loss))
