"""What every kerascl method shares: views in, backbone, heads, metrics, step counters, EMA targets.

A method subclasses `SiameseMethod` and writes three things:

- `build_heads(feature_shape)`: create or build its heads once the backbone's output shape is known;
- `forward(views, params, training)`: every forward pass (online and target networks), returning a dict;
- `loss_and_metrics(outputs)`: the scalar loss from that dict, plus extra values to report as metrics.

Keras's own `train_step` then trains it with `model.fit()` on TensorFlow and JAX alike: `call` runs `forward`,
`compute_loss` runs `loss_and_metrics`. Anything that uses weights must happen in `forward` (on JAX, gradients are
taken through `call` only); state that changes during training is a non-trainable variable assigned in `forward`.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import keras
from keras import ops

from kerascl.losses._utils import l2_normalize


def collapse_std(z):
    """Collapse monitor: the mean over features of the batch std of the l2-normalised embeddings.

    About `1 / sqrt(dim)` for well-spread embeddings and 0 when every sample maps to the same point.
    """
    return ops.mean(ops.std(l2_normalize(ops.cast(z, "float32")), axis=0))


def clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A new, unbuilt-or-built copy of `layer` with the same architecture and fresh variables."""
    if isinstance(layer, keras.Model) and not _is_subclassed(layer):
        return keras.models.clone_model(layer)
    return layer.__class__.from_config(layer.get_config())


def _is_subclassed(model: keras.Model) -> bool:
    return not isinstance(model, (keras.Sequential, keras.src.models.functional.Functional))


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
        **kwargs: Passed to `keras.Model` (e.g. `name`).

    Inputs (what `fit` feeds `call`): a dict with `view_1`, `view_2`, ... (and optionally `params_i`, `label`,
    `attributes`), or a tuple/list of view tensors, or, with `augmentation`, `{"image": images}` or a bare image
    batch.
    """

    #: Names of the metrics a method reports besides Keras's `loss` (each a `keras.metrics.Mean`).
    metric_names: Sequence[str] = ("z_std",)

    def __init__(self, backbone: keras.Model, augmentation: keras.layers.Layer | None = None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(backbone, keras.layers.Layer):
            raise TypeError(f"backbone must be a keras.Model mapping images to features; got {type(backbone)!r}.")
        self.backbone = backbone
        self.augmentation = augmentation
        self.method_metrics = [keras.metrics.Mean(name=n) for n in self.metric_names]
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
        """`keras.Model.fit`, which first records the planned number of steps for the in-step schedules."""
        self.set_training_plan(steps_per_epoch or _infer_steps(x, batch_size), epochs)
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, steps_per_epoch=steps_per_epoch, **kwargs)

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
        if not self.backbone.built:
            self.backbone.build(image_shape)
        feature_shape = _output_shape(self.backbone, image_shape)
        if len(feature_shape) != 2:
            raise ValueError(
                f"The backbone must map images to (batch, features); it maps {image_shape} to {feature_shape}. "
                "Add global pooling (e.g. keras.applications models with include_top=False, pooling='avg')."
            )
        self.build_heads(feature_shape)
        self.built = True

    def build_heads(self, feature_shape: tuple) -> None:
        """Builds the method's heads (and target networks) for backbone features of `feature_shape`."""
        raise NotImplementedError

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
        momentum = ops.where(self.global_step > 0, momentum, 0.0)
        for online, target in self._ema_pairs:
            for o, t in zip(online.weights, target.weights):
                if o.trainable:
                    t.assign(momentum * t + (1.0 - momentum) * ops.stop_gradient(ops.cast(o, t.dtype)))

    def cosine_momentum(self, base: float, final: float = 1.0):
        """BYOL's schedule: `final - (final - base) * (cos(pi * progress) + 1) / 2`."""
        return final - (final - base) * (ops.cos(math.pi * self.progress()) + 1.0) / 2.0

    # ------------------------------------------------------------------------------------------- forward/loss
    def call(self, inputs, training=False):
        views, params = self.unpack_views(inputs, training)
        outputs = self.forward(views, params, training=training)
        if training:
            self.global_step.assign_add(1.0)
        return outputs

    def forward(self, views: list, params: list | None, training=False) -> dict:
        """Runs the networks on the views and returns the tensors the loss needs."""
        raise NotImplementedError

    def loss_and_metrics(self, outputs: dict) -> tuple[Any, dict]:
        """Returns `(loss, {metric_name: value})` from the outputs of `forward`."""
        raise NotImplementedError

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss, values = self.loss_and_metrics(y_pred)
        for metric in self.method_metrics:
            if metric.name in values:
                metric.update_state(values[metric.name])
        if self.losses:
            loss = loss + ops.sum(ops.stack([ops.cast(l, loss.dtype) for l in self.losses]))
        return loss

    def embed(self, images, training=False):
        """The backbone features of an image batch (what probes and the exported backbone use)."""
        return self.backbone(images, training=training)

    def export_backbone(self, path: str) -> None:
        """Saves the backbone alone to a `.keras` file, loadable with `keras.models.load_model(path)`."""
        if not str(path).endswith(".keras"):
            raise ValueError(f"Export path must end with .keras; got {path!r}.")
        self.backbone.save(path)

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


def _output_shape(layer, input_shape: tuple) -> tuple:
    try:
        return tuple(layer.compute_output_shape(input_shape))
    except Exception:  # subclassed models without compute_output_shape
        return tuple(layer.compute_output_spec(keras.KerasTensor(input_shape)).shape)


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
