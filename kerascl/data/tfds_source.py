"""A TensorFlow Datasets (tfds) data set, by name, as a kerascl source."""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from kerascl.data.images import image_size_pair, resize_image, to_rgb
from kerascl.data.pipeline import (
    AUTOTUNE,
    DEFAULT_AUGMENTER,
    attach_info,
    default_drop_remainder,
    finish_pipeline,
    resolve_augmenter,
    resolve_views,
)


class DatasetUnavailableError(FileNotFoundError):
    """A tfds data set is neither prepared locally nor downloadable. The message names the offline remedies."""


def _remedy(name: str, split: str, data_dir: str | None, download: bool, cause: BaseException) -> str:
    where = data_dir or "the default tfds data_dir (~/tensorflow_datasets or $TFDS_DATA_DIR)"
    if download:
        first = f"tfds could not download and prepare {name!r} (no network?)."
    else:
        first = f"tfds has no prepared copy of {name!r} (split {split!r}) in {where}, and download=False."
    return (
        f"{first}\nCause: {type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}\n"
        "Remedies:\n"
        f"  * read the images from a folder instead: kerascl.data.from_image_folder(path) with "
        f"path/<class>/<image> (or a flat folder of unlabeled images); on the command line pass --data-dir PATH;\n"
        f"  * or prepare the tfds copy on a machine with network (tfds build {name}, or "
        f"kerascl.data.from_tfds({name!r}, download=True)) and pass data_dir= to where it was written."
    )


