"""Per-image tf.data helpers shared by the sources: decode to RGB and resize to a fixed size."""

from __future__ import annotations

import tensorflow as tf


def image_size_pair(image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """Checks an `image_size` argument and returns it as `(height, width)` (None stays None)."""
    if image_size is None:
        return None
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        pair = (image_size, image_size)
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        pair = (int(image_size[0]), int(image_size[1]))
    else:
        raise ValueError(f"image_size must be an int or a (height, width) pair, got {image_size!r}.")
    if min(pair) < 1:
        raise ValueError(f"image_size must be positive, got {image_size!r}.")
    return pair


def decode_rgb(contents: tf.Tensor) -> tf.Tensor:
    """Decodes JPEG / PNG / GIF / BMP bytes to a `(H, W, 3)` uint8 tensor.

    Grayscale is repeated to three channels, an alpha channel is dropped, and an animated GIF gives its first
    frame.
    """
    image = tf.io.decode_image(contents, channels=3, expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, 3])
    return image


def to_rgb(image: tf.Tensor) -> tf.Tensor:
    """`(H, W, C)` with C in {1, 3, 4} -> `(H, W, 3)`: grayscale repeated, alpha dropped."""
    channels = image.shape[-1]
    if channels == 3:
        return image
    if channels == 1:
        return tf.image.grayscale_to_rgb(image)
    if channels == 4:
        return image[..., :3]
    if channels is None:
        raise ValueError("The channel count of the images must be known statically (1, 3 or 4).")
    raise ValueError(f"Images must have 1, 3 or 4 channels, got {channels}.")


def resize_image(
    image: tf.Tensor,
    size: tuple[int, int],
    *,
    crop_to_aspect_ratio: bool = True,
    interpolation: str = "bilinear",
) -> tf.Tensor:
    """Resizes one `(H, W, 3)` image to `size`, keeping its dtype; images already that size pass untouched.

    Args:
        image: a `(H, W, 3)` image, uint8 or float.
        size: target `(height, width)`.
        crop_to_aspect_ratio: first take the largest central crop with the target aspect ratio, so shapes are
            not stretched; False squashes the whole image into `size`.
        interpolation: a `tf.image.resize` method name (`"bilinear"`, `"bicubic"`, `"area"`, `"nearest"`).

    Returns:
        The resized image, same dtype as `image` (uint8 values are rounded and clipped).
    """
    target_h, target_w = size
    dtype = image.dtype
    shape = tf.shape(image)
    height, width = shape[0], shape[1]

    def do_resize():
        cropped = image
        if crop_to_aspect_ratio:
            h = tf.cast(height, tf.float32)
            w = tf.cast(width, tf.float32)
            crop_h = tf.minimum(height, tf.cast(tf.round(w * target_h / target_w), tf.int32))
            crop_w = tf.minimum(width, tf.cast(tf.round(h * target_w / target_h), tf.int32))
            crop_h = tf.maximum(crop_h, 1)
            crop_w = tf.maximum(crop_w, 1)
            top = (height - crop_h) // 2
            left = (width - crop_w) // 2
            cropped = cropped[top : top + crop_h, left : left + crop_w]
        resized = tf.image.resize(cropped, (target_h, target_w), method=interpolation, antialias=True)
        if dtype == tf.uint8:
            return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)
        return tf.cast(resized, dtype)

    same = tf.logical_and(tf.equal(height, target_h), tf.equal(width, target_w))
    out = tf.cond(same, lambda: tf.identity(image), do_resize)
    out.set_shape([target_h, target_w, image.shape[-1]])
    return out
