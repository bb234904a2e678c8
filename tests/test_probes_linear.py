"""Linear probe on cached features."""

import keras
import numpy as np

from kerascl.probes import linear_on_features, linear_probe, train_linear_classifier


def _blobs(n, num_classes, dim, noise, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, n)
    x = np.zeros((n, dim), "float32")
    x[np.arange(n), y] = 1.0
    return x + noise * rng.normal(size=x.shape).astype("float32"), y


def test_separable_features_reach_full_accuracy():
    train = _blobs(300, 6, 12, 0.2, 0)
    test = _blobs(150, 6, 12, 0.2, 1)
    result = linear_on_features(*train, *test, epochs=20)
    assert result["top1"] > 0.95
    assert result["top5"] >= result["top1"]
    assert result["num_classes"] == 6 and result["epochs"] >= 20


def test_random_features_stay_near_chance():
    rng = np.random.default_rng(0)
    result = linear_on_features(
        rng.normal(size=(300, 12)), rng.integers(0, 6, 300),
        rng.normal(size=(300, 12)), rng.integers(0, 6, 300), epochs=10,
    )
    assert result["top1"] < 0.3  # chance is 1/6


def test_classifier_is_a_single_dense_layer_without_batch_norm():
    x, y = _blobs(40, 3, 5, 0.1, 0)
    classifier = train_linear_classifier(x, y, epochs=2)
    layers = classifier.model.layers
    assert len(layers) == 1 and isinstance(layers[0], keras.layers.Dense)
    assert classifier.scores(x).shape == (40, 3)
    assert "top5" not in classifier.evaluate(x, y)


def test_linear_probe_on_an_encoder():
    rng = np.random.default_rng(0)

    def images(n):
        y = rng.integers(0, 3, n)
        x = rng.uniform(0, 0.3, (n, 4, 4, 3)).astype("float32")
        x[np.arange(n), :, :, y] += 0.6  # the class is the dominant colour channel
        return x, y

    encoder = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.GlobalAveragePooling2D()])
    result = linear_probe(encoder, images(120), images(60), epochs=30, verbose=0)
    assert result["top1"] > 0.95
