"""ICCL: an instance similarity loss annealed into feature-level clustering (similarity between distinct images)."""

from __future__ import annotations

import warnings

import keras
from keras import ops

from kerascl.heads import ProjectionHead, check_initializer
from kerascl.losses.feature_clustering import FeatureClusteringLoss
from kerascl.methods.method import Method, collapse_std

VARIANTS = ("momentum", "plain")


def curriculum_weight(epoch, e0: float, e1: float):
    """ICCL's curriculum `s(e)`: 0 before epoch `e0`, a linear ramp to 1 at `e1`, then 1 (keras.ops, in-step).

    `s(e) = 0 if e < e0; (e - e0) / (e1 - e0) if e0 <= e < e1; 1 otherwise`. With `e1 <= e0` it is a step at `e0`.

    Args:
        epoch: Current (zero-based) epoch, a number or scalar tensor.
        e0: First epoch of the ramp.
        e1: Epoch at which the ramp reaches 1.

    Returns:
        A float32 scalar tensor in [0, 1].

    Examples:
        >>> float(curriculum_weight(165, 150, 180))
        0.5
    """
    epoch = ops.cast(epoch, "float32")
    if e1 <= e0:
        return ops.where(epoch >= e0, 1.0, 0.0)
    return ops.clip((epoch - float(e0)) / float(e1 - e0), 0.0, 1.0)


def _curriculum_value(epoch: float, e0: float, e1: float) -> float:
    """`curriculum_weight` in plain Python, for checks made before training."""
    if e1 <= e0:
        return 1.0 if epoch >= e0 else 0.0
    return min(max((epoch - e0) / (e1 - e0), 0.0), 1.0)


def _momentum_projector(hidden_dim, projection_dim, num_layers):
    # MomentumICCHead neck: [Dense(nb)-BN-ReLU] x (n - 1) + Dense(nb), no final BN.
    return [(hidden_dim, False, "affine", "relu")] * (num_layers - 1) + [(projection_dim, False, None, None)]


def _plain_projector(hidden_dim, projection_dim, num_layers):
    # ICCHead projector: [Dense(nb)-BN-ReLU] x (n - 1) + Dense(nb)-BN(no scale/offset), as SimSiam's.
    return [(hidden_dim, False, "affine", "relu")] * (num_layers - 1) + [(projection_dim, False, "plain", None)]


