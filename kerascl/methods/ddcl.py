"""DDCL: disentangle the distortion-invariant and distortion-variant parts of the encoder output."""

from __future__ import annotations

import keras

from kerascl.methods.barlow_twins import BarlowTwins
from kerascl.methods.partition import Partition
from kerascl.methods.simsiam import SimSiam


def ddcl_partition(
    dir_fraction: float = 0.8,
    ddl_weight: float = 1.0,
    ddl_reading: str = "abs_of_mean",
    dir_only: bool = False,
    clever_reg: float = 0.0,
) -> Partition:
    """DDCL as a `Partition`: split the encoder output, separate heads per part, DDL on the variant part.

    Args:
        dir_fraction: Fraction of the encoder output that is the distortion-invariant representation (DIR), 0.8
            (`hp1` in the official code: 1638 of 2048 dims).
        ddl_weight: Weight `lambda` of the DDL term (`sep_lambd`, 1.0).
        ddl_reading: `"abs_of_mean"` (the official code, `|batch-mean cos|`) or `"mean_of_abs"`.
        dir_only: The ablation: train the DIR part with the DIR loss only (no DVR heads, no DDL).
        clever_reg: Weight of the CLeVER head-balance term (0.001 in CLeVER_DDCL; 0 = plain DDCL). When > 0
            the heads start from torch's default initialisation, as the official code.

    Returns:
        `Partition(where="encoder", size=dir_fraction, heads="separate", style_objective="orthogonal", ...)`.
    """
    return Partition(
        where="encoder",
        size=dir_fraction,
        heads="separate",
        style_objective=None if dir_only else "orthogonal",
        style_weight=ddl_weight,
        orthogonal_reading=ddl_reading,
        head_balance=clever_reg,
    )


class _DDCLArgs:
    """The DDCL-specific constructor arguments and their config (shared by both variants)."""

    def _set_ddcl_args(self, dir_fraction, ddl_weight, ddl_reading, dir_only, clever_reg, kwargs):
        if "partition" in kwargs:
            raise TypeError(
                f"{type(self).__name__} fixes its own partition; use dir_fraction, ddl_weight, ddl_reading, dir_only "
                "and clever_reg, or build the base method with partition=Partition(...)."
            )
        self.dir_fraction = dir_fraction
        self.ddl_weight = ddl_weight
        self.ddl_reading = ddl_reading
        self.dir_only = dir_only
        self.clever_reg = clever_reg
        return ddcl_partition(dir_fraction, ddl_weight, ddl_reading, dir_only, clever_reg)

    def _ddcl_config(self, config: dict) -> dict:
        config = dict(config)
        config.pop("partition", None)
        config.update(
            dir_fraction=self.dir_fraction,
            ddl_weight=self.ddl_weight,
            ddl_reading=self.ddl_reading,
            dir_only=self.dir_only,
            clever_reg=self.clever_reg,
        )
        return config


