"""Barlow Twins: make the cross-correlation of the two views' embeddings the identity."""

from __future__ import annotations

import keras

from kerascl.heads import BarlowTwinsProjectionHead, check_initializer
from kerascl.losses import BarlowTwinsLoss
from kerascl.methods.base import SiameseMethod
from kerascl.methods.objectives import barlow_twins_objective
from kerascl.methods.partition import Partition


@keras.saving.register_keras_serializable(package="kerascl")
class BarlowTwins(SiameseMethod):
    """Barlow Twins: redundancy reduction between the embeddings of two views.

        loss = sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2,   C = cross-correlation of batch-standardised z1, z2

    With more than two views the loss is averaged over all pairs.

    Reference: Zbontar et al., "Barlow Twins: Self-Supervised Learning via Redundancy Reduction", ICML 2021.

    Args:
        backbone: A `keras.Model` mapping images to `(B, C)` features.
        projection_dim: Projector output width (8192).
        hidden_dim: Projector hidden width (8192).
        num_projector_layers: 3 in the paper.
        lambda_offdiag: Weight of the off-diagonal term (5e-3).
        scale_loss: Overall loss factor (1).
        augmentation: Optional on-device view maker (see `SiameseMethod`).
        partition: Optional `Partition` for content/style parts (the content part gets this method's loss, the
            style part the partition's style objective; with no predictor, `orthogonal` compares the two views'
            style projections directly, without stop-gradient).
        head_init: How the projector's `Dense` layers start: `"keras"` (Glorot-uniform kernels, zero biases) or
            `"torch"` (PyTorch's `nn.Linear` defaults, as lightly's and the official heads; see
            `kerascl.heads.ProjectionHead`).
        **kwargs: Passed to `keras.Model`.

    Examples:
        >>> from kerascl.backbones import ResNet18
        >>> model = BarlowTwins(ResNet18(), projection_dim=2048, hidden_dim=2048)
    """

    def __init__(
        self,
        backbone: keras.Model,
        projection_dim: int = 8192,
        hidden_dim: int = 8192,
        num_projector_layers: int = 3,
        lambda_offdiag: float = 5e-3,
        scale_loss: float = 1.0,
        augmentation: keras.layers.Layer | None = None,
        partition: Partition | dict | None = None,
        head_init: str = "keras",
        **kwargs,
    ):
        super().__init__(backbone, augmentation=augmentation, partition=partition, **kwargs)
        self.projection_dim = projection_dim
        self.hidden_dim = hidden_dim
        self.num_projector_layers = num_projector_layers
        self.lambda_offdiag = lambda_offdiag
        self.scale_loss = scale_loss
        self.head_init = check_initializer(head_init, "head_init")
        self.setup_heads(BarlowTwinsProjectionHead(hidden_dim, projection_dim, num_projector_layers, name="projector",
                                                   initializer=head_init))
        self.loss_fn = BarlowTwinsLoss(lambda_offdiag=lambda_offdiag, scale_loss=scale_loss)

    def objective(self, outputs):
        """The loss averaged over every unordered pair of views (the loss itself for two views)."""
        return barlow_twins_objective(self.loss_fn, outputs)

    def get_config(self):
        return {
            **super().get_config(),
            "projection_dim": self.projection_dim,
            "hidden_dim": self.hidden_dim,
            "num_projector_layers": self.num_projector_layers,
            "lambda_offdiag": self.lambda_offdiag,
            "scale_loss": self.scale_loss,
            "head_init": self.head_init,
        }
