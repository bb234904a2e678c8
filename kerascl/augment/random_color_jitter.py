"""Colour jitter (brightness, contrast, saturation, hue) in random order, applied with a per-sample probability."""

from __future__ import annotations

import itertools
from typing import Any

import keras

from kerascl.augment import _image_ops
from kerascl.augment.base import RecordedAugmentation
from kerascl.augment.layout import PARAM_LAYOUT

PERMUTATIONS = tuple(itertools.permutations(range(4)))
"""The 24 orders of (brightness, contrast, saturation, hue); `color_jitter_order` records the index / 23."""

_ADJUST = (
    _image_ops.adjust_brightness,
    _image_ops.adjust_contrast,
    _image_ops.adjust_saturation,
    _image_ops.adjust_hue,
)


def _strength(value: float, name: str, upper: float | None = None) -> float:
    value = float(value)
    if value < 0 or (upper is not None and value > upper):
        bound = f" and <= {upper}" if upper is not None else ""
        raise ValueError(f"`{name}` must be >= 0{bound}; received {name}={value}.")
    return value


@keras.saving.register_keras_serializable(package="kerascl")
class RandomColorJitter(RecordedAugmentation):
    """torchvision's `ColorJitter`, applied with probability `p` per sample (`RandomApply([ColorJitter], p)`).

    For each selected sample the factors are drawn uniformly: brightness, contrast and saturation from
    `[max(0, 1 - s), 1 + s]`, hue from `[-h, h]`; the four adjustments then run in a random order (one of 24,
    drawn per sample, as torchvision does) unless `random_order=False` (fixed order brightness, contrast,
    saturation, hue). Adjustments follow torchvision: brightness scales, contrast blends with the mean grey
    level of the image, saturation blends with the grayscale image, hue rotates the HSV hue; each clamps to
    [0, 1].

    SimCLR / BYOL / SimSiam use strengths `(0.4, 0.4, 0.2, 0.1)` (BYOL) or `0.8 * s` with s = 1 (SimCLR) and p = 0.8.

    Records `color_jitter = (brightness, contrast, saturation, hue)` (`(1, 1, 1, 0)` when skipped) and
    `color_jitter_order` (order index / 23).

    Args:
        brightness: brightness strength.
        contrast: contrast strength.
        saturation: saturation strength.
        hue: hue strength in [0, 0.5].
        p: probability that a sample is jittered.
        random_order: draw the order of the four adjustments per sample (torchvision) or use a fixed order.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Examples:
        >>> layer = RandomColorJitter(0.4, 0.4, 0.2, 0.1, p=0.8, seed=0)
        >>> layer(np.random.rand(4, 16, 16, 3).astype("float32")).shape
        (4, 16, 16, 3)
    """

    NUM_DRAWS = 6

    def __init__(
        self,
        brightness: float = 0.4,
        contrast: float = 0.4,
        saturation: float = 0.2,
        hue: float = 0.1,
        p: float = 0.8,
        random_order: bool = True,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(p=p, seed=seed, **kwargs)
        self.brightness = _strength(brightness, "brightness")
        self.contrast = _strength(contrast, "contrast")
        self.saturation = _strength(saturation, "saturation")
        self.hue = _strength(hue, "hue", upper=0.5)
        self.random_order = bool(random_order)

    def _draw(self, bk: Any, key: Any, batch_size: Any, image_shape: tuple) -> dict:
        u = self._uniforms(bk, key, batch_size)
        applied = self._applied(bk, u[:, 0])

        def factor(strength: float, column: Any) -> Any:
            low = max(0.0, 1.0 - strength)
            return bk.numpy.where(applied, low + (1.0 + strength - low) * column, 1.0)

        hue = bk.numpy.where(applied, self.hue * (2.0 * u[:, 4] - 1.0), 0.0)
        factors = bk.numpy.stack(
            [factor(self.brightness, u[:, 1]), factor(self.contrast, u[:, 2]), factor(self.saturation, u[:, 3]), hue],
            axis=1,
        )
        if self.random_order:
            order = bk.numpy.minimum(bk.core.cast(u[:, 5] * 24.0, "int32"), 23)
            order = bk.numpy.where(applied, order, 0)
        else:
            order = bk.numpy.zeros_like(bk.core.cast(u[:, 5], "int32"))
        return {"factors": factors, "order": order}

    def _transform_batch(self, bk: Any, images: Any, transformation: dict) -> Any:
        factors, order = transformation["factors"], transformation["order"]
        identity = bk.core.convert_to_tensor([1.0, 1.0, 1.0, 0.0], "float32")
        applied = bk.numpy.any(bk.numpy.not_equal(factors, identity[None, :]), axis=1)
        active = [s > 0 for s in (self.brightness, self.contrast, self.saturation, self.hue)]
        if not self.random_order:
            out = images
            for op in range(4):
                if active[op]:
                    out = _ADJUST[op](bk, out, factors[:, op])
        else:
            out = self._random_order_batch(bk, images, factors, order, active)
        return _image_ops.select(bk, applied, out, images)

    def _random_order_batch(self, bk: Any, images: Any, factors: Any, order: Any, active: list[bool]) -> Any:
        # Each sample's order, in three phases so that the costly hue rotation (an HSV round trip) runs once per
        # batch instead of at each of the four positions: the cheap adjustments placed before hue, hue, then
        # those after it. Brightness, contrast and saturation share one form, clip(f * x + (1 - f) * blend) with
        # blend 0, the mean grey level or the grey image, so each position is one fused step.
        table = bk.core.convert_to_tensor(PERMUTATIONS, "int32")
        ops_at = bk.numpy.take(table, order, axis=0)  # (B, 4): op index at each position
        hue_position = bk.numpy.argmax(bk.core.cast(ops_at == 3, "int32"), axis=1)
        out = images
        for position in range(3):
            out = self._cheap_step(bk, out, factors, ops_at[:, position], active, hue_position > position)
        if active[3]:
            out = _image_ops.adjust_hue(bk, out, factors[:, 3])
        for position in range(1, 4):
            out = self._cheap_step(bk, out, factors, ops_at[:, position], active, hue_position < position)
        return out

    @staticmethod
    def _cheap_step(bk: Any, images: Any, factors: Any, op: Any, active: list[bool], run: Any) -> Any:
        """Brightness, contrast or saturation (`op` 0, 1, 2 per sample) where `run`; other samples unchanged."""
        if not any(active[:3]):
            return images
        cheap_op = bk.numpy.minimum(op, 2)
        run = bk.numpy.logical_and(run, op < 3)
        run = bk.numpy.logical_and(run, bk.numpy.take(bk.core.convert_to_tensor(active[:3]), cheap_op, axis=0))
        # A sample that does not run gets factor 1 and blend 0: its pixels pass through (clipped to [0, 1]).
        factor = bk.numpy.where(run, bk.numpy.take_along_axis(factors, cheap_op[:, None], axis=1)[:, 0], 1.0)
        blend = 0.0
        if active[1] or active[2]:
            gray = _image_ops.grayscale_channel(bk, images)
            if active[1]:
                contrast = bk.core.cast(bk.numpy.logical_and(run, op == 1), "float32")
                blend = _image_ops.per_sample(bk, contrast) * bk.numpy.mean(gray, axis=(1, 2, 3), keepdims=True)
            if active[2]:
                saturation = bk.core.cast(bk.numpy.logical_and(run, op == 2), "float32")
                blend = blend + _image_ops.per_sample(bk, saturation) * gray
        f = _image_ops.per_sample(bk, factor)
        return bk.numpy.clip(f * images + (1.0 - f) * blend, 0.0, 1.0)

    def _to_params(self, bk: Any, transformation: dict) -> dict:
        order = bk.core.cast(transformation["order"], "float32") / 23.0
        return {"color_jitter": transformation["factors"], "color_jitter_order": order[:, None]}

    def _from_params(self, bk: Any, params: Any) -> dict:
        order = bk.numpy.round(params[:, PARAM_LAYOUT["color_jitter_order"].start] * 23.0)
        return {"factors": params[:, PARAM_LAYOUT["color_jitter"]], "order": bk.core.cast(order, "int32")}

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "brightness": self.brightness,
                "contrast": self.contrast,
                "saturation": self.saturation,
                "hue": self.hue,
                "random_order": self.random_order,
            }
        )
        return config
