"""Base class of kerascl's augmentation layers: per-sample randomness that it can record and re-apply."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from kerascl.augment import _prng
from kerascl.input_checks import (
    DOUBLE_SCALED_BELOW,
    NEGATIVE_BELOW,
    RANGE_FIXES,
    SCALE_255_ABOVE,
    image_range_problem,
)
from kerascl.keras_internals import BaseImagePreprocessingLayer, seed_generator


def check_images(images: Any, where: str) -> None:
    """Raise a clear error unless `images` is a float batch `(B, H, W, 3)` (or one `(H, W, 3)` image).

    Values are checked to lie in [0, 1] when `images` is a NumPy array (`guard_value_range` checks tensors).
    """
    shape = tuple(images.shape)
    if len(shape) not in (3, 4):
        raise ValueError(
            f"{where} expects an image batch of shape (batch, height, width, 3) or one image (height, width, 3); "
            f"received rank {len(shape)} with shape {shape}."
        )
    if shape[-1] != 3:
        raise ValueError(
            f"{where} expects RGB images with 3 channels last (channels_last, NHWC); received shape {shape}. "
            "Convert grayscale or RGBA images to RGB first, and transpose NCHW batches to NHWC."
        )
    dtype = keras.backend.standardize_dtype(images.dtype)
    if "float" not in dtype:
        raise TypeError(
            f"{where} expects float32 images with values in [0, 1]; received dtype {dtype}. "
            "Convert with `images.astype('float32') / 255.0` (NumPy) or `keras.ops.cast(images, 'float32') / 255`."
        )
    if isinstance(images, np.ndarray) and images.size:
        problem = image_range_problem(float(images.min()), float(images.max()), f"{where} input")
        if problem:
            raise ValueError(problem)


def guard_value_range(images: Any, where: str) -> Any:
    """Checks that float images lie in [0, 1] wherever their values can be read, and returns them.

    Concrete arrays (NumPy, eager TensorFlow, JAX outside a trace) are checked at once and raise `ValueError`
    naming the mistake (0..255 values, [-1, 1] values, divided by 255 twice; `kerascl.input_checks`). Symbolic
    TensorFlow tensors (a `tf.data` map, a `tf.function`) get assertions that raise `InvalidArgumentError` with the
    same fix when the batch runs; the returned tensor depends on them. Values inside a JAX trace cannot be read and
    pass unchecked. The assertions allow small overshoots (up to 1.5 and down to -0.01), which resizing produces.
    """
    module = type(images).__module__
    if isinstance(images, np.ndarray) or not (module.startswith("tensorflow") or module.startswith("jax")):
        return images  # NumPy: check_images did it; other types are converted by the backend later
    if module.startswith("jax"):
        import jax

        if isinstance(images, jax.core.Tracer) or not images.size:
            return images
        check_images(np.asarray(images), where)
        return images
    import tensorflow as tf

    if tf.executing_eagerly():
        if int(tf.size(images)):
            check_images(images.numpy(), where)
        return images
    values = tf.cast(images, tf.float32)
    low, high = tf.reduce_min(values), tf.reduce_max(values)  # +inf / -inf for an empty batch: passes
    conditions = {
        "scale_255": high <= SCALE_255_ABOVE,
        "negative": low >= NEGATIVE_BELOW,
        "double_scaled": tf.logical_or(high <= 0.0, high >= DOUBLE_SCALED_BELOW),
    }
    asserts = [
        tf.debugging.Assert(ok, [f"{where} input must be float values in [0, 1]. {RANGE_FIXES[kind]} Got min",
                                 low, "max", high], name=f"image_range_{kind}")
        for kind, ok in conditions.items()
    ]
    with tf.control_dependencies(asserts):
        return tf.identity(images)


def jitted(owner: Any, bk: Any, name: str, fn: Any, static_argnums: tuple = ()) -> Any:
    """`fn` compiled with `jax.jit` when `bk` is JAX, else `fn` itself.

    Eager JAX dispatches and compiles every primitive separately, which makes an augmentation of a hundred
    small ops slow to call outside a compiled step; one `jit` per layer makes it a single program. Inside a
    trace (a compiled train step) the nested `jit` is simply inlined.
    """
    if bk.name != "jax":
        return fn
    import jax

    # Shared between layers with the same configuration (the computation depends on nothing else), so that
    # rebuilding a preset does not recompile it.
    key = (type(owner).__name__, name, repr(_without_names(owner.get_config())))
    if key not in _JIT_CACHE:
        _JIT_CACHE[key] = jax.jit(fn, static_argnums=static_argnums)
    return _JIT_CACHE[key]


_JIT_CACHE: dict = {}


def _without_names(value: Any) -> Any:
    if isinstance(value, dict):
        return sorted((k, _without_names(v)) for k, v in value.items() if k not in ("name", "seed"))
    if isinstance(value, (list, tuple)):
        return [_without_names(v) for v in value]
    return value


def check_probability(p: float, name: str = "p") -> float:
    """Validate a probability argument."""
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"`{name}` must be a probability in [0, 1]; received {name}={p}.")
    return p


def check_range(value: Any, name: str, low: float | None = None) -> tuple[float, float]:
    """Validate a `(min, max)` pair."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"`{name}` must be a pair (min, max); received {name}={value!r}.")
    a, b = float(value[0]), float(value[1])
    if a > b:
        raise ValueError(f"`{name}` must satisfy min <= max; received {name}={value!r}.")
    if low is not None and a < low:
        raise ValueError(f"`{name}` must be >= {low}; received {name}={value!r}.")
    return a, b