@keras.saving.register_keras_serializable(package="kerascl")
class DDCL(_DDCLArgs, SimSiam):
    """Distortion-Disentangled Contrastive Learning, the asymmetric (SimSiam-based) version of the official code.

    The encoder output `y` is split into a distortion-invariant part `y_I = y[:, :round(C * 0.8)]` (DIR) and a
    distortion-variant part `y_V` (DVR). Each part has its own SimSiam projector `g` and predictor `q`:

    $$ L_{DIR} = \\tfrac12 D(p_{I,1}, z_{I,2}) + \\tfrac12 D(p_{I,2}, z_{I,1}) $$

    $$ L_{DDL} = \\Big| \\tfrac12 \\overline{\\cos}(p_{V,1}, \\mathrm{sg}(z_{V,2}))
               + \\tfrac12 \\overline{\\cos}(p_{V,2}, \\mathrm{sg}(z_{V,1})) \\Big| $$

    $$ L = L_{DIR} + \\lambda L_{DDL} \\quad (+\\ \\mathrm{reg} \\cdot R_{CLeVER}) $$

    with `D(p, z) = -mean_b cos(p, sg(z))` and the bar the batch mean. `L_DIR` is reported as `loss_content`,
    `L_DDL` as `loss_style`. DDCL is `SimSiam(partition=ddcl_partition(...))`; the DIR part of the backbone
    output is `model.content_slice` (probe it alone with `model.embed_parts(images)["content"]`).

    Reference: Wang, Song, Su & Zhou, "Distortion-Disentangled Contrastive Learning", WACV 2024
    (arXiv:2303.05066); official code SifanSong/DDCL.

    Args:
        backbone: A `keras.Model` mapping images to `(B, C)` features.
        dir_fraction: DIR fraction of the encoder output (0.8).
        ddl_weight: `lambda` (1.0).
        ddl_reading: `"abs_of_mean"` (official) or `"mean_of_abs"`.
        dir_only: Ablation: the DIR loss on the DIR slice only (no DVR heads, no DDL).
        clever_reg: CLeVER's head-balance weight (0.001 in CLeVER_DDCL; 0 by default). When > 0 the four heads
            start from torch's `nn.Linear` default initialisation, as the official code: with Keras's Glorot
            init the term would start hundreds of times above its official value.
        projection_dim: Projector output width (2048).
        hidden_dim: Projector hidden width (2048).
        prediction_hidden_dim: Predictor bottleneck (512).
        num_projector_layers: 3.
        augmentation: Optional on-device view maker (see `SiameseMethod`).
        **kwargs: Passed to `keras.Model`.

    Examples:
        >>> import keras, numpy as np
        >>> inputs = keras.Input((16, 16, 3))
        >>> features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(20, 3)(inputs))
        >>> model = DDCL(keras.Model(inputs, features), projection_dim=16, hidden_dim=16, prediction_hidden_dim=8)
        >>> model.compile(optimizer="sgd")
        >>> x = np.random.rand(8, 16, 16, 3).astype("float32")
        >>> history = model.fit({"view_1": x, "view_2": x[:, :, ::-1]}, batch_size=8, epochs=1, verbose=0)
        >>> model.content_slice  # the DIR dims: round(20 * 0.8)
        slice(0, 16, None)
    """

    def __init__(
        self,
        backbone: keras.Model,
        dir_fraction: float = 0.8,
        ddl_weight: float = 1.0,
        ddl_reading: str = "abs_of_mean",
        dir_only: bool = False,
        clever_reg: float = 0.0,
        projection_dim: int = 2048,
        hidden_dim: int = 2048,
        prediction_hidden_dim: int = 512,
        num_projector_layers: int = 3,
        augmentation: keras.layers.Layer | None = None,
        **kwargs,
    ):
        partition = self._set_ddcl_args(dir_fraction, ddl_weight, ddl_reading, dir_only, clever_reg, kwargs)
        super().__init__(
            backbone,
            projection_dim=projection_dim,
            hidden_dim=hidden_dim,
            prediction_hidden_dim=prediction_hidden_dim,
            num_projector_layers=num_projector_layers,
            augmentation=augmentation,
            partition=partition,
            **kwargs,
        )

    def get_config(self):
        return self._ddcl_config(super().get_config())


@keras.saving.register_keras_serializable(package="kerascl")
class DDCLBarlowTwins(_DDCLArgs, BarlowTwins):
    """DDCL's symmetric version: Barlow Twins on the invariant part, DDL on the variant projections.

    The encoder output is split as in `DDCL`; each part has its own Barlow Twins projector (no predictor):

    $$ L = BT(z_{I,1}, z_{I,2}) + \\lambda \\Big| \\tfrac1B \\textstyle\\sum_b \\cos(z_{V,1}, z_{V,2}) \\Big| $$

    No stop-gradient in either term (Barlow Twins has none; the paper's Fig. 2 applies DDL to `(z_V, z'_V)`
    directly). The official repository does not release this version, so this follows the figure (`[FIG]` +
    reconstruction in methods.md).

    Reference: Wang, Song, Su & Zhou, "Distortion-Disentangled Contrastive Learning", WACV 2024
    (arXiv:2303.05066).

    Args:
        backbone: A `keras.Model` mapping images to `(B, C)` features.
        dir_fraction: As in `DDCL`.
        ddl_weight: As in `DDCL`.
        ddl_reading: As in `DDCL`.
        dir_only: As in `DDCL`.
        clever_reg: As in `DDCL`.
        projection_dim: Projector output width (8192).
        hidden_dim: Projector hidden width (8192).
        num_projector_layers: 3.
        lambda_offdiag: Barlow Twins' off-diagonal weight (5e-3).
        scale_loss: Barlow Twins' overall factor (1).
        augmentation: Optional on-device view maker.
        **kwargs: Passed to `keras.Model`.

    Examples:
        >>> from kerascl.backbones import ResNet18
        >>> model = DDCLBarlowTwins(ResNet18(), projection_dim=2048, hidden_dim=2048)
    """

    def __init__(
        self,
        backbone: keras.Model,
        dir_fraction: float = 0.8,
        ddl_weight: float = 1.0,
        ddl_reading: str = "abs_of_mean",
        dir_only: bool = False,
        clever_reg: float = 0.0,
        projection_dim: int = 8192,
        hidden_dim: int = 8192,
        num_projector_layers: int = 3,
        lambda_offdiag: float = 5e-3,
        scale_loss: float = 1.0,
        augmentation: keras.layers.Layer | None = None,
        **kwargs,
    ):
        partition = self._set_ddcl_args(dir_fraction, ddl_weight, ddl_reading, dir_only, clever_reg, kwargs)
        super().__init__(
            backbone,
            projection_dim=projection_dim,
            hidden_dim=hidden_dim,
            num_projector_layers=num_projector_layers,
            lambda_offdiag=lambda_offdiag,
            scale_loss=scale_loss,
            augmentation=augmentation,
            partition=partition,
            **kwargs,
        )

    def get_config(self):
        return self._ddcl_config(super().get_config())
