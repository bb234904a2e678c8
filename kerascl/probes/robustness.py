"""Robustness probe: linear-probe accuracy on distorted test images.

Following the robustness table of DDCL (Wang et al., "Distortion-Disentangled Contrastive
Learning", WACV 2024): a linear classifier is trained on features of clean training images, then
scored on test images distorted by colour jitter (CJ), CJ + horizontal flip, CJ + rotation in
[-90, 90] degrees, and CJ + rotation + elastic transform. An encoder that kept distortion-invariant
information loses little accuracy along the row.

The distortions are implemented here in NumPy, on the host, deterministically from a seed:

| name | what | parameters (DDCL's) |
|---|---|---|
| `jitter` | brightness, contrast, saturation, hue, in that order | 0.4, 0.4, 0.4, 0.1 |
| `flip` | horizontal flip of each image with probability 0.5 | |
| `rotation` | rotation by an angle uniform in [-90, 90] degrees, bilinear, black fill | 90 |
| `elastic` | elastic transform of a blurred uniform displacement field | alpha 100, sigma 5 |

Names combine with `+` (`"jitter+rotation+elastic"`); `"none"` is the clean test set.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from kerascl.probes.features import extract_features
from kerascl.probes.linear import train_linear_classifier

DDCL_DISTORTIONS = ("none", "jitter", "jitter+flip", "jitter+rotation", "jitter+rotation+elastic")
PRIMITIVES = ("none", "jitter", "flip", "rotation", "elastic")

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def color_jitter_parameters(
    count: int,
    rng: np.random.Generator,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.4,
    hue: float = 0.1,
) -> np.ndarray:
    """Draw `count` colour-jitter parameter rows `(brightness, contrast, saturation, hue)`, float32 `(count, 4)`.

    The three factors are uniform in `[1 - s, 1 + s]` and the hue shift uniform in `[-hue, hue]` of a full turn,
    drawn factor by factor, all brightness factors first.
    """
    columns = [rng.uniform(1 - s, 1 + s, count) for s in (brightness, contrast, saturation)]
    columns.append(rng.uniform(-hue, hue, count))
    return np.stack(columns, axis=1).astype(np.float32)


def apply_color_jitter(images: np.ndarray, parameters: np.ndarray) -> np.ndarray:
    """Apply per-image brightness, contrast, saturation and hue (in that order), clipping to [0, 1] after each.

    Args:
        images: `(B, H, W, 3)` floats in `[0, 1]`.
        parameters: `(B, 4)` rows of `color_jitter_parameters`: brightness, contrast and saturation factors and
            the hue shift as a fraction of a turn (a rotation of the chroma plane in YIQ space).
    """
    parameters = np.asarray(parameters, np.float32)
    if parameters.shape != (len(images), 4):
        raise ValueError(f"Expected colour-jitter parameters of shape ({len(images)}, 4); got {parameters.shape}.")
    brightness, contrast, saturation = (parameters[:, i, None, None, None] for i in range(3))
    x = np.clip(images.astype(np.float32) * brightness, 0, 1)
    mean = (x @ _LUMA).mean(axis=(1, 2))[:, None, None, None]
    x = np.clip((x - mean) * contrast + mean, 0, 1)
    gray = (x @ _LUMA)[..., None]
    x = np.clip((x - gray) * saturation + gray, 0, 1)
    theta = parameters[:, 3] * np.float32(2 * np.pi)
    to_yiq = np.array(
        [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float32
    )
    from_yiq = np.linalg.inv(to_yiq).astype(np.float32)
    yiq = x @ to_yiq.T
    cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    i, q = yiq[..., 1].copy(), yiq[..., 2].copy()
    yiq[..., 1] = cos * i - sin * q
    yiq[..., 2] = sin * i + cos * q
    return np.clip(yiq @ from_yiq.T, 0, 1).astype(np.float32)


def color_jitter(
    images: np.ndarray,
    rng: np.random.Generator,
    brightness: float = 0.4,
    contrast: float = 0.4,
    saturation: float = 0.4,
    hue: float = 0.1,
) -> np.ndarray:
    """Random brightness, contrast, saturation and hue per image (fixed order), clipped to [0, 1].

    Factors are drawn uniformly from `[1 - s, 1 + s]` (brightness, contrast, saturation) and the
    hue shift from `[-hue, hue]` of a full turn, applied as a rotation of the chroma plane in YIQ
    space (`color_jitter_parameters`, then `apply_color_jitter`).
    """
    parameters = color_jitter_parameters(len(images), rng, brightness, contrast, saturation, hue)
    return apply_color_jitter(images, parameters)


def random_flip(images: np.ndarray, rng: np.random.Generator, probability: float = 0.5) -> np.ndarray:
    """Flip each image left-right with the given probability."""
    flip = rng.uniform(size=len(images)) < probability
    out = images.copy()
    out[flip] = out[flip, :, ::-1]
    return out


def _bilinear_sample(images: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sample `images (B, H, W, C)` at float pixel coordinates `(B, H, W)`; zeros outside."""
    b, h, w, _ = images.shape
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    wy, wx = (ys - y0)[..., None], (xs - x0)[..., None]
    batch = np.arange(b)[:, None, None]
    out = np.zeros(images.shape, np.float32)
    for dy, dx, weight in (
        (0, 0, (1 - wy) * (1 - wx)),
        (0, 1, (1 - wy) * wx),
        (1, 0, wy * (1 - wx)),
        (1, 1, wy * wx),
    ):
        yy, xx = y0 + dy, x0 + dx
        inside = ((yy >= 0) & (yy < h) & (xx >= 0) & (xx < w))[..., None]
        values = images[batch, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]
        out += np.where(inside, values, 0.0) * weight
    return out


