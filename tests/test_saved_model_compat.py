"""Saved `.keras` files of kerascl methods keep loading, with the same numbers, in later versions of kerascl.

The fixtures in tests/fixtures/ were written by `tests/fixtures/make_saved_models.py` with an earlier kerascl on the
TensorFlow backend; never regenerate them to make this test pass.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import kerascl.methods  # noqa: F401  (registers the methods' classes with Keras's serialization)
from tests.fixtures.make_saved_models import FIXTURES, fixture_path


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_saved_model_loads_and_computes_the_recorded_outputs(name):
    model = keras.saving.load_model(fixture_path(name, "keras"))
    assert type(model).__name__ == FIXTURES[name][0]
    with np.load(fixture_path(name, "npz")) as recorded:
        batch = {key: recorded[key] for key in recorded.files if not key.startswith(("embedding", "output_"))}
        embedding = keras.ops.convert_to_numpy(model.embed(batch["view_1"]))
        np.testing.assert_allclose(embedding, recorded["embedding"], rtol=1e-5, atol=1e-5)
        outputs = keras.tree.flatten(model(batch, training=False))
        expected = sorted(k for k in recorded.files if k.startswith("output_"))
        assert len(outputs) == len(expected)
        for i, output in enumerate(outputs):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(output), recorded[f"output_{i}"],
                                       rtol=1e-5, atol=1e-5, err_msg=f"{name} output {i}")
