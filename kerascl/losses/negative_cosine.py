"""SimSiam's negative cosine similarity D(p, z) with a stop-gradient on the target."""

from __future__ import annotations

import keras
from keras import ops

from kerascl.losses._utils import check_pair, cosine_similarity


@keras.saving.register_keras_serializable(package="kerascl")
class NegativeCosineSimilarity(keras.losses.Loss):
    """Negative cosine similarity with a stop-gradient on the target, SimSiam's `D(p, z)`.

    Formula:

        loss = -mean_b cos(p_b, stop_gradient(z_b))

    Called as `loss(target, prediction)`, following Keras's `(y_true, y_pred)` order: the first argument is the
    target `z` (the projection of the other view; no gradient flows into it), the second the prediction `p`.
    SimSiam's symmetric loss is `0.5 * loss(z2, p1) + 0.5 * loss(z1, p2)`.

    Reference: Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021.

    Args:
        stop_gradient: Whether to stop the gradient at the target (the paper does; turning it off shows collapse).
        name: Name of the loss.
        **kwargs: Passed to `keras.losses.Loss` (e.g. `dtype`).

    Returns:
        A scalar in [-1, 1].

    Examples:
        >>> import numpy as np
        >>> loss = NegativeCosineSimilarity()
        >>> z = np.ones((4, 8), "float32")
        >>> float(loss(z, z))
        -1.0
    """

    def __init__(self, stop_gradient: bool = True, name: str = "negative_cosine_similarity", **kwargs):
        super().__init__(name=name, **kwargs)
        self.stop_gradient = stop_gradient

    def call(self, y_true, y_pred):
        check_pair(y_true, y_pred, type(self).__name__)
        target = ops.stop_gradient(y_true) if self.stop_gradient else y_true
        return -ops.mean(cosine_similarity(y_pred, target))

    def get_config(self) -> dict:
        return {**super().get_config(), "stop_gradient": self.stop_gradient}
