"""In-memory numpy arrays as a kerascl source."""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from kerascl.data.images import image_size_pair, resize_image
from kerascl.input_checks import image_range_problem
from kerascl.data.pipeline import (
    AUTOTUNE,
    DEFAULT_AUGMENTER,
    attach_info,
    check_batch_fits,
    default_drop_remainder,
    finish_pipeline,
    resolve_augmenter,
    resolve_views,
)


def check_image_array(images: np.ndarray) -> np.ndarray:
    """Validates an image array and returns it as `(N, H, W, 3)` uint8 (0..255) or float32 (0..1).

    Accepted: `(N, H, W, 3)`, `(N, H, W, 1)` or `(N, H, W)` (grayscale, repeated to RGB), `(N, H, W, 4)` (alpha
    dropped); dtype uint8 with values 0..255, or a float dtype with values in [0, 1].

    Args:
        images: the array (anything `np.asarray` accepts).

    Returns:
        The array in NHWC RGB form, uint8 or float32.

    Raises:
        ValueError: wrong rank, channel count, empty array, or float values outside [0, 1] (the message tells
            0..255 values, [-1, 1] values and values divided by 255 twice apart, see
            `kerascl.input_checks.image_range_problem`).
        TypeError: a dtype other than uint8 or float.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        pass
    elif np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float32, copy=False)
    else:
        raise TypeError(
            f"images must be uint8 (0..255) or float (0..1), got dtype {images.dtype}. Convert them, e.g. "
            "images.astype('uint8') for 0..255 integers or images.astype('float32') / 255 for floats."
        )
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(
            f"images must have shape (N, H, W, 3) (or (N, H, W) / (N, H, W, 1) for grayscale), got {images.shape}."
        )
    if images.shape[0] == 0:
        raise ValueError("images is empty (N = 0).")
    channels = images.shape[-1]
    if channels not in (1, 3, 4):
        hint = " It looks channels-first (N, C, H, W); transpose it with images.transpose(0, 2, 3, 1)." if (
            images.shape[1] in (1, 3, 4)
        ) else ""
        raise ValueError(f"images must have 1, 3 or 4 channels in the last axis, got shape {images.shape}.{hint}")
    if images.dtype == np.float32:
        problem = image_range_problem(float(np.min(images)), float(np.max(images)), "float images")
        if problem:
            raise ValueError(problem)
    if channels == 1:
        images = np.repeat(images, 3, axis=-1)
    elif channels == 4:
        images = images[..., :3]
    return images


def _check_labels(labels, n: int, name: str = "labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got {labels.shape}.")
    if labels.shape[0] != n:
        raise ValueError(f"{name} has {labels.shape[0]} entries but images has {n}.")
    if not np.issubdtype(labels.dtype, np.integer):
        if np.issubdtype(labels.dtype, np.floating) and np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
        else:
            raise TypeError(f"{name} must be integer class indices, got dtype {labels.dtype}.")
    return labels.astype(np.int32)


def from_arrays(
    images: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    attributes: np.ndarray | None = None,
    image_size: int | tuple[int, int] | None = None,
    batch_size: int = 256,
    views: bool | str = True,
    augmenter: str | Callable | None = DEFAULT_AUGMENTER,
    num_views: int = 2,
    shuffle: bool | None = None,
    shuffle_buffer: int | None = None,
    seed: int | None = None,
    drop_remainder: bool | None = None,
    prefetch: bool = True,
) -> tf.data.Dataset:
    """Numpy arrays as a `tf.data` pipeline of batches.

    Args:
        images: `(N, H, W, 3)` uint8 (0..255) or float (0..1); `(N, H, W)` / `(N, H, W, 1)` grayscale is repeated
            to RGB, `(N, H, W, 4)` has its alpha dropped.
        labels: optional `(N,)` integer class indices.
        attributes: optional `(N, p)` float weak attributes, passed through as the `"attributes"` key.
        image_size: resize to this side (or `(height, width)`); None keeps the arrays' size.
        batch_size: examples per batch.
        views: `True` / `"host"` multi-view dicts made by `augmenter` in tf.data; `"device"` raw
            `{"image", "label", "attributes"}` dicts; `False` plain `(images, labels)` (or `images`) batches.
        augmenter: preset name for `kerascl.augment.get_preset`, or any callable
            `augmenter(images, training=True) -> dict`; used when `views=True`.
        num_views: views per image, passed to a preset.
        shuffle: reshuffle every epoch; None means True for the training forms, False for `views=False`.
        shuffle_buffer: shuffle buffer size (None: the whole array).
        seed: shuffle seed.
        drop_remainder: drop the last partial batch; None means True for the training forms.
        prefetch: prefetch batches.

    Returns:
        A batched `tf.data.Dataset` with attributes `num_examples`, `steps_per_epoch`, `batch_size`.

    Raises:
        ValueError: wrong shapes, or float values outside [0, 1].
        TypeError: unsupported dtypes.

    Examples:
        >>> (x, y), _ = keras.datasets.cifar10.load_data()
        >>> ds = kerascl.data.from_arrays(x, y, batch_size=256, augmenter="byol")
    """
    mode = resolve_views(views)
    images = check_image_array(images)
    n = images.shape[0]
    sources = {"image": images}
    if labels is not None:
        sources["label"] = _check_labels(labels, n)
    if attributes is not None:
        attributes = np.asarray(attributes, dtype=np.float32)
        if attributes.ndim == 1:
            attributes = attributes[:, None]
        if attributes.ndim != 2 or attributes.shape[0] != n:
            raise ValueError(f"attributes must have shape (N, p) with N = {n}, got {attributes.shape}.")
        sources["attributes"] = attributes
    size = image_size_pair(image_size)
    if size is None:
        size = tuple(images.shape[1:3])
    if shuffle is None:
        shuffle = mode != "images"
    if drop_remainder is None:
        drop_remainder = default_drop_remainder(mode)
    augment = resolve_augmenter(augmenter, size, num_views) if mode == "host" else None
    check_batch_fits(n, batch_size, drop_remainder)  # before the pipeline traces the augmenter

    examples = tf.data.Dataset.from_tensor_slices(sources)
    if size != tuple(images.shape[1:3]):
        def resize(example):
            example = dict(example)
            example["image"] = resize_image(example["image"], size, crop_to_aspect_ratio=True)
            return example

        examples = examples.map(resize, num_parallel_calls=AUTOTUNE)
    if drop_remainder is None:
        drop_remainder = default_drop_remainder(mode)
    dataset = finish_pipeline(
        examples,
        mode=mode,
        batch_size=batch_size,
        augmenter=augment,
        shuffle=shuffle,
        shuffle_buffer=shuffle_buffer or n,
        seed=seed,
        drop_remainder=drop_remainder,
        prefetch=prefetch,
    )
    return attach_info(dataset, num_examples=n, batch_size=batch_size, drop_remainder=drop_remainder)
