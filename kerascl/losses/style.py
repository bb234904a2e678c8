"""Style-part objectives of partitioned representations: augmentation regression and the VAE latent terms.

The two other style objectives of kerascl's partitions need no loss class of their own: `repel` is the method's
own loss with its sign flipped, `orthogonal` is `kerascl.losses.DistortionDisentangledLoss`.
"""

from __future__ import annotations

import keras
from keras import ops

from kerascl.losses._utils import check_pair

STYLE_TERMS = ("hinge", "negative_squared", None)


@keras.saving.register_keras_serializable(package="kerascl")
class AugmentationPredictionLoss(keras.losses.Loss):
    """Mean squared error between recorded augmentation parameters and their prediction from the style part.

    $$ L = \\frac{1}{B P} \\sum_{b, k} (\\hat a_{bk} - a_{bk})^2 $$

    `y_true` are the recorded parameters `a` of a view (data, no gradient); `y_pred` the output of a linear head
    on that view's style part. This objective is not from a paper: it makes "the style part represents the
    augmentation" (Lee & Choi, "Partitioning Image Representation in Contrastive Learning", arXiv:2203.10454)
    a trained, measurable property.

    Args:
        name: Name of the loss.
        **kwargs: Passed to `keras.losses.Loss`.

    Returns:
        A non-negative scalar.

    Examples:
        >>> import numpy as np
        >>> a = np.ones((4, 3), "float32")
        >>> float(AugmentationPredictionLoss()(a, a + 1.0))
        1.0
    """

    def __init__(self, name: str = "augmentation_prediction_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        check_pair(y_true, y_pred, type(self).__name__)
        return ops.mean(ops.square(y_pred - ops.stop_gradient(ops.cast(y_true, y_pred.dtype))))


def content_pull(content_1, content_2):
    """`mean_b ||c1_b - c2_b||^2`: the squared distance between two views' content latents."""
    return ops.mean(ops.sum(ops.square(content_1 - content_2), axis=-1))


def style_push(style_1, style_2, style_term: str | None = "hinge", margin: float = 1.0):
    """The style term of `LatentPartitionLoss`, which is lower when two views' style latents are farther apart.

    Args:
        style_1: `(B, d_s)` style latents of view 1. style_2: the same for view 2.
        style_term: `"hinge"`: `mean_b max(0, margin - ||s1_b - s2_b||)^2` (bounded below by 0);
            `"negative_squared"`: `-mean_b ||s1_b - s2_b||^2` (the literal sign flip, unbounded below: needs the
            KL term to hold it, `4 * gamma < beta`); None: 0.
        margin: Hinge margin.

    Returns:
        A scalar.
    """
    if style_term is None:
        return ops.zeros((), dtype=style_1.dtype)
    squared = ops.sum(ops.square(style_1 - style_2), axis=-1)
    if style_term == "negative_squared":
        return -ops.mean(squared)
    if style_term == "hinge":
        return ops.mean(ops.square(ops.relu(margin - ops.sqrt(squared + 1e-12))))
    raise ValueError(f"style_term must be one of {STYLE_TERMS}; got {style_term!r}.")


@keras.saving.register_keras_serializable(package="kerascl")
class LatentPartitionLoss(keras.losses.Loss):
    """The contrastive decomposition on a partitioned VAE's latent means: pull content, push style.

    With latents `mu = [mu_c ; mu_s]` of two views of the same image (content = the first `content_dim` dims):

    $$ L = \\frac{1}{B}\\sum_b \\lVert \\mu_{c,1} - \\mu_{c,2} \\rVert^2
         + w_s \\, S(\\mu_{s,1}, \\mu_{s,2}) $$

    where `w_s = style_weight` and `S` is the style term of `style_push` (`"hinge"` by default;
    `"negative_squared"`, $-\\frac{1}{B}\\sum_b\\lVert\\mu_{s,1}-\\mu_{s,2}\\rVert^2$, is the literal one). This is a
    reconstruction (methods.md section 1, `[RECON]`), not a formula checked against the paper.

    Reference: Lee & Choi, "Partitioning Image Representation in Contrastive Learning", arXiv:2203.10454 (2022).

    Args:
        content_dim: Number of content dims at the front of the latent.
        style_term: `"hinge"`, `"negative_squared"` or None (see `style_push`).
        margin: Hinge margin.
        style_weight: Weight of the style term relative to the content pull.
        name: Name of the loss.
        **kwargs: Passed to `keras.losses.Loss`.

    Returns:
        A scalar.

    Examples:
        >>> import numpy as np
        >>> mu = np.zeros((4, 6), "float32")
        >>> float(LatentPartitionLoss(content_dim=3, margin=1.0)(mu, mu))  # style identical: full hinge penalty
        1.0
    """

    def __init__(
        self,
        content_dim: int,
        style_term: str | None = "hinge",
        margin: float = 1.0,
        style_weight: float = 1.0,
        name: str = "latent_partition_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if style_term not in STYLE_TERMS:
            raise ValueError(f"style_term must be one of {STYLE_TERMS}; got {style_term!r}.")
        if int(content_dim) < 1:
            raise ValueError(f"content_dim must be >= 1; got {content_dim}.")
        self.content_dim = int(content_dim)
        self.style_term = style_term
        self.margin = margin
        self.style_weight = style_weight

    def call(self, y_true, y_pred):
        check_pair(y_true, y_pred, type(self).__name__)
        d = self.content_dim
        content = content_pull(y_true[:, :d], y_pred[:, :d])
        style = style_push(y_true[:, d:], y_pred[:, d:], self.style_term, self.margin)
        return content + self.style_weight * style

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "content_dim": self.content_dim,
            "style_term": self.style_term,
            "margin": self.margin,
            "style_weight": self.style_weight,
        }
