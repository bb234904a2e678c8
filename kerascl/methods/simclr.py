"""SimCLR: contrast each view against the other view and every other image in the batch."""

from __future__ import annotations

import keras

from kerascl.heads import SimCLRProjectionHead
from kerascl.losses import InfoNCELoss
from kerascl.methods.base import SiameseMethod
from kerascl.methods.objectives import mean_over_view_pairs
from kerascl.methods.partition import Partition


@keras.saving.register_keras_serializable(package="kerascl")
class SimCLR(SiameseMethod):
    """A Simple Framework for Contrastive Learning of Visual Representations.

    The NT-Xent loss with both views as anchors and 2N - 2 negatives per anchor (see `kerascl.losses.InfoNCELoss`).
    With more than two views the loss is averaged over all pairs.

    Reference: Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020.

    Args:
        backbone: A `keras.Model` mapping images to `(B, C)` features.
        projection_dim: Projector output width (128).
        hidden_dim: Projector hidden width (2048).
        temperature: NT-Xent temperature (0.5 for CIFAR-10; 0.1 for ImageNet with large batches).
        augmentation: Optional on-device view maker (see `SiameseMethod`).
        partition: Optional `Partition` for content/style parts (the content part gets this method's loss, the
            style part the partition's style objective; with no predictor, `orthogonal` compares the two views'
            style projections directly, without stop-gradient).
        **kwargs: Passed to `keras.Model`.

    Examples:
        >>> from kerascl.backbones import ResNet18
        >>> model = SimCLR(ResNet18(), temperature=0.5)
    """

    def __init__(
        self,
        backbone: keras.Model,
        projection_dim: int = 128,
        hidden_dim: int = 2048,
        temperature: float = 0.5,
        augmentation: keras.layers.Layer | None = None,
        partition: Partition | dict | None = None,
        **kwargs,
    ):
        super().__init__(backbone, augmentation=augmentation, partition=partition, **kwargs)
        self.projection_dim = projection_dim
        self.hidden_dim = hidden_dim
        self.temperature = temperature
        self.setup_heads(SimCLRProjectionHead(hidden_dim, projection_dim, name="projector"))
        self.loss_fn = InfoNCELoss(temperature=temperature)

    def objective(self, outputs):
        """The loss averaged over every unordered pair of views (the loss itself for two views)."""
        return mean_over_view_pairs(self.loss_fn, outputs["projections"])

    def get_config(self):
        return {
            **super().get_config(),
            "projection_dim": self.projection_dim,
            "hidden_dim": self.hidden_dim,
            "temperature": self.temperature,
        }