def _missing_module(error: BaseException) -> ModuleNotFoundError | None:
    """The `ModuleNotFoundError` behind `error` (itself or an explicit `raise ... from` cause), or None.

    tfds imports some of its dependencies lazily, so a missing one surfaces in the middle of
    `download_and_prepare` and must not be mistaken for a network failure. Implicit contexts are not followed: an
    import error that tfds caught and handled is not the cause.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ModuleNotFoundError) and error.name:
            return error
        error = error.__cause__
    return None


def from_tfds(
    name: str,
    split: str = "train",
    *,
    data_dir: str | None = None,
    download: bool = False,
    image_size: int | tuple[int, int] | None = 32,
    batch_size: int = 256,
    views: bool | str = True,
    augmenter: str | Callable | None = DEFAULT_AUGMENTER,
    num_views: int = 2,
    image_key: str = "image",
    label_key: str | None = "label",
    shuffle: bool | None = None,
    shuffle_buffer: int | None = 10_000,
    seed: int | None = None,
    cache: bool | str = False,
    limit: int | None = None,
    drop_remainder: bool | None = None,
    prefetch: bool = True,
) -> tf.data.Dataset:
    """A tfds data set by name (cifar10, cifar100, stl10, imagenette, ...) as a `tf.data` pipeline of batches.

    Without network and without a prepared copy tfds cannot produce the data; this raises
    `DatasetUnavailableError` at once, naming the remedies (an image folder through
    `kerascl.data.from_image_folder(path)` / `--data-dir`, or a copy prepared elsewhere and passed as `data_dir`).

    Args:
        name: the tfds name, optionally with a version or config (`"cifar10"`, `"imagenette/160px"`).
        split: a tfds split, slicing allowed (`"train"`, `"test"`, `"train[:10%]"`, `"unlabelled"` for STL-10).
        data_dir: where the prepared copy lives (None: tfds's default).
        download: let tfds download and prepare the data set (needs network). Off by default so that an offline
            machine fails fast instead of waiting on network timeouts.
        image_size: resize to this side (or `(height, width)`); None keeps the stored size (which must then be
            the same for all images).
        batch_size: examples per batch.
        views: `True` / `"host"` multi-view dicts; `"device"` raw `{"image", "label"}` dicts; `False` plain
            `(images, labels)` batches.
        augmenter: preset name or callable, used when `views=True`.
        num_views: views per image, passed to a preset.
        image_key: the image feature.
        label_key: the label feature (None or absent: unlabeled). Splits named `unlabelled*` are read without
            labels (STL-10 marks them -1).
        shuffle: reshuffle every epoch; None means True for the training forms, False for `views=False`.
        shuffle_buffer: shuffle buffer size.
        seed: shuffle seed (also used for the file order when shuffling).
        cache: cache decoded, resized examples in memory (`True`) or in a file (a path).
        limit: use only the first `limit` examples of the split.
        drop_remainder: drop the last partial batch; None means True for the training forms.
        prefetch: prefetch batches.

    Returns:
        A batched `tf.data.Dataset` with attributes `class_names`, `num_examples`, `steps_per_epoch`,
        `batch_size`.

    Raises:
        DatasetUnavailableError: tfds has no prepared copy and cannot download one.
        ImportError: a module tfds imports on the way is missing (named, with the pip command).
        ValueError: tfds does not know `name`, or the image feature is missing.

    Examples:
        >>> ds = kerascl.data.from_tfds("cifar10", split="train", augmenter="simclr")
        >>> test = kerascl.data.from_tfds("cifar10", split="test", views=False)
    """
    mode = resolve_views(views)
    size = image_size_pair(image_size)
    import tensorflow_datasets as tfds  # slow to import; only needed here

    if shuffle is None:
        shuffle = mode != "images"
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise ValueError(
            f"tfds does not know a data set named {name!r} ({str(error).splitlines()[0]}). See "
            "https://www.tensorflow.org/datasets/catalog, or read your own images with "
            "kerascl.data.from_image_folder(path)."
        ) from error
    try:
        if download:
            builder.download_and_prepare()
        dataset = builder.as_dataset(split=split, shuffle_files=bool(shuffle),
                                     read_config=tfds.ReadConfig(shuffle_seed=seed))
    except Exception as error:  # tfds raises AssertionError, OSError, DownloadError, ... depending on the cause
        if isinstance(error, ValueError) and "split" in str(error).lower():
            raise ValueError(f"Split {split!r} of {name!r}: {error}") from error
        missing = _missing_module(error)
        if missing is not None:
            raise ImportError(
                f"tfds could not {'download and prepare' if download else 'read'} {name!r} because the Python "
                f"module {missing.name!r} is not installed ({type(missing).__name__}: {missing}); the network is not "
                f"the cause. Install it (pip install {missing.name.split('.')[0].replace('_', '-')}) and retry, or "
                "read the images from a folder with kerascl.data.from_image_folder(path) (--data-dir PATH)."
            ) from error
        raise DatasetUnavailableError(_remedy(name, split, data_dir, download, error)) from error

    info = builder.info
    features = info.features
    if image_key not in features:
        raise ValueError(f"{name!r} has no image feature {image_key!r}; its features are {list(features)}.")
    labeled = (
        label_key is not None
        and label_key in features
        and not split.lower().startswith("unlabelled")
        and not split.lower().startswith("unlabeled")
    )
    class_names = None
    if labeled and hasattr(features[label_key], "names"):
        class_names = list(features[label_key].names)
    try:
        count = int(info.splits[split].num_examples)
    except Exception:  # an unusual split expression: size unknown
        count = None
    if limit is not None:
        dataset = dataset.take(int(limit))
        count = int(limit) if count is None else min(count, int(limit))

    def convert(example):
        image = to_rgb(example[image_key])
        if size is not None:
            image = resize_image(image, size, crop_to_aspect_ratio=True)
        out = {"image": image}
        if labeled:
            out["label"] = tf.cast(example[label_key], tf.int32)
        return out

    examples = dataset.map(convert, num_parallel_calls=AUTOTUNE)
    if size is None:
        stored = features[image_key].shape
        if stored[0] is None or stored[1] is None:
            raise ValueError(f"{name!r} stores images of different sizes; pass image_size=.")
        size = (stored[0], stored[1])
    augment = resolve_augmenter(augmenter, size, num_views) if mode == "host" else None
    if drop_remainder is None:
        drop_remainder = default_drop_remainder(mode)
    result = finish_pipeline(
        examples,
        mode=mode,
        batch_size=batch_size,
        augmenter=augment,
        shuffle=shuffle,
        shuffle_buffer=shuffle_buffer,
        seed=seed,
        cache=cache,
        drop_remainder=drop_remainder,
        prefetch=prefetch,
    )
    return attach_info(result, num_examples=count, batch_size=batch_size, drop_remainder=drop_remainder,
                       class_names=class_names)