@keras.saving.register_keras_serializable(package="kerascl")
class SimilarityClustering(Method):
    """ICCL: similarity loss + feature-level cross-entropy + uniform marginal, with a curriculum between them.

    Each of the D output features is treated as a cluster. The target's softmax over the features is a soft
    cluster assignment; each view's prediction must match the other view's assignment (cross-entropy), and a
    uniform-marginal term over the batch stops every image from falling into the same cluster. Because distinct
    images share clusters, the loss uses the similarity *between* images, not only between views of one image.
    Training starts from the instance similarity loss and moves to clustering with `s(e)`:

        L = s(e) (r L_u + L_ce) + (1 - s(e)) L_sim,   s(e) = clip((e - e0) / (e1 - e0), 0, 1)

    (see `kerascl.losses.FeatureClusteringLoss` for the terms). `s` is computed from the epoch counter inside the
    compiled step; `mix=` fixes it instead.

    Two variants, as the official heads:

    * `variant="momentum"` (`MomentumICCHead`, BYOL-like, the ImageNet setting): online backbone + projector
      `[Dense(4096, no bias)-BN-ReLU] x 2 - Dense(512, no bias)` + predictor `Dense(4096, no bias)-BN-ReLU-
      Dense(512, no bias)`; targets from an EMA copy of backbone + projector, momentum 0.99 -> 1 (cosine);
      `L_sim = byol(p1, q2) + byol(p2, q1)`.
    * `variant="plain"` (`ICCHead`, SimSiam-like, the small-data setting): SimSiam projector and predictor,
      targets `q = sg(z)` the projections, `L_sim = 0.5 D(p1, z2) + 0.5 D(p2, z1)`.

    The constructor defaults are the ImageNet config (momentum, r = 5, tau1 = 0.1, tau2 = 0.07, e0 = 150,
    e1 = 180 of 300 epochs, no PCA, no adaptive temperature); `SimilarityClustering.small_data(backbone)` gives
    the Imagenette config (plain, 512-wide heads, r = 1, e0 = 500, e1 = 600 of 1000 epochs, PCA 512 on
    l2-normalised vectors, adaptive temperature without clip).

    Reference: Ge, Liu, Gui, Fang, Lin, Kwok, Huang, Luo, "Learning the Relation between Similarity Loss and
    Clustering Loss in Self-Supervised Learning", IEEE Transactions on Image Processing 32 (2023) 3442-3454,
    arXiv:2301.03041. Official code: github.com/guijiejie/ICCL.

    Args:
        backbone: A `keras.Model` mapping images to `(B, C)` features.
        variant: `"momentum"` (EMA target, BYOL-like) or `"plain"` (no EMA, SimSiam-like).
        projection_dim: Output width D of projector and predictor = number of clusters (512).
        hidden_dim: Projector hidden width (4096; 512 small-data).
        prediction_hidden_dim: Predictor hidden width (4096; 512 small-data).
        num_projector_layers: Dense layers in the projector (3).
        tau1: Prediction temperature (0.1).
        tau2: Target temperature (0.07).
        uniform_weight: `r`, weight of the uniform-marginal term (5.0; 1.0 small-data).
        e0: Epoch where the curriculum ramp starts (150; 500 small-data). Epochs are counted whole and from 0,
            so a ramp that starts inside a short run can still leave `s = 0` at every epoch of it (2 epochs with
            `e0=1, e1=1.2`); `fit` warns when that happens.
        e1: Epoch where it reaches 1 (180; 600 small-data).
        mix: None for the curriculum, or a constant `s` in [0, 1] (fixed-mix option).
        adaptive: Per-sample prediction temperature `tau1_b = min(||m_j[b]||, tau1)`.
        adaptive_clip: Clip the adaptive temperature at `tau1` (False in the small-data config).
        pca_dim: Components of the per-step PCA of the targets before the clustering terms, or None.
        pca_l2norm: l2-normalise the vectors before the PCA fit and projection (True, the official config's
            `l2norm=True`); False fits and projects the raw vectors.
        base_momentum: EMA momentum at step 0 (momentum variant; 0.99).
        final_momentum: EMA momentum at the end (1.0).
        total_steps: Planned steps for the momentum schedule; by default taken from `fit`.
        augmentation: Optional on-device view maker (see `Method`).
        head_init: How the projector's and predictor's `Dense` layers start: `"keras"` (Glorot-uniform kernels,
            zero biases) or `"torch"` (PyTorch's `nn.Linear` defaults, the official code's; see
            `kerascl.heads.ProjectionHead`).
        **kwargs: Passed to `keras.Model`.

    Examples:
        >>> import keras, numpy as np
        >>> from kerascl.backbones import ResNet18
        >>> model = SimilarityClustering(ResNet18(width=0.125), projection_dim=32, hidden_dim=64,
        ...                              prediction_hidden_dim=64, e0=2, e1=4)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> views = {"view_1": np.random.rand(8, 32, 32, 3).astype("float32"),
        ...          "view_2": np.random.rand(8, 32, 32, 3).astype("float32")}
        >>> history = model.fit(views, batch_size=8, epochs=5, verbose=0)  # history.history["s"]: 0, 0, 0, .5, 1
    """

    metric_names = ("loss_sim", "loss_ce", "loss_uniform", "s", "z_std")

    def __init__(
        self,
        backbone: keras.Model,
        variant: str = "momentum",
        projection_dim: int = 512,
        hidden_dim: int = 4096,
        prediction_hidden_dim: int = 4096,
        num_projector_layers: int = 3,
        tau1: float = 0.1,
        tau2: float = 0.07,
        uniform_weight: float = 5.0,
        e0: float = 150,
        e1: float = 180,
        mix: float | None = None,
        adaptive: bool = False,
        adaptive_clip: bool = True,
        pca_dim: int | None = None,
        pca_l2norm: bool = True,
        base_momentum: float = 0.99,
        final_momentum: float = 1.0,
        total_steps: int | None = None,
        augmentation: keras.layers.Layer | None = None,
        head_init: str = "keras",
        **kwargs,
    ):
        super().__init__(backbone, augmentation=augmentation, **kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}.")
        if num_projector_layers < 1:
            raise ValueError(f"num_projector_layers must be >= 1; got {num_projector_layers}.")
        if e0 < 0 or e1 < 0:
            raise ValueError(f"e0 and e1 must be >= 0; got e0={e0}, e1={e1}.")
        if mix is not None and not 0.0 <= mix <= 1.0:
            raise ValueError(f"mix must be None (curriculum) or in [0, 1]; got {mix}.")
        if pca_dim is not None and pca_dim > projection_dim:
            raise ValueError(f"pca_dim ({pca_dim}) cannot exceed projection_dim ({projection_dim}).")
        self.variant = variant
        self.projection_dim = projection_dim
        self.hidden_dim = hidden_dim
        self.prediction_hidden_dim = prediction_hidden_dim
        self.num_projector_layers = num_projector_layers
        self.e0 = e0
        self.e1 = e1
        self.mix = mix
        self.head_init = check_initializer(head_init, "head_init")
        self.use_ema_target(base_momentum, final_momentum, total_steps)  # targets only in the momentum variant
        momentum = variant == "momentum"
        make_projector = _momentum_projector if momentum else _plain_projector
        self.projector = ProjectionHead(make_projector(hidden_dim, projection_dim, num_projector_layers),
                                        name="projector", initializer=head_init)
        self.predictor = ProjectionHead(
            [(prediction_hidden_dim, False, "affine", "relu"), (projection_dim, not momentum, None, None)],
            name="predictor", initializer=head_init,
        )
        self.loss_fn = FeatureClusteringLoss(
            similarity="byol" if momentum else "cosine",
            tau1=tau1,
            tau2=tau2,
            uniform_weight=uniform_weight,
            adaptive=adaptive,
            adaptive_clip=adaptive_clip,
            pca_dim=pca_dim,
            pca_l2norm=pca_l2norm,
            mix=1.0 if mix is None else mix,
        )

    @classmethod
    def small_data(cls, backbone: keras.Model, **overrides) -> "SimilarityClustering":
        """The official small-data (Imagenette) config: plain variant, 512-wide heads, PCA 512 (l2norm), adaptive
        temperature without clip, r = 1, curriculum from epoch 500 to 600 (of 1000).

        Args:
            backbone: A `keras.Model` mapping images to `(B, C)` features (ResNet-18 in the paper).
            **overrides: Any constructor argument, e.g. `e0=50, e1=60` for a 100-epoch run.

        Returns:
            A `SimilarityClustering`.
        """
        config = dict(variant="plain", projection_dim=512, hidden_dim=512, prediction_hidden_dim=512,
                      uniform_weight=1.0, e0=500, e1=600, adaptive=True, adaptive_clip=False, pca_dim=512)
        config.update(overrides)
        return cls(backbone, **config)

    def set_training_plan(self, steps_per_epoch, epochs) -> None:
        if self.mix is None and not steps_per_epoch and not float(ops.convert_to_numpy(self.steps_per_epoch)):
            warnings.warn(
                "SimilarityClustering cannot tell how many steps make an epoch (no dataset cardinality, no "
                "steps_per_epoch), so its curriculum s(e) counts every step as an epoch. Pass steps_per_epoch= to "
                "fit, or call model.set_training_plan(steps_per_epoch, epochs) first.",
                stacklevel=3,
            )
        if self.mix is None and 0 < self.e0 < epochs and _curriculum_value(epochs - 1, self.e0, self.e1) == 0.0:
            warnings.warn(
                f"SimilarityClustering's curriculum never leaves the similarity loss in these {epochs} epochs: "
                f"s(e) ramps from epoch {self.e0:g} to {self.e1:g}, counted in whole epochs from 0, so it is 0 at "
                f"every epoch up to {epochs - 1} and no clustering stage trains. Train more epochs, or start the "
                f"ramp earlier (e0=; in a recipe, --set curriculum_start=, a fraction of the run).",
                stacklevel=3,
            )
        super().set_training_plan(steps_per_epoch, epochs)

    def build_heads(self, feature_shape):
        self.projector.build(feature_shape)
        self.predictor.build(self.projector.compute_output_shape(feature_shape))
        if self.variant == "momentum":
            self.target_backbone = self.make_target(self.backbone, None)
            self.target_projector = self.make_target(self.projector, feature_shape)

    def curriculum(self):
        """The current mix `s`: the constant `mix`, or `s(epoch)` from the step counters."""
        if self.mix is not None:
            return ops.convert_to_tensor(float(self.mix), "float32")
        return curriculum_weight(self.epoch, self.e0, self.e1)

    def method_outputs(self, views, params, training=False):
        momentum = self.variant == "momentum"
        if momentum and training:
            self.update_targets(self.target_momentum())
        projections = [self.projector(self.backbone(v, training=training), training=training) for v in views]
        predictions = [self.predictor(z, training=training) for z in projections]
        if momentum:
            targets = [
                ops.stop_gradient(self.target_projector(self.target_backbone(v, training=training), training=training))
                for v in views
            ]
        else:
            targets = [ops.stop_gradient(z) for z in projections]
        return {"projections": projections, "predictions": predictions, "targets": targets,
                "s": self.curriculum()}

    def loss_and_metrics(self, outputs):
        s = outputs["s"]
        terms = self.loss_fn.terms(outputs["targets"], outputs["predictions"])
        loss = self.loss_fn.combine(terms, s)
        return loss, {
            "loss_sim": terms["sim"],
            "loss_ce": terms["ce"],
            "loss_uniform": terms["uniform"],
            "s": s,
            "z_std": collapse_std(outputs["projections"][0]),
        }

    def get_config(self):
        return {
            **super().get_config(),
            "variant": self.variant,
            "projection_dim": self.projection_dim,
            "hidden_dim": self.hidden_dim,
            "prediction_hidden_dim": self.prediction_hidden_dim,
            "num_projector_layers": self.num_projector_layers,
            "tau1": self.loss_fn.tau1,
            "tau2": self.loss_fn.tau2,
            "uniform_weight": self.loss_fn.uniform_weight,
            "e0": self.e0,
            "e1": self.e1,
            "mix": self.mix,
            "adaptive": self.loss_fn.adaptive,
            "adaptive_clip": self.loss_fn.adaptive_clip,
            "pca_dim": self.loss_fn.pca_dim,
            "pca_l2norm": self.loss_fn.pca_l2norm,
            "head_init": self.head_init,
            **self.ema.get_config(),
        }


ICCL = SimilarityClustering
"""Alias of `SimilarityClustering`, the name of the official code base."""
