"""Weighted kNN probe against a NumPy reference and known cases."""

import keras
import numpy as np
import pytest

from kerascl.probes import knn_class_scores, knn_on_features, knn_probe


def _reference_scores(train, train_y, test, num_classes, k, t):
    train = train / np.linalg.norm(train, axis=1, keepdims=True)
    test = test / np.linalg.norm(test, axis=1, keepdims=True)
    out = np.zeros((len(test), num_classes))
    for i, q in enumerate(test):
        sims = train @ q
        for j in np.argsort(-sims)[:k]:
            out[i, train_y[j]] += np.exp(sims[j] / t)
    return out


def _blobs(n, num_classes, dim, noise, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, n)
    x = np.zeros((n, dim), "float32")
    x[np.arange(n), y] = 1.0
    return x + noise * rng.normal(size=x.shape).astype("float32"), y


def test_weights_match_numpy_reference():
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(30, 6)), rng.normal(size=(7, 6))
    train_y = rng.integers(0, 4, 30)
    got = knn_class_scores(train, train_y, test, 4, k=5, temperature=0.07, chunk_size=3)
    want = _reference_scores(train, train_y, test, 4, 5, 0.07)
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_separable_features_are_classified_and_random_ones_are_not():
    train_x, train_y = _blobs(400, 10, 16, 0.15, 1)
    test_x, test_y = _blobs(200, 10, 16, 0.15, 2)
    good = knn_on_features(train_x, train_y, test_x, test_y, k=20)
    assert good["top1"] > 0.95 and good["top5"] >= good["top1"]
    rng = np.random.default_rng(3)
    bad = knn_on_features(rng.normal(size=(400, 16)), train_y, rng.normal(size=(400, 16)),
                          rng.integers(0, 10, 400), k=20)
    assert bad["top1"] < 0.2


def test_result_reports_k_and_temperature_and_clips_k():
    train_x, train_y = _blobs(12, 3, 4, 0.1, 0)
    result = knn_on_features(train_x, train_y, train_x, train_y)
    assert result["k"] == 12 and result["temperature"] == pytest.approx(0.1)
    assert "top5" not in result  # fewer than 5 classes
    with pytest.raises(ValueError, match="k must be"):
        knn_on_features(train_x, train_y, train_x, train_y, k=0)
    with pytest.raises(ValueError, match="temperature"):
        knn_on_features(train_x, train_y, train_x, train_y, temperature=0)


def test_knn_probe_on_an_encoder():
    rng = np.random.default_rng(0)

    def images(n):
        y = rng.integers(0, 2, n)
        x = rng.uniform(0, 0.2, (n, 4, 4, 3)).astype("float32")
        x[y == 1, :, :2] += 0.7  # class 1: bright left half
        x[y == 0, :, 2:] += 0.7  # class 0: bright right half
        return x, y

    encoder = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten()])
    result = knn_probe(encoder, images(60), images(40), k=10, verbose=0)
    assert result["top1"] > 0.95
    assert result["num_train"] == 60 and result["num_test"] == 40
