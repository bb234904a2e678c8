"""Weighted k-nearest-neighbour probe.

The classifier of Wu et al., "Unsupervised Feature Learning via Non-Parametric Instance
Discrimination" (InstDisc, CVPR 2018), used as the kNN monitor by lightly and solo-learn:
features are l2-normalised, each test sample takes its `k` most cosine-similar training samples,
each neighbour votes for its class with weight `exp(similarity / temperature)`, and the classes are
ranked by their summed weights. Defaults `k=200`, `temperature=0.1` follow those peers.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from kerascl.probes.features import extract_features, l2_normalize, num_classes_of


def knn_class_scores(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.1,
    chunk_size: int = 1024,
) -> np.ndarray:
    """Per-class kNN vote weights for every test sample.

    Similarities are computed `chunk_size` test samples at a time, so memory stays at
    `chunk_size x num_train` floats whatever the size of the test set.

    Args:
        train_features: `(N, C)` training features (normalised here).
        train_labels: `(N,)` int class indices.
        test_features: `(M, C)` test features (normalised here).
        num_classes: number of classes.
        k: number of neighbours (clipped to `N`).
        temperature: softmax-style temperature of the vote weights `exp(sim / T)`.
        chunk_size: test samples per similarity block.

    Returns:
        `(M, num_classes)` summed vote weights; the argmax is the prediction.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}.")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    train = l2_normalize(train_features)
    test = l2_normalize(test_features)
    if train.shape[1] != test.shape[1]:
        raise ValueError(
            f"Train and test features differ in width: {train.shape[1]} vs {test.shape[1]}."
        )
    train_labels = np.asarray(train_labels, dtype=np.int64)
    k = min(int(k), len(train))
    scores = np.zeros((len(test), num_classes), dtype=np.float64)
    for start in range(0, len(test), chunk_size):
        block = test[start : start + chunk_size]
        sim = block @ train.T  # (b, N)
        if k < sim.shape[1]:
            idx = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        else:
            idx = np.broadcast_to(np.arange(sim.shape[1]), sim.shape)
        top_sim = np.take_along_axis(sim, idx, axis=1).astype(np.float64)
        weights = np.exp(top_sim / temperature)
        neighbour_labels = train_labels[idx]  # (b, k)
        rows = np.repeat(np.arange(len(block)), neighbour_labels.shape[1])
        np.add.at(scores[start : start + len(block)], (rows, neighbour_labels.ravel()), weights.ravel())
    return scores


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose true label is among the `k` highest scores."""
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == np.asarray(labels)[:, None], axis=1)))


def knn_on_features(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    k: int = 200,
    temperature: float = 0.1,
    num_classes: int | None = None,
    chunk_size: int = 1024,
) -> dict[str, Any]:
    """Weighted kNN accuracy on cached features (see `knn_probe`)."""
    num_classes = num_classes or num_classes_of(train_labels, test_labels)
    scores = knn_class_scores(
        train_features, train_labels, test_features, num_classes, k, temperature, chunk_size
    )
    result: dict[str, Any] = {"top1": topk_accuracy(scores, test_labels, 1)}
    if num_classes >= 5:
        result["top5"] = topk_accuracy(scores, test_labels, 5)
    result.update(
        k=int(min(k, len(train_features))),
        temperature=float(temperature),
        num_train=int(len(train_features)),
        num_test=int(len(test_features)),
    )
    return result


def knn_probe(
    encoder: Callable,
    train_data: Any,
    test_data: Any,
    k: int = 200,
    temperature: float = 0.1,
    batch_size: int = 256,
    chunk_size: int = 1024,
    verbose: int = 1,
) -> dict[str, Any]:
    """Weighted kNN accuracy of a frozen encoder (InstDisc / lightly / solo-learn style).

    The training set is the memory bank: no parameters are fitted, so the number measures how
    well the features cluster by class as they are. It is usually a few points below the linear
    probe on the same features.

    Args:
        encoder: frozen `keras.Model` mapping images `(B, H, W, 3)` to features `(B, C)`.
        train_data: labelled data forming the memory bank (`(images, labels)` batches or arrays).
        test_data: labelled data to classify.
        k: number of neighbours (default 200; clipped to the size of the memory bank).
        temperature: vote weight temperature, `exp(cosine / T)` (default 0.1).
        batch_size: encoder batch size for array inputs.
        chunk_size: test samples per similarity block (bounds memory).
        verbose: 1 shows progress bars.

    Returns:
        `{"top1", "top5" (with 5 or more classes), "k", "temperature", "num_train", "num_test"}`;
        accuracies are fractions in `[0, 1]`.

    Examples:
        >>> result = knn_probe(backbone, (x_train, y_train), (x_test, y_test), k=20)
        >>> result["top1"]
    """
    train_x, train_y = extract_features(encoder, train_data, batch_size, verbose)
    test_x, test_y = extract_features(encoder, test_data, batch_size, verbose)
    return knn_on_features(
        train_x, train_y, test_x, test_y, k=k, temperature=temperature, chunk_size=chunk_size
    )
