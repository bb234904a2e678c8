"""Method: the thin base of every kerascl method (a subclassed `keras.Model` trained with `model.fit()`).

A method subclasses `Method` (or `SiameseMethod`, which adds the standard heads pipeline and content/style
partitions) and writes three things:

- `build_heads(feature_shape)`: create or build its heads once the backbone's output shape is known;
- `method_outputs(views, params, training)`: every forward pass (online and target networks), returning a dict
  (or `batch_outputs(batch, training)` when it needs more of the batch than views and their parameters);
- `loss_and_metrics(outputs)`: the scalar loss from that dict, plus extra values to report as metrics.

Keras's own `train_step` then trains it with `model.fit()` on every backend: `call` runs `method_outputs`,
`compute_loss` runs `loss_and_metrics`. Anything that uses weights must happen in `method_outputs` (on JAX,
gradients are taken through `call` only); state that changes during training is a non-trainable variable assigned
in `method_outputs`. EMA targets are the `EMATarget` component (`use_ema_target`, `make_target`, `update_targets`).

No hook is named like an attribute of `keras.Model` or `torch.nn.Module` (on Keras's torch backend every layer is a
`torch.nn.Module`, whose `forward` is the module's own call), so a subclass never overrides one by accident.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any, Sequence

import keras
import numpy as np
from keras import ops

from kerascl.backbones.hub import KerasHubEncoder
from kerascl.backbones.strided_pointwise import avoid_faulty_onednn_kernels
from kerascl.distribute import scale_loss_for_replicas
from kerascl.input_checks import image_range_problem, zero_steps_message
from kerascl.keras_internals import Functional
from kerascl.losses._utils import l2_normalize
from kerascl.methods.ema_target import EMATarget, cosine_ramp


def collapse_std(z):
    """Collapse monitor: the mean over features of the batch std of the l2-normalised embeddings.

    About `1 / sqrt(dim)` for well-spread embeddings and 0 when every sample maps to the same point.
    """
    return ops.mean(ops.std(l2_normalize(ops.cast(z, "float32")), axis=0))


def clone_layer(layer: keras.layers.Layer, name: str | None = None) -> keras.layers.Layer:
    """A new, unbuilt-or-built copy of `layer` with the same architecture and fresh variables.

    Functional and sequential models are copied layer by layer (their inner layers keep their names, which stage
    taps look up); a `KerasHubEncoder` is rebuilt from its config, so that the copy keeps its stage maps (the
    hierarchical method's BYOL target taps them). Any other layer is rebuilt from its config, named `name` if
    given: a copy held in a list next to its original needs its own name, because on the torch backend a model
    registers the variables of list-held layers by path, and two variables with one path leave one of them
    unregistered (its gradient then never resets between steps)."""
    if isinstance(layer, keras.Model) and not _is_subclassed(layer) and not isinstance(layer, KerasHubEncoder):
        return keras.models.clone_model(layer)
    config = layer.get_config()
    if name is not None:
        config["name"] = name
    return layer.__class__.from_config(config)


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


@dataclasses.dataclass
class MethodBatch:
    """One training batch as a method sees it: the views, their recorded augmentation parameters (or None), and
    every other key of a dict batch in `extras` (`"attributes"`, `"image"`, `"label"`, ...)."""

    views: list
    params: list | None
    extras: dict


class Method(keras.Model):
    """The thin base of kerascl's self-supervised methods (a subclassed `keras.Model`).

    It owns what every method shares: reading the batch (views, recorded parameters, anything else the batch
    carries), the step counters and training plan (`global_step`, `epoch`, `progress()`), metric registration,
    `compute_loss` with replica scaling, EMA targets through the `EMATarget` component, `embed`,
    `evaluation_encoder`, `export_backbone`, and `get_config` chaining. A subclass writes `build_heads`,
    `method_outputs` (or `batch_outputs`) and `loss_and_metrics`; see `SiameseMethod` for the standard
    backbone -> projector -> predictor pipeline, where a method writes only its objective.

    Args:
        backbone: Any `keras.Model` mapping an image batch `(B, H, W, 3)` to features `(B, C)`, e.g.
            `kerascl.backbones.ResNet18()` or `keras.applications.ResNet50(include_top=False, pooling="avg",
            weights=None)`.
        augmentation: Optional layer that makes the views inside the compiled step (device placement): called on a
            raw image batch it returns `{"view_1", "view_2", ..., "params_1", ...}`, e.g.
            `kerascl.augment.get_preset("byol")`. Without it the data pipeline must yield the views.
        **kwargs: Passed to `keras.Model` (e.g. `name`).

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

    def __init__(self, backbone: keras.Model, augmentation: keras.layers.Layer | None = None, **kwargs):
        if "partition" in kwargs:
            raise ValueError(
                f"{type(self).__name__} does not take a partition (partition=...): it builds its own heads and loss. "
                "Content/style partitions are for the methods on SiameseMethod's heads pipeline: BYOL, SimSiam, "
                "BarlowTwins, SimCLR and DDCL."
            )
        super().__init__(**kwargs)
        if not isinstance(backbone, keras.layers.Layer):
            raise TypeError(f"backbone must be a keras.Model mapping images to features; got {type(backbone)!r}.")
        self.backbone = backbone
        self.augmentation = augmentation
        self.method_metrics = [keras.metrics.Mean(name=n) for n in self.reported_metric_names()]
        self._params_width: int | None = None
        self.global_step = self._counter("global_step")
        self.steps_per_epoch = self._counter("steps_per_epoch")
        self.total_steps = self._counter("total_steps")
        self.ema: EMATarget | None = None  # set by use_ema_target (or the first make_target)

    def reported_metric_names(self) -> list[str]:
        """The metrics registered at construction: `metric_names` (a subclass may add to them)."""
        return list(self.metric_names)

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
        """Records the planned steps so in-step schedules (EMA momentum, curricula) know where they are.

        A fixed step budget (`use_ema_target(total_steps=...)`) is kept; the epoch length is recorded either way.
        """
        if steps_per_epoch:
            self.steps_per_epoch.assign(float(steps_per_epoch))
            if not (self.ema is not None and self.ema.total_steps):
                self.total_steps.assign(float(steps_per_epoch * epochs))

    def fit(self, x=None, y=None, batch_size=None, epochs=1, steps_per_epoch=None, **kwargs):
        """`keras.Model.fit`, which first records the planned number of steps for the in-step schedules.

        It also refuses input that would train nothing or train on wrongly scaled images: a dataset with no batch
        (e.g. fewer images than the batch size with `drop_remainder=True`) raises `ValueError` before training, or
        after an epoch that ran 0 steps when the size was not known in advance; float image arrays outside
        [0, 1] raise `ValueError` saying how to rescale them (`kerascl.input_checks.image_range_problem`).
        On TensorFlow with oneDNN, unless every batch is provably even, it also makes the model's strided 1x1
        convolutions subsample first (`kerascl.backbones.subsample_strided_pointwise_convs`: the same numbers,
        without the oneDNN kernel that corrupts the heap on odd batch sizes). A `tf.data` input is shuffled by its
        own pipeline, so `shuffle` defaults to False for it: Keras ignores the flag there and would only warn.
        """
        _check_fit_input(x)
        if _is_tf_dataset(x):
            kwargs.setdefault("shuffle", False)
        avoid_faulty_onednn_kernels(self, x, batch_size)
        self.set_training_plan(steps_per_epoch or _infer_steps(x, batch_size), epochs)
        try:
            history = super().fit(x, y, batch_size=batch_size, epochs=epochs, steps_per_epoch=steps_per_epoch,
                                  **kwargs)
        except StopIteration as error:  # JAX's epoch iterator on a dataset that yields nothing
            raise ValueError(zero_steps_message(None, None)) from error
        except RuntimeError as error:
            # torch's trainer builds an unbuilt model from the first batch; with no batch it fails to iterate None.
            message = str(error)
            if "Unable to automatically build the model" in message and "'NoneType' object is not iterable" in message:
                raise ValueError(zero_steps_message(None, None)) from error
            raise
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
        """Builds the method's heads (and target networks) for backbone features of `feature_shape`."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_heads(feature_shape).")

    # ------------------------------------------------------------------------------------------ EMA targets
    def use_ema_target(self, base_momentum: float = 0.99, final_momentum: float = 1.0,
                       total_steps: int | None = None) -> EMATarget:
        """Declares that the method has EMA targets with BYOL's cosine momentum schedule (`EMATarget`).

        Call it once from `__init__`, and put `**self.ema.get_config()` (`base_momentum`, `final_momentum`,
        `total_steps`) in the method's `get_config`. The base class then plans the schedule (a fixed `total_steps`,
        or what `fit` will run) and gives the step's momentum in `target_momentum()`. Targets are made in
        `build_heads` with `make_target` (the standard pipeline of `setup_heads(..., use_target=True)` does it) and
        moved with `update_targets(self.target_momentum())`.
        """
        self.ema = EMATarget(base_momentum, final_momentum, total_steps)
        if self.ema.total_steps:
            self.total_steps.assign(float(self.ema.total_steps))
        return self.ema

    def target_momentum(self):
        """The EMA momentum for this step, from the schedule declared with `use_ema_target`."""
        if self.ema is None:
            raise NotImplementedError(
                f"{type(self).__name__} uses an EMA target: call self.use_ema_target(...) in __init__ (or implement "
                "target_momentum())."
            )
        return self.ema.momentum(self.progress())

    def make_target(self, online: keras.layers.Layer, input_shape: tuple) -> keras.layers.Layer:
        """Creates a target copy of `online` whose weights follow it by exponential moving average.

        The copy's variables are non-trainable (no gradient, no optimizer), but the copy still runs its batch
        normalisation in training mode, as BYOL's target does. Call from `build_heads`. `update_targets` moves it
        inside the compiled step; on the first training step (`global_step == 0`) it copies the online weights, so
        training starts from `target == online` whatever the initialisation, on every backend.
        """
        if self.ema is None:  # targets without a declared schedule: BYOL's defaults (0.99 -> 1 over fit's steps)
            self.ema = EMATarget()
        return self.ema.track(online, input_shape)

    def reset_targets(self) -> None:
        """Copies the online weights into every EMA target now (eagerly, outside a compiled step)."""
        if self.ema is not None:
            self.ema.reset()

    def update_targets(self, momentum) -> None:
        """`target <- m * target + (1 - m) * online` for every trainable online weight (inside the step).

        At `global_step == 0` the momentum is taken as 0, which copies the online weights into the target.
        """
        self.ema.update(momentum, self.global_step)

    def cosine_momentum(self, base: float, final: float = 1.0):
        """BYOL's schedule: `final - (final - base) * (cos(pi * progress) + 1) / 2`."""
        return cosine_ramp(base, final, self.progress())

    # ------------------------------------------------------------------------------------------- forward/loss
    def call(self, inputs, training=False):
        views, params = self.unpack_views(inputs, training)
        extras = {k: v for k, v in inputs.items() if not k.startswith(("view_", "params_"))} \
            if isinstance(inputs, dict) else {}
        outputs = self.batch_outputs(MethodBatch(views, params, extras), training=training)
        if training:
            self.global_step.assign_add(1.0)
        return outputs

    def batch_outputs(self, batch: MethodBatch, training=False) -> dict:
        """The forward pass on a whole batch. The default hands the views and their parameters to
        `method_outputs`; a method that needs more of the batch (attributes, the raw image) overrides this."""
        return self.method_outputs(batch.views, batch.params, training=training)

    def method_outputs(self, views: list, params: list | None, training=False) -> dict:
        """Runs the networks on the views and returns the tensors the loss needs."""
        raise NotImplementedError(f"{type(self).__name__} must implement method_outputs (or batch_outputs).")

    def loss_and_metrics(self, outputs: dict) -> tuple[Any, dict]:
        """Returns `(loss, {metric_name: value})` from the outputs of `method_outputs`."""
        raise NotImplementedError(f"{type(self).__name__} must implement loss_and_metrics(outputs).")

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
        return {
            "name": self.name,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "augmentation": keras.saving.serialize_keras_object(self.augmentation) if self.augmentation else None,
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        for key in ("backbone", "augmentation"):
            if isinstance(config.get(key), dict):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


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


def _is_tf_dataset(x) -> bool:
    """Whether `x` is a `tf.data.Dataset`; one can only exist once TensorFlow is imported, so this never imports it."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(x, tf.data.Dataset)


def _check_fit_input(x) -> None:
    """Raises on input `fit` would train nothing on (an empty dataset) or on wrongly scaled NumPy images.

    Only what is cheap to know is checked: a `tf.data` dataset's static cardinality and the value range of NumPy
    image arrays (views, `image`); the augmenters check the images that flow through `tf.data`.
    """
    if _is_tf_dataset(x):
        if int(x.cardinality()) == 0:
            raise ValueError(zero_steps_message(None, None))
        return
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
    if _is_tf_dataset(x):
        n = int(x.cardinality())
        return n if n > 0 else None
    arrays = list(x.values()) if isinstance(x, dict) else (list(x) if isinstance(x, (list, tuple)) else [x])
    first = arrays[0] if arrays else None
    while isinstance(first, (list, tuple)) and first:
        first = first[0]
    if hasattr(first, "shape") and len(first.shape) > 0:
        return max(1, math.ceil(first.shape[0] / (batch_size or 32)))
    return None
