"""Kernel priors for contrastive learning: similarity kernels on prior features and conditional-mean weights.

A kernel prior says which samples of a batch should be treated as alike, from knowledge that does not come from
the network being trained: weak attributes that come with the data (the `attributes` key of a kerascl batch) or
the features of a frozen encoder (a generative model's encoder, e.g. a trained `PartitionedVAE` encoder, or any
`keras.Model`). Decoupled uniformity (`kerascl.losses.DecoupledUniformityLoss`) uses it to replace each image's
centroid by a kernel-weighted mean over the batch, the conditional mean embedding estimator

$$\\alpha = (K + \\lambda I)^{-1} K, \\qquad \\hat\\mu = \\alpha\\, \\mu .$$

Everything here is written with `keras.ops` and runs inside a compiled step on TensorFlow and JAX.

Reference: Dufumier, Barbano, Louiset, Duchesnay, Gori, "Integrating Prior Knowledge in Contrastive Learning with
Kernel", ICML 2023 (PMLR 202), arXiv:2206.01646.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np
from keras import ops

KERNEL_NAMES = ("rbf", "cosine")
MEDIAN_HEURISTIC = "median"


def pairwise_squared_distances(x, y=None):
    """Squared Euclidean distances between the rows of `x` and of `y` (default `x`), clipped at 0.

    Args:
        x: `(n, p)` tensor.
        y: `(m, p)` tensor, or None for `x`.

    Returns:
        `(n, m)` tensor with `||x_i - y_j||^2`.

    Examples:
        >>> d2 = pairwise_squared_distances(np.eye(3, dtype="float32"))  # 0 on the diagonal, 2 elsewhere
    """
    y = x if y is None else y
    xx = ops.sum(x * x, axis=-1)
    yy = ops.sum(y * y, axis=-1)
    d2 = ops.expand_dims(xx, 1) + ops.expand_dims(yy, 0) - 2.0 * ops.matmul(x, ops.transpose(y))
    return ops.maximum(d2, 0.0)


def median_squared_distance(x):
    """Median of `||x_i - x_j||^2` over the pairs `i != j` of the rows of `x` (at least 2 rows), floored at 1e-12.

    The median heuristic's bandwidth is its square root. Sorting the flattened distance matrix puts the `n` zeros
    of the diagonal first, so the median of the rest is the median over distinct pairs.

    Examples:
        >>> m = median_squared_distance(np.eye(3, dtype="float32"))  # 2.0
    """
    return _median_off_diagonal(pairwise_squared_distances(x))


def _median_off_diagonal(d2):
    n = ops.shape(d2)[0]
    off_diagonal = ops.sort(ops.reshape(d2, (-1,)))[n:]
    return ops.maximum(ops.median(off_diagonal), 1e-12)


def _as_features(x, name: str):
    x = ops.convert_to_tensor(x)
    if "float" not in keras.backend.standardize_dtype(x.dtype):
        x = ops.cast(x, "float32")
    if len(x.shape) == 1:
        x = ops.expand_dims(x, 1)
    if len(x.shape) != 2:
        raise ValueError(f"{name} expects prior features of shape (batch, p) or (batch,); got shape {tuple(x.shape)}.")
    return x


@keras.saving.register_keras_serializable(package="kerascl")
class RBFKernel:
    """Gaussian (RBF) kernel `k(x, y) = exp(-||x - y||^2 / (2 sigma^2))`.

    The official decoupled-uniformity code uses sigma = 100 for BigBiGAN features (ImageNet-100), 20 for CUB-200
    attributes, 100 for UTZappos attributes and 10 for GLoRIA features (CheXpert). Choose sigma on the scale of
    the distances between prior features: too small gives the identity (no prior), too large a constant kernel
    (every centroid the same). `sigma="median"` sets it per batch to the median distance between two different
    samples of the batch (the median heuristic; not in the official code), for prior features whose scale is
    unknown, such as a frozen encoder's.

    Args:
        sigma: Bandwidth, > 0, or `"median"`.

    Examples:
        >>> k = RBFKernel(sigma=1.0)(np.random.rand(4, 3).astype("float32"))  # (4, 4), ones on the diagonal
        >>> k = RBFKernel(sigma="median")(np.random.rand(4, 3).astype("float32"))
    """

    def __init__(self, sigma: float | str = 1.0):
        if sigma == MEDIAN_HEURISTIC:
            self.sigma = MEDIAN_HEURISTIC
            return
        try:
            positive = sigma is not None and float(sigma) > 0
        except (TypeError, ValueError):
            positive = False
        if not positive:
            raise ValueError(f"RBFKernel needs a positive bandwidth sigma or sigma='median'; got {sigma!r}.")
        self.sigma = float(sigma)

    def __call__(self, x, y=None):
        """Kernel matrix `(n, m)` between the rows of `x` and `y` (default `x`)."""
        x = _as_features(x, "RBFKernel")
        y = x if y is None else _as_features(y, "RBFKernel")
        d2 = pairwise_squared_distances(x, y)
        if self.sigma == MEDIAN_HEURISTIC:
            # The bandwidth comes from the batch's own distances (x with x), reused when y is x.
            own = d2 if y is x else pairwise_squared_distances(x)
            sigma2 = ops.stop_gradient(_median_off_diagonal(own))
        else:
            sigma2 = self.sigma**2
        return ops.exp(-d2 / (2.0 * sigma2))

    def get_config(self) -> dict:
        return {"sigma": self.sigma}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"RBFKernel(sigma={self.sigma})"


@keras.saving.register_keras_serializable(package="kerascl")
class CosineKernel:
    """Cosine kernel `k(x, y) = <x, y> / (||x|| ||y||)` (the linear kernel on l2-normalised features).

    Examples:
        >>> k = CosineKernel()(np.random.rand(4, 3).astype("float32"))  # (4, 4), ones on the diagonal
    """

    def __call__(self, x, y=None):
        """Kernel matrix `(n, m)` between the rows of `x` and `y` (default `x`)."""
        x = _as_features(x, "CosineKernel")
        y = x if y is None else _as_features(y, "CosineKernel")
        xn = x / ops.sqrt(ops.sum(x * x, axis=-1, keepdims=True) + 1e-12)
        yn = y / ops.sqrt(ops.sum(y * y, axis=-1, keepdims=True) + 1e-12)
        return ops.matmul(xn, ops.transpose(yn))

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return "CosineKernel()"


def get_kernel(kernel: str | Callable | None, sigma: float | str | None = None):
    """A kernel object from a name (`"rbf"`, `"cosine"`), a kernel object (returned as is) or None.

    Args:
        kernel: `"rbf"`, `"cosine"`, a callable `kernel(x, y=None) -> (n, m)`, or None.
        sigma: Bandwidth of the RBF kernel (required for `"rbf"`), or `"median"` for the median heuristic.

    Returns:
        A callable kernel, or None.
    """
    if kernel is None or callable(kernel):
        return kernel
    if not isinstance(kernel, str) or kernel.lower() not in KERNEL_NAMES:
        raise ValueError(f"kernel must be one of {KERNEL_NAMES}, a callable kernel or None; got {kernel!r}.")
    if kernel.lower() == "rbf":
        if sigma is None:
            raise ValueError("The 'rbf' kernel needs sigma= (the bandwidth, e.g. 20 for CUB-200 attributes, or "
                             "'median' for the median distance within each batch).")
        return RBFKernel(sigma)
    return CosineKernel()


def conditional_mean_weights(kernel_matrix, lam: float | None = 0.01):
    """Weights of the conditional mean embedding estimator, `alpha = (K + lam I)^{-1} K`, under stop-gradient.

    Row `i` of `alpha` says how much each sample of the batch contributes to the estimate of sample `i`'s
    centroid. `lam=None` uses `1 / sqrt(B)`, the fallback of the official code.

    Args:
        kernel_matrix: `(B, B)` symmetric positive semi-definite kernel matrix.
        lam: Ridge regulariser `lambda` (0.01 in the paper's code).

    Returns:
        `(B, B)` tensor, with no gradient.

    Examples:
        >>> alpha = conditional_mean_weights(np.eye(4, dtype="float32"), lam=0.0)  # identity: no prior
    """
    k = ops.stop_gradient(ops.convert_to_tensor(kernel_matrix))
    shape = tuple(k.shape)
    if len(shape) != 2 or (shape[0] is not None and shape[1] is not None and shape[0] != shape[1]):
        raise ValueError(f"conditional_mean_weights expects a square (B, B) kernel matrix; got shape {shape}.")
    b = ops.shape(k)[0]
    if lam is None:
        lam = 1.0 / ops.sqrt(ops.cast(b, k.dtype))
    elif lam < 0:
        raise ValueError(f"lam must be >= 0 (or None for 1/sqrt(B)); got {lam}.")
    eye = ops.eye(b, dtype=k.dtype)
    return ops.stop_gradient(ops.solve(k + lam * eye, k))


def encoder_features(encoder: Callable, images) -> Any:
    """Features of a frozen encoder on an image batch, flattened to `(B, p)`, under stop-gradient.

    The encoder may return one tensor, or a list/tuple whose first entry is used (e.g. the mean of a VAE
    encoder that returns `(mean, log_var)`).

    Args:
        encoder: A `keras.Model` (or callable) mapping images to features.
        images: `(B, H, W, 3)` float images in [0, 1].

    Returns:
        `(B, p)` float tensor.
    """
    out = encoder(images, training=False) if isinstance(encoder, keras.layers.Layer) else encoder(images)
    if isinstance(out, dict):
        raise TypeError(
            f"The prior encoder returned a dict with keys {sorted(out)}; wrap it so it returns one (B, p) tensor."
        )
    if isinstance(out, (list, tuple)):
        out = out[0]
    out = ops.convert_to_tensor(out)
    if len(out.shape) < 2:
        raise ValueError(f"The prior encoder must return (batch, features); got shape {tuple(out.shape)}.")
    out = ops.reshape(out, (ops.shape(out)[0], -1))
    return ops.stop_gradient(ops.cast(out, "float32"))


def encode_prior(encoder: Callable, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Precomputes a frozen encoder's features for a whole image array (host side), to use as `attributes`.

    This mirrors the official pipeline, which stores the prior features (BigBiGAN, GLoRIA) of the un-augmented
    images once and feeds them with each batch: pass the result as `attributes=` to `kerascl.data.from_arrays`
    and train `DecoupledUniformity(prior="attributes")`.

    Args:
        encoder: A `keras.Model` (or callable) mapping images to features.
        images: `(N, H, W, 3)` float32 array in [0, 1].
        batch_size: Images per forward pass.

    Returns:
        `(N, p)` float32 NumPy array.

    Examples:
        >>> feats = encode_prior(vae.encoder, data.images)  # doctest: +SKIP
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"encode_prior expects images of shape (N, H, W, C); got {images.shape}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
    chunks = [
        ops.convert_to_numpy(encoder_features(encoder, images[i:i + batch_size].astype("float32")))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(chunks, axis=0).astype("float32")
