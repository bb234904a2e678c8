"""Random resized crop (Inception-style crop used by every SSL method)."""

from __future__ import annotations

import math
from typing import Any

import keras

from kerascl.augment import _image_ops
from kerascl.augment.base import RecordedAugmentation, check_range
from kerascl.augment.layout import PARAM_LAYOUT

_ATTEMPTS = 10


def crop_coordinates(bk: Any, box: Any, in_height: int, in_width: int, out_height: int, out_width: int):
    """Source pixel coordinates `(B, out_h, out_w)` that resize the normalised box `(y0, x0, h, w)`.

    Half-pixel centres (`align_corners=False`), like torchvision's `resized_crop`.
    """
    def column(i: int) -> Any:
        return bk.numpy.reshape(box[:, i], (-1, 1, 1))

    y0 = column(0) * in_height
    x0 = column(1) * in_width
    h = column(2) * in_height
    w = column(3) * in_width
    rows = (bk.core.cast(bk.numpy.arange(out_height, dtype="int32"), "float32") + 0.5) / out_height
    cols = (bk.core.cast(bk.numpy.arange(out_width, dtype="int32"), "float32") + 0.5) / out_width
    ys = y0 + rows[None, :, None] * h - 0.5
    xs = x0 + cols[None, None, :] * w - 0.5
    ys = ys + 0.0 * xs
    xs = xs + 0.0 * ys
    return ys, xs


def resized_crop(bk: Any, images: Any, box: Any, out_height: int, out_width: int) -> Any:
    """Crop each image to its box `(B, 4)` (normalised `y0, x0, h, w`) and resize bilinearly."""
    shape = bk.core.shape(images)
    ys, xs = crop_coordinates(bk, box, shape[1], shape[2], out_height, out_width)
    return _image_ops.sample_bilinear(bk, images, ys, xs, fill_outside=False)


@keras.saving.register_keras_serializable(package="kerascl")
class RandomResizedCrop(RecordedAugmentation):
    """Crop a random area and aspect ratio of each image, then resize it to `(height, width)`.

    torchvision's `RandomResizedCrop` semantics, drawn independently for each sample: the crop covers a fraction
    `scale` of the image area with aspect ratio (width / height) drawn log-uniformly from `ratio`; ten
    candidates are drawn and the first that fits is kept, with torchvision's centre-crop fallback. Boxes are
    continuous (not rounded to whole pixels) and resized bilinearly with half-pixel centres; there is no
    anti-aliasing, which matters only when a crop is much larger than the output.

    Records `crop = (y0, x0, h, w)` as fractions of the input image.

    Args:
        height: output height in pixels.
        width: output width in pixels.
        scale: range of the crop area as a fraction of the image area.
        ratio: range of the crop aspect ratio (width / height).
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Examples:
        >>> layer = RandomResizedCrop(32, 32, scale=(0.2, 1.0), seed=1)
        >>> layer(np.random.rand(4, 48, 48, 3).astype("float32")).shape
        (4, 32, 32, 3)
    """

    NUM_DRAWS = 4 * _ATTEMPTS

    def __init__(
        self,
        height: int,
        width: int,
        scale: tuple[float, float] = (0.08, 1.0),
        ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(p=1.0, seed=seed, **kwargs)
        if int(height) < 1 or int(width) < 1:
            raise ValueError(f"height and width must be positive; received {height}x{width}.")
        self.height, self.width = int(height), int(width)
        self.scale = check_range(scale, "scale", low=0.0)
        if self.scale[1] > 1.0 or self.scale[0] <= 0.0:
            raise ValueError(f"`scale` must lie in (0, 1]; received scale={scale!r}.")
        self.ratio = check_range(ratio, "ratio")
        if self.ratio[0] <= 0:
            raise ValueError(f"`ratio` must be positive; received ratio={ratio!r}.")

    def _draw(self, bk: Any, key: Any, batch_size: Any, image_shape: tuple) -> dict:
        in_h, in_w = float(image_shape[0]), float(image_shape[1])
        u = bk.numpy.reshape(self._uniforms(bk, key, batch_size), (-1, _ATTEMPTS, 4))
        area = in_h * in_w * (self.scale[0] + (self.scale[1] - self.scale[0]) * u[..., 0])
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = bk.numpy.exp(log_lo + (log_hi - log_lo) * u[..., 1])
        w = bk.numpy.sqrt(area * aspect)
        h = bk.numpy.sqrt(area / aspect)
        fits = (w <= in_w) & (h <= in_h)
        y0 = (in_h - h) * u[..., 2]
        x0 = (in_w - w) * u[..., 3]
        # First attempt that fits (argmax of a bool mask returns the first True).
        first = bk.numpy.argmax(bk.core.cast(fits, "int32"), axis=1)
        pick = bk.core.cast(bk.numpy.equal(bk.numpy.arange(_ATTEMPTS, dtype="int32")[None, :], bk.core.cast(first, "int32")[:, None]), "float32")
        any_fits = bk.numpy.any(fits, axis=1)

        def chosen(v: Any) -> Any:
            return bk.numpy.sum(v * pick, axis=1)

        # torchvision fallback: the largest central crop whose ratio is clamped to `ratio`.
        in_ratio = in_w / in_h
        if in_ratio < self.ratio[0]:
            fb_w, fb_h = in_w, in_w / self.ratio[0]
        elif in_ratio > self.ratio[1]:
            fb_h, fb_w = in_h, in_h * self.ratio[1]
        else:
            fb_w, fb_h = in_w, in_h
        fallback = [(in_h - fb_h) / 2.0 / in_h, (in_w - fb_w) / 2.0 / in_w, fb_h / in_h, fb_w / in_w]
        drawn = [chosen(y0) / in_h, chosen(x0) / in_w, chosen(h) / in_h, chosen(w) / in_w]
        box = bk.numpy.stack(
            [bk.numpy.where(any_fits, d, f) for d, f in zip(drawn, fallback)], axis=1
        )
        return {"box": box}

    def _transform_batch(self, bk: Any, images: Any, transformation: dict) -> Any:
        return resized_crop(bk, images, transformation["box"], self.height, self.width)

    def _inference(self, bk: Any, images: Any) -> Any:
        batch = bk.core.shape(images)[0]
        box = bk.numpy.tile(bk.core.convert_to_tensor([[0.0, 0.0, 1.0, 1.0]], "float32"), (batch, 1))
        return resized_crop(bk, images, box, self.height, self.width)

    def _to_params(self, bk: Any, transformation: dict) -> dict:
        return {"crop": transformation["box"]}

    def _from_params(self, bk: Any, params: Any) -> dict:
        return {"box": params[:, PARAM_LAYOUT["crop"]]}

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-3], self.height, self.width, input_shape[-1])

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("p")
        config.update({"height": self.height, "width": self.width, "scale": list(self.scale), "ratio": list(self.ratio)})
        return config
