"""Keras and KerasCV image augmentation layers inside a kerascl view pipeline."""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator

import keras
import numpy as np

from kerascl.augment import _prng
from kerascl.keras_internals import (
    BaseImagePreprocessingLayer,
    DataLayer,
    DynamicBackend,
    flatten_layers,
    seed_generator,
)

MAX_AUTO_COLUMNS = 64
"""With `record=None`, a layer whose transformation holds more values per sample than this is left unrecorded."""

# TensorFlow ops Keras's image layers use that XLA has no kernel for (the affine and perspective warps of
# RandomRotation, RandomTranslation, RandomZoom, RandomShear and RandomPerspective).
_NO_XLA_KERNEL = frozenset({"ImageProjectiveTransformV2", "ImageProjectiveTransformV3"})
_GENERATOR_SALT = 7001
_REPLAY_SALT = 7717
_PROBE_SEEDS = ((20240, 0), (20241, 0))


class _Probe:
    """What a layer's transformation looks like at one image size: which leaves are recorded, and why not."""

    def __init__(self, recorded: bool, reason: str | None, leaves: list[tuple[int, tuple, str, str]]) -> None:
        self.recorded = recorded
        self.reason = reason
        # (index in keras.tree.flatten order, per-sample shape, dtype, name) of each recorded leaf.
        self.leaves = leaves if recorded else []
        self.columns = sum(math.prod(shape) for _, shape, _, _ in self.leaves)


def _is_keras_cv(layer: Any) -> bool:
    return type(layer).__module__.startswith("keras_cv")


def _tensor_like(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, keras.random.SeedGenerator)