def rotate_images(images: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """Rotate each image counter-clockwise about its centre by `degrees[i]` (bilinear, black fill)."""
    b, h, w, _ = images.shape
    angle = np.deg2rad(np.asarray(degrees, np.float64).reshape(b))[:, None, None]
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    cy, cx = (h - 1) / 2, (w - 1) / 2
    y, x = yy[None] - cy, xx[None] - cx
    # Inverse map: output pixel (y, x) reads the input at the point rotated back by the angle
    # (rows grow downwards, so a counter-clockwise turn on screen is clockwise in (x, y)).
    src_x = np.cos(angle) * x - np.sin(angle) * y + cx
    src_y = np.sin(angle) * x + np.cos(angle) * y + cy
    return _bilinear_sample(images, np.round(src_y, 9), np.round(src_x, 9))


def random_rotation(images: np.ndarray, rng: np.random.Generator, max_degrees: float = 90.0) -> np.ndarray:
    """Rotate each image about its centre by an angle uniform in `[-max_degrees, max_degrees]`."""
    return rotate_images(images, rng.uniform(-max_degrees, max_degrees, len(images)))


def _gaussian_blur_2d(field: np.ndarray, sigma: float) -> np.ndarray:
    """Blur `(B, H, W)` with a separable Gaussian (reflect padding)."""
    radius = max(1, int(4 * sigma))
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    for axis in (1, 2):
        pad = [(0, 0)] * 3
        pad[axis] = (radius, radius)
        padded = np.pad(field, pad, mode="reflect")
        size = field.shape[axis]
        field = sum(
            k * np.take(padded, np.arange(i, i + size), axis=axis) for i, k in enumerate(kernel)
        )
    return field


def elastic_transform(
    images: np.ndarray, rng: np.random.Generator, alpha: float = 100.0, sigma: float = 5.0
) -> np.ndarray:
    """Elastic distortion with torchvision's `ElasticTransform` parameterisation.

    A displacement field uniform in `[-1, 1]` per pixel is blurred with a Gaussian of std `sigma`
    pixels and scaled so that one unit of `alpha / height` equals half the image width (the
    normalised-grid convention of `grid_sample`), then images are resampled bilinearly.
    """
    b, h, w, _ = images.shape
    dx = _gaussian_blur_2d(rng.uniform(-1, 1, (b, h, w)), sigma) * alpha / h
    dy = _gaussian_blur_2d(rng.uniform(-1, 1, (b, h, w)), sigma) * alpha / w
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    return _bilinear_sample(images, yy[None] + dy * h / 2, xx[None] + dx * w / 2)


def make_distortion(
    name: str,
    jitter_strength: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1),
    max_degrees: float = 90.0,
    elastic_alpha: float = 100.0,
    elastic_sigma: float = 5.0,
) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """Build the function `(images, rng) -> images` for a `+`-joined distortion name."""
    parts = [p.strip() for p in name.split("+") if p.strip()]
    unknown = [p for p in parts if p not in PRIMITIVES]
    if not parts or unknown:
        raise ValueError(
            f"Unknown distortion {name!r}; use 'none' or '+'-joined names from {PRIMITIVES[1:]}, "
            "e.g. 'jitter+rotation'."
        )
    steps = {
        "none": lambda x, rng: x,
        "jitter": lambda x, rng: color_jitter(x, rng, *jitter_strength),
        "flip": random_flip,
        "rotation": lambda x, rng: random_rotation(x, rng, max_degrees),
        "elastic": lambda x, rng: elastic_transform(x, rng, elastic_alpha, elastic_sigma),
    }

    def distort(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for part in parts:
            images = steps[part](images, rng)
        return np.clip(images, 0.0, 1.0).astype(np.float32)

    return distort


def robustness_probe(
    encoder: Callable,
    train_data: Any,
    test_data: Any,
    distortions: Sequence[str] = DDCL_DISTORTIONS,
    epochs: int = 50,
    seed: int = 0,
    batch_size: int = 256,
    verbose: int = 1,
    train_features: tuple[np.ndarray, np.ndarray] | None = None,
    clean_test_features: tuple[np.ndarray, np.ndarray] | None = None,
    **distortion_options: Any,
) -> dict[str, float]:
    """Linear-probe top-1 accuracy under each distortion of the test images (DDCL's table).

    The classifier is trained once, on features of the clean training images; each distortion
    then re-encodes the test images after distorting them with a generator seeded by
    `(seed, index of the distortion)`, so a column does not depend on the others.

    Args:
        encoder: frozen `keras.Model` mapping images `(B, H, W, 3)` to features `(B, C)`.
        train_data: labelled clean training data.
        test_data: labelled test data (distorted here).
        distortions: names, see the module table; default `DDCL_DISTORTIONS`
            (`none`, `jitter`, `jitter+flip`, `jitter+rotation`, `jitter+rotation+elastic`).
        epochs: linear classifier epochs.
        seed: seed of the distortions and of the classifier's shuffling.
        batch_size: encoder batch size for array inputs.
        verbose: 1 shows the extraction progress bars.
        train_features: optional `(features, labels)` of `train_data` already computed with this encoder (the
            recipe runner passes the probes' features), so the training images are not encoded again.
        clean_test_features: optional `(features, labels)` of the undistorted `test_data`, used for `"none"`.
        **distortion_options: `jitter_strength`, `max_degrees`, `elastic_alpha`,
            `elastic_sigma` (see `make_distortion`).

    Returns:
        `{distortion name: top-1 accuracy}` (fractions), in the order given.

    Examples:
        >>> robustness_probe(backbone, train_ds, test_ds, distortions=("none", "jitter+flip"))
        {'none': 0.81, 'jitter+flip': 0.78}
    """
    distortions = tuple(distortions)
    if not distortions:
        raise ValueError("Give at least one distortion name.")
    functions = [make_distortion(name, **distortion_options) for name in distortions]
    if train_features is not None:
        train_x, train_y = train_features
    else:
        train_x, train_y = extract_features(encoder, train_data, batch_size, verbose)
    classifier = train_linear_classifier(train_x, train_y, epochs=epochs, seed=seed)
    result: dict[str, float] = {}
    for index, (name, distort) in enumerate(zip(distortions, functions)):
        if name == "none" and clean_test_features is not None:
            test_x, test_y = clean_test_features
            result[name] = classifier.evaluate(test_x, test_y)["top1"]
            continue
        rng = np.random.default_rng([seed, index])
        test_x, test_y = extract_features(
            encoder,
            test_data,
            batch_size,
            verbose,
            transform=None if name == "none" else (lambda x, r=rng, f=distort: f(x, r)),
        )
        if int(test_y.max()) >= classifier.num_classes:
            raise ValueError(
                f"Test labels go up to {int(test_y.max())} but the training data has only "
                f"{classifier.num_classes} classes."
            )
        result[name] = classifier.evaluate(test_x, test_y)["top1"]
    return result
