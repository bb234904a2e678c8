"""Distortions and the robustness probe."""

import keras
import numpy as np
import pytest

from kerascl.probes import make_distortion, robustness_probe
from kerascl.probes.robustness import (
    color_jitter,
    elastic_transform,
    random_flip,
    rotate_images,
)


def _images(n=4, size=8, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, size, size, 3)).astype("float32")


def test_distortions_are_deterministic_by_seed_and_stay_in_range():
    x = _images()
    f = make_distortion("jitter+flip+rotation+elastic")
    a = f(x, np.random.default_rng(3))
    b = f(x, np.random.default_rng(3))
    c = f(x, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.shape == x.shape and a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1


def test_primitive_identities():
    x = _images()
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(color_jitter(x, rng, 0, 0, 0, 0), x, atol=1e-5)
    np.testing.assert_array_equal(random_flip(x, rng, probability=1.0), x[:, :, ::-1])
    np.testing.assert_allclose(rotate_images(x, np.zeros(4)), x, atol=1e-6)
    np.testing.assert_allclose(rotate_images(x, np.full(4, 90.0)), np.rot90(x, axes=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(elastic_transform(x, rng, alpha=0.0), x, atol=1e-6)
    assert not np.allclose(elastic_transform(x, rng, alpha=100.0, sigma=2.0), x)
    np.testing.assert_array_equal(make_distortion("none")(x, rng), x)


def test_unknown_distortion_name():
    with pytest.raises(ValueError, match="Unknown distortion"):
        make_distortion("jitter+blur")


def test_flip_breaks_a_left_right_encoder():
    rng = np.random.default_rng(0)

    def images(n):
        y = rng.integers(0, 2, n)
        x = rng.uniform(0, 0.2, (n, 4, 4, 3)).astype("float32")
        x[y == 1, :, :2] += 0.6  # class 1: bright left half, class 0: bright right half
        x[y == 0, :, 2:] += 0.6
        return x, y

    encoder = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten()])
    result = robustness_probe(encoder, images(80), images(100), distortions=("none", "flip"),
                              epochs=20, verbose=0)
    assert list(result) == ["none", "flip"]
    assert result["none"] > 0.95
    assert result["flip"] < 0.75  # about half of the test images are flipped into the other class


def test_cached_features_give_the_same_result_without_encoding_them_again():
    rng = np.random.default_rng(1)
    y = np.arange(60) % 3
    x = rng.uniform(0, 0.2, (60, 4, 4, 3)).astype("float32")
    x.reshape(60, -1)[np.arange(60), y] += 0.8
    train, test = (x[:40], y[:40]), (x[40:], y[40:])
    calls = []
    flatten = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten()])

    def encoder(images):
        calls.append(len(images))
        return flatten(images)

    plain = robustness_probe(encoder, train, test, distortions=("none", "flip"), epochs=5, verbose=0)
    assert sum(calls) == 40 + 20 + 20
    calls.clear()
    features = lambda data: (data[0].reshape(len(data[0]), -1), data[1])  # noqa: E731 - what Flatten computes
    cached = robustness_probe(encoder, train, test, distortions=("none", "flip"), epochs=5, verbose=0,
                              train_features=features(train), clean_test_features=features(test))
    assert sum(calls) == 20  # only the flipped test images were encoded
    assert cached == pytest.approx(plain)
