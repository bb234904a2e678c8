"""Feature extraction from a frozen encoder, shared by every probe.

A probe never trains the encoder: it runs the encoder once over the labelled data in inference
mode, caches the features as NumPy arrays and works on those. This module turns the accepted data
forms into batches, runs the encoder with a Keras progress bar and checks the labels.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterator

import keras
import numpy as np

NO_LABELS_HINT = (
    "probes need labels; pass a tf.data.Dataset yielding (images, labels) batches, a dict batch "
    "with a 'label' key, or a tuple of NumPy arrays (images, labels)."
)

_IMAGE_KEYS = ("image", "images", "view_1")
_LABEL_KEYS = ("label", "labels")


class MissingLabelsError(ValueError):
    """Raised when a probe is given data without labels.

    It is a `ValueError`, so callers that only catch `ValueError` still see it; `run_all_probes`
    and the callbacks catch it to skip the probes with a message instead of crashing.
    """


def _is_dataset(data: Any) -> bool:
    # A tf.data.Dataset can only exist once TensorFlow is imported; do not import it just to
    # check (that costs seconds on the JAX backend).
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(data, tf.data.Dataset)


def _split_batch(batch: Any) -> tuple[Any, Any]:
    """Return `(images, labels)` from one batch; labels is None when the batch has none."""
    if isinstance(batch, dict):
        images = next((batch[k] for k in _IMAGE_KEYS if k in batch), None)
        if images is None:
            raise ValueError(
                "A dict batch for a probe must hold the images under one of "
                f"{list(_IMAGE_KEYS)}; got keys {sorted(batch)}."
            )
        labels = next((batch[k] for k in _LABEL_KEYS if k in batch), None)
        return images, labels
    if isinstance(batch, (tuple, list)):
        if len(batch) == 0:
            raise ValueError("Got an empty batch; expected (images, labels).")
        if len(batch) == 1:
            return _split_batch(batch[0]) if isinstance(batch[0], dict) else (batch[0], None)
        images, labels = batch[0], batch[1]
        if isinstance(images, (tuple, list)):
            raise ValueError(
                "Probe data yields a tuple of image tensors as `x` (a multi-view batch?). Probes "
                "take single-view batches: map the dataset to (images, labels) first."
            )
        return images, labels
    return batch, None


def iterate_batches(data: Any, batch_size: int = 256) -> Iterator[tuple[np.ndarray, Any]]:
    """Yield `(images, labels)` NumPy batches from any accepted data form.

    Args:
        data: a `tf.data.Dataset` of `(images, labels)` batches (or dict batches with an image key
            and a `label` key), a tuple `(images, labels)` of arrays, or a bare image array.
        batch_size: batch size used to cut arrays; a dataset keeps its own batching.

    Yields:
        `(images, labels)` with images as a float32 array and labels an array or None.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if data is None:
        raise ValueError("Probe data is None; " + NO_LABELS_HINT)
    if _is_dataset(data) or (
        hasattr(data, "__iter__") and not isinstance(data, (np.ndarray, tuple, list, dict))
    ):
        for batch in data:
            images, labels = _split_batch(batch)
            images = np.asarray(keras.ops.convert_to_numpy(images))
            if labels is not None:
                labels = np.asarray(keras.ops.convert_to_numpy(labels))
            yield images, labels
        return
    images, labels = _split_batch(data)
    images = np.asarray(images)
    labels = None if labels is None else np.asarray(labels)
    if labels is not None and len(labels) != len(images):
        raise ValueError(
            f"images and labels differ in length: {len(images)} images, {len(labels)} labels."
        )
    for start in range(0, len(images), batch_size):
        stop = start + batch_size
        yield images[start:stop], None if labels is None else labels[start:stop]


