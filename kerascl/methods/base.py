"""What every kerascl method shares: views in, backbone, heads, metrics, step counters, EMA targets.

A method subclasses `SiameseMethod` and writes three things:

- `build_heads(feature_shape)`: create or build its heads once the backbone's output shape is known;
- `method_outputs(views, params, training)`: every forward pass (online and target networks), returning a dict;
- `loss_and_metrics(outputs)`: the scalar loss from that dict, plus extra values to report as metrics.

Keras's own `train_step` then trains it with `model.fit()` on TensorFlow and JAX alike: `call` runs
`method_outputs`, `compute_loss` runs `loss_and_metrics`. Anything that uses weights must happen in `method_outputs`
(on JAX, gradients are taken through `call` only); state that changes during training is a non-trainable variable
assigned in `method_outputs`.

No hook is named like an attribute of `keras.Model` or `torch.nn.Module` (on Keras's torch backend every layer is a
`torch.nn.Module`, whose `forward` is the module's own call), so a subclass never overrides one by accident.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import keras
import numpy as np
from keras import ops

from kerascl.backbones.hub import KerasHubEncoder
from kerascl.backbones.strided_pointwise import avoid_faulty_onednn_kernels
from kerascl.distribute import scale_loss_for_replicas
from kerascl.input_checks import image_range_problem, zero_steps_message
from kerascl.keras_internals import AutocastScope, Functional
from kerascl.losses._utils import l2_normalize
from kerascl.losses.distortion_disentangled import DistortionDisentangledLoss
from kerascl.losses.style import AugmentationPredictionLoss
from kerascl.methods.partition import Partition, ordered_pairs, split_last, unordered_pairs


def collapse_std(z):
    """Collapse monitor: the mean over features of the batch std of the l2-normalised embeddings.

    About `1 / sqrt(dim)` for well-spread embeddings and 0 when every sample maps to the same point.
    """
    return ops.mean(ops.std(l2_normalize(ops.cast(z, "float32")), axis=0))


def clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A new, unbuilt-or-built copy of `layer` with the same architecture and fresh variables.

    Functional and sequential models are copied layer by layer; a `KerasHubEncoder` is rebuilt from its config, so
    that the copy keeps its stage maps (the hierarchical method's BYOL target taps them)."""
    if isinstance(layer, keras.Model) and not _is_subclassed(layer) and not isinstance(layer, KerasHubEncoder):
        return keras.models.clone_model(layer)
    return layer.__class__.from_config(layer.get_config())


def _is_subclassed(model: keras.Model) -> bool:
    return not isinstance(model, (keras.Sequential, Functional))


def _view_keys(inputs: dict, prefix: str) -> list[str]:
    keys = [k for k in inputs if k.startswith(prefix) and k[len(prefix):].isdigit()]
    return sorted(keys, key=lambda k: int(k[len(prefix):]))


_WRAP_HINT = (
    "A kerascl method needs two or more views of each image. Pass a dict batch {'view_1': v1, 'view_2': v2, ...} "
    "(what kerascl.data yields), or wrap a pair of views as Keras's x: a dataset of ((v1, v2),) or ((v1, v2), label). "
    "A bare (v1, v2) pair is read by Keras as (x, y), so only v1 reaches the model. To make the views inside the "
    "model instead, build the method with augmentation=... and pass {'image': images}."
)


