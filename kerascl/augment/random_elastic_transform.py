"""Elastic transform (DDCL's CAug+), with a per-sample probability."""

from __future__ import annotations

from typing import Any

import keras

from kerascl.augment import _image_ops, _prng
from kerascl.augment.base import RecordedAugmentation
from kerascl.augment.layout import PARAM_LAYOUT

_SEED_SCALE = 16777216.0  # 2**24: seeds are 24-bit integers, exact in float32


def elastic_kernel_size(sigma: float, image_side: int) -> int:
    """torchvision's kernel size `int(8 * sigma + 1)` made odd, capped so reflect padding fits the image."""
    size = int(8 * sigma + 1)
    size += 1 - size % 2
    cap = 2 * (image_side - 1) - 1
    return max(1, min(size, cap))


@keras.saving.register_keras_serializable(package="kerascl")
class RandomElasticTransform(RecordedAugmentation):
    """torchvision's `ElasticTransform`, applied with probability `p` per sample.

    A displacement field of uniform noise in [-1, 1] per pixel and axis is smoothed by a Gaussian of standard
    deviation `sigma` (pixels) and scaled so that a unit of smoothed noise moves a pixel by `alpha / 2` pixels
    (torchvision's normalisation); the image is resampled bilinearly with 0 fill. DDCL's CAug+ uses
    `alpha=100, sigma=5` at 224 px with p = 0.5.

    The noise of each sample comes from its own 24-bit seed, recorded in the parameter vector, so
    `apply_params` rebuilds the same field. Records `elastic = (applied, alpha, sigma, seed / 2**24)`.

    Args:
        alpha: displacement strength.
        sigma: smoothness of the displacement field in pixels.
        p: probability.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Examples:
        >>> RandomElasticTransform(alpha=100.0, sigma=5.0, p=1.0)(np.random.rand(1, 32, 32, 3).astype("float32")).shape
        (1, 32, 32, 3)
    """

    NUM_DRAWS = 2

    def __init__(
        self, alpha: float = 100.0, sigma: float = 5.0, p: float = 0.5, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(p=p, seed=seed, **kwargs)
        if float(alpha) < 0 or float(sigma) <= 0:
            raise ValueError(f"`alpha` must be >= 0 and `sigma` > 0; received alpha={alpha}, sigma={sigma}.")
        self.alpha = float(alpha)
        self.sigma = float(sigma)

    def _draw(self, bk: Any, key: Any, batch_size: Any, image_shape: tuple) -> dict:
        u = self._uniforms(bk, key, batch_size)
        applied = self._applied(bk, u[:, 0])
        seed = bk.numpy.floor(u[:, 1] * _SEED_SCALE)
        zero = bk.numpy.zeros_like(u[:, 0])
        return {
            "applied": applied,
            "alpha": bk.numpy.where(applied, self.alpha, zero),
            "sigma": bk.numpy.where(applied, self.sigma, zero),
            "seed": bk.numpy.where(applied, seed, zero),
        }

    def _transform_batch(self, bk: Any, images: Any, transformation: dict) -> Any:
        shape = tuple(images.shape)
        height, width = int(shape[1]), int(shape[2])
        keys = bk.core.cast(bk.core.cast(transformation["seed"], "int32"), "uint32")
        noise = _prng.uniform_per_key(bk, keys, height * width * 2) * 2.0 - 1.0
        noise = bk.numpy.reshape(noise, (-1, height, width, 2))
        kernel = elastic_kernel_size(self.sigma, min(height, width))
        weights = _image_ops.gaussian_weights(bk, transformation["sigma"], kernel)
        displacement = _image_ops.separable_blur(bk, noise, weights) * _image_ops.per_sample(
            bk, transformation["alpha"] / 2.0
        )
        rows = bk.core.cast(bk.numpy.arange(height, dtype="int32"), "float32")[None, :, None]
        cols = bk.core.cast(bk.numpy.arange(width, dtype="int32"), "float32")[None, None, :]
        xs = cols + displacement[..., 0]
        ys = rows + displacement[..., 1]
        warped = _image_ops.sample_bilinear(bk, images, ys, xs, fill_outside=True)
        return _image_ops.select(bk, transformation["applied"], warped, images)

    def _to_params(self, bk: Any, transformation: dict) -> dict:
        applied = bk.core.cast(transformation["applied"], "float32")
        return {
            "elastic": bk.numpy.stack(
                [applied, transformation["alpha"], transformation["sigma"], transformation["seed"] / _SEED_SCALE],
                axis=1,
            )
        }

    def _from_params(self, bk: Any, params: Any) -> dict:
        e = params[:, PARAM_LAYOUT["elastic"]]
        return {
            "applied": e[:, 0] > 0.5,
            "alpha": e[:, 1],
            "sigma": e[:, 2],
            "seed": bk.numpy.round(e[:, 3] * _SEED_SCALE),
        }

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"alpha": self.alpha, "sigma": self.sigma})
        return config
