"""BYOL: an online network predicts a slowly moving average of itself."""

from __future__ import annotations

import keras

from kerascl.heads import BYOLPredictionHead, BYOLProjectionHead, check_initializer
from kerascl.losses import BYOLLoss
from kerascl.methods.base import SiameseMethod
from kerascl.methods.objectives import byol_objective
from kerascl.methods.partition import Partition


@keras.saving.register_keras_serializable(package="kerascl")
class BYOL(SiameseMethod):
    """Bootstrap Your Own Latent.

    The online network (backbone, projector, predictor) predicts the target network's projection of the other view;
    the target (backbone, projector) is an exponential moving average of the online one, updated inside the
    compiled step with the cosine momentum schedule `m = 1 - (1 - m0) (cos(pi k / K) + 1) / 2` from `m0 = 0.99`
    to 1 over the `K` planned steps (known from `fit`'s epochs and steps, or `total_steps=`).

        loss = byol(p1, sg(z'2)) + byol(p2, sg(z'1)),   byol(p, z) = mean_b ||l2n(p) - l2n(z)||^2

    Reference: Grill et al., "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning",
    NeurIPS 2020.

    Args:
        backbone: A `keras.Model` mapping images to `(B, C)` features.
        projection_dim: Projector (and predictor) output width (256).
        hidden_dim: Projector hidden width (4096).
        prediction_hidden_dim: Predictor hidden width (4096).
        base_momentum: EMA momentum at step 0 (0.99; 0.996 for ImageNet).
        final_momentum: EMA momentum at the end of training (1.0).
        total_steps: Planned training steps for the schedule; by default taken from `fit`.
        augmentation: Optional on-device view maker (see `SiameseMethod`).
        partition: Optional `Partition` for content/style parts. Paper 1's reconstruction (Lee & Choi,
            "Partitioning Image Representation in Contrastive Learning", arXiv:2203.10454) is
            `Partition(where="projector", size=0.5, heads="shared", style_objective="repel")`: `z` is split into
            `z_c`, `z_s` (128 + 128 of 256), the predictor sees the full `z`, and
            `L = L_c + lambda_s * L_s` with `L_s` the sign-flipped BYOL loss on the style parts.
        head_init: How the heads' `Dense` layers start: `"keras"` (Glorot-uniform kernels, zero biases) or
            `"torch"` (PyTorch's `nn.Linear` defaults, as lightly's heads; see `kerascl.heads.ProjectionHead`).
        **kwargs: Passed to `keras.Model`.

    Examples:
        >>> import keras, numpy as np
        >>> from kerascl.backbones import ResNet18
        >>> model = BYOL(ResNet18(width=0.125), projection_dim=32, hidden_dim=64, prediction_hidden_dim=64)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> views = {"view_1": np.random.rand(8, 32, 32, 3).astype("float32"),
        ...          "view_2": np.random.rand(8, 32, 32, 3).astype("float32")}
        >>> history = model.fit(views, batch_size=4, epochs=1, verbose=0)
    """

    def __init__(
        self,
        backbone: keras.Model,
        projection_dim: int = 256,
        hidden_dim: int = 4096,
        prediction_hidden_dim: int = 4096,
        base_momentum: float = 0.99,
        final_momentum: float = 1.0,
        total_steps: int | None = None,
        augmentation: keras.layers.Layer | None = None,
        partition: Partition | dict | None = None,
        head_init: str = "keras",
        **kwargs,
    ):
        super().__init__(backbone, augmentation=augmentation, partition=partition, **kwargs)
        self.use_ema_target(base_momentum, final_momentum, total_steps)
        self.projection_dim = projection_dim
        self.hidden_dim = hidden_dim
        self.prediction_hidden_dim = prediction_hidden_dim
        self.head_init = check_initializer(head_init, "head_init")
        self.setup_heads(
            BYOLProjectionHead(hidden_dim, projection_dim, name="projector", initializer=head_init),
            BYOLPredictionHead(prediction_hidden_dim, projection_dim, name="predictor", initializer=head_init),
            use_target=True,
        )
        self.loss_fn = BYOLLoss()

    def objective(self, outputs):
        """`byol(p1, sg(z'2)) + byol(p2, sg(z'1))` (averaged over ordered pairs for more views)."""
        return byol_objective(self.loss_fn, outputs)

    def get_config(self):
        return {
            **super().get_config(),
            "projection_dim": self.projection_dim,
            "hidden_dim": self.hidden_dim,
            "prediction_hidden_dim": self.prediction_hidden_dim,
            **self.ema.get_config(),
            "head_init": self.head_init,
        }
