"""Vectorised image operations shared by the augmentation layers.

Every function takes `bk`, a backend namespace (a layer's `self.backend`), and works on a whole batch at once
with per-sample parameters: no Python loop over images and no `map_fn`. Images are `(B, H, W, C)` float32.
"""

from __future__ import annotations

import math
from typing import Any

# ITU-R 601-2 luma weights, as torchvision's `rgb_to_grayscale` uses them.
LUMA_WEIGHTS = (0.2989, 0.587, 0.114)


def grayscale_channel(bk: Any, images: Any) -> Any:
    """Luma of each pixel, `(B, H, W, 1)`."""
    # Three slices, not `sum(images * weights, -1)`: the same value at a quarter of the time on CPUs.
    red, green, blue = LUMA_WEIGHTS
    return images[..., 0:1] * red + images[..., 1:2] * green + images[..., 2:3] * blue


def grayscale(bk: Any, images: Any) -> Any:
    """Luma of each pixel, repeated on the three channels."""
    return bk.numpy.repeat(grayscale_channel(bk, images), 3, axis=-1)


def per_sample(bk: Any, values: Any) -> Any:
    """Reshape a `(B,)` vector to `(B, 1, 1, 1)` so it broadcasts over an image batch."""
    return bk.numpy.reshape(values, (-1, 1, 1, 1))


def select(bk: Any, mask: Any, if_true: Any, if_false: Any) -> Any:
    """Per-sample choice between two image batches; `mask` is `(B,)` bool."""
    return bk.numpy.where(per_sample(bk, mask), if_true, if_false)


def sample_bilinear(bk: Any, images: Any, ys: Any, xs: Any, fill_outside: bool) -> Any:
    """Bilinear sampling of each image at its own pixel coordinates.

    Args:
        bk: backend namespace.
        images: `(B, H, W, C)` float32.
        ys, xs: `(B, h, w)` float32 source coordinates in pixels (pixel centres at integers).
        fill_outside: if True, points outside the image read 0 (like torchvision's rotate and elastic
            transforms); if False, coordinates are clamped to the border.

    Returns:
        `(B, h, w, C)` float32.
    """
    shape = bk.core.shape(images)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    if not fill_outside:
        ys = bk.numpy.clip(ys, 0.0, float(height - 1))
        xs = bk.numpy.clip(xs, 0.0, float(width - 1))
    y0 = bk.numpy.floor(ys)
    x0 = bk.numpy.floor(xs)
    wy = ys - y0
    wx = xs - x0
    y0 = bk.core.cast(y0, "int32")
    x0 = bk.core.cast(x0, "int32")
    flat = bk.numpy.reshape(images, (-1, channels))
    offsets = bk.numpy.reshape(bk.numpy.arange(batch, dtype="int32") * (height * width), (-1, 1, 1))
    out_h, out_w = bk.core.shape(ys)[1], bk.core.shape(ys)[2]

    def corner(yi: Any, xi: Any, weight: Any) -> Any:
        inside = None
        if fill_outside:
            inside = (yi >= 0) & (yi < height) & (xi >= 0) & (xi < width)
        yc = bk.numpy.clip(yi, 0, height - 1)
        xc = bk.numpy.clip(xi, 0, width - 1)
        index = bk.numpy.reshape(offsets + yc * width + xc, (-1,))
        values = bk.numpy.reshape(bk.numpy.take(flat, index, axis=0), (batch, out_h, out_w, channels))
        if inside is not None:
            weight = weight * bk.core.cast(inside, "float32")
        return values * weight[..., None]

    return (
        corner(y0, x0, (1.0 - wy) * (1.0 - wx))
        + corner(y0, x0 + 1, (1.0 - wy) * wx)
        + corner(y0 + 1, x0, wy * (1.0 - wx))
        + corner(y0 + 1, x0 + 1, wy * wx)
    )


def blur_kernel_size(image_side: int) -> int:
    """Odd Gaussian-blur kernel size of about a tenth of the image side (23 at 224 px, 9 at 96, 3 at 32)."""
    return max(3, 2 * int(0.1 * image_side / 2) + 1)


def gaussian_weights(bk: Any, sigma: Any, kernel_size: int) -> Any:
    """`(B, kernel_size)` normalised 1-D Gaussian weights for per-sample `sigma` `(B,)` (torchvision's kernel)."""
    half = (kernel_size - 1) / 2.0
    positions = bk.core.convert_to_tensor(
        [-half + i for i in range(kernel_size)], "float32"
    )
    sigma = bk.numpy.maximum(sigma, 1e-3)[:, None]
    weights = bk.numpy.exp(-0.5 * bk.numpy.square(positions[None, :] / sigma))
    return weights / bk.numpy.sum(weights, axis=1, keepdims=True)


