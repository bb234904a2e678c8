"""Feature extraction and result tables shared by the probes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascl.probes import MissingLabelsError, extract_features, format_table
from kerascl.probes.features import as_class_indices


def _flatten_encoder(shape=(4, 4, 3)):
    return keras.Sequential([keras.Input(shape), keras.layers.Flatten()])


def _images(n=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, 4, 4, 3)).astype("float32"), rng.integers(0, 3, n)


def test_arrays_and_dataset_give_the_same_features():
    x, y = _images(10)
    enc = _flatten_encoder()
    f1, l1 = extract_features(enc, (x, y), batch_size=3, verbose=0)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    f2, l2 = extract_features(enc, ds, verbose=0)
    np.testing.assert_allclose(f1, x.reshape(10, -1), atol=1e-6)
    np.testing.assert_allclose(f1, f2, atol=1e-6)
    np.testing.assert_array_equal(l1, y)
    np.testing.assert_array_equal(l2, y)


def test_dict_batches_and_one_hot_labels():
    x, y = _images(6)
    ds = tf.data.Dataset.from_tensor_slices({"image": x, "label": np.eye(3)[y]}).batch(4)
    feats, labels = extract_features(_flatten_encoder(), ds, verbose=0)
    assert feats.shape == (6, 48)
    np.testing.assert_array_equal(labels, y)


def test_missing_labels_raise_a_clear_error():
    x, _ = _images(6)
    with pytest.raises(MissingLabelsError, match="probes need labels"):
        extract_features(_flatten_encoder(), x, verbose=0)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(3)
    with pytest.raises(ValueError, match="probes need labels"):
        extract_features(_flatten_encoder(), ds, verbose=0)
    feats, labels = extract_features(_flatten_encoder(), ds, verbose=0, require_labels=False)
    assert labels is None and feats.shape == (6, 48)


def test_encoder_must_return_flat_features():
    x, y = _images(4)
    conv = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Conv2D(2, 1)])
    with pytest.raises(ValueError, match="GlobalAveragePooling2D"):
        extract_features(conv, (x, y), verbose=0)


def test_label_validation():
    np.testing.assert_array_equal(as_class_indices(np.array([[1], [2]])), [1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        as_class_indices(np.array([0, -1]))
    with pytest.raises(ValueError, match="differ in length"):
        extract_features(_flatten_encoder(), (np.zeros((3, 4, 4, 3), "float32"), np.zeros(2)), verbose=0)


def test_format_table_flattens_nested_results():
    text = format_table({"knn": {"top1": 0.5, "k": 200}, "few_shot": {"5way_1shot": {"accuracy": 0.25}}})
    lines = text.splitlines()
    assert lines[0] == "| probe | metric | value |"
    assert "| knn | top1 | 0.5000 |" in lines
    assert "| knn | k | 200 |" in lines
    assert "| few_shot.5way_1shot | accuracy | 0.2500 |" in lines
    with pytest.raises(TypeError):
        format_table([1, 2])