class RecordedAugmentation(BaseImagePreprocessingLayer):
    """Base class of an augmentation that is random per sample and records what it did.

    It keeps Keras's `BaseImagePreprocessingLayer` contract (`get_random_transformation` draws a
    transformation, `transform_images` applies it), so a layer works on its own, inside `tf.data` for any
    backend, and inside a compiled `call` on JAX and TensorFlow. On top of that contract a subclass implements
    four backend-explicit hooks that `ViewAugmentation` composes:

    - `_draw(bk, key, batch_size, image_shape)`: a transformation (dict of per-sample tensors) from a
      `uint32` key, through `kerascl.augment._prng` (bit-identical on every backend);
    - `_transform_batch(bk, images, transformation)`: the vectorised image operation;
    - `_to_params(bk, transformation)`: `{layout name: (B, k) float32}` for the recorded-parameter vector;
    - `_from_params(bk, params)`: the transformation back from a `(B, PARAM_SIZE)` vector.

    Args:
        p: probability that the augmentation is applied to a sample (drawn per sample).
        seed: integer seed of the layer's `keras.random.SeedGenerator`.
        **kwargs: passed to `keras.layers.Layer`.
    """

    # Keras's private flag (see kerascl.keras_internals): no `factor` argument; each layer has its own strengths.
    _USE_BASE_FACTOR = False
    NUM_DRAWS = 1

    def __init__(self, p: float = 1.0, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.p = check_probability(p)
        self.seed = seed
        self.generator = self.backend.random.SeedGenerator(seed)

    # --- hooks --------------------------------------------------------------------------------------------
    def _draw(self, bk: Any, key: Any, batch_size: Any, image_shape: tuple) -> dict:
        raise NotImplementedError

    def _transform_batch(self, bk: Any, images: Any, transformation: dict) -> Any:
        raise NotImplementedError

    def _to_params(self, bk: Any, transformation: dict) -> dict:
        raise NotImplementedError

    def _from_params(self, bk: Any, params: Any) -> dict:
        raise NotImplementedError

    def _uniforms(self, bk: Any, key: Any, batch_size: Any) -> Any:
        return _prng.uniform(bk, key, batch_size, self.NUM_DRAWS)

    def _applied(self, bk: Any, u: Any) -> Any:
        """Per-sample Bernoulli(p) from a column of uniforms."""
        return u < self.p

    # --- Keras contract -----------------------------------------------------------------------------------
    def get_random_transformation(self, data: Any, training: bool = True, seed: Any = None) -> dict | None:
        if not training:
            return None
        images = data["images"] if isinstance(data, dict) else data
        if seed is None:
            seed = seed_generator(self).next()
        shape = self.backend.core.shape(images)
        batch_size = shape[0] if len(shape) == 4 else 1
        bk = self.backend

        def draw(seed: Any, batch_size: Any, image_shape: tuple) -> dict:
            return self._draw(bk, _prng.seed_key(bk, seed), batch_size, image_shape)

        return jitted(self, bk, "draw", draw, static_argnums=(1, 2))(seed, batch_size, tuple(shape[-3:]))

    def transform_images(self, images: Any, transformation: Any, training: bool = True) -> Any:
        images = self.backend.cast(images, "float32")
        if not training or transformation is None:
            return self._inference(self.backend, images)
        bk = self.backend
        return jitted(self, bk, "apply", lambda x, t: self._transform_batch(bk, x, t))(images, transformation)

    def _inference(self, bk: Any, images: Any) -> Any:
        """What the layer does with `training=False` (identity; a crop layer resizes)."""
        return images

    def transform_labels(self, labels: Any, transformation: Any, training: bool = True) -> Any:
        return labels

    def transform_segmentation_masks(self, masks: Any, transformation: Any, training: bool = True) -> Any:
        raise NotImplementedError(f"{type(self).__name__} transforms images only.")

    def transform_bounding_boxes(self, boxes: Any, transformation: Any, training: bool = True) -> Any:
        raise NotImplementedError(f"{type(self).__name__} transforms images only.")

    def __call__(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        images = data["images"] if isinstance(data, dict) else data
        check_images(images, type(self).__name__)
        return super().__call__(data, *args, **kwargs)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def params(self, transformation: dict) -> dict:
        """The recorded parameters of a transformation from `get_random_transformation`, by layout name."""
        return self._to_params(self.backend, transformation)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"p": self.p, "seed": self.seed})
        return config