class SiameseMethod(keras.Model):
    """Base class of kerascl's self-supervised methods (a subclassed `keras.Model`).

    Args:
        backbone: Any `keras.Model` mapping an image batch `(B, H, W, 3)` to features `(B, C)`, e.g.
            `kerascl.backbones.ResNet18()` or `keras.applications.ResNet50(include_top=False, pooling="avg",
            weights=None)`.
        augmentation: Optional layer that makes the views inside the compiled step (device placement): called on a
            raw image batch it returns `{"view_1", "view_2", ..., "params_1", ...}`, e.g.
            `kerascl.augment.get_preset("byol")`. Without it the data pipeline must yield the views.
        partition: Optional `kerascl.methods.Partition` (or its config dict): split the representation into a
            content part (trained with the method's own loss) and a style part (trained with the partition's style
            objective). Supported by methods built on the standard heads pipeline (`setup_heads`); they then report
            the metrics `loss_content` and `loss_style` and offer `embed_parts`, `split_features`,
            `content_slice` and `style_slice`.
        **kwargs: Passed to `keras.Model` (e.g. `name`).

    A method built on the standard pipeline calls `setup_heads(projector, predictor, use_target)` in `__init__`
    and writes only `objective(outputs)`, its own loss on `{"projections", "predictions", "targets"}` lists (one
    tensor per view); `build_heads`, `method_outputs` and `loss_and_metrics` then come from this class, with or
    without a partition. A method with other needs overrides `build_heads`, `method_outputs` and `loss_and_metrics`
    itself.

    Inputs (what `fit` feeds `call`): a dict with `view_1`, `view_2`, ... (and optionally `params_i`, `label`,
    `attributes`), or a tuple/list of view tensors, or, with `augmentation`, `{"image": images}` or a bare image
    batch.
    """

    #: Names of the metrics a method reports besides Keras's `loss` (each a `keras.metrics.Mean`).
    metric_names: Sequence[str] = ("z_std",)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # `forward` was kerascl's hook before it was renamed; on Keras's torch backend it is `torch.nn.Module`'s
        # own call, and on TensorFlow and JAX a subclass still defining it would silently never run.
        if "forward" in vars(cls):
            raise TypeError(
                f"{cls.__name__} defines `forward`; kerascl methods compute their outputs in "
                "`method_outputs(self, views, params, training=False)`. Rename the method."
            )

    def __init__(
        self,
        backbone: keras.Model,
        augmentation: keras.layers.Layer | None = None,
        partition: Partition | dict | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(backbone, keras.layers.Layer):
            raise TypeError(f"backbone must be a keras.Model mapping images to features; got {type(backbone)!r}.")
        self.backbone = backbone
        self.augmentation = augmentation
        self.partition = Partition.from_any(partition)
        names = list(self.metric_names)
        if self.partition is not None:
            names += [n for n in ("loss_content", "loss_style") if n not in names]
        self.method_metrics = [keras.metrics.Mean(name=n) for n in names]
        self.projector = None
        self.predictor = None
        self.style_projector = None
        self.style_predictor = None
        self.param_head = None
        self.uses_target = False
        self._content_dims: int | None = None
        self._params_width: int | None = None
        self._param_columns: list[int] | None = None
        self.global_step = self._counter("global_step")
        self.steps_per_epoch = self._counter("steps_per_epoch")
        self.total_steps = self._counter("total_steps")
        self._ema_pairs: list[tuple[Any, Any]] = []

    def _counter(self, name: str):
        return self.add_weight(shape=(), initializer="zeros", trainable=False, dtype="float32", name=name)

    # ----------------------------------------------------------------------------------------------- schedules
    @property
    def epoch(self):
        """The current (zero-based, integer-valued) epoch as a float tensor, from the step counter."""
        return ops.floor(self.global_step / ops.maximum(self.steps_per_epoch, 1.0))

    def progress(self):
        """Fraction of the planned training done, in [0, 1] (0 when the plan is unknown)."""
        return ops.clip(self.global_step / ops.maximum(self.total_steps, 1.0), 0.0, 1.0)

    def set_training_plan(self, steps_per_epoch: int | None, epochs: int) -> None:
        """Records the planned steps so in-step schedules (EMA momentum, curricula) know where they are."""
        if steps_per_epoch:
            self.steps_per_epoch.assign(float(steps_per_epoch))
            self.total_steps.assign(float(steps_per_epoch * epochs))

    def fit(self, x=None, y=None, batch_size=None, epochs=1, steps_per_epoch=None, **kwargs):
        """`keras.Model.fit`, which first records the planned number of steps for the in-step schedules.

        It also refuses input that would train nothing or train on wrongly scaled images: a dataset with no batch
        (e.g. fewer images than the batch size with `drop_remainder=True`) raises `ValueError` before training, or
        after an epoch that ran 0 steps when the size was not known in advance; float image arrays outside
        [0, 1] raise `ValueError` saying how to rescale them (`kerascl.input_checks.image_range_problem`).
        On TensorFlow with oneDNN, unless every batch is provably even, it also makes the model's strided 1x1
        convolutions subsample first (`kerascl.backbones.subsample_strided_pointwise_convs`: the same numbers,
        without the oneDNN kernel that corrupts the heap on odd batch sizes).
        """
        _check_fit_input(x)
        avoid_faulty_onednn_kernels(self, x, batch_size)
        self.set_training_plan(steps_per_epoch or _infer_steps(x, batch_size), epochs)
        try:
            history = super().fit(x, y, batch_size=batch_size, epochs=epochs, steps_per_epoch=steps_per_epoch,
                                  **kwargs)
        except StopIteration as error:  # JAX's epoch iterator on a dataset that yields nothing
            raise ValueError(zero_steps_message(None, None)) from error
        if history is not None and history.epoch and not history.history:
            # Keras ran the epochs without a single batch (TensorFlow only warns "ran out of data").
            raise ValueError(zero_steps_message(None, None))
        return history

    # ------------------------------------------------------------------------------------------------- inputs
    def unpack_views(self, inputs, training=False) -> tuple[list, list | None]:
        """Returns the list of views and the list of their recorded parameters (or None) from any input form."""
        if isinstance(inputs, dict):
            view_keys = _view_keys(inputs, "view_")
            if view_keys:
                views = [inputs[k] for k in view_keys]
                param_keys = _view_keys(inputs, "params_")
                params = [inputs[k] for k in param_keys] if len(param_keys) == len(view_keys) else None
                return self._checked(views), params
            if "image" in inputs:
                return self._augmented(inputs["image"])
            raise ValueError(f"Got a dict batch with keys {sorted(inputs)} but no 'view_1'/'view_2' keys. {_WRAP_HINT}")
        if isinstance(inputs, (list, tuple)):
            if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
                inputs = inputs[0]
            if len(inputs) < 2:
                raise ValueError(f"Got {len(inputs)} view(s). {_WRAP_HINT}")
            return self._checked(list(inputs)), None
        return self._augmented(inputs)

    def _augmented(self, images):
        if self.augmentation is None:
            raise ValueError(f"Got a single image batch of shape {tuple(images.shape)} and no augmentation. {_WRAP_HINT}")
        self._check_images(images)
        out = self.augmentation(images, training=True)
        views = [out[k] for k in _view_keys(out, "view_")]
        param_keys = _view_keys(out, "params_")
        return views, ([out[k] for k in param_keys] if param_keys else None)

    def _checked(self, views: list) -> list:
        for view in views:
            self._check_images(view)
        return views

    @staticmethod
    def _check_images(images) -> None:
        shape = tuple(images.shape)
        if len(shape) != 4 or shape[-1] != 3:
            raise ValueError(
                f"Views must be image batches of shape (batch, height, width, 3); got shape {shape}."
            )
        dtype = keras.backend.standardize_dtype(images.dtype)
        if "float" not in dtype:
            raise TypeError(
                f"Views must be float images in [0, 1]; got dtype {dtype}. Convert with "
                "keras.ops.cast(x, 'float32') / 255."
            )

    # ------------------------------------------------------------------------------------------------- build
    def build(self, input_shape):
        image_shape = _image_shape(input_shape)
        self._params_width = _params_width(input_shape, self.augmentation)
        if not self.backbone.built:
            self.backbone.build(image_shape)
        declared = _declared_image_shape(self.backbone)
        mismatch = declared is not None and any(d is not None and d != s for d, s in zip(declared, image_shape[1:]))
        if mismatch and isinstance(self.backbone, KerasHubEncoder):
            raise ValueError(_size_mismatch_message(self.backbone, declared, image_shape))
        try:
            feature_shape = _output_shape(self.backbone, image_shape)
        except Exception as error:
            if mismatch:
                raise ValueError(_size_mismatch_message(self.backbone, declared, image_shape)) from error
            raise
        if len(feature_shape) != 2:
            raise ValueError(
                f"The backbone must map images to (batch, features); it maps {image_shape} to {feature_shape}. "
                "Add global pooling (e.g. keras.applications models with include_top=False, pooling='avg')."
            )
        self.build_heads(feature_shape)
        self.built = True

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
                implements `target_momentum()`.
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

    def target_momentum(self):
        """The EMA momentum for this step (methods with `use_target=True` implement it)."""
        raise NotImplementedError(f"{type(self).__name__} uses an EMA target and must implement target_momentum().")

    def objective(self, outputs: dict):
        """The method's own loss from `{"projections": [...], "predictions": [...], "targets": [...]}` (per view)."""
        raise NotImplementedError(f"{type(self).__name__} must implement objective() or loss_and_metrics().")

    # ------------------------------------------------------------------------------------------ EMA targets
    def make_target(self, online: keras.layers.Layer, input_shape: tuple) -> keras.layers.Layer:
        """Creates a target copy of `online` whose weights follow it by exponential moving average.

        The copy's variables are non-trainable (no gradient, no optimizer), but the copy still runs its batch
        normalisation in training mode, as BYOL's target does. Call from `build_heads`. `update_targets` moves it
        inside the compiled step; on the first training step (`global_step == 0`) it copies the online weights, so
        training starts from `target == online` whatever the initialisation, on every backend.
        """
        target = clone_layer(online)
        if not target.built:
            target.build(input_shape)
        for variable in target.weights:
            variable.trainable = False
        self._ema_pairs.append((online, target))
        return target

    def reset_targets(self) -> None:
        """Copies the online weights into every EMA target now (eagerly, outside a compiled step)."""
        for online, target in self._ema_pairs:
            _copy_weights(online, target)

    def update_targets(self, momentum) -> None:
        """`target <- m * target + (1 - m) * online` for every trainable online weight (inside the step).

        At `global_step == 0` the momentum is taken as 0, which copies the online weights into the target.
        """
        momentum = ops.cast(ops.where(self.global_step > 0, momentum, 0.0), "float32")
        # Read the float32 weights as they are: under a mixed precision policy Keras would autocast them to the
        # half-precision compute dtype inside `call`, and an EMA in half precision loses the small (1 - m) updates.
        with AutocastScope(None):
            for online, target in self._ema_pairs:
                for o, t in zip(online.weights, target.weights):
                    if o.trainable:
                        t.assign(momentum * t.value + (1.0 - momentum) * ops.stop_gradient(ops.cast(o.value, t.dtype)))

    def cosine_momentum(self, base: float, final: float = 1.0):
        """BYOL's schedule: `final - (final - base) * (cos(pi * progress) + 1) / 2`."""
        return final - (final - base) * (ops.cos(math.pi * self.progress()) + 1.0) / 2.0

    # ------------------------------------------------------------------------------------------- forward/loss
    def call(self, inputs, training=False):
        views, params = self.unpack_views(inputs, training)
        outputs = self.method_outputs(views, params, training=training)
        if training:
            self.global_step.assign_add(1.0)
        return outputs

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
        """The partition's style objective on the style outputs of `method_outputs` (0 for `style_objective=None`)."""
        objective = self.partition.style_objective
        if objective == "repel":
            return -self.objective(style)
        if objective == "orthogonal":
            if "predictions" in style:
                targets = style.get("targets", style["projections"])
                preds, targs = ordered_pairs(style["predictions"], targets)
                loss = DistortionDisentangledLoss(self.partition.orthogonal_reading, stop_gradient=True)
            else:
                targs, preds = unordered_pairs(style["projections"])
                loss = DistortionDisentangledLoss(self.partition.orthogonal_reading, stop_gradient=False)
            return loss(ops.concatenate(targs, axis=0), ops.concatenate(preds, axis=0))
        if objective == "predict_augmentation":
            loss = AugmentationPredictionLoss()
            terms = [loss(t, q) for t, q in zip(style["param_targets"], style["param_predictions"])]
            return sum(terms) / len(terms)
        return ops.zeros((), dtype="float32")

    # ------------------------------------------------------------------------------------ content / style parts
    def _require_partition(self) -> Partition:
        if self.partition is None:
            raise ValueError(f"{type(self).__name__} was built without a partition; pass partition=Partition(...).")
        if self._content_dims is None:
            raise ValueError("The model is not built yet: call it on a batch (or fit it) first.")
        return self.partition

    @property
    def content_slice(self) -> slice:
        """The content dims of `representation(images)` (the split point's features)."""
        self._require_partition()
        return slice(0, self._content_dims)

    @property
    def style_slice(self) -> slice:
        """The style dims of `representation(images)`."""
        self._require_partition()
        return slice(self._content_dims, None)

    def representation(self, images, training=False):
        """The features at the partition's split point: the backbone output (`where="encoder"`) or the projector
        output (`where="projector"`), content dims first. Use with the separability probe:
        `separability_probe_from_encoder(model.representation, data, split=model.split_features)`."""
        p = self._require_partition()
        features = self.backbone(images, training=training)
        if p.where == "projector":
            return self.projector(features, training=training)
        return features

    def split_features(self, features):
        """`(content, style)` parts of features taken at the split point (tensors or arrays, `(B, C)`)."""
        self._require_partition()
        return split_last(features, self._content_dims)

    def embed_parts(self, images, training=False) -> dict:
        """`{"content": (B, d_c), "style": (B, d_s)}` for an image batch."""
        content, style = self.split_features(self.representation(images, training=training))
        return {"content": content, "style": style}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss, values = self.loss_and_metrics(y_pred)
        for metric in self.method_metrics:
            if metric.name in values:
                metric.update_state(values[metric.name])
        if self.losses:
            loss = loss + ops.sum(ops.stack([ops.cast(l, loss.dtype) for l in self.losses]))
        # tf.distribute sums replica gradients: each replica returns 1/R of the (global) loss; see kerascl.distribute.
        return scale_loss_for_replicas(ops.cast(loss, "float32"))

    def embed(self, images, training=False):
        """The backbone features of an image batch (what probes and the exported backbone use)."""
        return self.backbone(images, training=training)

    def evaluation_encoder(self) -> keras.Model:
        """The images -> features model that probes read and `export_backbone` saves: the backbone (a method whose
        official evaluation reads other features overrides it, e.g. decoupled uniformity's backbone + fc)."""
        return self.backbone

    def export_backbone(self, path: str) -> None:
        """Saves `evaluation_encoder()` to a `.keras` file, loadable with `keras.models.load_model(path)`."""
        if not str(path).endswith(".keras"):
            raise ValueError(f"Export path must end with .keras; got {path!r}.")
        self.evaluation_encoder().save(path)

    # ----------------------------------------------------------------------------------------------- config
    def get_config(self) -> dict:
        config = {
            "name": self.name,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "augmentation": keras.saving.serialize_keras_object(self.augmentation) if self.augmentation else None,
        }
        if self.partition is not None:
            config["partition"] = self.partition.get_config()
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        for key in ("backbone", "augmentation"):
            if isinstance(config.get(key), dict):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def mean_over_pairs(loss_fn, targets: list, predictions: list):
    """Symmetrised loss over views: sum over ordered pairs i != j of `loss_fn(targets[j], predictions[i])`,
    scaled so that two views give `loss(t2, p1) + loss(t1, p2)`."""
    n = len(predictions)
    total = 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                total = total + loss_fn(targets[j], predictions[i])
    return total * (2.0 / (n * (n - 1)))


def mean_over_view_pairs(loss_fn, embeddings: list):
    """Mean of a symmetric two-view loss over every unordered pair of views (the loss itself for two views)."""
    pairs = [(i, j) for i in range(len(embeddings)) for j in range(i + 1, len(embeddings))]
    return sum(loss_fn(embeddings[i], embeddings[j]) for i, j in pairs) / len(pairs)


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


def _params_width(input_shape, augmentation) -> int | None:
    if isinstance(input_shape, dict):
        keys = _view_keys(input_shape, "params_")
        if keys and input_shape[keys[0]] is not None and len(tuple(input_shape[keys[0]])) == 2:
            width = tuple(input_shape[keys[0]])[-1]
            return int(width) if width is not None else None
    if augmentation is not None:
        from kerascl.augment.layout import PARAM_SIZE

        return PARAM_SIZE
    return None


def _copy_weights(source, target) -> None:
    # Through NumPy, so the target never shares a buffer with the source (JAX donates both to the compiled step).
    for s, t in zip(source.weights, target.weights):
        t.assign(ops.convert_to_numpy(s))


def _image_shape(input_shape) -> tuple:
    if isinstance(input_shape, dict):
        keys = _view_keys(input_shape, "view_") or (["image"] if "image" in input_shape else [])
        if not keys:
            raise ValueError(f"Cannot find views in input keys {sorted(input_shape)}. {_WRAP_HINT}")
        shape = input_shape[keys[0]]
    elif isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):
        shape = input_shape[0]
        if shape and isinstance(shape[0], (list, tuple)):
            shape = shape[0]
    else:
        shape = input_shape
    shape = tuple(shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"Views must be image batches of shape (batch, height, width, 3); got shape {shape}.")
    return shape


