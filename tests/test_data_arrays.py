"""kerascl.data.from_arrays: dtypes, ranges, grayscale, errors, output forms."""

from __future__ import annotations

import numpy as np
import pytest

from kerascl import data
from tests.test_data_support import flip_noise_augmenter


def test_uint8_and_float_inputs_give_the_same_float_batches():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(6, 8, 8, 3), dtype=np.uint8)
    y = np.arange(6) % 3
    from_uint8 = next(data.from_arrays(x, y, batch_size=6, views=False).as_numpy_iterator())
    from_float = next(data.from_arrays(x / 255.0, y, batch_size=6, views=False).as_numpy_iterator())
    assert from_uint8[0].dtype == np.float32 and from_float[0].dtype == np.float32
    np.testing.assert_allclose(from_uint8[0], x / 255.0, atol=1e-6)
    np.testing.assert_allclose(from_float[0], from_uint8[0], atol=1e-6)
    np.testing.assert_array_equal(from_uint8[1], y)
    assert from_uint8[1].dtype == np.int32


@pytest.mark.parametrize("shape", [(4, 8, 8), (4, 8, 8, 1)])
def test_grayscale_is_repeated_to_rgb(shape):
    x = np.random.default_rng(1).random(shape).astype(np.float32)
    images = next(data.from_arrays(x, batch_size=4, views=False).as_numpy_iterator())
    assert images.shape == (4, 8, 8, 3)
    np.testing.assert_allclose(images[..., 1], images[..., 0])
    np.testing.assert_allclose(images[..., 0], x.reshape(4, 8, 8), atol=1e-6)


def test_rgba_drops_alpha_and_resize():
    x = np.random.default_rng(2).integers(0, 256, size=(3, 12, 12, 4), dtype=np.uint8)
    images = next(data.from_arrays(x, batch_size=3, views=False).as_numpy_iterator())
    np.testing.assert_allclose(images, x[..., :3] / 255.0, atol=1e-6)
    resized = next(data.from_arrays(x, batch_size=3, views=False, image_size=6).as_numpy_iterator())
    assert resized.shape == (3, 6, 6, 3)


def test_output_forms_and_counts():
    x = np.random.default_rng(3).random((10, 8, 8, 3)).astype(np.float32)
    y = np.arange(10)
    attributes = np.random.default_rng(4).random((10, 2))
    views = data.from_arrays(x, y, attributes=attributes, batch_size=4, augmenter=flip_noise_augmenter, seed=0)
    batches = list(views.as_numpy_iterator())
    assert len(batches) == 2 == data.steps_per_epoch(views)
    assert set(batches[0]) == {"view_1", "view_2", "params_1", "params_2", "label", "attributes"}
    assert batches[0]["attributes"].shape == (4, 2) and batches[0]["attributes"].dtype == np.float32
    seen = np.concatenate([b["label"] for b in batches])
    assert len(set(seen.tolist())) == 8  # shuffled, no repeats
    raw = data.from_arrays(x, y, batch_size=4, views="device", shuffle=False)
    first = next(raw.as_numpy_iterator())
    assert set(first) == {"image", "label"}
    np.testing.assert_allclose(first["image"], x[:4])
    plain = data.from_arrays(x, batch_size=4, views=False)
    assert data.steps_per_epoch(plain) == 3 and data.num_examples(plain) == 10
    assert [len(b) for b in plain.as_numpy_iterator()] == [4, 4, 2]


def test_errors_are_clear():
    with pytest.raises(TypeError, match="uint8"):
        data.from_arrays(np.zeros((2, 4, 4, 3), dtype=np.int64), views=False)
    with pytest.raises(ValueError, match="divide by 255"):
        data.from_arrays(np.full((2, 4, 4, 3), 200.0), views=False)
    with pytest.raises(ValueError, match="channels"):
        data.from_arrays(np.zeros((2, 4, 4, 5), dtype=np.uint8), views=False)
    with pytest.raises(ValueError, match="channels-first"):
        data.from_arrays(np.zeros((2, 3, 8, 8), dtype=np.uint8), views=False)
    with pytest.raises(ValueError, match="shape"):
        data.from_arrays(np.zeros((4, 4), dtype=np.uint8), views=False)
    with pytest.raises(ValueError, match="3 entries"):
        data.from_arrays(np.zeros((2, 4, 4, 3), dtype=np.uint8), np.zeros(3, dtype=int), views=False)
    with pytest.raises(TypeError, match="integer"):
        data.from_arrays(np.zeros((2, 4, 4, 3), dtype=np.uint8), np.array([0.5, 1.0]), views=False)
    with pytest.raises(ValueError, match="NaN"):
        data.from_arrays(np.full((2, 4, 4, 3), np.nan, dtype=np.float32), views=False)
    with pytest.raises(ValueError, match="batch_size"):
        data.from_arrays(np.zeros((2, 4, 4, 3), dtype=np.uint8), views=False, batch_size=0)
