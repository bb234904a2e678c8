"""SiameseMethod: `Method` with the standard heads pipeline and content/style partitions.

A method built on it calls `setup_heads(projector, predictor, use_target)` in `__init__` and writes only
`objective(outputs)`, its loss on `{"projections", "predictions", "targets"}` lists (one tensor per view):
BYOL, SimSiam, Barlow Twins, SimCLR and DDCL are that short. The thin base, `Method`, is in
`kerascl/methods/method.py`; the helpers it exports are importable from here too.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerascl.keras_internals import AutocastScope
from kerascl.methods.method import Method, MethodBatch, clone_layer, collapse_std  # noqa: F401  (public here too)
from kerascl.methods.objectives import mean_over_pairs, mean_over_view_pairs  # noqa: F401  (public here too)
from kerascl.methods.partition import ContentStyleParts, Partition


class SiameseMethod(ContentStyleParts, Method):
    """`Method` with the standard heads pipeline (`setup_heads`) and content/style partitions.

    Args:
        backbone: Any `keras.Model` mapping an image batch `(B, H, W, 3)` to features `(B, C)` (see `Method`).
        augmentation: Optional layer that makes the views inside the compiled step (see `Method`).
        partition: Optional `kerascl.methods.Partition` (or its config dict): split the representation into a
            content part (trained with the method's own loss) and a style part (trained with the partition's style
            objective). The method then reports the metrics `loss_content` and `loss_style` and offers
            `embed_parts`, `split_features`, `content_slice` and `style_slice`.
        **kwargs: Passed to `keras.Model` (e.g. `name`).

    A method calls `setup_heads(projector, predictor, use_target)` in `__init__` and writes only
    `objective(outputs)`; `build_heads`, `method_outputs` and `loss_and_metrics` then come from this class, with or
    without a partition.
    """

    def __init__(
        self,
        backbone: keras.Model,
        augmentation: keras.layers.Layer | None = None,
        partition: Partition | dict | None = None,
        **kwargs,
    ):
        self.partition = Partition.from_any(partition)  # before Method.__init__, which registers the metrics
        super().__init__(backbone, augmentation=augmentation, **kwargs)
        self.projector = None
        self.predictor = None
        self.style_projector = None
        self.style_predictor = None
        self.param_head = None
        self.uses_target = False
        self._content_dims: int | None = None
        self._param_columns: list[int] | None = None

    def reported_metric_names(self) -> list[str]:
        names = list(self.metric_names)
        if self.partition is not None:
            names += [n for n in ("loss_content", "loss_style") if n not in names]
        return names

    def build_heads(self, feature_shape: tuple) -> None:
        """Builds the method's heads (and target networks) for backbone features of `feature_shape`.

        The default builds the standard pipeline declared with `setup_heads`, partition included.
        """
        if self.projector is None:
            raise NotImplementedError(
                f"{type(self).__name__} must call setup_heads(...) in __init__ or override build_heads."
            )
        p = self.partition
        width = int(feature_shape[-1])
        head_in = tuple(feature_shape)
        style_in = None
        if p is not None and p.where == "encoder":
            dc = p.content_dims(width)
            if p.heads == "shared" and p.needs_style_heads and dc != width - dc:
                raise ValueError(
                    f"heads='shared' at the encoder runs both parts through the same projector, so they need equal "
                    f"widths; the split of {width} backbone features gives {dc} and {width - dc}. Use size=0.5 or "
                    "heads='separate'."
                )
            self._content_dims = dc
            head_in = (feature_shape[0], dc)
            style_in = (feature_shape[0], width - dc)
        self.projector.build(head_in)
        z_shape = tuple(self.projector.compute_output_shape(head_in))
        pred_in = z_shape
        if p is not None and p.where == "projector":
            dc = p.content_dims(z_shape[-1])
            self._content_dims = dc
            style_in = (z_shape[0], z_shape[-1] - dc)
            if p.heads == "separate":
                pred_in = (z_shape[0], dc)
        if self.predictor is not None:
            self.predictor.build(pred_in)
        if self.style_projector is not None:
            self.style_projector.build(style_in)
        if self.style_predictor is not None:
            style_z = self.style_projector.compute_output_shape(style_in) if self.style_projector else style_in
            self.style_predictor.build(tuple(style_z))
        if self.uses_target:
            self.target_backbone = self.make_target(self.backbone, None)
            self.target_projector = self.make_target(self.projector, head_in)
            if self.style_projector is not None:
                self.target_style_projector = self.make_target(self.style_projector, style_in)
        if p is not None and p.needs_params:
            if self._params_width is None:
                raise ValueError(_NO_PARAMS_HINT)
            self._param_columns = p.param_columns(self._params_width)
            self.param_head = keras.layers.Dense(len(self._param_columns), name="param_head")
            self.param_head.build(style_in)

    def setup_heads(
        self,
        projector: keras.layers.Layer,
        predictor: keras.layers.Layer | None = None,
        use_target: bool = False,
    ) -> None:
        """Declares the standard heads pipeline: `backbone -> projector [-> predictor]`, optionally with an EMA target.

        With a partition, it also creates the heads the partition needs: copies of the projector / predictor for
        the style part (`heads="separate"` at the encoder), or content and style predictors sized to their parts
        (`heads="separate"` at the projector). Call it once from `__init__`, with freshly created heads.

        With `partition.head_balance > 0` (CLeVER's term) the heads start from torch's default initialisation, as
        the official code (see `kerascl.heads.torch_linear_initializers`).

        Args:
            projector: The projector (a `kerascl.heads.ProjectionHead` or any layer with a config).
            predictor: The predictor, or None for methods without one (Barlow Twins, SimCLR).
            use_target: Whether the targets come from an EMA copy of backbone and projector (BYOL); the method then
                declares the schedule with `use_ema_target(...)`.
        """
        p = self.partition
        self.uses_target = bool(use_target)
        if p is not None and p.head_balance:
            # CLeVER's term compares squared weight norms of heads with different input widths; with Keras's Glorot
            # init (fan_in + fan_out) they start far apart, with torch's default (the official code) they start
            # equal in expectation. The style copies below inherit the setting through the config.
            for head in (projector, predictor):
                if head is not None:
                    _use_torch_init(head)
        if p is not None and p.where == "projector" and p.heads == "separate" and predictor is not None:
            dims = int(projector.output_dim)
            dc = p.content_dims(dims)
            self.projector = projector
            self.predictor = _copy_head(predictor, predictor.name, output_dim=dc)
            if p.needs_style_heads:
                self.style_predictor = _copy_head(predictor, "style_predictor", output_dim=dims - dc)
            return
        self.projector = projector
        self.predictor = predictor
        if p is not None and p.where == "encoder" and p.heads == "separate" and p.needs_style_heads:
            self.style_projector = _copy_head(projector, "style_projector")
            if predictor is not None:
                self.style_predictor = _copy_head(predictor, "style_predictor")

    def objective(self, outputs: dict):
        """The method's own loss from `{"projections": [...], "predictions": [...], "targets": [...]}` (per view)."""
        raise NotImplementedError(f"{type(self).__name__} must implement objective() or loss_and_metrics().")

    def method_outputs(self, views: list, params: list | None, training=False) -> dict:
        """Runs the networks on the views and returns the tensors the loss needs.

        The default runs the standard pipeline declared with `setup_heads`. Without a partition it returns
        `{"projections", "predictions", "targets"}` (lists over views; the last two where the method has them);
        with one, `{"content": {...}, "style": {...}}` with the same keys per part, plus, for the style part,
        `param_predictions` / `param_targets` (`predict_augmentation`), and `head_balance` when asked for.
        """
        if self.projector is None:
            raise NotImplementedError(f"{type(self).__name__} must call setup_heads(...) or override method_outputs.")
        if self.uses_target and training:
            self.update_targets(self.target_momentum())
        features = [self.backbone(v, training=training) for v in views]
        target_features = None
        if self.uses_target:
            target_features = [self.target_backbone(v, training=training) for v in views]
        target_projector = self.target_projector if self.uses_target else None
        p = self.partition
        if p is None:
            return self._branch(features, target_features, self.projector, self.predictor, target_projector, training)
        dc = self._content_dims
        if p.where == "encoder":
            content_y = [y[:, :dc] for y in features]
            style_y = [y[:, dc:] for y in features]
            t_content = [y[:, :dc] for y in target_features] if target_features is not None else None
            t_style = [y[:, dc:] for y in target_features] if target_features is not None else None
            content = self._branch(content_y, t_content, self.projector, self.predictor, target_projector, training)
            style: dict = {}
            if p.needs_style_heads:
                if p.heads == "shared":
                    style = self._branch(style_y, t_style, self.projector, self.predictor, target_projector, training)
                else:
                    t_proj = self.target_style_projector if self.uses_target else None
                    style = self._branch(style_y, t_style, self.style_projector, self.style_predictor, t_proj, training)
            style_rep = style_y
        else:
            z = [self.projector(y, training=training) for y in features]
            content = {"projections": [x[:, :dc] for x in z]}
            style = {"projections": [x[:, dc:] for x in z]}
            if target_features is not None:
                t = [ops.stop_gradient(target_projector(y, training=training)) for y in target_features]
                content["targets"] = [x[:, :dc] for x in t]
                style["targets"] = [x[:, dc:] for x in t]
            if self.predictor is not None:
                if p.heads == "shared":
                    preds = [self.predictor(x, training=training) for x in z]
                    content["predictions"] = [x[:, :dc] for x in preds]
                    style["predictions"] = [x[:, dc:] for x in preds]
                else:
                    content["predictions"] = [self.predictor(x, training=training) for x in content["projections"]]
                    if self.style_predictor is not None:
                        style["predictions"] = [
                            self.style_predictor(x, training=training) for x in style["projections"]
                        ]
            style_rep = style["projections"]
        if p.needs_params:
            if params is None:
                raise ValueError(_NO_PARAMS_HINT)
            columns = ops.convert_to_tensor(self._param_columns, dtype="int32")
            style["param_predictions"] = [self.param_head(s) for s in style_rep]
            style["param_targets"] = [ops.take(ops.cast(a, "float32"), columns, axis=1) for a in params]
        outputs = {"content": content, "style": style}
        if p.head_balance:
            outputs["head_balance"] = self._head_balance()
        return outputs

    def _branch(self, features, target_features, projector, predictor, target_projector, training) -> dict:
        z = [projector(y, training=training) for y in features]
        out = {"projections": z}
        if predictor is not None:
            out["predictions"] = [predictor(x, training=training) for x in z]
        if target_projector is not None and target_features is not None:
            out["targets"] = [ops.stop_gradient(target_projector(y, training=training)) for y in target_features]
        return out

    def _head_balance(self):
        """CLeVER's regulariser: `0.5 * (| |g_c|^2 - |g_s|^2 | + | |q_c|^2 - |q_s|^2 |)` over trainable head weights."""
        pairs = [(self.projector, self.style_projector), (self.predictor, self.style_predictor)]
        total = 0.0
        for content_head, style_head in pairs:
            if content_head is None or style_head is None:
                continue
            with AutocastScope(None):  # the float32 weights, not their half-precision autocast
                sq_c = sum(ops.sum(ops.square(w.value)) for w in content_head.trainable_weights)
                sq_s = sum(ops.sum(ops.square(w.value)) for w in style_head.trainable_weights)
            total = total + ops.abs(sq_c - sq_s)
        return 0.5 * total

    def loss_and_metrics(self, outputs: dict) -> tuple[Any, dict]:
        """Returns `(loss, {metric_name: value})` from the outputs of `method_outputs`.

        The default: `objective(outputs)` without a partition; with one,
        `objective(content) + style_weight * style_loss(style) (+ head_balance * R)`.
        """
        p = self.partition
        if p is None:
            return self.objective(outputs), {"z_std": collapse_std(outputs["projections"][0])}
        content = self.objective(outputs["content"])
        style = self.style_loss(outputs["style"])
        loss = content + p.style_weight * style
        if "head_balance" in outputs:
            loss = loss + p.head_balance * outputs["head_balance"]
        metrics = {
            "z_std": collapse_std(outputs["content"]["projections"][0]),
            "loss_content": content,
            "loss_style": style,
        }
        return loss, metrics

    def style_loss(self, style: dict):
        """The partition's style objective on the style outputs of `method_outputs` (see `Partition.style_loss`)."""
        return self.partition.style_loss(style, self.objective)

    # ------------------------------------------------------------------------------------ content / style parts
    def _split_point(self) -> int:
        if self.partition is None:
            raise ValueError(f"{type(self).__name__} was built without a partition; pass partition=Partition(...).")
        if self._content_dims is None:
            raise ValueError("The model is not built yet: call it on a batch (or fit it) first.")
        return self._content_dims

    def representation_of_features(self, features, training=False):
        """The features at the partition's split point from backbone features: the backbone output itself
        (`where="encoder"`) or the projector output (`where="projector"`), content dims first. `representation(images)`
        runs the backbone first; use it with the separability probe:
        `separability_probe_from_encoder(model.representation, data, split=model.split_features)`."""
        self._split_point()
        if self.partition.where == "projector":
            return self.projector(features, training=training)
        return features

    # ----------------------------------------------------------------------------------------------- config
    def get_config(self) -> dict:
        config = super().get_config()
        if self.partition is not None:
            config["partition"] = self.partition.get_config()
        return config


_NO_PARAMS_HINT = (
    "The partition's style objective 'predict_augmentation' regresses each view's recorded augmentation parameters, "
    "but the batch has no 'params_1', 'params_2', ... keys (one per view). Use kerascl.data pipelines (they record "
    "them), add them to your dict batches, build the method with augmentation=..., or pick another style objective."
)


def _use_torch_init(head: keras.layers.Layer) -> None:
    """Makes a kerascl head start from torch's `nn.Linear` default initialisation (before it is built)."""
    from kerascl.heads import ProjectionHead

    if not isinstance(head, ProjectionHead):
        raise TypeError(
            f"head_balance (CLeVER's term) needs kerascl ProjectionHead heads, which it starts from torch's default "
            f"initialisation as the official code; got {type(head).__name__}. Use a kerascl head or head_balance=0."
        )
    if head.built:
        raise ValueError("head_balance must be set before the heads are built (pass the partition to the constructor).")
    head.initializer = "torch"


def _copy_head(layer: keras.layers.Layer, name: str, **overrides) -> keras.layers.Layer:
    """A fresh head with `layer`'s architecture, a new name and some config entries replaced (e.g. `output_dim`)."""
    config = layer.get_config()
    for key in overrides:
        if key not in config:
            raise ValueError(
                f"Cannot resize {type(layer).__name__} for a partition: its config has no {key!r}. Use a kerascl head "
                "or heads='shared'."
            )
    config.update(overrides, name=name)
    return layer.__class__.from_config(config)
