"""A synthetic data set of coloured shapes with known factors, generated on the fly (no download).

The class is the shape; every other factor is style, drawn independently of the class:

| factor | key in `factors` | range |
|---|---|---|
| shape (the class) | `shape` | int, index into `class_names` |
| foreground hue | `hue` | [0, 1), circular |
| foreground brightness | `brightness` | [0.75, 1.0] (HSV value; saturation 0.85) |
| centre, horizontal | `x` | fraction of the width, keeps the shape inside |
| centre, vertical | `y` | fraction of the height |
| scale (radius / side) | `scale` | [0.15, 0.3] by default (`scale_range` sets it) |
| background hue | `bg_hue` | [0, 1), circular (saturation 0.35) |
| background brightness | `bg_brightness` | [0.0, 0.45] |

Beside them, four binary **shape descriptors** describe the class as weak attributes do (for instance the
image-level attribute labels of CUB-200): `curved_edge`, `corners`, `convex` and `fourfold_symmetry` (rotating by 90
degrees maps the shape onto itself). Each default class has its own combination, and `descriptor_noise` flips each
descriptor of each image with a given probability, as annotators disagree, so they are noisy hints of the class
rather than its label.

Because the factors are known exactly, one can measure how much of each a representation keeps (for instance a
linear probe per factor on the content and the style part of a partitioned representation).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from kerascl.data.arrays import from_arrays
from kerascl.data.pipeline import DEFAULT_AUGMENTER

#: Every shape `make_shapes` can draw, in default label order. The first six are the default classes; "diamond" is
#: a square turned by 45 degrees, so leave it out when free-angle rotation is an augmentation.
SHAPE_NAMES = ("circle", "square", "triangle", "cross", "ring", "star", "diamond", "semicircle")
DEFAULT_SHAPES = SHAPE_NAMES[:6]

#: Style factors, in the order they are stored and encoded in `attributes`.
STYLE_FACTORS = ("hue", "brightness", "x", "y", "scale", "bg_hue", "bg_brightness")
_CIRCULAR = ("hue", "bg_hue")

#: Class-describing weak attributes, binary, in the order they are encoded in `attributes`.
DESCRIPTOR_FACTORS = ("curved_edge", "corners", "convex", "fourfold_symmetry")
#: Each shape's descriptors, in `DESCRIPTOR_FACTORS` order. The default six are all different; "diamond" shares
#: the square's (it is a turned square).
SHAPE_DESCRIPTORS = {
    "circle": (1, 0, 1, 1),
    "square": (0, 1, 1, 1),
    "triangle": (0, 1, 1, 0),
    "cross": (0, 1, 0, 1),
    "ring": (1, 0, 0, 1),
    "star": (0, 1, 0, 0),
    "diamond": (0, 1, 1, 1),
    "semicircle": (1, 1, 1, 0),
}

_SCALE_RANGE = (0.15, 0.3)
_BRIGHTNESS_RANGE = (0.75, 1.0)
_BG_BRIGHTNESS_RANGE = (0.0, 0.45)
_FG_SATURATION = 0.85
_BG_SATURATION = 0.35


@dataclasses.dataclass
class ShapesData:
    """Arrays of a generated shapes set.

    Attributes:
        images: `(N, H, W, 3)` float32 in [0, 1].
        labels: `(N,)` int32, the shape class.
        factors: dict of `(N,)` arrays: `shape` (int32), the style factors `hue`, `brightness`, `x`, `y`,
            `scale`, `bg_hue`, `bg_brightness` and the shape descriptors `curved_edge`, `corners`, `convex`,
            `fourfold_symmetry` (float32, descriptors 0 or 1).
        attributes: `(N, p)` float32 encoding of the chosen factors (see `encode_attributes`).
        class_names: the shape names, in label order.
    """

    images: np.ndarray
    labels: np.ndarray
    factors: dict[str, np.ndarray]
    attributes: np.ndarray
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray | float, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB; inputs `(N,)`, output `(N, 3)` in [0, 1]."""
    h = np.asarray(h, dtype=np.float32)
    s = np.broadcast_to(np.asarray(s, dtype=np.float32), h.shape)
    v = np.asarray(v, dtype=np.float32)
    k = np.stack([(5.0 + h * 6.0) % 6.0, (3.0 + h * 6.0) % 6.0, (1.0 + h * 6.0) % 6.0], axis=-1)
    return v[:, None] - v[:, None] * s[:, None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether points (u, v), in units of the shape's scale around its centre (v pointing down), are inside."""
    au, av = np.abs(u), np.abs(v)
    if shape == "circle":
        return u * u + v * v <= 1.0
    if shape == "square":
        return np.maximum(au, av) <= 0.85
    if shape == "triangle":  # apex up, base at v = 0.75
        return (v <= 0.75) & (au <= (v + 1.0) * 0.6)
    if shape == "cross":  # a plus sign
        return (np.minimum(au, av) <= 0.3) & (np.maximum(au, av) <= 1.0)
    if shape == "ring":
        r2 = u * u + v * v
        return (r2 <= 1.0) & (r2 >= 0.36)
    if shape == "star":  # five points, one pointing up; radius falls linearly from 1 at a tip to 0.45 between tips
        r = np.sqrt(u * u + v * v)
        sector = 2.0 * np.pi / 5.0
        offset = np.abs((np.arctan2(u, -v) + sector / 2.0) % sector - sector / 2.0) / (sector / 2.0)
        return r <= 1.0 - 0.55 * offset
    if shape == "diamond":
        return au + av <= 1.1
    if shape == "semicircle":  # flat side down
        return (u * u + (v - 0.4) ** 2 <= 1.0) & (v <= 0.4)
    raise ValueError(f"Unknown shape {shape!r}; choose from {SHAPE_NAMES}.")


def encode_attributes(
    factors: dict[str, np.ndarray],
    names: Sequence[str] = STYLE_FACTORS,
    num_classes: int | None = None,
) -> np.ndarray:
    """Encodes factors as a `(N, p)` float32 attribute matrix for weak-attribute kernel priors.

    Circular factors (`hue`, `bg_hue`) become `(cos, sin)` pairs, `shape` a one-hot block, the others one column
    each, all in about [0, 1] or [-1, 1].

    Args:
        factors: the `factors` dict of `make_shapes`.
        names: factors to encode, in column order.
        num_classes: one-hot width when `"shape"` is among `names` (default: max label + 1).

    Returns:
        `(N, p)` float32.
    """
    columns = []
    for name in names:
        if name not in factors:
            raise ValueError(f"Unknown factor {name!r}; available: {sorted(factors)}.")
        value = np.asarray(factors[name])
        if name == "shape":
            width = num_classes or int(value.max()) + 1
            columns.append(np.eye(width, dtype=np.float32)[value])
        elif name in _CIRCULAR:
            angle = 2.0 * np.pi * value.astype(np.float32)
            columns.append(np.stack([np.cos(angle), np.sin(angle)], axis=-1))
        else:
            columns.append(value.astype(np.float32)[:, None])
    if not columns:
        return np.zeros((len(next(iter(factors.values()))), 0), dtype=np.float32)
    return np.concatenate(columns, axis=-1).astype(np.float32)


def make_shapes(
    n: int,
    image_size: int = 32,
    seed: int = 0,
    *,
    shapes: Sequence[str] = DEFAULT_SHAPES,
    antialias: int = 2,
    noise: float = 0.0,
    attribute_factors: Sequence[str] = STYLE_FACTORS,
    scale_range: tuple[float, float] | None = None,
    descriptor_noise: float = 0.0,
) -> ShapesData:
    """Generates `n` coloured shapes with their factors, deterministically from `seed`.

    Each image shows one shape (the class, drawn uniformly) in a random colour, position and scale on a tinted
    background; the style factors are drawn independently of the class and of each other.

    Args:
        n: number of images.
        image_size: side of the square images in pixels.
        seed: the same seed gives the same images, labels and factors.
        shapes: shape names (from `SHAPE_NAMES`) in label order; default the first six.
        antialias: supersampling factor per axis for smooth edges (1 = none).
        noise: standard deviation of Gaussian pixel noise added after drawing (0 = exact images).
        attribute_factors: factors encoded into `attributes`: `STYLE_FACTORS` (the default, nuisance factors),
            `DESCRIPTOR_FACTORS` (class-describing weak attributes) or any mix; `"shape"` adds the class one-hot.
        scale_range: `(low, high)` range of the shapes' scale (radius or half side as a fraction of the image side),
            with `0 < low <= high < 0.5`; None uses the default `(0.15, 0.3)`. Larger shapes cover more pixels,
            so the shape is an easier feature to learn on small images.
        descriptor_noise: probability in [0, 0.5] that each descriptor of each image is flipped (0: every image
            carries its shape's exact descriptors). Drawn from a stream of its own, so images, labels and style
            factors do not depend on it.

    Returns:
        A `ShapesData` with `images`, `labels`, `factors`, `attributes` and `class_names`.

    Examples:
        >>> data = kerascl.data.make_shapes(1000, image_size=32, seed=0)
        >>> data.images.shape, data.labels.shape, sorted(data.factors)
    """
    if int(n) < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    if int(image_size) < 8:
        raise ValueError(f"image_size must be at least 8 pixels, got {image_size!r}.")
    shapes = tuple(shapes)
    unknown = [s for s in shapes if s not in SHAPE_NAMES]
    if unknown or not shapes:
        raise ValueError(f"Unknown shapes {unknown}; choose one or more of {SHAPE_NAMES}.")
    if len(set(shapes)) != len(shapes):
        raise ValueError(f"shapes has repeated names: {shapes}.")
    n, size, ss = int(n), int(image_size), max(1, int(antialias))
    low, high = _SCALE_RANGE if scale_range is None else (float(v) for v in scale_range)
    if not 0.0 < low <= high < 0.5:
        raise ValueError(f"scale_range must be (low, high) with 0 < low <= high < 0.5; got {scale_range!r}.")
    if not 0.0 <= float(descriptor_noise) <= 0.5:
        raise ValueError(f"descriptor_noise must be a probability in [0, 0.5]; got {descriptor_noise!r}.")

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(shapes), size=n).astype(np.int32)
    scale = rng.uniform(low, high, size=n).astype(np.float32)
    # The centre keeps the whole shape (radius `scale`) inside the image.
    x = (scale + rng.uniform(0.0, 1.0, size=n) * (1.0 - 2.0 * scale)).astype(np.float32)
    y = (scale + rng.uniform(0.0, 1.0, size=n) * (1.0 - 2.0 * scale)).astype(np.float32)
    factors = {
        "shape": labels,
        "hue": rng.uniform(0.0, 1.0, size=n).astype(np.float32),
        "brightness": rng.uniform(*_BRIGHTNESS_RANGE, size=n).astype(np.float32),
        "x": x,
        "y": y,
        "scale": scale,
        "bg_hue": rng.uniform(0.0, 1.0, size=n).astype(np.float32),
        "bg_brightness": rng.uniform(*_BG_BRIGHTNESS_RANGE, size=n).astype(np.float32),
    }
    noise_rng = np.random.default_rng([int(seed), 1])
    descriptors = np.asarray([SHAPE_DESCRIPTORS[name] for name in shapes], dtype=np.float32)[labels]
    flips = np.random.default_rng([int(seed), 2]).random(descriptors.shape) < float(descriptor_noise)
    descriptors = np.where(flips, 1.0 - descriptors, descriptors).astype(np.float32)
    factors.update({name: descriptors[:, i] for i, name in enumerate(DESCRIPTOR_FACTORS)})

    fg = _hsv_to_rgb(factors["hue"], _FG_SATURATION, factors["brightness"])
    bg = _hsv_to_rgb(factors["bg_hue"], _BG_SATURATION, factors["bg_brightness"])
    # Sample positions at the centres of the supersampled pixels, in [0, 1] image coordinates.
    grid = (np.arange(size * ss, dtype=np.float32) + 0.5) / (size * ss)
    images = np.empty((n, size, size, 3), dtype=np.float32)
    chunk = max(1, 2_000_000 // (size * size * ss * ss))
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        coverage = np.empty((stop - start, size, size, 1), dtype=np.float32)
        for label, name in enumerate(shapes):
            rows = np.flatnonzero(labels[start:stop] == label)
            if rows.size == 0:
                continue
            s = scale[start + rows, None, None]
            u = (grid[None, None, :] - x[start + rows, None, None]) / s  # (k, 1, W): broadcast, not copied
            v = (grid[None, :, None] - y[start + rows, None, None]) / s  # (k, H, 1)
            mask = _inside(name, u, v).astype(np.float32)
            coverage[rows, ..., 0] = mask.reshape(rows.size, size, ss, size, ss).mean(axis=(2, 4))
        images[start:stop] = coverage * fg[start:stop, None, None] + (1.0 - coverage) * bg[start:stop, None, None]
    if noise > 0:
        images += noise_rng.normal(0.0, noise, size=images.shape).astype(np.float32)
    np.clip(images, 0.0, 1.0, out=images)
    attributes = encode_attributes(factors, attribute_factors, num_classes=len(shapes))
    return ShapesData(images=images, labels=labels, factors=factors, attributes=attributes, class_names=shapes)


def from_shapes(
    n: int = 10_000,
    *,
    image_size: int = 32,
    seed: int = 0,
    shapes: Sequence[str] = DEFAULT_SHAPES,
    batch_size: int = 256,
    views: bool | str = True,
    augmenter: str | Callable | None = DEFAULT_AUGMENTER,
    num_views: int = 2,
    with_attributes: bool = True,
    attribute_factors: Sequence[str] = STYLE_FACTORS,
    noise: float = 0.0,
    scale_range: tuple[float, float] | None = None,
    descriptor_noise: float = 0.0,
    shuffle: bool | None = None,
    shuffle_seed: int | None = None,
    drop_remainder: bool | None = None,
    prefetch: bool = True,
) -> tf.data.Dataset:
    """The synthetic shapes set as a `tf.data` pipeline of batches (see `make_shapes`).

    Args:
        n: number of images.
        image_size: side of the images.
        seed: generation seed (use different seeds for a train and a test set).
        shapes: shape names in label order.
        batch_size: examples per batch.
        views: `True` / `"host"` multi-view dicts (with `label` and `attributes`); `"device"` raw
            `{"image", "label", "attributes"}` dicts; `False` plain `(images, labels)` batches.
        augmenter: preset name or callable, used when `views=True`.
        num_views: views per image, passed to a preset.
        with_attributes: include the `"attributes"` key in dict batches.
        attribute_factors: factors encoded into `attributes` (style factors, shape descriptors or both).
        noise: pixel noise standard deviation.
        scale_range: `(low, high)` range of the shapes' scale; None for the default (see `make_shapes`).
        descriptor_noise: probability that each shape descriptor of each image is flipped (see `make_shapes`).
        shuffle: reshuffle every epoch; None means True for the training forms, False for `views=False`.
        shuffle_seed: shuffle seed.
        drop_remainder: drop the last partial batch; None means True for the training forms.
        prefetch: prefetch batches.

    Returns:
        A batched `tf.data.Dataset` with attributes `class_names`, `num_examples`, `steps_per_epoch`,
        `batch_size`, and `shapes_data` (the `ShapesData`, factors included).

    Examples:
        >>> train = kerascl.data.from_shapes(10_000, seed=0, augmenter="simclr")
        >>> test = kerascl.data.from_shapes(2_000, seed=1, views=False)
    """
    data = make_shapes(n, image_size=image_size, seed=seed, shapes=shapes, noise=noise,
                       attribute_factors=attribute_factors, scale_range=scale_range,
                       descriptor_noise=descriptor_noise)
    dataset = from_arrays(
        data.images,
        data.labels,
        attributes=data.attributes if with_attributes else None,
        batch_size=batch_size,
        views=views,
        augmenter=augmenter,
        num_views=num_views,
        shuffle=shuffle,
        seed=shuffle_seed,
        drop_remainder=drop_remainder,
        prefetch=prefetch,
    )
    dataset.class_names = list(data.class_names)
    dataset.shapes_data = data
    return dataset
