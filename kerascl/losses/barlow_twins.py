"""Barlow Twins' redundancy-reduction loss on the cross-correlation matrix."""

from __future__ import annotations

import keras
from keras import ops

from kerascl.distribute import gather_global_batch
from kerascl.losses._utils import check_pair


def standardize_along_batch(z, epsilon: float = 1e-5):
    """Standardises each feature over the batch (zero mean, unit biased variance), like BatchNorm without affine."""
    mean = ops.mean(z, axis=0, keepdims=True)
    var = ops.mean(ops.square(z - mean), axis=0, keepdims=True)
    return (z - mean) / ops.sqrt(var + epsilon)


def cross_correlation(z1, z2, epsilon: float = 1e-5):
    """The `(dim, dim)` cross-correlation matrix of two batch-standardised embeddings."""
    n = ops.cast(ops.shape(z1)[0], z1.dtype)
    return ops.matmul(ops.transpose(standardize_along_batch(z1, epsilon)), standardize_along_batch(z2, epsilon)) / n


@keras.saving.register_keras_serializable(package="kerascl")
class BarlowTwinsLoss(keras.losses.Loss):
    """Barlow Twins loss: invariance on the diagonal, redundancy reduction off it.

    Each feature of the two embeddings is standardised along the batch (mean 0, std 1, biased variance as the
    official code's affine-free BatchNorm), then with the cross-correlation matrix `C = z1n^T z2n / N`:

        loss = scale * ( sum_i (1 - C_ii)^2 + lambda_offdiag * sum_{i != j} C_ij^2 )

    Symmetric in its two arguments; no stop-gradient. Needs a batch of at least 2.

    Reference: Zbontar et al., "Barlow Twins: Self-Supervised Learning via Redundancy Reduction", ICML 2021.

    Args:
        lambda_offdiag: Weight of the off-diagonal (redundancy) term; 5e-3 in the paper.
        scale_loss: Overall factor (1 in the paper; hierarchical augmentation invariance uses 1/32).
        epsilon: Added to the variance before the square root.
        name: Name of the loss.
        **kwargs: Passed to `keras.losses.Loss`.

    Returns:
        A non-negative scalar.

    Examples:
        >>> import numpy as np
        >>> z = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
        >>> loss = BarlowTwinsLoss()(z, z)  # identical views: diagonal is 1, only redundancy remains
    """

    def __init__(
        self,
        lambda_offdiag: float = 5e-3,
        scale_loss: float = 1.0,
        epsilon: float = 1e-5,
        name: str = "barlow_twins_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.lambda_offdiag = lambda_offdiag
        self.scale_loss = scale_loss
        self.epsilon = epsilon

    def call(self, y_true, y_pred):
        check_pair(y_true, y_pred, type(self).__name__, min_batch=2)
        y_true, y_pred = gather_global_batch(y_true, y_pred)  # the global batch on every replica, float32
        c = cross_correlation(y_true, y_pred, self.epsilon)
        diagonal = ops.diagonal(c)
        on_diag = ops.sum(ops.square(1.0 - diagonal))
        off_diag = ops.sum(ops.square(c)) - ops.sum(ops.square(diagonal))
        return self.scale_loss * (on_diag + self.lambda_offdiag * off_diag)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "lambda_offdiag": self.lambda_offdiag,
            "scale_loss": self.scale_loss,
            "epsilon": self.epsilon,
        }
