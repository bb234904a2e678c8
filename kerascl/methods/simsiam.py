"""SimSiam: a predictor and a stop-gradient are enough to avoid collapse."""

from __future__ import annotations

import keras

from kerascl.heads import SimSiamPredictionHead, SimSiamProjectionHead, check_initializer
from kerascl.losses import NegativeCosineSimilarity
from kerascl.methods.base import SiameseMethod
from kerascl.methods.objectives import simsiam_objective
from kerascl.methods.partition import Partition


@keras.saving.register_keras_serializable(package="kerascl")
class SimSiam(SiameseMethod):
    """Simple Siamese representation learning.

    Both views go through the same backbone and projector; a predictor maps each projection to the other view's,
    whose gradient is stopped:

        loss = 0.5 * D(p1, sg(z2)) + 0.5 * D(p2, sg(z1)),   D(p, z) = -mean_b cos(p, z)

    Reference: Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021.

    Args:
        backbone: A `keras.Model` mapping images to `(B, C)` features.
        projection_dim: Projector output width (2048).
        hidden_dim: Projector hidden width (2048).
        prediction_hidden_dim: Predictor bottleneck width (512).
        num_projector_layers: 3 in the paper (2 in its CIFAR experiments).
        augmentation: Optional on-device view maker (see `SiameseMethod`).
        partition: Optional `Partition` for content/style parts (the content part gets SimSiam's loss, the style
            part the partition's style objective; see `kerascl.methods.partition`).
        head_init: How the heads' `Dense` layers start: `"keras"` (Glorot-uniform kernels, zero biases) or
            `"torch"` (PyTorch's `nn.Linear` defaults, as lightly's heads; see `kerascl.heads.ProjectionHead`).
        **kwargs: Passed to `keras.Model`.

    Examples:
        >>> from kerascl.backbones import ResNet18
        >>> model = SimSiam(ResNet18(), projection_dim=2048, num_projector_layers=2)
        >>> model.compile(optimizer="sgd")
    """

    def __init__(
        self,
        backbone: keras.Model,
        projection_dim: int = 2048,
        hidden_dim: int = 2048,
        prediction_hidden_dim: int = 512,
        num_projector_layers: int = 3,
        augmentation: keras.layers.Layer | None = None,
        partition: Partition | dict | None = None,
        head_init: str = "keras",
        **kwargs,
    ):
        super().__init__(backbone, augmentation=augmentation, partition=partition, **kwargs)
        self.projection_dim = projection_dim
        self.hidden_dim = hidden_dim
        self.prediction_hidden_dim = prediction_hidden_dim
        self.num_projector_layers = num_projector_layers
        self.head_init = check_initializer(head_init, "head_init")
        self.setup_heads(
            SimSiamProjectionHead(hidden_dim, projection_dim, num_projector_layers, name="projector",
                                  initializer=head_init),
            SimSiamPredictionHead(prediction_hidden_dim, projection_dim, name="predictor", initializer=head_init),
        )
        self.loss_fn = NegativeCosineSimilarity()

    def objective(self, outputs):
        """`0.5 * D(p1, sg(z2)) + 0.5 * D(p2, sg(z1))` (averaged over ordered pairs for more views)."""
        return simsiam_objective(self.loss_fn, outputs)

    def get_config(self):
        return {
            **super().get_config(),
            "projection_dim": self.projection_dim,
            "hidden_dim": self.hidden_dim,
            "prediction_hidden_dim": self.prediction_hidden_dim,
            "num_projector_layers": self.num_projector_layers,
            "head_init": self.head_init,
        }
