"""Partitioned representations: a content part and a style part of one representation.

A `Partition` says where a siamese method splits its representation (the backbone output or the projector output),
how big the content part is, whether the two parts share their heads, and which objective the style part gets.
Every siamese method of kerascl (`BYOL`, `SimSiam`, `BarlowTwins`, `SimCLR`, and `DDCL`, which is a preset) accepts
one as `partition=`; the content part is trained with the method's own loss, the style part with the named
objective:

| `style_objective` | style loss | source |
|---|---|---|
| `"repel"` | minus the method's own loss on the style parts (pushes the views' styles apart) | paper 1 (recon.) |
| `"orthogonal"` | `|batch-mean cos|` of the two views' style parts (`DistortionDisentangledLoss`) | paper 2 (DDL) |
| `"predict_augmentation"` | MSE of a linear head from the style part to the view's recorded params | kerascl |
| `None` | no style loss (content-only loss on a sub-vector) | paper 1, alternative C |

References: Lee & Choi, "Partitioning Image Representation in Contrastive Learning", arXiv:2203.10454 (2022);
Wang, Song, Su & Zhou, "Distortion-Disentangled Contrastive Learning", WACV 2024 (arXiv:2303.05066).
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Sequence

import keras
from keras import ops

from kerascl.losses.distortion_disentangled import DistortionDisentangledLoss
from kerascl.losses.style import AugmentationPredictionLoss

WHERE = ("projector", "encoder")
HEADS = ("shared", "separate")
STYLE_OBJECTIVES = ("repel", "orthogonal", "predict_augmentation", None)
ORTHOGONAL_READINGS = ("abs_of_mean", "mean_of_abs")


def _choice(value: Any, allowed: Sequence, what: str) -> Any:
    if value in allowed:
        return value
    names = [a for a in allowed if a is not None]
    close = difflib.get_close_matches(str(value), names, n=2, cutoff=0.4)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    options = ", ".join(repr(a) for a in allowed)
    raise ValueError(f"Unknown {what} {value!r}.{hint} Choose one of {options}.")


@keras.saving.register_keras_serializable(package="kerascl")
class Partition:
    """How a method splits its representation into a content part and a style part.

    The content part is the first `content_dims(total)` features, the style part the rest. The content part is
    trained with the method's own loss; the style part with `style_objective`; the total is
    `L = L_content + style_weight * L_style (+ head_balance * R)`.

    Args:
        where: `"projector"`: split the projector output `z` (paper 1's BYOL reconstruction: the predictor sees the
            full `z` when `heads="shared"`, each part gets its own predictor when `heads="separate"`);
            `"encoder"`: split the backbone output `y`, each part going through its own projector (and predictor)
            when `heads="separate"` (DDCL), or through the same ones when `heads="shared"` (needs equal parts).
        size: The content part: a fraction in (0, 1) of the split width (`round(width * size)` dims, as DDCL's
            code) or a number of dims (an int >= 1).
        heads: `"shared"` or `"separate"` heads after the split point (see `where`).
        style_objective: `"repel"`, `"orthogonal"`, `"predict_augmentation"` or None (see the module table).
        style_weight: The weight `lambda_s` of the style loss (1 in both papers).
        orthogonal_reading: For `"orthogonal"`: `"abs_of_mean"` (DDCL's code, `|mean_b cos|`) or `"mean_of_abs"`.
        predict_params: For `"predict_augmentation"`: names of the parameter groups to regress (keys of
            `kerascl.augment.PARAM_LAYOUT`, e.g. `["color_jitter", "crop"]`), or None for every slot that describes
            the image (`kerascl.augment.feature_mask()`; every column when the batch's parameter width is not
            kerascl's layout).
        head_balance: Weight of CLeVER's head-balance regulariser
            `0.5 * (| ||g_c||^2 - ||g_s||^2 | + | ||q_c||^2 - ||q_s||^2 |)` (sums of squared head weights of the
            content and style projectors `g` and predictors `q`); separate heads only; 0 disables it. When > 0
            the heads start from torch's default initialisation (`kerascl.heads.torch_linear_initializers`), as
            the official code, so the term starts near its official value.

    Examples:
        >>> Partition(where="projector", size=0.5, style_objective="repel").content_dims(256)
        128
        >>> Partition(where="encoder", size=0.8, heads="separate").content_dims(2048)
        1638
    """

    def __init__(
        self,
        where: str = "projector",
        size: float | int = 0.5,
        heads: str = "shared",
        style_objective: str | None = "repel",
        style_weight: float = 1.0,
        orthogonal_reading: str = "abs_of_mean",
        predict_params: Sequence[str] | None = None,
        head_balance: float = 0.0,
    ):
        self.where = _choice(where, WHERE, "partition where")
        self.heads = _choice(heads, HEADS, "partition heads")
        self.style_objective = _choice(style_objective, STYLE_OBJECTIVES, "style objective")
        self.orthogonal_reading = _choice(orthogonal_reading, ORTHOGONAL_READINGS, "orthogonal reading")
        if isinstance(size, bool) or not isinstance(size, (int, float)):
            raise TypeError(f"size must be a fraction in (0, 1) or a number of dims; got {size!r}.")
        if isinstance(size, float) and not size.is_integer() and not 0.0 < size < 1.0:
            raise ValueError(f"A fractional size must be in (0, 1); got {size}.")
        if size <= 0:
            raise ValueError(f"size must be positive; got {size}.")
        self.size = int(size) if isinstance(size, float) and size >= 1 else size
        self.style_weight = float(style_weight)
        if head_balance < 0:
            raise ValueError(f"head_balance must be >= 0; got {head_balance}.")
        if head_balance and self.heads != "separate":
            raise ValueError("head_balance compares the content and style heads, so it needs heads='separate'.")
        self.head_balance = float(head_balance)
        if predict_params is not None:
            from kerascl.augment.layout import PARAM_LAYOUT

            predict_params = [str(p) for p in predict_params]
            for name in predict_params:
                _choice(name, list(PARAM_LAYOUT), "augmentation parameter group")
            if not predict_params:
                raise ValueError("predict_params must name at least one parameter group (or be None for all).")
        self.predict_params = predict_params

    # ---------------------------------------------------------------------------------------------- sizes
    def content_dims(self, total: int) -> int:
        """Number of content dims for a representation of width `total`; raises if a part would be empty."""
        total = int(total)
        dims = int(round(total * self.size)) if isinstance(self.size, float) else int(self.size)
        if not 0 < dims < total:
            raise ValueError(
                f"Partition size {self.size} gives {dims} content dims of {total} at the {self.where} output; both "
                "the content and the style part need at least one dim. Pick a size between 1 and "
                f"{total - 1} dims or a fraction that leaves both parts non-empty."
            )
        return dims

    @property
    def needs_style_heads(self) -> bool:
        """Whether the style part goes through heads (the repel / orthogonal objectives compare head outputs)."""
        return self.style_objective in ("repel", "orthogonal")

    @property
    def needs_params(self) -> bool:
        """Whether the batches must carry the recorded augmentation parameters `params_i`."""
        return self.style_objective == "predict_augmentation"

    def param_columns(self, width: int) -> list[int]:
        """Columns of a `(B, width)` parameter batch that the style part regresses."""
        from kerascl.augment.layout import PARAM_LAYOUT, PARAM_SIZE, feature_mask

        if self.predict_params is None:
            if width == PARAM_SIZE:
                return [i for i, keep in enumerate(feature_mask()) if keep]
            return list(range(width))
        if width != PARAM_SIZE:
            raise ValueError(
                f"predict_params={self.predict_params} names groups of kerascl's parameter layout ({PARAM_SIZE} "
                f"slots), but the batch's params have {width} columns. Use predict_params=None to regress every "
                "column, or record the views with kerascl.augment."
            )
        columns: list[int] = []
        for name in self.predict_params:
            columns.extend(range(PARAM_LAYOUT[name].start, PARAM_LAYOUT[name].stop))
        return columns

    # --------------------------------------------------------------------------------------------- config
    def style_loss(self, style: dict, objective: Callable):
        """The style objective on a method's style outputs (0 for `style_objective=None`).

        Args:
            style: The style part of `SiameseMethod.method_outputs`: per-view lists `projections` (and
                `predictions`, `targets`, `param_predictions`, `param_targets` where the method and the objective
                have them).
            objective: The method's own objective on such a dict (what `"repel"` negates).
        """
        if self.style_objective == "repel":
            return -objective(style)
        if self.style_objective == "orthogonal":
            if "predictions" in style:
                targets = style.get("targets", style["projections"])
                preds, targs = ordered_pairs(style["predictions"], targets)
                loss = DistortionDisentangledLoss(self.orthogonal_reading, stop_gradient=True)
            else:
                targs, preds = unordered_pairs(style["projections"])
                loss = DistortionDisentangledLoss(self.orthogonal_reading, stop_gradient=False)
            return loss(ops.concatenate(targs, axis=0), ops.concatenate(preds, axis=0))
        if self.style_objective == "predict_augmentation":
            loss = AugmentationPredictionLoss()
            terms = [loss(t, q) for t, q in zip(style["param_targets"], style["param_predictions"])]
            return sum(terms) / len(terms)
        return ops.zeros((), dtype="float32")

    @classmethod
    def from_any(cls, value: "Partition | dict | None") -> "Partition | None":
        """Returns a `Partition` from a `Partition`, its config dict, or None."""
        if value is None or isinstance(value, Partition):
            return value
        if isinstance(value, dict):
            config = value.get("config", value) if value.get("class_name") == "Partition" else value
            return cls.from_config(config)
        raise TypeError(f"partition must be a kerascl Partition, its config dict or None; got {type(value)!r}.")

    def get_config(self) -> dict:
        return {
            "where": self.where,
            "size": self.size,
            "heads": self.heads,
            "style_objective": self.style_objective,
            "style_weight": self.style_weight,
            "orthogonal_reading": self.orthogonal_reading,
            "predict_params": list(self.predict_params) if self.predict_params is not None else None,
            "head_balance": self.head_balance,
        }

    @classmethod
    def from_config(cls, config: dict) -> "Partition":
        return cls(**config)

    def __eq__(self, other) -> bool:
        return isinstance(other, Partition) and other.get_config() == self.get_config()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"Partition({args})"


class ContentStyleParts:
    """The parts API of a model whose representation holds content dims first, then style dims.

    Mixed into `SiameseMethod` (with a `Partition`) and `PartitionedVAE` (its latent), so probes and plots read
    both alike. A class implements `representation_of_features(features, training)` (what follows the backbone)
    and `_split_point()`, the number of content dims (raising a clear error while it cannot tell).
    """

    def _split_point(self) -> int:
        raise NotImplementedError

    def representation_of_features(self, features, training=False):
        """The representation from backbone features `(B, C)`: what `representation` applies after the backbone
        (a caller that holds the backbone's features, such as the recipe runner's pictures, skips a backbone pass)."""
        raise NotImplementedError

    def representation(self, images, training=False):
        """The features at the split point of an image batch, content dims first."""
        return self.representation_of_features(self.backbone(images, training=training), training=training)

    @property
    def content_slice(self) -> slice:
        """The content dims of `representation(images)`."""
        return slice(0, self._split_point())

    @property
    def style_slice(self) -> slice:
        """The style dims of `representation(images)`."""
        return slice(self._split_point(), None)

    def split_features(self, features):
        """`(content, style)` parts of features taken at the split point (tensors or arrays, `(B, C)`)."""
        return split_last(features, self._split_point())

    def embed_parts(self, images, training=False) -> dict:
        """`{"content": (B, d_c), "style": (B, d_s)}` for an image batch."""
        content, style = self.split_features(self.representation(images, training=training))
        return {"content": content, "style": style}


def split_last(x, content_dims: int):
    """`(x[:, :content_dims], x[:, content_dims:])`."""
    return x[:, :content_dims], x[:, content_dims:]


def ordered_pairs(predictions: list, targets: list) -> tuple[list, list]:
    """Stacks the ordered view pairs `(p_i, t_j)`, `i != j`, as two equal lists (for a pairwise loss on the stack)."""
    ps, ts = [], []
    n = len(predictions)
    for i in range(n):
        for j in range(n):
            if i != j:
                ps.append(predictions[i])
                ts.append(targets[j])
    return ps, ts


def unordered_pairs(embeddings: list) -> tuple[list, list]:
    """Stacks the unordered view pairs `(z_i, z_j)`, `i < j`, as two equal lists."""
    a, b = [], []
    for i in range(len(embeddings)):
        for j in range(i + 1, len(embeddings)):
            a.append(embeddings[i])
            b.append(embeddings[j])
    return a, b
