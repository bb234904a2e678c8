"""A folder of image files as a kerascl source: class subfolders (labeled) or a flat folder (unlabeled).

Files are listed and checked on the host before the `tf.data` pipeline is built, so a corrupt or unreadable file
is reported by name (or skipped and counted, with `skip_corrupt=True`) instead of failing later inside the
pipeline with an error that does not say which file it was.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from kerascl.data.images import decode_rgb, image_size_pair, resize_image
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

logger = logging.getLogger("kerascl.data")

#: File name endings read as images (compared case-insensitively).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")

_VALIDATE_LEVELS = ("full", "header", "none")


class CorruptImageError(ValueError):
    """An image file could not be read or decoded. The message names the file(s) and the remedy."""


@dataclasses.dataclass
class FolderReport:
    """What `from_image_folder` found: files used, files skipped and why, classes.

    Attributes:
        path: the folder that was read.
        num_files: image files found (after `limit`, before skipping).
        num_used: files in the dataset (`num_files - num_skipped`).
        num_skipped: corrupt or unreadable files left out (only with `skip_corrupt=True`).
        skipped: `(file, reason)` for each skipped file.
        class_names: class names in label order, or None for an unlabeled folder.
        class_counts: files used per class name (empty for an unlabeled folder).
        validate: the check that was run (`"full"`, `"header"` or `"none"`).
        validate_seconds: time the check took.
    """

    path: str
    num_files: int
    num_used: int
    num_skipped: int = 0
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    class_names: list[str] | None = None
    class_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    validate: str = "full"
    validate_seconds: float = 0.0

    def __str__(self) -> str:
        kind = f"{len(self.class_names)} classes" if self.class_names else "unlabeled"
        text = f"{self.path}: {self.num_used} images used ({kind}), {self.num_skipped} skipped"
        for file, reason in self.skipped[:10]:
            text += f"\n  skipped {file}: {reason}"
        if self.num_skipped > 10:
            text += f"\n  ... and {self.num_skipped - 10} more"
        return text


def _is_image_name(name: str, extensions: Sequence[str]) -> bool:
    return not name.startswith(".") and name.lower().endswith(tuple(extensions))


def _files_in(folder: str, recursive: bool, extensions: Sequence[str]) -> list[str]:
    if not recursive:
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries if e.is_file() and _is_image_name(e.name, extensions))
        return [os.path.join(folder, n) for n in names]
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, f) for f in sorted(files) if _is_image_name(f, extensions))
    return found


def _subfolders(path: str) -> list[str]:
    with os.scandir(path) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def list_image_files(
    path: str,
    *,
    labels: str | None = "auto",
    class_names: Sequence[str] | None = None,
    recursive: bool = False,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
) -> tuple[list[str], np.ndarray | None, list[str] | None]:
    """Lists the image files of a folder, with labels from class subfolder names.

    Files come in a fixed order: for a labeled folder, round-robin over the classes (the first file of every class,
    then the second, ...), each class's files sorted by path; for an unlabeled folder, sorted by path. So the first
    `N` files are the same on every run and, for a labeled folder, balanced over the classes.

    Args:
        path: the folder.
        labels: `"auto"` (class subfolders when any subfolder holds images, else an unlabeled flat folder),
            `"inferred"` (class subfolders required) or None (unlabeled: the images directly in `path`, or all
            images below it with `recursive=True`).
        class_names: for a labeled folder, the subfolders to use, in label order (default: all, sorted).
        recursive: also read images in nested subfolders (of `path` when unlabeled, of each class folder when
            labeled).
        extensions: file name endings to read.

    Returns:
        `(files, labels, class_names)`; `labels` (int32) and `class_names` are None for an unlabeled folder.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"Image folder {path!r} does not exist.")
    if not os.path.isdir(path):
        raise NotADirectoryError(f"{path!r} is not a folder. Pass the folder that holds the images.")
    if labels not in ("auto", "inferred", None):
        raise ValueError(f"labels must be 'auto', 'inferred' or None, got {labels!r}.")

    labeled = labels == "inferred" or class_names is not None
    per_class: dict[str, list[str]] = {}
    if labels is not None:
        names = list(class_names) if class_names is not None else _subfolders(path)
        for name in names:
            folder = os.path.join(path, name)
            if not os.path.isdir(folder):
                raise FileNotFoundError(f"Class folder {folder!r} does not exist (from class_names).")
            per_class[name] = _files_in(folder, recursive, extensions)
        if labels == "auto" and any(per_class.values()):
            labeled = True

    if labeled:
        if not per_class or not any(per_class.values()):
            raise FileNotFoundError(
                f"No images ({', '.join(extensions)}) in class subfolders of {path!r}. Expected "
                f"{path}/<class>/<image>; for a flat folder of unlabeled images pass labels=None"
                + ("" if recursive else ", and recursive=True if the images sit in nested folders")
                + "."
            )
        for name, files in per_class.items():
            if not files:
                logger.warning("Class folder %r holds no images; its label is kept but has no examples.", name)
        top_level = _files_in(path, False, extensions)
        if top_level:
            logger.warning(
                "%d images directly in %s are ignored because the folder has class subfolders; pass labels=None, "
                "recursive=True to read every image unlabeled.",
                len(top_level),
                path,
            )
        names = list(per_class)
        files, label_list = [], []
        longest = max(len(f) for f in per_class.values())
        for i in range(longest):
            for label, name in enumerate(names):
                if i < len(per_class[name]):
                    files.append(per_class[name][i])
                    label_list.append(label)
        return files, np.asarray(label_list, dtype=np.int32), names

    files = _files_in(path, recursive, extensions)
    if not files:
        hint = "" if recursive else " Pass recursive=True to look in nested folders."
        raise FileNotFoundError(f"No images ({', '.join(extensions)}) found in {path!r}.{hint}")
    return files, None, None


