"""Linear probe: a linear softmax classifier trained on cached, frozen features.

The standard linear evaluation protocol of self-supervised learning (e.g. SimCLR, Chen et al.
2020; BYOL, Grill et al. 2020): the encoder is frozen, a single `Dense` layer (no batch norm, no
hidden layer) is trained with cross-entropy on its features, and top-1 / top-5 accuracy on the test
split is reported. Features are computed once and cached, so every epoch costs one pass of a
matrix product over the cached array; the probe is fast on CPU and on an accelerator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import keras
import numpy as np

from kerascl.probes.features import extract_features, num_classes_of
from kerascl.probes.knn import topk_accuracy


@dataclass
class LinearClassifier:
    """A trained linear probe: the Keras model plus the feature standardisation it expects.

    Attributes:
        model: `keras.Sequential` holding one `Dense(num_classes)` layer (logits out).
        mean: `(1, C)` feature mean subtracted before the layer (zeros when not standardising).
        std: `(1, C)` feature scale divided out before the layer (ones when not standardising).
        num_classes: number of classes.
        epochs: epochs actually trained (at least the requested number; see `min_steps`).
    """

    model: keras.Model
    mean: np.ndarray
    std: np.ndarray
    num_classes: int
    epochs: int = 0

    def scores(self, features: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Logits `(N, num_classes)` for raw (unstandardised) features `(N, C)`."""
        x = ((np.asarray(features, dtype=np.float32) - self.mean) / self.std).astype(np.float32)
        out = [
            np.asarray(keras.ops.convert_to_numpy(self.model(x[i : i + batch_size], training=False)))
            for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(out, axis=0) if out else np.zeros((0, self.num_classes), np.float32)

    def evaluate(self, features: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """Top-1 (and top-5 for 5+ classes) accuracy on `(features, labels)`."""
        scores = self.scores(features)
        result = {"top1": topk_accuracy(scores, labels, 1)}
        if self.num_classes >= 5:
            result["top5"] = topk_accuracy(scores, labels, 5)
        return result


def train_linear_classifier(
    features: np.ndarray,
    labels: np.ndarray,
    num_classes: int | None = None,
    epochs: int = 50,
    batch_size: int = 512,
    learning_rate: float = 1e-2,
    weight_decay: float = 0.0,
    standardize: bool = True,
    seed: int = 0,
    verbose: int = 0,
    min_steps: int = 300,
) -> LinearClassifier:
    """Train a linear softmax classifier on cached features with Keras `fit`.

    Optimiser: Adam (AdamW when `weight_decay > 0`) with a cosine-decayed learning rate over all steps; the `Dense` layer
    starts at zero (the problem is convex, so the start only matters for speed) and the data are
    shuffled with a fixed seed, so a run is repeatable on a given backend.

    Args:
        features: `(N, C)` float features.
        labels: `(N,)` int class indices.
        num_classes: number of classes (default: `max(labels) + 1`).
        epochs: passes over the cached features.
        batch_size: minibatch size.
        learning_rate: initial AdamW learning rate (cosine-decayed to 0).
        weight_decay: AdamW decoupled weight decay.
        standardize: scale each feature dimension to zero mean / unit std using the training
            statistics (recommended: features of different encoders differ wildly in scale).
        seed: shuffling seed.
        verbose: passed to `fit` (1 = progress bar per epoch).
        min_steps: the number of epochs is raised until training runs at least this many
            optimizer steps, so small datasets (a few batches per epoch) are not under-fitted.

    Returns:
        A `LinearClassifier` (its `epochs` field says how many epochs ran).
    """
    import tensorflow as tf

    features = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    if features.ndim != 2:
        raise ValueError(f"features must be (N, C), got shape {features.shape}.")
    if len(features) != len(labels):
        raise ValueError(f"{len(features)} feature rows but {len(labels)} labels.")
    if len(features) == 0:
        raise ValueError("Cannot train a linear probe on zero samples.")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}.")
    num_classes = num_classes or num_classes_of(labels)
    if standardize:
        mean = features.mean(axis=0, keepdims=True)
        std = features.std(axis=0, keepdims=True) + 1e-6
    else:
        mean = np.zeros((1, features.shape[1]), np.float32)
        std = np.ones((1, features.shape[1]), np.float32)
    x = ((features - mean) / std).astype(np.float32)

    model = keras.Sequential(
        [
            keras.Input((features.shape[1],)),
            keras.layers.Dense(num_classes, kernel_initializer="zeros", name="linear"),
        ],
        name="linear_probe",
    )
    batch_size = int(min(batch_size, len(x)))
    steps_per_epoch = -(-len(x) // batch_size)
    epochs = max(int(epochs), -(-int(min_steps) // steps_per_epoch))
    steps = epochs * steps_per_epoch
    steps_per_execution = max(1, min(32, steps_per_epoch))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    model.compile(
        optimizer=(
            keras.optimizers.AdamW(schedule, weight_decay=weight_decay)
            if weight_decay > 0
            else keras.optimizers.Adam(schedule)
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=steps_per_execution,
    )
    # All epochs run as one Keras epoch over a repeated dataset: per-epoch overhead of `fit`
    # would otherwise dominate on small cached feature sets.
    dataset = (
        tf.data.Dataset.from_tensor_slices((x, labels.astype(np.int32)))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .repeat(epochs)
        .prefetch(2)
    )
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=verbose, shuffle=False)
    return LinearClassifier(
        model, mean.astype(np.float32), std.astype(np.float32), num_classes, epochs
    )


def linear_on_features(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    epochs: int = 50,
    batch_size: int = 512,
    learning_rate: float = 1e-2,
    weight_decay: float = 0.0,
    standardize: bool = True,
    seed: int = 0,
    verbose: int = 0,
) -> dict[str, Any]:
    """Linear-probe accuracy on cached features (see `linear_probe`)."""
    num_classes = num_classes_of(train_labels, test_labels)
    classifier = train_linear_classifier(
        train_features,
        train_labels,
        num_classes=num_classes,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        standardize=standardize,
        seed=seed,
        verbose=verbose,
    )
    result: dict[str, Any] = dict(classifier.evaluate(test_features, test_labels))
    result["train_top1"] = classifier.evaluate(train_features, train_labels)["top1"]
    result.update(
        epochs=int(classifier.epochs),
        num_train=int(len(train_features)),
        num_test=int(len(test_features)),
        num_classes=int(num_classes),
    )
    return result


def linear_probe(
    encoder: Callable,
    train_data: Any,
    test_data: Any,
    epochs: int = 50,
    batch_size: int = 512,
    learning_rate: float = 1e-2,
    weight_decay: float = 0.0,
    standardize: bool = True,
    seed: int = 0,
    feature_batch_size: int = 256,
    verbose: int = 1,
) -> dict[str, Any]:
    """Linear evaluation of a frozen encoder.

    Extracts features of the training and test data once, trains a linear softmax classifier
    (one `Dense` layer, no batch norm) on the cached training features with Keras `fit`, and
    reports accuracy on the test features. No augmentation is applied to the probe's training
    data, so the numbers are a little below those of papers that augment during linear
    evaluation; compare runs probed the same way.

    Args:
        encoder: frozen `keras.Model` mapping images `(B, H, W, 3)` to features `(B, C)`.
        train_data: labelled data to fit the classifier (`(images, labels)` batches or arrays).
        test_data: labelled data to score it.
        epochs: passes over the cached features (default 50).
        batch_size: classifier minibatch size.
        learning_rate: initial AdamW learning rate, cosine-decayed to 0.
        weight_decay: AdamW decoupled weight decay.
        standardize: standardise feature dimensions with the training statistics.
        seed: shuffling seed.
        feature_batch_size: encoder batch size for array inputs.
        verbose: 1 shows the extraction progress bars (classifier training stays quiet unless 2).

    Returns:
        `{"top1", "top5" (5+ classes), "train_top1", "epochs", "num_train", "num_test",
        "num_classes"}`; accuracies are fractions in `[0, 1]`.

    Examples:
        >>> result = linear_probe(backbone, train_ds, test_ds, epochs=30)
        >>> result["top1"]
    """
    train_x, train_y = extract_features(encoder, train_data, feature_batch_size, verbose)
    test_x, test_y = extract_features(encoder, test_data, feature_batch_size, verbose)
    return linear_on_features(
        train_x,
        train_y,
        test_x,
        test_y,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        standardize=standardize,
        seed=seed,
        verbose=1 if verbose >= 2 else 0,
    )
