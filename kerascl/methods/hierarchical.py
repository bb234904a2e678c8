"""Hierarchical augmentation invariance with expanded views: where and what to contrast.

Reference: Zhang & Ma, "Rethinking the Augmentation Module in Contrastive Learning: Learning Hierarchical
Augmentation Invariance with Expanded Views", CVPR 2022, arXiv:2206.00227. Official code (SimSiam only):
zhangjb416/Hierarchical-Augmentation.
"""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from kerascl.backbones.stages import DEFAULT_STAGE_NAMES, stage_outputs
from kerascl.heads import ProjectionHead, check_initializer
from kerascl.losses import BarlowTwinsLoss, BYOLLoss, NegativeCosineSimilarity
from kerascl.methods.method import Method, collapse_std
from kerascl.methods.hierarchical_heads import AugmentationEmbedding, StageSideBranch
from kerascl.methods.objectives import SIAMESE_OBJECTIVES

#: The siamese objectives the per-stage loss can use.
BASE_METHODS: tuple[str, ...] = ("simsiam", "byol", "barlow_twins")

_DEFAULT_PROJECTOR_LAYERS = {"simsiam": 3, "byol": 2, "barlow_twins": 3}


class _Untracked:
    """Keeps objects out of Keras's attribute tracking.

    The stage tap models share every layer (and variable) with the backbone; tracking them as well would list
    the backbone's layers twice in the saved file.
    """

    def __init__(self, items):
        self.items = list(items)


def hierarchical_views(
    num_stages: int = 4,
    image_size: int = 32,
    presets: str | Sequence[str] | None = None,
    small_images: bool | None = None,
    seed: int | None = None,
) -> keras.layers.Layer:
    """The multi-view augmenter of hierarchical augmentation invariance: one view pair per stage.

    Views `view_{2k-1}` and `view_{2k}` (with `params_{2k-1}`, `params_{2k}`) are pair `k`, made with the
    "add-one" preset of stage `k`, each adding one augmentation to the previous stage's pipeline:

    | preset | pipeline |
    |---|---|
    | `hierarchical_stage_1` | crop + colour jitter |
    | `hierarchical_stage_2` | + grayscale |
    | `hierarchical_stage_3` | + blur |
    | `hierarchical_stage_4` | + horizontal flip |

    As in the official code, views of 32 px or less get no blur (stage 3 then equals stage 2) and the colour
    jitter keeps its full strength at every size.

    With fewer than four stages the last pair still gets the full pipeline (`hierarchical_stage_4`), the first
    `num_stages - 1` pairs the first presets: 2 stages use presets 1 and 4, 3 stages use 1, 2 and 4. The same
    layer serves the host pipeline (`kerascl.data.from_shapes(..., augmenter=hierarchical_views(...))`) and the
    device path (`HierarchicalAugmentationInvariance(..., augmentation=hierarchical_views(...))`).

    Reference: Zhang & Ma, CVPR 2022 (arXiv:2206.00227), official code `augmentations/simsiam_aug.py`.

    Args:
        num_stages: Number of view pairs `K` (one per backbone stage).
        image_size: Side of the square views in pixels.
        presets: `K` preset names of `kerascl.augment.get_preset`, shallowest stage first, or one name for every
            pair (the paper's "Uniform" ablation). None picks the add-one presets as above (needs `K <= 4`).
        small_images: Small-image overrides of the presets (None: `image_size <= 64`; for these presets they
            only drop the blur at <= 32 px).
        seed: Integer seed of the augmenter.

    Returns:
        A `kerascl.augment.MultiViewAugmentation` making `2 * num_stages` views and their parameters.

    Raises:
        ValueError: `num_stages < 2`, more than 4 stages without `presets`, or a wrong number of presets.

    Examples:
        >>> augmenter = hierarchical_views(num_stages=2, image_size=16)
        >>> out = augmenter(np.random.rand(4, 16, 16, 3).astype("float32"))
        >>> sorted(k for k in out if k.startswith("view_"))
        ['view_1', 'view_2', 'view_3', 'view_4']
    """
    from kerascl.augment import MultiViewAugmentation, get_preset  # resolved lazily

    num_stages = int(num_stages)
    if num_stages < 2:
        raise ValueError(f"num_stages must be at least 2 (one view pair per stage); got {num_stages}.")
    if presets is None:
        if num_stages > 4:
            raise ValueError(
                f"There are four add-one presets (hierarchical_stage_1..4); for {num_stages} stages pass "
                "presets=[...] with one preset name per stage."
            )
        presets = [f"hierarchical_stage_{k}" for k in range(1, num_stages)] + ["hierarchical_stage_4"]
    elif isinstance(presets, str):
        presets = [presets] * num_stages
    presets = list(presets)
    if len(presets) != num_stages:
        raise ValueError(f"Need one preset per stage: {num_stages} stages but {len(presets)} presets {presets}.")
    views = []
    for name in presets:
        pair = get_preset(name, image_size=image_size, num_views=2, small_images=small_images)
        views.extend(pair.views)
    return MultiViewAugmentation(views, seed=seed, name="hierarchical_views")


