"""Gaussian blur with a per-sample probability and sigma."""

from __future__ import annotations

from typing import Any

import keras

from kerascl.augment import _image_ops
from kerascl.augment.base import RecordedAugmentation, check_range
from kerascl.augment.layout import PARAM_LAYOUT


@keras.saving.register_keras_serializable(package="kerascl")
class RandomGaussianBlur(RecordedAugmentation):
    """Blur each image with probability `p`, with sigma drawn uniformly from `sigma` per sample.

    torchvision's `GaussianBlur` as SimCLR and BYOL use it: a separable kernel of odd size `kernel_size`
    (default: about a tenth of the image side, 23 px at 224 px), reflect padding.

    Records `blur_sigma` (0 when not blurred).

    Args:
        p: probability (SimCLR 0.5; BYOL 1.0 for view 1 and 0.1 for view 2).
        sigma: range of the Gaussian standard deviation in pixels.
        kernel_size: odd kernel size, or None for `blur_kernel_size(image side)`.
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Examples:
        >>> RandomGaussianBlur(p=1.0, sigma=(0.1, 2.0))(np.random.rand(2, 32, 32, 3).astype("float32")).shape
        (2, 32, 32, 3)
    """

    NUM_DRAWS = 2

    def __init__(
        self,
        p: float = 0.5,
        sigma: tuple[float, float] = (0.1, 2.0),
        kernel_size: int | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(p=p, seed=seed, **kwargs)
        self.sigma = check_range(sigma, "sigma", low=0.0)
        if self.sigma[0] <= 0.0:
            raise ValueError(f"`sigma` must be positive; received sigma={sigma!r}.")
        if kernel_size is not None and (int(kernel_size) < 1 or int(kernel_size) % 2 == 0):
            raise ValueError(f"`kernel_size` must be a positive odd integer; received {kernel_size}.")
        self.kernel_size = None if kernel_size is None else int(kernel_size)

    def _kernel(self, image_shape: tuple) -> int:
        if self.kernel_size is not None:
            return self.kernel_size
        return _image_ops.blur_kernel_size(min(int(image_shape[-3]), int(image_shape[-2])))

    def _draw(self, bk: Any, key: Any, batch_size: Any, image_shape: tuple) -> dict:
        u = self._uniforms(bk, key, batch_size)
        sigma = self.sigma[0] + (self.sigma[1] - self.sigma[0]) * u[:, 1]
        return {"sigma": bk.numpy.where(self._applied(bk, u[:, 0]), sigma, 0.0)}

    def _transform_batch(self, bk: Any, images: Any, transformation: dict) -> Any:
        sigma = transformation["sigma"]
        weights = _image_ops.gaussian_weights(bk, sigma, self._kernel(tuple(images.shape)))
        blurred = _image_ops.separable_blur(bk, images, weights)
        return _image_ops.select(bk, sigma > 0.0, blurred, images)

    def _to_params(self, bk: Any, transformation: dict) -> dict:
        return {"blur_sigma": transformation["sigma"][:, None]}

    def _from_params(self, bk: Any, params: Any) -> dict:
        return {"sigma": params[:, PARAM_LAYOUT["blur_sigma"].start]}

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"sigma": list(self.sigma), "kernel_size": self.kernel_size})
        return config
