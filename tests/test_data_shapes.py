"""kerascl.data.make_shapes / from_shapes: deterministic by seed, factors consistent with the pixels."""

from __future__ import annotations

import numpy as np
import pytest

from kerascl import data
from tests.test_data_support import flip_noise_augmenter


def test_deterministic_by_seed_and_different_across_seeds():
    a = data.make_shapes(64, image_size=16, seed=3)
    b = data.make_shapes(64, image_size=16, seed=3)
    c = data.make_shapes(64, image_size=16, seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    for key in a.factors:
        np.testing.assert_array_equal(a.factors[key], b.factors[key])
    assert not np.array_equal(a.images, c.images)
    assert not np.array_equal(a.factors["hue"], c.factors["hue"])


def test_arrays_and_factor_ranges():
    d = data.make_shapes(300, image_size=16, seed=0)
    assert d.images.shape == (300, 16, 16, 3) and d.images.dtype == np.float32
    assert 0.0 <= d.images.min() and d.images.max() <= 1.0
    assert d.labels.dtype == np.int32 and set(d.labels.tolist()) == set(range(len(data.DEFAULT_SHAPES)))
    assert d.class_names == data.DEFAULT_SHAPES
    np.testing.assert_array_equal(d.factors["shape"], d.labels)
    assert set(d.factors) == {"shape", *data.STYLE_FACTORS, *data.DESCRIPTOR_FACTORS}
    s = d.factors["scale"]
    assert np.all(d.factors["x"] - s >= -1e-6) and np.all(d.factors["x"] + s <= 1 + 1e-6)
    assert np.all(d.factors["y"] - s >= -1e-6) and np.all(d.factors["y"] + s <= 1 + 1e-6)
    # attributes: (cos, sin) for the two hues, one column for each other style factor
    assert d.attributes.shape == (300, 9) and d.attributes.dtype == np.float32


def test_pixels_agree_with_the_factors():
    d = data.make_shapes(200, image_size=32, seed=1, antialias=1)
    size = 32
    for i in range(200):
        image = d.images[i]
        # The corners lie outside every shape (the shape stays inside the image and is smaller than it),
        # unless the shape is near that corner: use the corner farthest from the centre.
        cx, cy = d.factors["x"][i] * size, d.factors["y"][i] * size
        corner = (0 if cy > size / 2 else size - 1, 0 if cx > size / 2 else size - 1)
        background = image[corner]
        # the centre is inside the filled shapes (not the ring, not the semicircle-free centre)
        if d.class_names[d.labels[i]] in ("circle", "square", "cross", "star"):
            centre = image[int(cy), int(cx)]
            assert centre.max() > background.max() - 1e-6  # foreground is brighter than the background
        assert background.max() <= 0.45 + 1e-6  # background brightness range
    # background brightness is the max RGB channel (HSV value) of the background colour
    far = [d.images[i][0 if d.factors["y"][i] > 0.5 else -1, 0 if d.factors["x"][i] > 0.5 else -1].max()
           for i in range(200)]
    np.testing.assert_allclose(far, d.factors["bg_brightness"], atol=1e-5)


def test_class_and_style_are_independent_draws():
    d = data.make_shapes(3000, image_size=8, seed=2, antialias=1)
    for factor in ("hue", "scale", "x", "bg_brightness"):
        means = [d.factors[factor][d.labels == c].mean() for c in range(len(d.class_names))]
        assert np.ptp(means) < 0.1, factor


def test_options_and_errors():
    d = data.make_shapes(20, image_size=8, seed=0, shapes=("ring", "star"), attribute_factors=("shape", "x"))
    assert d.class_names == ("ring", "star") and d.attributes.shape == (20, 3)
    np.testing.assert_array_equal(d.attributes[:, :2].argmax(1), d.labels)
    noisy = data.make_shapes(20, image_size=8, seed=0, noise=0.1)
    clean = data.make_shapes(20, image_size=8, seed=0)
    assert not np.array_equal(noisy.images, clean.images)
    np.testing.assert_array_equal(noisy.labels, clean.labels)
    with pytest.raises(ValueError, match="Unknown shapes"):
        data.make_shapes(4, shapes=("blob",))
    with pytest.raises(ValueError, match="positive"):
        data.make_shapes(0)


def test_scale_range():
    default = data.make_shapes(40, image_size=16, seed=0)
    same = data.make_shapes(40, image_size=16, seed=0, scale_range=(0.15, 0.3))
    np.testing.assert_array_equal(default.images, same.images)
    big = data.make_shapes(200, image_size=16, seed=0, scale_range=(0.3, 0.45))
    s = big.factors["scale"]
    assert s.min() >= 0.3 and s.max() <= 0.45
    assert np.all(big.factors["x"] - s >= -1e-6) and np.all(big.factors["x"] + s <= 1 + 1e-6)
    ds = data.from_shapes(8, image_size=16, seed=0, views=False, scale_range=(0.3, 0.45))
    assert ds.shapes_data.factors["scale"].min() >= 0.3
    for bad in ((0.0, 0.2), (0.3, 0.2), (0.2, 0.5)):
        with pytest.raises(ValueError, match="scale_range"):
            data.make_shapes(4, scale_range=bad)


def test_from_shapes_multi_view_batches():
    ds = data.from_shapes(20, image_size=16, seed=0, batch_size=8, augmenter=flip_noise_augmenter)
    assert data.steps_per_epoch(ds) == 2 and ds.class_names == list(data.DEFAULT_SHAPES)
    batch = next(ds.as_numpy_iterator())
    assert set(batch) == {"view_1", "view_2", "params_1", "params_2", "label", "attributes"}
    assert batch["view_1"].shape == (8, 16, 16, 3) and batch["attributes"].shape == (8, 9)
    plain = data.from_shapes(20, image_size=16, seed=0, batch_size=20, views=False)
    images, labels = next(plain.as_numpy_iterator())
    np.testing.assert_allclose(images, plain.shapes_data.images, atol=1e-6)
    np.testing.assert_array_equal(labels, plain.shapes_data.labels)


def test_shape_descriptors_describe_the_class_and_noise_flips_them():
    exact = data.make_shapes(600, image_size=8, seed=5)
    table = np.asarray([data.SHAPE_DESCRIPTORS[name] for name in data.DEFAULT_SHAPES], dtype=np.float32)
    assert len({tuple(row) for row in table}) == len(data.DEFAULT_SHAPES)  # each default class its own code
    codes = data.encode_attributes(exact.factors, data.DESCRIPTOR_FACTORS)
    assert codes.shape == (600, 4)
    np.testing.assert_array_equal(codes, table[exact.labels])

    noisy = data.make_shapes(600, image_size=8, seed=5, descriptor_noise=0.2)
    # The noise has its own random stream: pixels, labels and style factors are those of the exact set.
    np.testing.assert_array_equal(noisy.images, exact.images)
    for name in ("shape", *data.STYLE_FACTORS):
        np.testing.assert_array_equal(noisy.factors[name], exact.factors[name])
    flipped = data.encode_attributes(noisy.factors, data.DESCRIPTOR_FACTORS) != codes
    assert 0.15 < flipped.mean() < 0.25
    with pytest.raises(ValueError, match="descriptor_noise"):
        data.make_shapes(10, image_size=8, descriptor_noise=0.7)


def test_from_shapes_hands_the_chosen_factors_to_the_prior():
    ds = data.from_shapes(64, image_size=8, seed=1, batch_size=32, views=False, with_attributes=True,
                          attribute_factors=data.DESCRIPTOR_FACTORS, descriptor_noise=0.0)
    np.testing.assert_array_equal(ds.shapes_data.attributes,
                                  data.encode_attributes(ds.shapes_data.factors, data.DESCRIPTOR_FACTORS))
    assert ds.shapes_data.attributes.shape == (64, 4)