def check_header(file: str) -> str | None:
    """Cheap check of one image file: readable, non-empty, and starting with a JPEG, PNG, GIF or BMP signature.

    Returns:
        None when the file looks like an image, else the reason it does not.
    """
    try:
        with open(file, "rb") as handle:
            head = handle.read(16)
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    if not head:
        return "is empty (0 bytes)"
    if head.startswith(b"\xff\xd8\xff") or head.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    if head[:6] in (b"GIF87a", b"GIF89a") or head.startswith(b"BM"):
        return None
    return "is not a JPEG, PNG, GIF or BMP image (unrecognised file signature)"


def _decode_check(contents: tf.Tensor) -> tf.Tensor:
    """Fully decodes an image (JPEG at 1/8 scale, which still reads the whole stream); returns its pixel count."""
    image = tf.cond(
        tf.io.is_jpeg(contents),
        lambda: tf.io.decode_jpeg(contents, channels=3, ratio=8),
        lambda: tf.io.decode_image(contents, channels=3, expand_animations=False),
    )
    return tf.size(image)


def find_undecodable(files: Sequence[str]) -> list[int]:
    """Indices of the files TensorFlow's own decoder rejects (decoded in parallel with tf.data).

    Args:
        files: image file paths.

    Returns:
        Sorted indices into `files` of the files that failed to read or decode.
    """
    if not files:
        return []
    indices = tf.data.Dataset.range(len(files))
    paths = tf.data.Dataset.from_tensor_slices(tf.constant(list(files)))
    checks = tf.data.Dataset.zip((indices, paths)).map(
        lambda i, p: (i, _decode_check(tf.io.read_file(p))), num_parallel_calls=AUTOTUNE
    )
    checks = checks.ignore_errors().map(lambda i, n: i).batch(8192)
    ok = np.zeros(len(files), dtype=bool)
    for batch in checks.as_numpy_iterator():
        ok[batch] = True
    return np.flatnonzero(~ok).tolist()


def validate_files(files: Sequence[str], level: str = "full") -> dict[int, str]:
    """Checks image files before they enter a pipeline.

    Args:
        files: image file paths.
        level: `"header"` (readable, non-empty, known signature; about a microsecond per file), `"full"` (header,
            then a full decode with TensorFlow's decoder, in parallel) or `"none"`.

    Returns:
        `{index: reason}` for each bad file.
    """
    if level not in _VALIDATE_LEVELS:
        raise ValueError(f"validate must be one of {_VALIDATE_LEVELS}, got {level!r}.")
    if level == "none":
        return {}
    bad = {}
    for i, file in enumerate(files):
        reason = check_header(file)
        if reason is not None:
            bad[i] = reason
    if level == "full":
        good = [i for i in range(len(files)) if i not in bad]
        failed = find_undecodable([files[i] for i in good])
        for j in failed:
            bad[good[j]] = "could not be decoded (truncated or corrupt image data)"
    return bad


