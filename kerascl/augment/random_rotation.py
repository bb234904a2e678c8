"""Rotation by right angles or by a free angle, with a per-sample probability."""

from __future__ import annotations

from typing import Any

import keras

from kerascl.augment import _image_ops
from kerascl.augment.base import RecordedAugmentation, check_range
from kerascl.augment.layout import PARAM_LAYOUT


@keras.saving.register_keras_serializable(package="kerascl")
class RandomRotation(RecordedAugmentation):
    """Rotate each image about its centre (counter-clockwise positive), with probability `p`.

    Two modes:

    - `right_angles=True`: the angle is one of 0, 90, 180, 270 degrees, uniformly (the hierarchical-invariance
      rotation); on square images pixels move exactly, without interpolation.
    - otherwise the angle is uniform in `degrees` (DDCL's CAug: `(-90, 90)`), bilinear, corners filled with 0 as
      torchvision's `RandomRotation` does.

    Records `rotation` = angle in degrees / 180 (270 degrees is recorded as -90).

    Args:
        degrees: range of angles in degrees, for the free mode.
        right_angles: draw multiples of 90 degrees instead.
        p: probability that a sample is rotated.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Examples:
        >>> RandomRotation(right_angles=True, seed=0)(np.random.rand(2, 8, 8, 3).astype("float32")).shape
        (2, 8, 8, 3)
    """

    NUM_DRAWS = 2

    def __init__(
        self,
        degrees: tuple[float, float] = (-90.0, 90.0),
        right_angles: bool = False,
        p: float = 1.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(p=p, seed=seed, **kwargs)
        self.degrees = check_range(degrees, "degrees")
        if self.degrees[0] < -180.0 or self.degrees[1] > 180.0:
            raise ValueError(f"`degrees` must lie in [-180, 180]; received degrees={degrees!r}.")
        self.right_angles = bool(right_angles)

    def _draw(self, bk: Any, key: Any, batch_size: Any, image_shape: tuple) -> dict:
        u = self._uniforms(bk, key, batch_size)
        if self.right_angles:
            quarter = bk.core.cast(bk.numpy.minimum(bk.numpy.floor(u[:, 1] * 4.0), 3.0), "float32")
            angle = bk.numpy.where(quarter > 2.5, -90.0, quarter * 90.0)
        else:
            angle = self.degrees[0] + (self.degrees[1] - self.degrees[0]) * u[:, 1]
        return {"angle": bk.numpy.where(self._applied(bk, u[:, 0]), angle, 0.0)}

    def _transform_batch(self, bk: Any, images: Any, transformation: dict) -> Any:
        angle = transformation["angle"]
        shape = tuple(images.shape)
        ys, xs = _image_ops.rotation_coordinates(bk, angle, int(shape[1]), int(shape[2]))
        rotated = _image_ops.sample_bilinear(bk, images, ys, xs, fill_outside=True)
        return _image_ops.select(bk, angle != 0.0, rotated, images)

    def _to_params(self, bk: Any, transformation: dict) -> dict:
        return {"rotation": transformation["angle"][:, None] / 180.0}

    def _from_params(self, bk: Any, params: Any) -> dict:
        return {"angle": params[:, PARAM_LAYOUT["rotation"].start] * 180.0}

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"degrees": list(self.degrees), "right_angles": self.right_angles})
        return config
