"""Horizontal flip with a per-sample probability."""

from __future__ import annotations

from typing import Any

import keras

from kerascl.augment import _image_ops
from kerascl.augment.base import RecordedAugmentation
from kerascl.augment.layout import PARAM_LAYOUT


@keras.saving.register_keras_serializable(package="kerascl")
class RandomHorizontalFlip(RecordedAugmentation):
    """Mirror each image left-right with probability `p`, independently per sample.

    Records `flip` (1 if flipped).

    Args:
        p: flip probability.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Examples:
        >>> RandomHorizontalFlip(p=0.5, seed=0)(np.random.rand(4, 8, 8, 3).astype("float32")).shape
        (4, 8, 8, 3)
    """

    def __init__(self, p: float = 0.5, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(p=p, seed=seed, **kwargs)

    def _draw(self, bk: Any, key: Any, batch_size: Any, image_shape: tuple) -> dict:
        u = self._uniforms(bk, key, batch_size)
        return {"flip": self._applied(bk, u[:, 0])}

    def _transform_batch(self, bk: Any, images: Any, transformation: dict) -> Any:
        return _image_ops.select(bk, transformation["flip"], bk.numpy.flip(images, axis=2), images)

    def _to_params(self, bk: Any, transformation: dict) -> dict:
        return {"flip": bk.core.cast(transformation["flip"], "float32")[:, None]}

    def _from_params(self, bk: Any, params: Any) -> dict:
        return {"flip": params[:, PARAM_LAYOUT["flip"].start] > 0.5}