def separable_blur(bk: Any, images: Any, weights: Any) -> Any:
    """Blur each image with its own separable kernel `weights` `(B, k)`, reflect padding (as torchvision)."""
    kernel_size = int(weights.shape[1])
    pad = kernel_size // 2
    shape = bk.core.shape(images)
    height, width = shape[1], shape[2]
    if pad >= min(height, width):
        raise ValueError(
            f"Blur kernel of size {kernel_size} is too large for {height}x{width} images; "
            "use a smaller kernel_size or sigma."
        )
    w = bk.numpy.reshape(weights, (-1, kernel_size, 1, 1, 1))
    padded = bk.numpy.pad(images, ((0, 0), (pad, pad), (0, 0), (0, 0)), mode="reflect")
    out = 0.0
    for i in range(kernel_size):
        out = out + w[:, i] * padded[:, i : i + height]
    padded = bk.numpy.pad(out, ((0, 0), (0, 0), (pad, pad), (0, 0)), mode="reflect")
    out = 0.0
    for i in range(kernel_size):
        out = out + w[:, i] * padded[:, :, i : i + width]
    return out


def adjust_brightness(bk: Any, images: Any, factor: Any) -> Any:
    """torchvision `adjust_brightness`: scale, then clamp to [0, 1]. `factor` is `(B,)`."""
    return bk.numpy.clip(images * per_sample(bk, factor), 0.0, 1.0)


def adjust_contrast(bk: Any, images: Any, factor: Any) -> Any:
    """torchvision `adjust_contrast`: blend with the mean grey level of each image."""
    mean = bk.numpy.mean(grayscale_channel(bk, images), axis=(1, 2, 3), keepdims=True)
    factor = per_sample(bk, factor)
    return bk.numpy.clip(factor * images + (1.0 - factor) * mean, 0.0, 1.0)


def adjust_saturation(bk: Any, images: Any, factor: Any) -> Any:
    """torchvision `adjust_saturation`: blend with the grayscale image."""
    factor = per_sample(bk, factor)
    return bk.numpy.clip(factor * images + (1.0 - factor) * grayscale_channel(bk, images), 0.0, 1.0)


def adjust_hue(bk: Any, images: Any, shift: Any) -> Any:
    """torchvision `adjust_hue`: rotate the hue by `shift` (fraction of a turn, in [-0.5, 0.5])."""
    hsv = bk.image.rgb_to_hsv(images, data_format="channels_last")
    # Shift and wrap the hue channel only (s and v see + 0 and - 0); no slicing and concatenating.
    hue_only = bk.core.convert_to_tensor([1.0, 0.0, 0.0], "float32")
    hsv = hsv + per_sample(bk, shift) * hue_only
    hsv = hsv - bk.numpy.floor(hsv) * hue_only
    return bk.numpy.clip(bk.image.hsv_to_rgb(hsv, data_format="channels_last"), 0.0, 1.0)


def solarize(bk: Any, images: Any, threshold: float) -> Any:
    """Invert the pixels at or above `threshold` (torchvision `solarize`)."""
    return bk.numpy.where(images >= threshold, 1.0 - images, images)


def rotation_coordinates(bk: Any, angle_degrees: Any, height: int, width: int) -> tuple[Any, Any]:
    """Source coordinates `(B, H, W)` for a counter-clockwise rotation about the image centre.

    Angles that are multiples of 90 degrees use exact cosines and sines, so right-angle rotations of square
    images move pixels without interpolation.
    """
    radians = angle_degrees * (math.pi / 180.0)
    cos = bk.numpy.cos(radians)
    sin = bk.numpy.sin(radians)
    right = bk.numpy.abs(bk.numpy.mod(angle_degrees, 90.0)) < 1e-4
    cos = bk.numpy.where(right, bk.numpy.round(cos), cos)[:, None, None]
    sin = bk.numpy.where(right, bk.numpy.round(sin), sin)[:, None, None]
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    yy = bk.core.cast(bk.numpy.arange(height, dtype="int32"), "float32")[None, :, None] - cy
    xx = bk.core.cast(bk.numpy.arange(width, dtype="int32"), "float32")[None, None, :] - cx
    # Output pixel (y, x) reads the input at R(-angle) (y, x); image y points down, so a counter-clockwise
    # rotation on screen is x' = cos*x - sin*y', with y' = -y.
    xs = cos * xx - sin * yy + cx
    ys = sin * xx + cos * yy + cy
    return ys, xs
