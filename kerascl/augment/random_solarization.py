"""Solarisation with a per-sample probability."""

from __future__ import annotations

from typing import Any

import keras

from kerascl.augment import _image_ops
from kerascl.augment.base import RecordedAugmentation
from kerascl.augment.layout import PARAM_LAYOUT


@keras.saving.register_keras_serializable(package="kerascl")
class RandomSolarization(RecordedAugmentation):
    """Invert the pixels at or above `threshold` with probability `p` (BYOL's solarisation).

    Records `solarize` (1 if solarised).

    Args:
        p: probability (BYOL: 0.0 for view 1, 0.2 for view 2).
        threshold: pixel value in [0, 1] from which pixels are inverted (BYOL: 0.5).
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Examples:
        >>> RandomSolarization(p=1.0)(np.full((1, 4, 4, 3), 0.8, "float32"))[0, 0, 0]  # 1 - 0.8
    """

    def __init__(self, p: float = 0.2, threshold: float = 0.5, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(p=p, seed=seed, **kwargs)
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"`threshold` must be in [0, 1]; received threshold={threshold}.")
        self.threshold = float(threshold)

    def _draw(self, bk: Any, key: Any, batch_size: Any, image_shape: tuple) -> dict:
        u = self._uniforms(bk, key, batch_size)
        return {"applied": self._applied(bk, u[:, 0])}

    def _transform_batch(self, bk: Any, images: Any, transformation: dict) -> Any:
        return _image_ops.select(
            bk, transformation["applied"], _image_ops.solarize(bk, images, self.threshold), images
        )

    def _to_params(self, bk: Any, transformation: dict) -> dict:
        return {"solarize": bk.core.cast(transformation["applied"], "float32")[:, None]}

    def _from_params(self, bk: Any, params: Any) -> dict:
        return {"applied": params[:, PARAM_LAYOUT["solarize"].start] > 0.5}

    def get_config(self) -> dict:
        config = super().get_config()
        config["threshold"] = self.threshold
        return config
