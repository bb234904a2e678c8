"""Grayscale conversion with a per-sample probability."""

from __future__ import annotations

from typing import Any

import keras

from kerascl.augment import _image_ops
from kerascl.augment.base import RecordedAugmentation
from kerascl.augment.layout import PARAM_LAYOUT


@keras.saving.register_keras_serializable(package="kerascl")
class RandomGrayscale(RecordedAugmentation):
    """Replace each image by its luma on all three channels with probability `p` (torchvision weights).

    Records `grayscale` (1 if converted).

    Args:
        p: conversion probability (SimCLR, BYOL, SimSiam, Barlow Twins: 0.2).
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Examples:
        >>> RandomGrayscale(p=1.0)(np.random.rand(2, 8, 8, 3).astype("float32")).shape
        (2, 8, 8, 3)
    """

    def __init__(self, p: float = 0.2, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(p=p, seed=seed, **kwargs)

    def _draw(self, bk: Any, key: Any, batch_size: Any, image_shape: tuple) -> dict:
        u = self._uniforms(bk, key, batch_size)
        return {"applied": self._applied(bk, u[:, 0])}

    def _transform_batch(self, bk: Any, images: Any, transformation: dict) -> Any:
        return _image_ops.select(bk, transformation["applied"], _image_ops.grayscale(bk, images), images)

    def _to_params(self, bk: Any, transformation: dict) -> dict:
        return {"grayscale": bk.core.cast(transformation["applied"], "float32")[:, None]}

    def _from_params(self, bk: Any, params: Any) -> dict:
        return {"applied": params[:, PARAM_LAYOUT["grayscale"].start] > 0.5}
