"""The batching stage every kerascl source shares: shuffle, batch, and one of three output forms.

A source (tfds, image folder, arrays, synthetic shapes) produces a `tf.data.Dataset` of single examples, each a dict
`{"image": (H, W, 3) uint8 or float32, "label": () int32, "attributes": (p,) float32}` (label and attributes only
where the source has them). `finish_pipeline` turns it into batches in the form the caller asked for with `views=`:

| `views=` | batch | use |
|---|---|---|
| `True` or `"host"` | `{"view_1", "view_2", ..., "params_1", ..., "label", "attributes"}` | pretraining, views made in `tf.data` |
| `"device"` | `{"image", "label", "attributes"}` | pretraining, views made in the compiled step |
| `False` | `(images, labels)`, or `images` when unlabeled | probes, plain evaluation |

Images in every batch are float32 in [0, 1], NHWC (docs/architecture.md).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable

import tensorflow as tf

from kerascl.input_checks import zero_steps_message

logger = logging.getLogger("kerascl.data")

AUTOTUNE = tf.data.AUTOTUNE

#: Preset used when `views=True` and no `augmenter` is given.
DEFAULT_AUGMENTER = "simclr"

_VIEW_MODES = {True: "host", "host": "host", False: "images", "images": "images", "device": "device"}


def resolve_views(views: bool | str) -> str:
    """Normalises the `views=` argument of a source to `"host"`, `"device"` or `"images"`.

    Args:
        views: `True` / `"host"` (multi-view dicts made in tf.data), `"device"` (raw `{"image": ...}` dicts, views
            made later on the accelerator) or `False` / `"images"` (plain `(images, labels)` batches).

    Returns:
        One of `"host"`, `"device"`, `"images"`.
    """
    if isinstance(views, (bool, str)) and views in _VIEW_MODES:
        return _VIEW_MODES[views]
    raise ValueError(
        f"views={views!r} is not understood. Use views=True (or 'host') for multi-view dict batches made in the "
        "tf.data pipeline, views='device' for raw {'image': ...} batches that a method augments on the accelerator, "
        "or views=False for plain (images, labels) batches."
    )


def resolve_augmenter(augmenter: str | Callable | None, image_size: int | tuple[int, int], num_views: int) -> Callable:
    """Turns a preset name into an augmenter; passes a callable through.

    Args:
        augmenter: a preset name of `kerascl.augment.get_preset` (e.g. `"simclr"`, `"byol"`), any callable
            `augmenter(images, training=True) -> {"view_1", ..., "params_1", ...}`, or `None` for the default
            preset (`"simclr"`).
        image_size: output side of the views, passed to the preset.
        num_views: number of views, passed to the preset.

    Returns:
        A callable taking a float32 `(B, H, W, 3)` batch and `training=True`.
    """
    if augmenter is None:
        augmenter = DEFAULT_AUGMENTER
    if isinstance(augmenter, str):
        try:
            from kerascl.augment import get_preset
        except ImportError as error:  # pragma: no cover - depends on the install
            raise ImportError(
                f"augmenter={augmenter!r} names a preset of kerascl.augment, which could not be imported "
                f"({error}). Pass a callable augmenter instead."
            ) from error
        size = image_size if isinstance(image_size, int) else image_size[0]
        return get_preset(augmenter, image_size=size, num_views=num_views)
    if callable(augmenter):
        return augmenter
    raise TypeError(
        f"augmenter must be a preset name (str) or a callable augmenter(images, training=True) -> dict of views; "
        f"got {type(augmenter).__name__}."
    )


def default_drop_remainder(mode: str) -> bool:
    """Training forms drop the last partial batch (fixed shapes for compiled steps); the plain form keeps it."""
    return mode != "images"


def to_float_images(images: tf.Tensor) -> tf.Tensor:
    """uint8 0..255 -> float32 0..1; float input is cast to float32 unchanged."""
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0
    return tf.cast(images, tf.float32)


def _views_batch(augmenter: Callable, has_label: bool, has_attributes: bool) -> Callable:
    def make_views(batch: dict) -> dict:
        out = augmenter(batch["image"], training=True)
        if not isinstance(out, dict) or "view_1" not in out:
            raise TypeError(
                "The augmenter must return a dict with at least 'view_1' (and 'view_2', 'params_1', ...); got "
                f"{type(out).__name__}{' with keys ' + str(sorted(out)) if isinstance(out, dict) else ''}."
            )
        out = dict(out)
        if has_label:
            out["label"] = batch["label"]
        if has_attributes:
            out["attributes"] = batch["attributes"]
        return out

    return make_views


def finish_pipeline(
    examples: tf.data.Dataset,
    *,
    mode: str,
    batch_size: int,
    augmenter: Callable | None = None,
    shuffle: bool = False,
    shuffle_buffer: int | None = None,
    seed: int | None = None,
    cache: bool | str = False,
    drop_remainder: bool | None = None,
    prefetch: bool = True,
) -> tf.data.Dataset:
    """Caches, shuffles and batches a dataset of single examples and puts it in the requested output form.

    Args:
        examples: dataset of dicts with `"image"` (H, W, 3) and optionally `"label"`, `"attributes"`.
        mode: `"host"`, `"device"` or `"images"` (see `resolve_views`).
        batch_size: examples per batch.
        augmenter: the callable making the views (mode `"host"` only).
        shuffle: reshuffle the examples every epoch.
        shuffle_buffer: size of the shuffle buffer (None: 10,000).
        seed: shuffle seed (None: different order every run).
        cache: `True` caches decoded examples in memory, a string caches them to that file path.
        drop_remainder: drop the last partial batch; None picks True for the training forms and False for
            `"images"`.
        prefetch: prefetch batches (`tf.data.AUTOTUNE`).

    Returns:
        The batched `tf.data.Dataset`.
    """
    if batch_size is None or int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    spec = examples.element_spec
    has_label = "label" in spec
    has_attributes = "attributes" in spec
    if cache:
        examples = examples.cache(cache if isinstance(cache, str) else "")
    if shuffle:
        examples = examples.shuffle(shuffle_buffer or 10_000, seed=seed, reshuffle_each_iteration=True)
    if drop_remainder is None:
        drop_remainder = default_drop_remainder(mode)
    batches = examples.batch(int(batch_size), drop_remainder=drop_remainder, num_parallel_calls=AUTOTUNE)

    def to_float(batch):
        batch = dict(batch)
        batch["image"] = to_float_images(batch["image"])
        return batch

    batches = batches.map(to_float, num_parallel_calls=AUTOTUNE)
    if mode == "host":
        if augmenter is None:
            raise ValueError("views=True needs an augmenter (a preset name or a callable).")
        batches = batches.map(_views_batch(augmenter, has_label, has_attributes), num_parallel_calls=AUTOTUNE)
    elif mode == "images":
        if has_label:
            batches = batches.map(lambda b: (b["image"], b["label"]), num_parallel_calls=AUTOTUNE)
        else:
            batches = batches.map(lambda b: b["image"], num_parallel_calls=AUTOTUNE)
    elif mode != "device":
        raise ValueError(f"unknown mode {mode!r}")
    if prefetch:
        batches = batches.prefetch(AUTOTUNE)
    return batches.with_options(pipeline_options())


def pipeline_options() -> tf.data.Options:
    """The `tf.data` options of kerascl's pipelines: autotuning off.

    tf.data's autotuning thread sleeps up to a minute between rounds, and an iterator's destructor can wait for it
    with the CPU idle: Keras drops the epoch's iterator at each epoch boundary and when `fit` returns, and a run
    then paused for up to about 40 s at random (seen with py-spy and gdb: the main thread in
    `RootDataset::Iterator::~Iterator`, the autotuning thread in `Model::OptimizeLoop`; docs/recipes.md). Without
    autotuning, `AUTOTUNE` parallelism is the number of cores; a BYOL view pipeline measured the same throughput.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def check_batch_fits(num_examples: int | None, batch_size: int, drop_remainder: bool) -> None:
    """Raises `ValueError` when batches that drop the remainder would leave an epoch with 0 steps.

    Args:
        num_examples: Examples in the source (None: unknown, nothing to check).
        batch_size: Examples per batch.
        drop_remainder: Whether the last partial batch is dropped.

    Raises:
        ValueError: fewer examples than `batch_size` with `drop_remainder=True`; the message names both numbers and
            the fixes.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        return  # finish_pipeline reports a bad batch size
    if drop_remainder and num_examples is not None and num_examples < batch_size:
        raise ValueError(zero_steps_message(num_examples, batch_size, "The data"))


def attach_info(
    dataset: tf.data.Dataset,
    *,
    num_examples: int | None,
    batch_size: int,
    drop_remainder: bool,
    class_names: list[str] | None = None,
    report: Any = None,
) -> tf.data.Dataset:
    """Records what is known about a source on the returned dataset object.

    Sets `dataset.num_examples`, `dataset.steps_per_epoch`, `dataset.class_names` and `dataset.report`. These
    attributes live on this dataset object only (a `.map` or `.take` returns a new object without them); use
    `kerascl.data.num_examples` / `kerascl.data.steps_per_epoch`, which fall back to the dataset's cardinality.

    Raises:
        ValueError: the batches drop the remainder and there are fewer examples than `batch_size`, so an epoch
            would have 0 steps (the message names both numbers and the fixes).
    """
    check_batch_fits(num_examples, batch_size, drop_remainder)
    dataset.num_examples = num_examples
    if num_examples is None:
        steps = None
    elif drop_remainder:
        steps = num_examples // batch_size
    else:
        steps = math.ceil(num_examples / batch_size)
    dataset.steps_per_epoch = steps
    dataset.batch_size = batch_size
    dataset.class_names = class_names
    dataset.report = report
    return dataset


def num_examples(dataset: tf.data.Dataset) -> int | None:
    """Number of examples one pass over a kerascl source yields, when known.

    Args:
        dataset: a dataset returned by a `kerascl.data` source (or any `tf.data.Dataset`).

    Returns:
        The count recorded by the source (after `limit` and skipped files), or None when unknown (for a dataset
        that was transformed after the source returned it, or one that is not from kerascl).

    Examples:
        >>> ds = kerascl.data.from_shapes(100, batch_size=32, views=False)
        >>> kerascl.data.num_examples(ds)
        100
    """
    return getattr(dataset, "num_examples", None)


def steps_per_epoch(dataset: tf.data.Dataset) -> int | None:
    """Number of batches in one pass over a dataset, when known.

    Uses what the source recorded, else the dataset's static cardinality (known for most finite pipelines).

    Args:
        dataset: a batched `tf.data.Dataset`.

    Returns:
        The number of batches, or None for an infinite (`.repeat()`) or unknown-size dataset.

    Examples:
        >>> ds = kerascl.data.from_shapes(100, batch_size=32, views=False)
        >>> kerascl.data.steps_per_epoch(ds)
        4
    """
    steps = getattr(dataset, "steps_per_epoch", None)
    if steps is not None:
        return int(steps)
    cardinality = int(dataset.cardinality())
    if cardinality < 0:  # tf.data.INFINITE_CARDINALITY (-1) or UNKNOWN_CARDINALITY (-2)
        return None
    return cardinality


def _is_image_spec(spec: Any) -> bool:
    return isinstance(spec, tf.TensorSpec) and spec.shape.rank == 4


def as_views(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Turns a dataset of view tuples into kerascl's multi-view dict batches.

    Accepts batches shaped `(v1, v2, ..., vk)`, `((v1, ..., vk),)` or `((v1, ..., vk), labels)`, each `v` a
    `(B, H, W, 3)` image batch, and yields `{"view_1": v1, ..., "view_k": vk}` plus `"label"` where labels were
    given. Use it to feed views made by your own code to a kerascl method.

    Args:
        dataset: a batched `tf.data.Dataset` of view tuples.

    Returns:
        A `tf.data.Dataset` of dicts.

    Examples:
        >>> pairs = tf.data.Dataset.from_tensor_slices((x1, x2)).batch(32)
        >>> ds = kerascl.data.as_views(pairs)   # {"view_1": ..., "view_2": ...}
    """
    spec = dataset.element_spec
    labelled = False
    if isinstance(spec, tuple) and len(spec) in (1, 2) and isinstance(spec[0], tuple):
        labelled = len(spec) == 2
        views_spec = spec[0]
    elif isinstance(spec, tuple):
        views_spec = spec
    else:
        raise TypeError(
            f"as_views expects a dataset of tuples of image batches (v1, v2, ...), got elements {spec}. A dataset "
            "already made of dicts needs no conversion."
        )
    if len(views_spec) < 2 or not all(_is_image_spec(s) for s in views_spec):
        raise TypeError(
            "as_views expects at least two views, each a batched image tensor (B, H, W, 3); got "
            f"{views_spec}. Batch the dataset first (dataset.batch(n))."
        )
    if labelled and not isinstance(spec[1], tf.TensorSpec):
        raise TypeError(f"as_views: the second element must be a label tensor, got {spec[1]}.")

    def to_dict(*element):
        views = element[0] if isinstance(spec[0], tuple) else element
        out = {f"view_{i + 1}": tf.cast(v, tf.float32) for i, v in enumerate(views)}
        if labelled:
            out["label"] = tf.cast(element[1], tf.int32)
        return out

    return dataset.map(to_dict, num_parallel_calls=AUTOTUNE)
