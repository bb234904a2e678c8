"""SimCLR's NT-Xent (normalised temperature-scaled cross-entropy) loss."""

from __future__ import annotations

import keras
from keras import ops

from kerascl.distribute import gather_global_batch
from kerascl.losses._utils import check_pair, l2_normalize


@keras.saving.register_keras_serializable(package="kerascl")
class InfoNCELoss(keras.losses.Loss):
    """NT-Xent of SimCLR: both views act as anchors, each with 2N - 2 negatives.

    With `u = l2n(concat(z1, z2))` (2N rows) and `s_ij = u_i . u_j / T`, the positive of row `i` is its other view
    and the denominator runs over every row but itself:

        loss = mean_i [ -s_{i, pos(i)} + log sum_{j != i} exp(s_ij) ]

    Symmetric in its two arguments; no stop-gradient. Needs a batch of at least 2 (else there is no negative).

    Reference: Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020.

    Args:
        temperature: The temperature `T` (0.5 for SimCLR on CIFAR-10, 0.1 on ImageNet).
        name: Name of the loss.
        **kwargs: Passed to `keras.losses.Loss`.

    Returns:
        A scalar.

    Examples:
        >>> import numpy as np
        >>> z1 = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
        >>> loss = InfoNCELoss(temperature=0.5)(z1, z1 + 0.01)
    """

    def __init__(self, temperature: float = 0.5, name: str = "info_nce_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        if temperature <= 0:
            raise ValueError(f"temperature must be positive; got {temperature}.")
        self.temperature = temperature

    def call(self, y_true, y_pred):
        check_pair(y_true, y_pred, type(self).__name__, min_batch=2)
        y_true, y_pred = gather_global_batch(y_true, y_pred)  # negatives from the global batch, float32
        n = ops.shape(y_true)[0]
        u = l2_normalize(ops.concatenate([y_true, y_pred], axis=0))
        logits = ops.matmul(u, ops.transpose(u)) / self.temperature
        eye = ops.eye(2 * n, dtype=logits.dtype)
        logits = logits - 1e9 * eye  # remove each row's similarity with itself
        positive_index = ops.concatenate([ops.arange(n, 2 * n), ops.arange(0, n)])
        positives = ops.take_along_axis(logits, ops.expand_dims(positive_index, 1), axis=1)[:, 0]
        return ops.mean(ops.logsumexp(logits, axis=1) - positives)

    def get_config(self) -> dict:
        return {**super().get_config(), "temperature": self.temperature}