def _num_batches(data: Any, batch_size: int) -> int | None:
    if _is_dataset(data):
        cardinality = int(data.cardinality())
        return cardinality if cardinality >= 0 else None
    if isinstance(data, (tuple, list)) and len(data) >= 1:
        return -(-len(data[0]) // batch_size)
    if isinstance(data, np.ndarray):
        return -(-len(data) // batch_size)
    return None


def as_class_indices(labels: np.ndarray) -> np.ndarray:
    """Turn labels into a 1-D int64 array of class indices.

    Args:
        labels: `(N,)` or `(N, 1)` integer labels, or `(N, C)` one-hot / probability labels.

    Returns:
        `(N,)` int64 class indices.
    """
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1:
        return np.argmax(labels, axis=1).astype(np.int64)
    labels = labels.reshape(len(labels), -1)
    if labels.shape[1] != 1:
        raise ValueError(f"Labels must be (N,), (N, 1) or one-hot (N, C); got {labels.shape}.")
    labels = labels[:, 0]
    if labels.dtype.kind == "f" and not np.all(np.equal(np.mod(labels, 1), 0)):
        raise ValueError("Labels must be integer class indices; got non-integer float values.")
    labels = labels.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(
            f"Labels must be non-negative class indices; got a minimum of {labels.min()}. "
            "Unlabelled samples marked with -1 must be filtered out before probing."
        )
    return labels


def encode_batch(encoder: Callable, images: np.ndarray) -> np.ndarray:
    """Features `(B, C)` of one image batch from a frozen encoder, as float32 NumPy."""
    if isinstance(encoder, keras.Model):
        out = encoder.predict_on_batch(images)
    else:
        out = encoder(images)
    if isinstance(out, (dict, list, tuple)):
        raise ValueError(
            "The encoder returned a structure of tensors; probes need one (batch, features) "
            "tensor. Wrap the encoder so it returns a single feature tensor."
        )
    out = np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float32)
    if out.ndim != 2:
        raise ValueError(
            f"The encoder must map images to (batch, features); it returned shape {out.shape}. "
            "Add global pooling (e.g. keras.layers.GlobalAveragePooling2D) or flatten first."
        )
    return out


def extract_features(
    encoder: Callable,
    data: Any,
    batch_size: int = 256,
    verbose: int = 1,
    require_labels: bool = True,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run a frozen encoder over labelled data and return cached features and labels.

    The encoder runs in inference mode (`predict_on_batch` for a `keras.Model`, so batch
    normalisation uses its moving statistics and nothing is trained).

    Args:
        encoder: a `keras.Model` (or any callable) mapping float32 images `(B, H, W, 3)` in
            `[0, 1]` to features `(B, C)`.
        data: a `tf.data.Dataset` of `(images, labels)` batches, dict batches with an image key
            (`image` or `view_1`) and `label`, or a tuple of NumPy arrays `(images, labels)`.
        batch_size: batch size used when `data` is arrays (a dataset keeps its own batching).
        verbose: 1 shows a Keras progress bar, 0 is silent.
        require_labels: raise `MissingLabelsError` when the data has no labels (default). With
            False, unlabelled data returns `labels=None`.
        transform: optional function applied to every NumPy image batch before encoding (the
            robustness probe uses it to distort test images).

    Returns:
        `(features, labels)`: float32 `(N, C)` and int64 `(N,)` (or None without labels).

    Examples:
        >>> feats, labels = extract_features(backbone, (x_test, y_test), verbose=0)
    """
    progbar = keras.utils.Progbar(_num_batches(data, batch_size), verbose=verbose, unit_name="batch")
    features, labels = [], []
    for step, (images, batch_labels) in enumerate(iterate_batches(data, batch_size)):
        if batch_labels is None:
            if require_labels:
                raise MissingLabelsError(NO_LABELS_HINT)
            labels = None
        elif labels is not None:
            batch_labels = as_class_indices(batch_labels)
            if len(batch_labels) != len(images):
                raise ValueError(
                    f"A batch holds {len(images)} images but {len(batch_labels)} labels."
                )
            labels.append(batch_labels)
        if images.ndim != 4:
            raise ValueError(
                f"Image batches must be (batch, height, width, channels); got shape {images.shape}."
            )
        images = images.astype(np.float32, copy=False)
        if transform is not None:
            images = np.asarray(transform(images), dtype=np.float32)
        features.append(encode_batch(encoder, images))
        progbar.update(step + 1)
    if not features:
        raise ValueError("Probe data is empty: no batches were produced.")
    feats = np.concatenate(features, axis=0)
    return feats, (np.concatenate(labels, axis=0) if labels is not None else None)


def standardize(
    train: np.ndarray, *others: np.ndarray, eps: float = 1e-6
) -> tuple[np.ndarray, ...]:
    """Standardise features with the mean and std of the training features.

    Args:
        train: `(N, C)` training features; its statistics are used for every array.
        *others: further `(M, C)` arrays (test features) scaled with the same statistics.
        eps: added to the std so constant dimensions do not divide by zero.

    Returns:
        The standardised arrays, `train` first.
    """
    mean = train.mean(axis=0, keepdims=True)
    std = train.std(axis=0, keepdims=True) + eps
    return tuple(((a - mean) / std).astype(np.float32) for a in (train, *others))


def l2_normalize(features: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Scale each row to unit Euclidean norm (rows of zeros stay zero)."""
    features = np.asarray(features, dtype=np.float32)
    norm = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norm, eps)


def num_classes_of(*label_arrays: np.ndarray) -> int:
    """Number of classes: one more than the largest label seen in any array."""
    return int(max(int(np.max(a)) for a in label_arrays if a is not None and len(a))) + 1