@keras.saving.register_keras_serializable(package="kerascl")
class HierarchicalAugmentationInvariance(Method):
    """Hierarchical augmentation invariance with expanded views (a multi-stage siamese method).

    *Where to contrast.* The batch carries one view pair per backbone stage: pair `k` (`view_{2k-1}`,
    `view_{2k}`) is augmented with the add-one pipeline of stage `k` (see `hierarchical_views`) and forwarded
    only up to stage `k`; a `StageSideBranch` turns the stage map into a feature `h_k` as wide as the backbone's
    pooled output, which is itself the feature of the last stage. So the weak augmentations are contrasted early
    and each added augmentation only deeper, and the invariance to it is learned only in the later layers.

    *What to contrast.* Each view's own recorded colour-jitter factors `[b, c, s, h]` are embedded,
    `e_k = ReLU(BN(Dense(512)))`, and concatenated to `h_k` before stage `k`'s projector (none at stage 1, as in
    the official code). Each stage has its own projector and predictor; the loss is the unweighted sum over stages
    of the base method's two-view loss. With SimSiam (the default):

        L = sum_k [ 0.5 D(p_k(v_{2k-1}), sg(z_k(v_{2k}))) + 0.5 D(p_k(v_{2k}), sg(z_k(v_{2k-1}))) ]
        z_k(v) = proj_k(concat[h_k(v), e_k(params(v))]),   p_k = pred_k(z_k),   D(p, z) = -mean cos(p, z)

    `base_method="byol"` uses an EMA target copy of the backbone, side branches, embedders and projectors, and
    `byol(p, sg(z'))` per stage; `base_method="barlow_twins"` uses the Barlow Twins loss per stage with scale 1/32
    and off-diagonal weight 3.9e-3 (the paper's supplementary). Evaluation uses `model.backbone` (the final pooled
    output); the side branches are dropped.

    Reference: Zhang & Ma, "Rethinking the Augmentation Module in Contrastive Learning: Learning Hierarchical
    Augmentation Invariance with Expanded Views", CVPR 2022, arXiv:2206.00227.

    Args:
        backbone: A functional `keras.Model` mapping images to `(B, C)` features whose stages are named layers,
            e.g. `kerascl.backbones.ResNet50()` or `kerascl.backbones.ConvNet()`.
        stage_names: Names of the stage layers, shallowest first; their number is the number of stages `K`
            (>= 2). The last one must be the backbone's last stage: its pair uses the pooled output.
        base_method: `"simsiam"` (default), `"byol"` or `"barlow_twins"`.
        projection_dim: Projector output width (2048).
        hidden_dim: Projector hidden width (2048).
        prediction_hidden_dim: Predictor bottleneck width (512; SimSiam and BYOL only).
        num_projector_layers: Projector depth; None means 3 (SimSiam, Barlow Twins) or 2 (BYOL).
        embedding_dim: Width of the augmentation embeddings (512); 0 turns them off.
        embedding_stages: Stages (1-based) whose projector sees an embedding; None means 2..K (the code has none
            at stage 1).
        embedding_params: Names of the recorded-parameter slots to embed, from `kerascl.augment.PARAM_LAYOUT`
            (`("color_jitter",)`: the four jitter factors; add `"crop"` to embed the crop box too).
        branch_widths: Reduced channels of the side branches of stages 1..K-1; None means
            `min(stage channels, 64 * 2**(k-1))` (the paper's 64, 128, 256 for ResNet-18/50).
        branch_attention: Whether the side branches apply their attention mask.
        stage_weights: Weight of each stage's loss; None means all 1 (the paper's unweighted sum).
        base_momentum: BYOL only: EMA momentum at step 0 (0.99), following BYOL's cosine schedule...
        final_momentum: ...to this value at the end of training (1.0; set 0.99 for a constant momentum).
        total_steps: BYOL only: planned steps of the momentum schedule; by default taken from `fit`.
        lambda_offdiag: Barlow Twins only: off-diagonal weight (3.9e-3).
        scale_loss: Barlow Twins only: loss factor (1/32).
        augmentation: Optional on-device view maker, e.g. `hierarchical_views(K, image_size)`.
        head_init: How the `Dense` layers of the projectors, predictors and augmentation embeddings start:
            `"keras"` (Glorot-uniform kernels, zero biases) or `"torch"` (PyTorch's `nn.Linear` defaults, as in
            the official code; see `kerascl.heads.ProjectionHead`). The side branches' convolutions follow the
            official initialisation either way.
        **kwargs: Passed to `keras.Model`.

    Inputs: a dict batch with `view_1` ... `view_{2K}` and `params_1` ... `params_{2K}` (the params are needed
    when embeddings are on), or `{"image": images}` with `augmentation`.

    Examples:
        >>> import keras, numpy as np
        >>> from kerascl.backbones import ConvNet
        >>> model = HierarchicalAugmentationInvariance(
        ...     ConvNet(width=0.125, input_shape=(16, 16, 3)), projection_dim=16, hidden_dim=16,
        ...     prediction_hidden_dim=8, embedding_dim=8, augmentation=hierarchical_views(4, image_size=16))
        >>> model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
        >>> images = np.random.rand(16, 16, 16, 3).astype("float32")
        >>> history = model.fit({"image": images}, batch_size=8, epochs=1, verbose=0)
    """

    def __init__(
        self,
        backbone: keras.Model,
        stage_names: Sequence[str] = DEFAULT_STAGE_NAMES,
        base_method: str = "simsiam",
        projection_dim: int = 2048,
        hidden_dim: int = 2048,
        prediction_hidden_dim: int = 512,
        num_projector_layers: int | None = None,
        embedding_dim: int = 512,
        embedding_stages: Sequence[int] | None = None,
        embedding_params: Sequence[str] = ("color_jitter",),
        branch_widths: Sequence[int] | None = None,
        branch_attention: bool = True,
        stage_weights: Sequence[float] | None = None,
        base_momentum: float = 0.99,
        final_momentum: float = 1.0,
        total_steps: int | None = None,
        lambda_offdiag: float = 3.9e-3,
        scale_loss: float = 1.0 / 32.0,
        augmentation: keras.layers.Layer | None = None,
        head_init: str = "keras",
        **kwargs,
    ):
        if isinstance(stage_names, str):
            stage_names = (stage_names,)
        self.stage_names = [str(n) for n in stage_names]
        if len(self.stage_names) < 2:
            raise ValueError(
                f"Hierarchical augmentation invariance needs at least 2 stages; got stage_names={self.stage_names}."
            )
        self.num_stages = len(self.stage_names)
        super().__init__(backbone, augmentation=augmentation, **kwargs)
        if base_method not in BASE_METHODS:
            raise ValueError(f"base_method must be one of {BASE_METHODS}; got {base_method!r}.")
        self.base_method = base_method
        self.projection_dim = int(projection_dim)
        self.hidden_dim = int(hidden_dim)
        self.prediction_hidden_dim = int(prediction_hidden_dim)
        self.num_projector_layers = num_projector_layers
        layers = num_projector_layers or _DEFAULT_PROJECTOR_LAYERS[base_method]
        if int(layers) < 1:
            raise ValueError(f"num_projector_layers must be >= 1; got {num_projector_layers}.")
        self._projector_layers = int(layers)

        self.embedding_dim = int(embedding_dim or 0)
        if self.embedding_dim < 0:
            raise ValueError(f"embedding_dim must be >= 0 (0 turns the embeddings off); got {embedding_dim}.")
        if embedding_stages is None:
            embedding_stages = range(2, self.num_stages + 1)
        self.embedding_stages = sorted({int(k) for k in embedding_stages}) if self.embedding_dim else []
        bad = [k for k in self.embedding_stages if not 1 <= k <= self.num_stages]
        if bad:
            raise ValueError(f"embedding_stages must be in 1..{self.num_stages}; got {bad}.")
        if isinstance(embedding_params, str):
            embedding_params = (embedding_params,)
        self.embedding_params = [str(n) for n in embedding_params]
        self._param_slices = _param_slices(self.embedding_params) if self.embedding_stages else []

        self.branch_widths = None if branch_widths is None else [int(w) for w in branch_widths]
        if self.branch_widths is not None and len(self.branch_widths) != self.num_stages - 1:
            raise ValueError(
                f"branch_widths needs one width per side branch (stages 1..{self.num_stages - 1}); "
                f"got {self.branch_widths}."
            )
        self.branch_attention = bool(branch_attention)
        self.stage_weights = None if stage_weights is None else [float(w) for w in stage_weights]
        if self.stage_weights is not None and len(self.stage_weights) != self.num_stages:
            raise ValueError(f"stage_weights needs {self.num_stages} values; got {self.stage_weights}.")

        self.use_ema_target(base_momentum, final_momentum, total_steps)  # targets only with BYOL stages
        self.lambda_offdiag = float(lambda_offdiag)
        self.scale_loss = float(scale_loss)
        self.head_init = check_initializer(head_init, "head_init")

        self.projectors = [
            ProjectionHead(self._projector_blocks(), name=f"projector_{k}", initializer=self.head_init)
            for k in range(1, self.num_stages + 1)
        ]
        if base_method == "barlow_twins":
            self.predictors = []
            self.loss_fn = BarlowTwinsLoss(lambda_offdiag=self.lambda_offdiag, scale_loss=self.scale_loss)
        else:
            self.predictors = [
                ProjectionHead(
                    [(self.prediction_hidden_dim, True, "affine", "relu"), (self.projection_dim, True, None, None)],
                    name=f"predictor_{k}",
                    initializer=self.head_init,
                )
                for k in range(1, self.num_stages + 1)
            ]
            self.loss_fn = NegativeCosineSimilarity() if base_method == "simsiam" else BYOLLoss()
        self.embedders = [
            AugmentationEmbedding(self.embedding_dim, name=f"embedding_{k}", initializer=self.head_init)
            for k in self.embedding_stages
        ]
        self.branches = []  # created in build_heads, once the stage shapes are known

    @property
    def metric_names(self) -> tuple[str, ...]:
        """`z_std` (collapse monitor of the last stage) and the loss of each stage, `loss_stage_k`."""
        return ("z_std",) + tuple(f"loss_stage_{k}" for k in range(1, self.num_stages + 1))

    def _projector_blocks(self) -> list:
        hidden, out, n = self.hidden_dim, self.projection_dim, self._projector_layers
        if self.base_method == "simsiam":  # official code: biased hidden layers, bias-free output + affine BN
            return [(hidden, True, "affine", "relu")] * (n - 1) + [(out, False, "affine", None)]
        if self.base_method == "byol":
            return [(hidden, True, "affine", "relu")] * (n - 1) + [(out, True, None, None)]
        return [(hidden, False, "affine", "relu")] * (n - 1) + [(out, False, None, None)]

    # --------------------------------------------------------------------------------------------------- build
    def build_heads(self, feature_shape):
        feature_dim = int(feature_shape[-1])
        self.feature_dim = feature_dim
        self._taps = _Untracked(self._make_taps(self.backbone))
        tap_shapes = [tuple(tap.outputs[0].shape) for tap in self._taps.items]
        widths = self.branch_widths or [
            min(int(shape[-1]), 64 * 2 ** (k - 1)) for k, shape in enumerate(tap_shapes, start=1)
        ]
        self.branches = []
        for k, (shape, width) in enumerate(zip(tap_shapes, widths), start=1):
            branch = StageSideBranch(
                width, self.num_stages - k, feature_dim, attention=self.branch_attention, name=f"branch_{k}"
            )
            branch.build(shape)
            self.branches.append(branch)
        param_dim = sum(s.stop - s.start for s in self._param_slices)
        for embedder in self.embedders:
            embedder.build((None, param_dim))
        for k, projector in enumerate(self.projectors, start=1):
            in_dim = feature_dim + (self.embedding_dim if k in self.embedding_stages else 0)
            projector.build((None, in_dim))
        for predictor in self.predictors:
            predictor.build((None, self.projection_dim))
        if self.base_method == "byol":
            self.target_backbone = self.make_target(self.backbone, None)
            self._target_taps = _Untracked(self._make_taps(self.target_backbone))
            self.target_branches = [self.make_target(b, s) for b, s in zip(self.branches, tap_shapes)]
            self.target_embedders = [self.make_target(e, (None, param_dim)) for e in self.embedders]
            self.target_projectors = [
                self.make_target(p, (None, feature_dim + (self.embedding_dim if k in self.embedding_stages else 0)))
                for k, p in enumerate(self.projectors, start=1)
            ]

    def _make_taps(self, backbone) -> list:
        """One model per intermediate stage k < K, running the backbone only up to stage k."""
        stage_outputs(backbone, self.stage_names)  # checks every name, with a helpful message
        return [stage_outputs(backbone, [name]) for name in self.stage_names[:-1]]

    # ------------------------------------------------------------------------------------------------- forward
    def stage_feature(self, stage: int, images, training=False, target: bool = False):
        """The feature `h_k` of stage `stage` (1-based): side branch on the tapped map, or the pooled output.

        Args:
            stage: Stage index in `1..K`.
            images: An image batch `(B, H, W, 3)`.
            training: Training mode of the layers.
            target: Use the EMA target networks (BYOL variant only).

        Returns:
            `(B, C)` features, `C` the backbone's feature width.
        """
        if target:
            backbone, taps, branches = self.target_backbone, self._target_taps.items, self.target_branches
        else:
            backbone, taps, branches = self.backbone, self._taps.items, self.branches
        if stage == self.num_stages:
            return backbone(images, training=training)
        tapped = taps[stage - 1](images, training=training)
        if isinstance(tapped, (list, tuple)):
            tapped = tapped[0]
        return branches[stage - 1](tapped, training=training)

    def expanded(self, stage: int, features, params, training=False, target: bool = False):
        """Concatenates the augmentation embedding of `params` to `features` where stage `stage` has one."""
        if stage not in self.embedding_stages:
            return features
        embedders = self.target_embedders if target else self.embedders
        cj = ops.concatenate([params[:, s] for s in self._param_slices], axis=-1)
        embedding = embedders[self.embedding_stages.index(stage)](cj, training=training)
        return ops.concatenate([features, ops.cast(embedding, features.dtype)], axis=-1)

    def project(self, stage: int, images, params=None, training=False, target: bool = False):
        """The projection `z_k` of one view at stage `stage` (1-based)."""
        features = self.stage_feature(stage, images, training=training, target=target)
        features = self.expanded(stage, features, params, training=training, target=target)
        projectors = self.target_projectors if target else self.projectors
        return projectors[stage - 1](features, training=training)

    def method_outputs(self, views, params, training=False):
        self._check_inputs(views, params)
        if self.base_method == "byol" and training:
            self.update_targets(self.target_momentum())
        outputs = {"projections": [], "predictions": [], "targets": []}
        for k in range(1, self.num_stages + 1):
            pair = (2 * k - 2, 2 * k - 1)
            pair_params = [None if params is None else params[i] for i in pair]
            z = [self.project(k, views[i], p, training=training) for i, p in zip(pair, pair_params)]
            outputs["projections"].append(z)
            if self.predictors:
                outputs["predictions"].append([self.predictors[k - 1](zi, training=training) for zi in z])
            if self.base_method == "byol":
                outputs["targets"].append([
                    ops.stop_gradient(self.project(k, views[i], p, training=training, target=True))
                    for i, p in zip(pair, pair_params)
                ])
        return {key: value for key, value in outputs.items() if value}

    def _check_inputs(self, views, params) -> None:
        expected = 2 * self.num_stages
        if len(views) != expected:
            raise ValueError(
                f"{type(self).__name__} with {self.num_stages} stages needs {expected} views (one pair per stage: "
                f"view_1, view_2 for stage 1, view_3, view_4 for stage 2, ...); got {len(views)}. Make them with "
                f"kerascl.methods.hierarchical_views(num_stages={self.num_stages}, image_size=...)."
            )
        if not self.embedding_stages:
            return
        if params is None or len(params) != expected:
            raise ValueError(
                f"The augmentation embeddings need the recorded parameters of every view (params_1 ... "
                f"params_{expected}); got {0 if params is None else len(params)}. Use a kerascl augmenter such as "
                "hierarchical_views(...), which records them, or pass embedding_dim=0 to turn the embeddings off."
            )
        needed = max(s.stop for s in self._param_slices)
        for i, p in enumerate(params, start=1):
            if len(p.shape) != 2 or (p.shape[-1] is not None and p.shape[-1] < needed):
                raise ValueError(
                    f"params_{i} must be (batch, P) with P >= {needed} (the layout of kerascl.augment); "
                    f"got shape {tuple(p.shape)}."
                )

    # ---------------------------------------------------------------------------------------------------- loss
    def stage_losses(self, outputs: dict) -> list:
        """The base method's two-view loss of every stage, from the outputs of `method_outputs`."""
        objective = SIAMESE_OBJECTIVES[self.base_method]  # the baselines' own objectives, one stage at a time
        return [objective(self.loss_fn, {key: pairs[k] for key, pairs in outputs.items()})
                for k in range(self.num_stages)]

    def loss_and_metrics(self, outputs):
        losses = self.stage_losses(outputs)
        weights = self.stage_weights or [1.0] * self.num_stages
        loss = sum(w * l for w, l in zip(weights, losses))
        metrics = {"z_std": collapse_std(outputs["projections"][-1][0])}
        metrics.update({f"loss_stage_{k}": l for k, l in enumerate(losses, start=1)})
        return loss, metrics

    # -------------------------------------------------------------------------------------------------- config
    def get_config(self):
        return {
            **super().get_config(),
            "stage_names": list(self.stage_names),
            "base_method": self.base_method,
            "projection_dim": self.projection_dim,
            "hidden_dim": self.hidden_dim,
            "prediction_hidden_dim": self.prediction_hidden_dim,
            "num_projector_layers": self.num_projector_layers,
            "embedding_dim": self.embedding_dim,
            "embedding_stages": list(self.embedding_stages),
            "embedding_params": list(self.embedding_params),
            "branch_widths": self.branch_widths,
            "branch_attention": self.branch_attention,
            "stage_weights": self.stage_weights,
            **self.ema.get_config(),
            "lambda_offdiag": self.lambda_offdiag,
            "scale_loss": self.scale_loss,
            "head_init": self.head_init,
        }


def _param_slices(names: Sequence[str]) -> list[slice]:
    from kerascl.augment import param_slice  # resolved lazily

    if not names:
        raise ValueError("embedding_params is empty; name at least one slot, e.g. ('color_jitter',).")
    return [param_slice(n) for n in names]
