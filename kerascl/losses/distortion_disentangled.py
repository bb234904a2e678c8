"""DDCL's distortion-disentangled loss: the variant parts of two views are made orthogonal."""

from __future__ import annotations

import keras
from keras import ops

from kerascl.distribute import gather_global_batch
from kerascl.losses._utils import check_pair, cosine_similarity

READINGS = ("abs_of_mean", "mean_of_abs")


@keras.saving.register_keras_serializable(package="kerascl")
class DistortionDisentangledLoss(keras.losses.Loss):
    """Distortion-Disentangled Loss (DDL): the absolute batch-mean cosine of two distortion-variant parts.

    With `z` the target (the other view's variant projection, no gradient) and `p` the prediction, the official
    code's reading (`reading="abs_of_mean"`, the default) is

    $$ L_{DDL} = \\Big| \\frac{1}{B} \\sum_b \\cos(p_b, \\mathrm{sg}(z_b)) \\Big| $$

    and `reading="mean_of_abs"` gives $\\frac{1}{B} \\sum_b |\\cos(p_b, \\mathrm{sg}(z_b))|$. The loss is zero when
    the two views' distortion-variant representations (DVRs) are orthogonal (on average, for the first reading).

    DDCL's symmetrised term $|0.5\\,\\overline{\\cos}(p_1, z_2) + 0.5\\,\\overline{\\cos}(p_2, z_1)|$ is this loss
    called once on the stacked pairs: `loss(concat([z2, z1]), concat([p1, p2]))` (equal batch sizes), which is what
    kerascl's methods do.

    Reference: Wang, Song, Su & Zhou, "Distortion-Disentangled Contrastive Learning", WACV 2024
    (arXiv:2303.05066); official code SifanSong/DDCL (`main_simsiam.py`: `L1Loss(0.5*cos1 + 0.5*cos2, 0)`).

    Args:
        reading: `"abs_of_mean"` (official code) or `"mean_of_abs"`.
        stop_gradient: Whether to stop the gradient at the target (first argument); True in the asymmetric
            (SimSiam-based) DDCL, False for the symmetric (Barlow Twins-based) one, which has no predictor.
        name: Name of the loss.
        **kwargs: Passed to `keras.losses.Loss`.

    Returns:
        A scalar in [0, 1].

    Examples:
        >>> import numpy as np
        >>> z = np.eye(4, dtype="float32")
        >>> float(DistortionDisentangledLoss()(z, np.roll(z, 1, axis=1)))  # orthogonal rows
        0.0
    """

    def __init__(
        self,
        reading: str = "abs_of_mean",
        stop_gradient: bool = True,
        name: str = "distortion_disentangled_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if reading not in READINGS:
            raise ValueError(f"reading must be one of {READINGS}; got {reading!r}.")
        self.reading = reading
        self.stop_gradient = stop_gradient

    def call(self, y_true, y_pred):
        check_pair(y_true, y_pred, type(self).__name__)
        y_true, y_pred = gather_global_batch(y_true, y_pred)  # |mean| is batch-wide: the global batch, float32
        target = ops.stop_gradient(y_true) if self.stop_gradient else y_true
        cos = cosine_similarity(y_pred, target)
        if self.reading == "abs_of_mean":
            return ops.abs(ops.mean(cos))
        return ops.mean(ops.abs(cos))

    def get_config(self) -> dict:
        return {**super().get_config(), "reading": self.reading, "stop_gradient": self.stop_gradient}
