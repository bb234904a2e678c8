"""Few-shot probe: episodes, classifiers and the confidence interval."""

import keras
import numpy as np
import pytest

from kerascl.probes import confidence_interval_95, few_shot_on_features, few_shot_probe
from kerascl.probes.few_shot import softmax_regression


def _blobs(n, num_classes, dim, noise, seed):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(num_classes), n // num_classes)
    x = np.zeros((len(y), dim), "float32")
    x[np.arange(len(y)), y] = 1.0
    return x + noise * rng.normal(size=x.shape).astype("float32"), y


def test_confidence_interval_formula():
    acc = np.array([0.2, 0.4, 0.6, 0.8, 1.0])
    assert confidence_interval_95(acc) == pytest.approx(1.96 * np.std(acc) / np.sqrt(5))


@pytest.mark.parametrize("classifier", ["prototype", "logistic"])
def test_separable_features(classifier):
    x, y = _blobs(400, 10, 16, 0.2, 0)
    r = few_shot_on_features(x, y, n_way=5, k_shot=1, n_query=5, episodes=30, classifier=classifier)
    assert r["accuracy"] > 0.95
    assert r["ci95"] == pytest.approx(1.96 * r["std"] / np.sqrt(30))
    assert (r["n_way"], r["k_shot"], r["episodes"], r["classifier"]) == (5, 1, 30, classifier)


@pytest.mark.parametrize("classifier", ["prototype", "logistic"])
def test_random_features_are_at_chance(classifier):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(400, 16)), np.repeat(np.arange(10), 40)
    r = few_shot_on_features(x, y, n_way=5, k_shot=5, n_query=10, episodes=40, classifier=classifier)
    assert abs(r["accuracy"] - 0.2) < 0.07


def test_episodes_are_seeded():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 8)), np.repeat(np.arange(10), 20)
    a = few_shot_on_features(x, y, episodes=10, n_query=5, seed=1)
    b = few_shot_on_features(x, y, episodes=10, n_query=5, seed=1)
    c = few_shot_on_features(x, y, episodes=10, n_query=5, seed=2)
    assert a == b and a["accuracy"] != c["accuracy"]


def test_softmax_regression_fits_separable_data():
    x, y = _blobs(30, 3, 4, 0.05, 0)
    w, b = softmax_regression(x, y, 3, l2=1e-4, steps=300)
    assert np.mean(np.argmax(x @ w + b, 1) == y) == 1.0


def test_bad_arguments():
    x, y = _blobs(40, 4, 4, 0.1, 0)
    with pytest.raises(ValueError, match="needs 5 classes"):
        few_shot_on_features(x, y, n_way=5)
    with pytest.raises(ValueError, match="classifier"):
        few_shot_on_features(x, y, n_way=2, n_query=2, classifier="svm")


def test_few_shot_probe_on_an_encoder():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    images = rng.uniform(0, 0.2, (60, 2, 2, 3)).astype("float32")
    images[np.arange(60), :, :, y] += 0.7  # the class is the dominant colour
    encoder = keras.Sequential([keras.Input((2, 2, 3)), keras.layers.Flatten()])
    r = few_shot_probe(encoder, (images, y), n_way=3, k_shot=5, n_query=5, episodes=5, verbose=0)
    assert r["accuracy"] > 0.9 and r["episodes"] == 5
