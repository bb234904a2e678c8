"""Content / style separability probe on synthetic partitioned features."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascl.probes import separability_probe, separability_probe_from_encoder
from kerascl.probes.separability import KEYS, _split_features, ridge_r2


def _partitioned(n=300, seed=0):
    """Content carries the class, style carries the augmentation parameters."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    params = rng.uniform(-1, 1, (n, 3)).astype("float32")
    content = np.eye(4)[labels] + 0.2 * rng.normal(size=(n, 4))
    style = params @ rng.normal(size=(3, 5)) + 0.05 * rng.normal(size=(n, 5))
    return content.astype("float32"), style.astype("float32"), labels, params


def test_keys_and_direction():
    content, style, labels, params = _partitioned()
    r = separability_probe(content, style, labels, params)
    assert tuple(r) == KEYS
    assert r["class_acc_content"] > 0.9 and r["class_acc_style"] < 0.5
    assert r["aug_r2_style"] > 0.9 and r["aug_r2_content"] < 0.1
    assert r["class_acc_content"] > r["class_acc_style"]
    assert r["aug_r2_style"] > r["aug_r2_content"]


def test_swapped_parts_swap_the_verdict():
    content, style, labels, params = _partitioned()
    r = separability_probe(style, content, labels, params)
    assert r["class_acc_content"] < r["class_acc_style"]
    assert r["aug_r2_style"] < r["aug_r2_content"]


def test_ridge_r2_known_values():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    y = x @ np.array([[1.0], [2.0], [-1.0]])
    assert ridge_r2(x[:150], y[:150], x[150:], y[150:], ridge=1e-6) == pytest.approx(1.0, abs=1e-6)
    noise = rng.normal(size=(200, 1))
    assert ridge_r2(x[:150], noise[:150], x[150:], noise[150:]) < 0.1
    with pytest.raises(ValueError, match="constant"):
        ridge_r2(x[:150], np.ones((150, 1)), x[150:], np.ones((50, 1)))


def test_bad_input():
    content, style, labels, params = _partitioned(50)
    with pytest.raises(ValueError, match="rows"):
        separability_probe(content[:10], style, labels, params)
    with pytest.raises(ValueError, match="probes need labels"):
        separability_probe(content, style, None, params)


def test_from_encoder_with_multi_view_batches():
    content, style, labels, params = _partitioned(200, seed=1)
    feats = np.concatenate([content, style], axis=1)  # 9 dims; "images" carry them in pixels
    images = np.zeros((200, 3, 3, 3), "float32")
    images.reshape(200, -1)[:, :9] = feats
    ds = tf.data.Dataset.from_tensor_slices(
        {"view_1": images, "params_1": params, "label": labels.astype("int32")}
    ).batch(64)
    encoder = keras.Sequential([keras.Input((3, 3, 3)), keras.layers.Flatten()])
    split = lambda f: (f[:, :4], f[:, 4:9])  # noqa: E731
    r = separability_probe_from_encoder(encoder, ds, split, verbose=0)
    assert r["class_acc_content"] > r["class_acc_style"]
    assert r["aug_r2_style"] > r["aug_r2_content"]


def test_integer_split():
    feats = np.arange(12, dtype="float32").reshape(2, 6)
    content, style = _split_features(feats, 4)
    np.testing.assert_array_equal(content, feats[:, :4])
    np.testing.assert_array_equal(style, feats[:, 4:])
    with pytest.raises(ValueError, match="non-empty"):
        _split_features(feats, 6)