def _path_name(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def _xla_graph() -> Any:
    """The TensorFlow graph being traced for XLA (`tf.function(jit_compile=True)`), or None."""
    import tensorflow as tf

    if tf.executing_eagerly():
        return None
    try:  # TensorFlow's own test for an XLA context; no public equivalent
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - a TensorFlow without it: no check
        return None
    graph = tf.compat.v1.get_default_graph()
    return graph if control_flow_util.GraphOrParentsInXlaContext(graph) else None


@contextlib.contextmanager
def _xla_check(bk: Any, layer: Any) -> Iterator[None]:
    """Turn the late, opaque XLA compile failure of a layer XLA cannot compile into a clear error at trace time."""
    graph = _xla_graph() if bk.name == "tensorflow" else None
    start = len(graph.get_operations()) if graph is not None else 0
    yield
    if graph is None:
        return
    problem = None
    missing = sorted({op.type for op in graph.get_operations()[start:]} & _NO_XLA_KERNEL)
    if missing:
        problem = f"uses {', '.join(missing)}, which XLA has no kernel for"
    elif isinstance(layer, keras.layers.RandomElasticTransform):
        problem = "sizes its blur kernel from a drawn sigma, which XLA needs as a constant"
    if problem:
        raise ValueError(
            f"{type(layer).__name__} {problem}, inside a function compiled with XLA (jit_compile=True; Keras's "
            "'auto' turns it on for TensorFlow with a GPU). Make the views in tf.data instead (host placement: "
            "`dataset.map(augmenter)`, or a kerascl.data pipeline with views='host'), compile with "
            "jit_compile=False, or leave the layer out."
        )


@keras.saving.register_keras_serializable(package="kerascl")
class KerasAugmentation(keras.layers.Layer):
    """A Keras (`keras.layers`) or KerasCV (`keras_cv.layers`) image augmentation layer in a kerascl view.

    Give it to `ViewAugmentation(..., extra=[...])` (a bare Keras layer there is wrapped with the defaults). It
    runs after the kerascl stage named `after`, on the `image_size` squares the view makes, with float32 images
    in [0, 1].

    **Randomness.** A `keras.layers` layer draws with Keras's own random functions, but kerascl sets the state of
    its `SeedGenerator`s from the view's counter-based key for every batch (in a `keras.StatelessScope`; the
    layer's own generator never advances). So the augmenter's seed fixes the Keras layer's draws too, and the same
    seed gives the same views again in the same placement on the same backend. Keras's random functions are the
    backend's own, so unlike kerascl's layers, the Keras layer's draws differ between a `tf.data` map and a
    compiled step (on TensorFlow too: XLA's stateless random kernels differ from those `tf.data` runs). KerasCV
    layers draw from their own TensorFlow generator, which kerascl neither seeds nor records.

    **Recording.** When the layer's `get_random_transformation` returns per-sample values that fully determine
    its output (e.g. `RandomFlip`'s flips, `RandomContrast`'s factors, `RandomRotation`'s angles), they are
    appended to the view's parameter vector after kerascl's `PARAM_SIZE` slots (see
    `ViewAugmentation.param_layout`) and `apply_params` replays them. Otherwise the layer is *unrecorded*
    (`recorded` is False and `unrecorded_reason` says why): it adds no columns and the view cannot be replayed.
    That is the case for values shared by the whole batch (Keras's `RandomGaussianBlur` sigma), draws made while
    transforming (Keras's `RandomColorJitter` and `RandomElasticTransform`), more than `MAX_AUTO_COLUMNS` values
    per sample with `record=None` (`RandomErasing`'s masks), and every KerasCV layer.

    **Where it runs.** `keras.layers` layers run wherever the view does: in `tf.data` on any backend (with
    TensorFlow ops, as Keras's preprocessing layers do) and in a compiled step on JAX or TensorFlow, except where
    the layer's own ops cannot be compiled (Keras's `RandomElasticTransform` in a JAX step; the affine and
    perspective warps under XLA on TensorFlow); those raise an error that names the layer and the fix. KerasCV
    layers compute with TensorFlow, so they run in `tf.data` on any backend and in a TensorFlow step, but not in
    a JAX step (an error says so).

    Args:
        layer: a `keras.layers` image preprocessing layer that keeps the image shape (e.g.
            `keras.layers.RandomSharpness(0.3, value_range=(0, 1))`) or a `keras_cv.layers` augmentation layer.
            Layers with a `value_range` must be built with `value_range=(0, 1)`.
        after: the kerascl stage it runs after (`"crop"`, `"flip"`, ..., `"elastic"`, see `STAGES`), whether or
            not that stage is in the pipeline; None runs it last.
        record: None records the per-sample values when possible; True requires it (error otherwise, and no
            column limit); False never records (the view keeps exactly `PARAM_SIZE` slots, and cannot be
            replayed).
        **kwargs: passed to `keras.layers.Layer`.

    Examples:
        >>> sharpen = KerasAugmentation(keras.layers.RandomSharpness(0.3, value_range=(0, 1)), after="flip")
        >>> view = ViewAugmentation(16, crop=RandomResizedCrop(16, 16), extra=[sharpen], seed=0)
        >>> images, params = view.augment(np.random.rand(4, 16, 16, 3).astype("float32"))
        >>> params.shape, sharpen.recorded
        ((4, 19), True)
    """

    def __init__(self, layer: Any, after: str | None = None, record: bool | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(layer, dict):
            layer = keras.saving.deserialize_keras_object(layer)
        check_augmentation_layer(layer)
        if after is not None and not isinstance(after, str):
            raise TypeError(f"`after` must be a stage name (str) or None; received {after!r}.")
        if record not in (None, True, False):
            raise ValueError(f"`record` must be None (when possible), True or False; received record={record!r}.")
        if record is True and _is_keras_cv(layer):
            raise ValueError(
                f"{type(layer).__name__} is a KerasCV layer: it draws from its own TensorFlow generator and exposes no "
                "per-sample transformation kerascl can record. Use record=None or False, or the keras.layers "
                "equivalent."
            )
        self.layer = layer
        self.after = after
        self.record = record
        self._probes: dict[int, _Probe] = {}

    # --- state -----------------------------------------------------------------------------------------------
    @property
    def recorded(self) -> bool | None:
        """Whether the layer's per-sample values are recorded (None before a view has prepared it)."""
        if not self._probes:
            return None
        return all(p.recorded for p in self._probes.values())

    @property
    def unrecorded_reason(self) -> str | None:
        """Why the layer is not recorded (None when it is, or before a view has prepared it)."""
        for probe in self._probes.values():
            if not probe.recorded:
                return probe.reason
        return None

    def param_names(self, image_size: int) -> list[tuple[str, int]]:
        """`(name, columns)` of each recorded value at `image_size`, in column order."""
        probe = self._probes[int(image_size)]
        prefix = self.layer.name
        return [(f"{prefix}.{name}" if name else prefix, math.prod(shape)) for _, shape, _, name in probe.leaves]

    def columns(self, image_size: int) -> int:
        """Number of recorded values per sample at `image_size` (0 when unrecorded)."""
        return self._probes[int(image_size)].columns

    # --- preparation -----------------------------------------------------------------------------------------
    def prepare(self, image_size: int) -> None:
        """Check that the layer runs on `image_size` squares and find what it can record.

        Runs the layer on two tiny batches with TensorFlow ops, eagerly (as in `tf.data`, on any backend): the
        structure of a transformation does not depend on the backend, and eager TensorFlow is quick to run.
        """
        size = int(image_size)
        if size in self._probes:
            return
        bk = DynamicBackend("tensorflow")
        images = [
            bk.core.convert_to_tensor(np.random.RandomState(n).rand(n, size, size, 3).astype("float32"))
            for n in (2, 3)
        ]
        if not self.layer.built:
            self.layer.build((None, size, size, 3))
        name = type(self.layer).__name__
        keys = [_prng.seed_key(bk, np.asarray(seed, "uint32")) for seed in _PROBE_SEEDS]
        if _is_keras_cv(self.layer):
            out = self.layer(images[0], training=True)
            self._check_output(images[0], out, name)
            self._probes[size] = _Probe(
                False, "KerasCV layers draw from their own TensorFlow generator; kerascl cannot record them", []
            )
            return
        runs = [self._draw_and_transform(bk, x, keys[0]) for x in images]
        for x, (_, out, _) in zip(images, runs):
            self._check_output(x, out, name)
        probe = self._classify(runs[0][0], runs[1][0], runs[0][2])
        if probe.recorded:
            columns = self._columns(bk, runs[0][0], probe)
            replayed = self._replay_with(bk, images[0], columns, probe, keys[1])
            error = float(np.max(np.abs(keras.ops.convert_to_numpy(replayed) - keras.ops.convert_to_numpy(runs[0][1]))))
            if not error <= 1e-5:
                probe = _Probe(False, "replaying its recorded per-sample values does not reproduce its output", [])
        if self.record is None and probe.recorded and probe.columns > MAX_AUTO_COLUMNS:
            probe = _Probe(
                False,
                f"it draws {probe.columns} values per sample (more than MAX_AUTO_COLUMNS = {MAX_AUTO_COLUMNS}); pass "
                "record=True to record them all",
                [],
            )
        if self.record is False:
            probe = _Probe(False, "record=False", [])
        if self.record is True and not probe.recorded:
            raise ValueError(
                f"record=True, but {name} cannot be recorded: {probe.reason}. Use record=None to run it unrecorded "
                "(the view then cannot be replayed with apply_params)."
            )
        self._probes[size] = probe

    def _check_output(self, images: Any, out: Any, name: str) -> None:
        if tuple(out.shape) != tuple(images.shape):
            raise ValueError(
                f"{name} changes the image shape from {tuple(images.shape)} to {tuple(out.shape)}; a layer in a view's "
                "`extra` must keep it (views are image_size squares). Set the output size with the view's "
                "`crop=RandomResizedCrop(...)` or `image_size` instead."
            )
        values = keras.ops.convert_to_numpy(out)
        # Loose bounds: interpolation may overshoot [0, 1] a little; a 0..255 configuration does not.
        if values.size and (values.min() < -0.5 or values.max() > 1.5):
            raise ValueError(
                f"{name} turned float images in [0, 1] into values in [{values.min():.3g}, {values.max():.3g}]. "
                "kerascl views are float32 in [0, 1]: configure the layer for that range (value_range=(0, 1) where "
                "it has one)."
            )

    @staticmethod
    def _classify(t2: Any, t3: Any, draws_in_transform: bool) -> _Probe:
        if draws_in_transform:
            return _Probe(False, "it draws random numbers while transforming, outside get_random_transformation", [])
        flat2 = keras.tree.flatten_with_path(t2)
        flat3 = keras.tree.flatten_with_path(t3)
        if [p for p, _ in flat2] != [p for p, _ in flat3]:
            return _Probe(False, "its transformation changes structure with the batch size", [])
        leaves = []
        for index, ((path, a), (_, b)) in enumerate(zip(flat2, flat3)):
            name = _path_name(path)
            if isinstance(a, keras.random.SeedGenerator):
                return _Probe(False, f"its transformation carries a seed generator ({name or 'transformation'})", [])
            if not _tensor_like(a):
                continue  # static metadata (image sizes, shapes): taken from a fresh draw when replaying
            sa, sb = tuple(a.shape), tuple(b.shape)
            if not (len(sa) >= 1 and sa[0] == 2 and len(sb) >= 1 and sb[0] == 3 and sa[1:] == sb[1:]):
                return _Probe(
                    False, f"{name or 'its transformation'} is drawn once for the whole batch (shape {sa}), not per sample", []
                )
            leaves.append((index, tuple(int(d) for d in sa[1:]), keras.backend.standardize_dtype(a.dtype), name))
        return _Probe(True, None, leaves)

    # --- running ---------------------------------------------------------------------------------------------
    def _generators(self, bk: Any) -> list[Any]:
        """The `SeedGenerator`s the layer draws from when it computes with `bk` (created before any scope)."""
        found: dict[int, Any] = {}
        for layer in (self.layer, *flatten_layers(self.layer)):
            if isinstance(layer, DataLayer) and hasattr(layer, "seed") and hasattr(layer, "generator"):
                generator = seed_generator(layer, bk)
                found.setdefault(id(generator), generator)
            elif bk.name == keras.backend.backend():
                for value in vars(layer).values():
                    if isinstance(value, keras.random.SeedGenerator):
                        found.setdefault(id(value), value)
        return list(found.values())

    @contextlib.contextmanager
    def _seeded(self, bk: Any, key: Any) -> Iterator[tuple[keras.StatelessScope, list]]:
        """Run the layer on `bk`'s ops with its generators' states derived from `key`; discard their updates."""
        switched = []
        for layer in (self.layer, *flatten_layers(self.layer)):
            if isinstance(layer, DataLayer) and layer.backend.name != bk.name:
                layer.backend.set_backend(bk.name)
                switched.append(layer)
        try:
            generators = self._generators(bk)
            # Values added after construction: `StatelessScope(state_mapping)` converts them with the default
            # backend, which cannot hold TensorFlow tensors of a tf.data map on the JAX backend.
            scope = keras.StatelessScope()
            for i, generator in enumerate(generators):
                k = _prng.derive_key(bk, key, _GENERATOR_SALT + i)
                state = bk.core.cast(bk.numpy.stack([k, bk.numpy.zeros_like(k)]), generator.state.dtype)
                scope.add_update((generator.state, state))
            with scope:
                yield scope, generators
        finally:
            for layer in switched:
                layer.backend.reset()

    def _draw_and_transform(self, bk: Any, images: Any, key: Any) -> tuple[Any, Any, bool]:
        with self._seeded(bk, key) as (scope, generators):
            transformation = self.layer.get_random_transformation(images, training=True)
            drawn = [scope.get_current_value(g.state) for g in generators]
            out = self.layer.transform_images(images, transformation, training=True)
            after = [scope.get_current_value(g.state) for g in generators]
        draws_in_transform = any(a is not b for a, b in zip(drawn, after))
        return transformation, bk.core.cast(out, "float32"), draws_in_transform

    def _columns(self, bk: Any, transformation: Any, probe: _Probe) -> Any:
        """The recorded leaves of `transformation` as `(B, probe.columns)` float32 (None when there are none)."""
        if not probe.leaves:
            return None
        flat = keras.tree.flatten(transformation)
        parts = [
            bk.numpy.reshape(bk.core.cast(flat[index], "float32"), (-1, max(1, math.prod(shape))))
            for index, shape, _, _ in probe.leaves
        ]
        return bk.numpy.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]

    def run(self, bk: Any, images: Any, key: Any, image_size: int) -> tuple[Any, Any | None]:
        """Augment `images` with randomness from `key`; returns `(images, recorded columns or None)`."""
        probe = self._probes[int(image_size)]
        if _is_keras_cv(self.layer):
            if bk.name != "tensorflow":
                raise ValueError(
                    f"{type(self.layer).__name__} is a KerasCV layer, which computes with TensorFlow ops, so it cannot "
                    f"run in a compiled {bk.name} step. Make the views in tf.data instead (host placement: "
                    "`dataset.map(augmenter)`, or a kerascl.data pipeline with views='host'), use the TensorFlow "
                    "backend, or use the keras.layers equivalent."
                )
            with _xla_check(bk, self.layer):
                out = self.layer(images, training=True)
            return bk.core.cast(out, "float32"), None
        try:
            with _xla_check(bk, self.layer):
                transformation, out, _ = self._draw_and_transform(bk, images, key)
        except Exception as error:
            if bk.name != "jax" or not type(error).__module__.startswith("jax"):
                raise
            raise ValueError(
                f"{type(self.layer).__name__} cannot run inside a compiled JAX function ({type(error).__name__}: "
                f"{str(error).splitlines()[0]}). Make the views in tf.data instead (host placement: "
                "`dataset.map(augmenter)`, or a kerascl.data pipeline with views='host'), where Keras layers run "
                "with TensorFlow ops on any backend, or leave the layer out."
            ) from error
        return out, (self._columns(bk, transformation, probe) if probe.recorded else None)

    def replay(self, bk: Any, images: Any, columns: Any, image_size: int) -> Any:
        """Re-apply recorded columns `(B, columns(image_size))` to `images`."""
        probe = self._probes[int(image_size)]
        if not probe.recorded:
            raise ValueError(self.unreplayable_message())
        key = _prng.seed_key(bk, bk.core.convert_to_tensor(_REPLAY_SALT, "uint32"))
        return self._replay_with(bk, images, columns, probe, key)

    def _replay_with(self, bk: Any, images: Any, columns: Any, probe: _Probe, key: Any) -> Any:
        with self._seeded(bk, key):
            # A fresh draw supplies the static entries (sizes); the recorded columns replace the random ones.
            transformation = self.layer.get_random_transformation(images, training=True)
            flat = list(keras.tree.flatten(transformation))
            start = 0
            for index, shape, dtype, _ in probe.leaves:
                width = max(1, math.prod(shape))
                values = bk.numpy.reshape(columns[:, start : start + width], (-1, *shape))
                start += width
                if dtype == "bool":
                    values = values > 0.5
                elif "int" in dtype:
                    values = bk.core.cast(bk.numpy.round(values), dtype)
                else:
                    values = bk.core.cast(values, dtype)
                flat[index] = values
            if probe.leaves:
                transformation = keras.tree.pack_sequence_as(transformation, flat)
            out = self.layer.transform_images(images, transformation, training=True)
        return bk.core.cast(out, "float32")

    def unreplayable_message(self) -> str:
        return (
            f"{type(self.layer).__name__} ({self.layer.name}) in this view is not recorded: {self.unrecorded_reason}. "
            "apply_params can only replay views whose stages are all recorded; leave the layer out (or use a kerascl "
            "layer) to replay the views."
        )

    # --- Keras plumbing ------------------------------------------------------------------------------------------
    def call(self, images: Any, training: bool = True) -> Any:
        raise NotImplementedError(
            "KerasAugmentation runs inside a view: pass it to ViewAugmentation(..., extra=[...]); call the wrapped "
            "layer directly to use it on its own."
        )

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def describe(self) -> dict:
        """The wrapped layer's class, position and settings (for `ViewAugmentation.describe`)."""
        config = self.layer.get_config()
        for k in ("name", "trainable", "dtype", "seed", "data_format", "bounding_box_format"):
            config.pop(k, None)
        return {
            "stage": "keras",
            "layer": f"{type(self.layer).__module__.split('.')[0]}.layers.{type(self.layer).__name__}",
            "after": self.after,
            "recorded": self.recorded,
            **config,
        }

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {"layer": keras.saving.serialize_keras_object(self.layer), "after": self.after, "record": self.record}
        )
        return config


