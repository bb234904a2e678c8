"""BYOL's normalised squared error between a prediction and a target projection."""

from __future__ import annotations

import keras
from keras import ops

from kerascl.losses._utils import check_pair, l2_normalize


@keras.saving.register_keras_serializable(package="kerascl")
class BYOLLoss(keras.losses.Loss):
    """Normalised mean squared error of BYOL, `2 - 2 cos(p, z')`.

    Formula:

        loss = mean_b || l2n(p_b) - l2n(stop_gradient(z'_b)) ||^2 = mean_b (2 - 2 cos(p_b, z'_b))

    Called as `loss(target, prediction)` (Keras's `(y_true, y_pred)` order): the first argument is the target
    network's projection `z'` (no gradient), the second the online prediction `p`. BYOL symmetrises it:
    `loss(z'2, p1) + loss(z'1, p2)`.

    Reference: Grill et al., "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning",
    NeurIPS 2020.

    Args:
        stop_gradient: Whether to stop the gradient at the target.
        name: Name of the loss.
        **kwargs: Passed to `keras.losses.Loss`.

    Returns:
        A scalar in [0, 4].

    Examples:
        >>> import numpy as np
        >>> z = np.eye(4, dtype="float32")
        >>> round(float(BYOLLoss()(z, -z)), 4)
        4.0
    """

    def __init__(self, stop_gradient: bool = True, name: str = "byol_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.stop_gradient = stop_gradient

    def call(self, y_true, y_pred):
        check_pair(y_true, y_pred, type(self).__name__)
        target = ops.stop_gradient(y_true) if self.stop_gradient else y_true
        diff = l2_normalize(y_pred) - l2_normalize(target)
        return ops.mean(ops.sum(diff * diff, axis=-1))

    def get_config(self) -> dict:
        return {**super().get_config(), "stop_gradient": self.stop_gradient}