def _declared_image_shape(backbone) -> tuple | None:
    """The `(H, W, C)` a functional backbone was built for (None entries take any size), or None if unknown."""
    try:
        shape = tuple(backbone.input_shape)
    except (AttributeError, ValueError, TypeError):
        return None
    return shape[1:] if len(shape) == 4 else None


def _size_mismatch_message(backbone, declared: tuple, image_shape: tuple) -> str:
    size = "x".join(str(d) for d in declared[:2])
    views = "x".join(str(d) for d in image_shape[1:3])
    return (
        f"The backbone '{backbone.name}' takes {size} images but the views are {views}. Make views of its size "
        f"(image_size={declared[0]} in kerascl.data and kerascl.augment presets, --set image_size={declared[0]}), or "
        f"build the backbone for {views} images: input_shape=({image_shape[1]}, {image_shape[2]}, 3) for kerascl's "
        f"backbones, kerascl.backbones.from_keras_hub(..., image_size={image_shape[1]}) for a KerasHub CNN, and "
        f"image_shape=({image_shape[1]}, {image_shape[2]}, 3) when building a KerasHub ViT (its size is fixed)."
    )


def _output_shape(layer, input_shape: tuple) -> tuple:
    try:
        return tuple(layer.compute_output_shape(input_shape))
    except Exception:  # subclassed models without compute_output_shape
        return tuple(layer.compute_output_spec(keras.KerasTensor(input_shape)).shape)