def check_augmentation_layer(layer: Any) -> None:
    """Raise a clear error unless `layer` is a Keras or KerasCV image augmentation layer a view can run."""
    if isinstance(layer, KerasAugmentation):
        raise TypeError("The layer is already a KerasAugmentation; pass it directly in `extra`.")
    name = type(layer).__name__
    if _is_keras_cv(layer):
        if not any(hasattr(layer, m) for m in ("augment_images", "augment_image")):
            raise TypeError(
                f"{name} is not a KerasCV image augmentation layer (it has no augment_image(s)); a view's `extra` "
                "takes image augmentation layers only."
            )
        return
    if not isinstance(layer, BaseImagePreprocessingLayer):
        raise TypeError(
            f"{name} is not an image augmentation layer. A view's `extra` takes keras.layers image preprocessing "
            "layers (e.g. keras.layers.RandomSharpness(0.3, value_range=(0, 1))) or keras_cv.layers augmentation "
            "layers; write other per-sample augmentations as a kerascl.augment.RecordedAugmentation."
        )
    mixing = tuple(getattr(keras.layers, n) for n in ("MixUp", "CutMix") if hasattr(keras.layers, n))
    if isinstance(layer, mixing):
        raise ValueError(
            f"{name} mixes each image with another image of the batch; a view must be an augmentation of its own "
            "image (the positive pair would no longer share content). Apply it after the views are made, if at all."
        )
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise ValueError(f"{name} has data_format={layer.data_format!r}; kerascl views are channels_last (NHWC).")
    value_range = getattr(layer, "value_range", None)
    if value_range is not None and tuple(float(v) for v in value_range) != (0.0, 1.0):
        raise ValueError(
            f"{name} has value_range={tuple(value_range)}, but kerascl views are float images in [0, 1]: build it "
            f"with value_range=(0, 1), e.g. keras.layers.{name}(..., value_range=(0, 1))."
        )
