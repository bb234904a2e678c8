"""Decoupled uniformity: uniformity of per-image centroids, optionally conditioned on a kernel prior."""

from __future__ import annotations

from typing import Callable

import keras
from keras import ops

from kerascl import kernels as kernels_lib
from kerascl.distribute import gather_global_batch
from kerascl.losses._utils import l2_normalize


def _stack_views(z):
    """(B, V, d) tensor from a (B, V, d) tensor or a list/tuple of V (B, d) tensors."""
    if isinstance(z, (list, tuple)):
        z = ops.stack([ops.convert_to_tensor(v) for v in z], axis=1)
    return ops.convert_to_tensor(z)


@keras.saving.register_keras_serializable(package="kerascl")
class DecoupledUniformityLoss(keras.losses.Loss):
    """Decoupled uniformity loss of Dufumier et al., with an optional kernel prior.

    With `z_i^v` the l2-normalised embedding of view `v` of image `i` (V >= 2 views), each image is represented by
    its centroid `mu_i = (1/V) sum_v z_i^v`; the loss spreads the centroids on the sphere:

        loss = log( (2 / (B (B - 1))) sum_{i<j} exp(-t ||mu_i - mu_j||^2) ),   t = 2

    Alignment is implicit: a centroid can only move far from the others when it is long (`||mu|| <= 1` with
    equality iff the views agree). There is no positive pair in a softmax denominator, hence "decoupled".

    With a kernel prior (RBF or cosine on prior features `w`, e.g. weak attributes or a frozen generative
    model's features), the centroids are replaced by the conditional mean embedding estimate

        K_ij = k(w_i, w_j),   alpha = sg((K + lambda I)^{-1} K),   mu <- alpha mu

    so images that the prior deems similar share their centroid estimate. No gradient flows into `alpha` or `w`.

    Called as `loss(prior, z)`, Keras's `(y_true, y_pred)` order: `prior` is the `(B, p)` prior features (or None,
    and ignored without a kernel), `z` the head outputs as a `(B, V, d)` tensor or a list of V `(B, d)` tensors.

    Reference: Dufumier, Barbano, Louiset, Duchesnay, Gori, "Integrating Prior Knowledge in Contrastive Learning
    with Kernel", ICML 2023 (PMLR 202), arXiv:2206.01646.

    Args:
        kernel: None (no prior), `"rbf"`, `"cosine"` or a kernel object from `kerascl.kernels`.
        sigma: RBF bandwidth (required with `"rbf"`).
        lam: Ridge regulariser `lambda` of the estimator (0.01); None or 0 uses `1 / sqrt(B)` (the official
            `lambda_ or 1/sqrt(B)`: with `lambda = 0`, `alpha` would be the identity, i.e. no prior, or singular).
        t: Uniformity temperature `t` (2).
        name: Name of the loss.
        **kwargs: Passed to `keras.losses.Loss`.

    Returns:
        A scalar `<= 0` (log of a mean of values in (0, 1]).

    Examples:
        >>> import numpy as np
        >>> z = np.random.default_rng(0).normal(size=(8, 2, 16)).astype("float32")
        >>> value = DecoupledUniformityLoss()(None, z)
        >>> attrs = np.random.default_rng(1).random((8, 5)).astype("float32")
        >>> with_prior = DecoupledUniformityLoss(kernel="rbf", sigma=1.0)(attrs, z)
    """

    def __init__(
        self,
        kernel: str | Callable | None = None,
        sigma: float | None = None,
        lam: float | None = 0.01,
        t: float = 2.0,
        name: str = "decoupled_uniformity_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if isinstance(kernel, dict):
            kernel = keras.saving.deserialize_keras_object(kernel)
        if t <= 0:
            raise ValueError(f"t must be positive; got {t}.")
        if lam is not None and lam < 0:
            raise ValueError(f"lam must be >= 0 (None or 0 for 1/sqrt(B)); got {lam}.")
        self.kernel = kernel
        self.sigma = sigma
        self.lam = lam
        self.t = t
        self.kernel_fn = kernels_lib.get_kernel(kernel, sigma)

    # ---------------------------------------------------------------------------------------------- pieces
    def centroids(self, z, prior=None):
        """The `(B, d)` centroids: mean over views of the l2-normalised `z`, then `alpha @ mu` with a prior."""
        # Pairs and kernel prior over the global batch (all replicas), in float32.
        z, prior = gather_global_batch(_stack_views(z), prior)
        shape = tuple(z.shape)
        if len(shape) != 3:
            raise ValueError(
                f"{type(self).__name__} expects z of shape (batch, views, dim) or a list of (batch, dim) views; "
                f"got shape {shape}."
            )
        if shape[1] is not None and shape[1] < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 views per image; got {shape[1]}.")
        if shape[0] is not None and shape[0] < 2:
            raise ValueError(
                f"{type(self).__name__} needs a batch with at least 2 distinct images (it spreads centroids of "
                f"different images apart); got a batch of {shape[0]}. Use a larger batch_size and "
                "drop_remainder=True so no final batch of 1 remains."
            )
        mu = ops.mean(l2_normalize(z), axis=1)
        if self.kernel_fn is not None:
            if prior is None:
                raise ValueError(
                    f"{type(self).__name__} was built with kernel={self.kernel!r} but got no prior features. Pass "
                    "them as the first argument, loss(prior, z), e.g. the batch's 'attributes'."
                )
            prior = ops.stop_gradient(ops.convert_to_tensor(prior))
            pb = tuple(prior.shape)[0]
            if pb is not None and shape[0] is not None and pb != shape[0]:
                raise ValueError(f"Prior features have {pb} rows but z has {shape[0]} images; they must match.")
            # The official `lambda_ or 1/sqrt(B)`: 0 falls back to 1/sqrt(B) too.
            alpha = kernels_lib.conditional_mean_weights(self.kernel_fn(prior), self.lam or None)
            mu = ops.matmul(ops.cast(alpha, mu.dtype), mu)
        return mu

    def uniformity(self, mu):
        """`log mean_{i<j} exp(-t ||mu_i - mu_j||^2)` over the distinct pairs of rows of `mu`."""
        b = ops.shape(mu)[0]
        d2 = kernels_lib.pairwise_squared_distances(mu)
        mask = ops.triu(ops.ones((b, b), dtype=mu.dtype), k=1)
        return ops.log(ops.sum(ops.exp(-self.t * d2) * mask) / ops.sum(mask))

    @staticmethod
    def alignment(mu):
        """The official code's alignment metric, `-mean_i ||mu_i||^2` (lower means better-aligned views)."""
        return -ops.mean(ops.sum(mu * mu, axis=-1))

    # ------------------------------------------------------------------------------------------------ call
    def call(self, y_true, y_pred):
        return self.uniformity(self.centroids(y_pred, y_true))

    def __call__(self, y_true, y_pred, sample_weight=None):
        # Keras's Loss.__call__ converts y_true to a tensor, which a missing prior (None) cannot be.
        if y_true is None:
            y_pred = keras.tree.map_structure(lambda x: ops.convert_to_tensor(x, dtype=self.dtype), y_pred)
            return self.call(None, y_pred)
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def get_config(self) -> dict:
        kernel = self.kernel
        if kernel is not None and not isinstance(kernel, str):
            kernel = keras.saving.serialize_keras_object(kernel)
        return {**super().get_config(), "kernel": kernel, "sigma": self.sigma, "lam": self.lam, "t": self.t}