def _check_fit_input(x) -> None:
    """Raises on input `fit` would train nothing on (an empty dataset) or on wrongly scaled NumPy images.

    Only what is cheap to know is checked: a `tf.data` dataset's static cardinality and the value range of NumPy
    image arrays (views, `image`); the augmenters check the images that flow through `tf.data`.
    """
    try:
        import tensorflow as tf

        if isinstance(x, tf.data.Dataset):
            if int(x.cardinality()) == 0:
                raise ValueError(zero_steps_message(None, None))
            return
    except ImportError:  # pragma: no cover - tensorflow is a dependency
        pass
    if isinstance(x, dict):
        arrays = {k: v for k, v in x.items() if k == "image" or k.startswith("view_")}
    elif isinstance(x, (list, tuple)):
        flat = x[0] if len(x) == 1 and isinstance(x[0], (list, tuple)) else x
        arrays = {f"view_{i + 1}": v for i, v in enumerate(flat)}
    else:
        arrays = {"image": x}
    for key, value in arrays.items():
        if isinstance(value, np.ndarray) and value.size and value.ndim == 4 and np.issubdtype(value.dtype, np.floating):
            problem = image_range_problem(float(value.min()), float(value.max()), f"fit input {key!r}")
            if problem:
                raise ValueError(problem)


def _infer_steps(x, batch_size) -> int | None:
    """Steps per epoch of a `fit` input when they can be known cheaply (tf.data cardinality, array length)."""
    try:
        import tensorflow as tf

        if isinstance(x, tf.data.Dataset):
            n = int(x.cardinality())
            return n if n > 0 else None
    except ImportError:  # pragma: no cover - tensorflow is a dependency
        pass
    arrays = list(x.values()) if isinstance(x, dict) else (list(x) if isinstance(x, (list, tuple)) else [x])
    first = arrays[0] if arrays else None
    while isinstance(first, (list, tuple)) and first:
        first = first[0]
    if hasattr(first, "shape") and len(first.shape) > 0:
        return max(1, math.ceil(first.shape[0] / (batch_size or 32)))
    return None