def _corrupt_message(bad: dict[int, str], files: Sequence[str]) -> str:
    lines = [f"  {files[i]} {reason}" for i, reason in list(bad.items())[:10]]
    more = f"\n  ... and {len(bad) - 10} more" if len(bad) > 10 else ""
    return (
        f"{len(bad)} image file(s) cannot be used:\n" + "\n".join(lines) + more + "\n"
        "Remove or replace them, or leave them out (logged, and counted in the dataset's report): "
        "skip_corrupt=True in Python, --skip-corrupt on the command line (kerascl recipe / compare / probe)."
    )


def _default_buffer(count: int, size: tuple[int, int]) -> int:
    """Whole dataset when it fits in about 1 GB of uint8 images, else as many images as do (at least 1,000)."""
    return int(min(count, max(1_000, 1_000_000_000 // (size[0] * size[1] * 3))))


def from_image_folder(
    path: str,
    *,
    image_size: int | tuple[int, int] = 32,
    batch_size: int = 256,
    views: bool | str = True,
    augmenter: str | Callable | None = DEFAULT_AUGMENTER,
    num_views: int = 2,
    labels: str | None = "auto",
    class_names: Sequence[str] | None = None,
    recursive: bool = False,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
    limit: int | None = None,
    shuffle: bool | None = None,
    shuffle_buffer: int | None = None,
    seed: int | None = None,
    cache: bool | str = False,
    drop_remainder: bool | None = None,
    prefetch: bool = True,
    crop_to_aspect_ratio: bool = True,
    interpolation: str = "bilinear",
    validate: str = "full",
    skip_corrupt: bool = False,
) -> tf.data.Dataset:
    """A folder of images (labeled by class subfolders, or unlabeled) as a `tf.data` pipeline of batches.

    Layouts: `path/<class>/<image>` gives labels `0..C-1` from the sorted class folder names
    (`dataset.class_names`); a flat `path/<image>` folder gives unlabeled batches (no `"label"` key). JPEG, PNG,
    GIF (first frame) and BMP files are read; grayscale is repeated to RGB and an alpha channel dropped; every
    image is resized to `image_size` (a central crop to the target aspect ratio first, unless
    `crop_to_aspect_ratio=False`). Files are decoded in parallel (`tf.data.AUTOTUNE`).

    Before building the pipeline every file is checked (`validate`); a bad file raises `CorruptImageError` naming
    it, or with `skip_corrupt=True` is left out, logged as a warning and counted in `dataset.report`.

    Args:
        path: the image folder.
        image_size: side (or `(height, width)`) every image is resized to.
        batch_size: examples per batch.
        views: output form. `True` / `"host"`: multi-view dicts `{"view_1", "view_2", "params_1", "params_2",
            "label"}` made by `augmenter` in the tf.data pipeline; `"device"`: raw `{"image", "label"}` dicts for a
            method that augments on the accelerator; `False`: plain `(images, labels)` batches (`images` alone when
            unlabeled), for probes.
        augmenter: preset name for `kerascl.augment.get_preset`, or any callable
            `augmenter(images, training=True) -> dict`; used when `views=True`.
        num_views: views per image, passed to a preset.
        labels: `"auto"`, `"inferred"` or None (see `list_image_files`).
        class_names: class subfolders to use, in label order (default: all, sorted).
        recursive: also read images in nested folders.
        extensions: file name endings to read.
        limit: use only the first `limit` files of the fixed listing order (balanced round-robin over classes).
        shuffle: reshuffle every epoch; None means True for the training forms and False for `views=False`.
        shuffle_buffer: shuffle buffer for cached datasets (uncached ones shuffle the whole file list).
        seed: shuffle seed.
        cache: `True` keeps decoded, resized images in memory after the first epoch; a string caches to that file.
        drop_remainder: drop the last partial batch; None means True for the training forms, False for
            `views=False`.
        prefetch: prefetch batches.
        crop_to_aspect_ratio: centre-crop to the target aspect ratio before resizing (no stretching).
        interpolation: resize method (`"bilinear"`, `"bicubic"`, `"area"`, `"nearest"`).
        validate: `"full"` (decode every file once with TensorFlow, in parallel), `"header"` (file signature
            only; fast for very large folders, but a truncated file then fails inside the pipeline) or `"none"`.
        skip_corrupt: leave bad files out instead of raising.

    Returns:
        A batched `tf.data.Dataset` with attributes `class_names` (None when unlabeled), `num_examples`,
        `steps_per_epoch`, `batch_size` and `report` (a `FolderReport`).

    Raises:
        FileNotFoundError: the folder does not exist or holds no images.
        CorruptImageError: some files cannot be decoded and `skip_corrupt` is False.

    Examples:
        >>> ds = kerascl.data.from_image_folder("cifar10/train", image_size=32, batch_size=256)
        >>> batch = next(iter(ds))     # {"view_1", "view_2", "params_1", "params_2", "label"}
        >>> probe_ds = kerascl.data.from_image_folder("cifar10/test", views=False)  # (images, labels)
    """
    mode = resolve_views(views)
    size = image_size_pair(image_size)
    if size is None:
        raise ValueError("image_size is required for an image folder (its files may have different sizes).")
    path = os.fspath(path)
    files, label_array, names = list_image_files(
        path, labels=labels, class_names=class_names, recursive=recursive, extensions=extensions
    )
    if limit is not None:
        if int(limit) < 1:
            raise ValueError(f"limit must be a positive integer, got {limit!r}.")
        files = files[: int(limit)]
        label_array = None if label_array is None else label_array[: int(limit)]

    start = time.perf_counter()
    bad = validate_files(files, validate)
    seconds = time.perf_counter() - start
    report = FolderReport(path=path, num_files=len(files), num_used=len(files), class_names=names,
                          validate=validate, validate_seconds=seconds)
    if bad:
        if not skip_corrupt:
            raise CorruptImageError(_corrupt_message(bad, files))
        report.skipped = [(files[i], reason) for i, reason in sorted(bad.items())]
        report.num_skipped = len(bad)
        keep = np.asarray([i not in bad for i in range(len(files))])
        files = [f for f, k in zip(files, keep) if k]
        label_array = None if label_array is None else label_array[keep]
        report.num_used = len(files)
        logger.warning("Skipped %d corrupt or unreadable image(s) in %s, e.g. %s: %s", len(bad), path,
                       report.skipped[0][0], report.skipped[0][1])
        if not files:
            raise CorruptImageError(f"Every image file in {path!r} is corrupt or unreadable.\n" + str(report))
    if names is not None:
        counts = np.bincount(label_array, minlength=len(names))
        report.class_counts = {name: int(c) for name, c in zip(names, counts)}

    if shuffle is None:
        shuffle = mode != "images"
    if drop_remainder is None:
        drop_remainder = default_drop_remainder(mode)
    augment = resolve_augmenter(augmenter, size, num_views) if mode == "host" else None
    check_batch_fits(len(files), batch_size, drop_remainder)  # before the pipeline traces the augmenter

    sources = {"path": tf.constant(files)}
    if label_array is not None:
        sources["label"] = tf.constant(label_array, dtype=tf.int32)
    examples = tf.data.Dataset.from_tensor_slices(sources)
    if shuffle and not cache:
        # Shuffling the file list is cheap and gives a full shuffle; decoded images are never buffered.
        examples = examples.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)

    def load(example):
        image = decode_rgb(tf.io.read_file(example["path"]))
        out = {"image": resize_image(image, size, crop_to_aspect_ratio=crop_to_aspect_ratio,
                                     interpolation=interpolation)}
        if "label" in example:
            out["label"] = example["label"]
        return out

    examples = examples.map(load, num_parallel_calls=AUTOTUNE)
    if drop_remainder is None:
        drop_remainder = default_drop_remainder(mode)
    dataset = finish_pipeline(
        examples,
        mode=mode,
        batch_size=batch_size,
        augmenter=augment,
        shuffle=bool(shuffle and cache),
        shuffle_buffer=shuffle_buffer or _default_buffer(len(files), size),
        seed=seed,
        cache=cache,
        drop_remainder=drop_remainder,
        prefetch=prefetch,
    )
    return attach_info(dataset, num_examples=len(files), batch_size=batch_size, drop_remainder=drop_remainder,
                       class_names=names, report=report)
