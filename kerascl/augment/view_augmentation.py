"""One view's augmentation pipeline: a fixed-order composition that records its parameters."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import keras

from kerascl.augment import _prng
from kerascl.augment.base import RecordedAugmentation, check_images, guard_value_range, jitted
from kerascl.augment.keras_layer import KerasAugmentation
from kerascl.augment.layout import IDENTITY_PARAMS, PARAM_LAYOUT, PARAM_SIZE
from kerascl.augment.random_color_jitter import RandomColorJitter
from kerascl.augment.random_elastic_transform import RandomElasticTransform
from kerascl.augment.random_gaussian_blur import RandomGaussianBlur
from kerascl.augment.random_grayscale import RandomGrayscale
from kerascl.augment.random_horizontal_flip import RandomHorizontalFlip
from kerascl.augment.random_resized_crop import RandomResizedCrop, resized_crop
from kerascl.augment.random_rotation import RandomRotation
from kerascl.augment.random_solarization import RandomSolarization
from kerascl.keras_internals import DataLayer, seed_generator

STAGES: tuple[tuple[str, type], ...] = (
    ("crop", RandomResizedCrop),
    ("flip", RandomHorizontalFlip),
    ("color_jitter", RandomColorJitter),
    ("grayscale", RandomGrayscale),
    ("blur", RandomGaussianBlur),
    ("solarize", RandomSolarization),
    ("rotation", RandomRotation),
    ("elastic", RandomElasticTransform),
)
"""The order in which a view's augmentations run (each is optional)."""

_STAGE_SALT = {name: 101 + i for i, (name, _) in enumerate(STAGES)}
_EXTRA_SALT = 1009


def _default_stage(name: str, image_size: int) -> RecordedAugmentation:
    """An instance with default hyperparameters, used to re-apply recorded parameters of a missing stage."""
    if name == "crop":
        return RandomResizedCrop(image_size, image_size)
    return dict(STAGES)[name]()


@keras.saving.register_keras_serializable(package="kerascl")
class ViewAugmentation(DataLayer):
    """The augmentation of one view: crop -> flip -> colour jitter -> grayscale -> blur -> solarise -> rotation -> elastic.

    Every stage is optional; a stage left out records its identity parameters. The crop stage also sets the
    output size: without a `crop`, the whole image is resized to `image_size`. The order is fixed so that
    recorded parameters always mean the same thing and `apply_params` can replay them; it is the order
    SimCLR, BYOL and SimSiam apply their transforms in (rotation and elastic, which only DDCL uses, come last).

    `extra` adds Keras (`keras.layers`) and KerasCV (`keras_cv.layers`) image augmentation layers, each after the
    stage its `KerasAugmentation(after=...)` names (a bare layer runs last). Their recorded per-sample values
    follow kerascl's `PARAM_SIZE` slots (`param_layout` names them); see `KerasAugmentation` for seeding,
    recording and where they run.

    Args:
        image_size: output side in pixels (square output).
        crop: a `RandomResizedCrop` (its height and width must equal `image_size`) or None.
        flip: a `RandomHorizontalFlip` or None.
        color_jitter: a `RandomColorJitter` or None.
        grayscale: a `RandomGrayscale` or None.
        blur: a `RandomGaussianBlur` or None.
        solarize: a `RandomSolarization` or None.
        rotation: a `RandomRotation` or None.
        elastic: a `RandomElasticTransform` or None.
        extra: Keras or KerasCV image augmentation layers, each a `KerasAugmentation` or a bare layer (wrapped to
            run last, recorded when possible).
        seed: integer seed of the pipeline's `SeedGenerator` (the stages' own seeds are not used here).
        **kwargs: passed to `keras.layers.Layer`.

    Examples:
        >>> view = ViewAugmentation(32, crop=RandomResizedCrop(32, 32), flip=RandomHorizontalFlip(), seed=0)
        >>> images, params = view.augment(np.random.rand(4, 32, 32, 3).astype("float32"))
        >>> params.shape
        (4, 18)
    """

    def __init__(
        self,
        image_size: int,
        crop: RandomResizedCrop | None = None,
        flip: RandomHorizontalFlip | None = None,
        color_jitter: RandomColorJitter | None = None,
        grayscale: RandomGrayscale | None = None,
        blur: RandomGaussianBlur | None = None,
        solarize: RandomSolarization | None = None,
        rotation: RandomRotation | None = None,
        elastic: RandomElasticTransform | None = None,
        extra: Sequence[Any] = (),
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.image_size = int(image_size)
        if self.image_size < 1:
            raise ValueError(f"`image_size` must be a positive integer; received {image_size}.")
        given = dict(
            crop=crop, flip=flip, color_jitter=color_jitter, grayscale=grayscale, blur=blur,
            solarize=solarize, rotation=rotation, elastic=elastic,
        )
        self.stages: dict[str, RecordedAugmentation] = {}
        for name, cls in STAGES:
            layer = given[name]
            if isinstance(layer, dict):
                layer = keras.saving.deserialize_keras_object(layer)
            if layer is None:
                continue
            if not isinstance(layer, cls):
                hint = (
                    f" To run a Keras or KerasCV layer in the view, pass it in extra=[...] (e.g. "
                    f"extra=[KerasAugmentation(layer, after={name!r})])."
                    if not isinstance(layer, RecordedAugmentation) and isinstance(layer, keras.layers.Layer)
                    else ""
                )
                raise TypeError(
                    f"`{name}` must be a kerascl.augment.{cls.__name__} or None; received {type(layer).__name__}.{hint}"
                )
            self.stages[name] = layer
        crop_layer = self.stages.get("crop")
        if crop_layer is not None and (crop_layer.height, crop_layer.width) != (self.image_size, self.image_size):
            raise ValueError(
                f"The crop outputs {crop_layer.height}x{crop_layer.width} but image_size={self.image_size}; "
                "make them equal."
            )
        self.extra: list[KerasAugmentation] = []
        for layer in extra or ():
            if isinstance(layer, dict):
                layer = keras.saving.deserialize_keras_object(layer)
            if not isinstance(layer, KerasAugmentation):
                layer = KerasAugmentation(layer)
            if layer.after is not None and layer.after not in _STAGE_SALT:
                raise ValueError(
                    f"KerasAugmentation(after={layer.after!r}) names no stage; use one of {', '.join(_STAGE_SALT)} "
                    "or None (last)."
                )
            layer.prepare(self.image_size)
            self.extra.append(layer)
        self.seed = seed
        self.generator = self.backend.random.SeedGenerator(seed)
        self.built = True  # no shape-dependent state

    def _sequence(self) -> list[tuple[str | int, Any]]:
        """`(stage name or extra index, layer)` in running order: the stages, each followed by its extras."""
        out: list[tuple[Any, Any]] = []
        for name in [*_STAGE_SALT, None]:
            if name in self.stages:
                out.append((name, self.stages[name]))
            out.extend(self._extras_after(name))
        return out

    def _extras_after(self, name: str | None) -> list[tuple[int, KerasAugmentation]]:
        """`(index in extra, layer)` of the extras that run after stage `name` (None: last)."""
        return [(i, e) for i, e in enumerate(self.extra) if e.after == name]

    @property
    def param_layout(self) -> "OrderedDict[str, slice]":
        """Name -> slice of this view's parameter vector: `PARAM_LAYOUT`, then the recorded Keras layers' values."""
        layout = OrderedDict(PARAM_LAYOUT)
        start = PARAM_SIZE
        for _, layer in self._sequence():
            if isinstance(layer, KerasAugmentation):
                for name, width in layer.param_names(self.image_size):
                    layout[name] = slice(start, start + width)
                    start += width
        return layout

    @property
    def param_size(self) -> int:
        """Length of this view's parameter vector: `PARAM_SIZE` plus the recorded Keras layers' values."""
        return PARAM_SIZE + sum(e.columns(self.image_size) for e in self.extra)

    @property
    def replayable(self) -> bool:
        """Whether `apply_params` can rebuild the views (False when an `extra` layer is unrecorded)."""
        return all(e.recorded for e in self.extra)

    def build(self, input_shape: tuple) -> None:
        # Stateless apart from the seed generators, which exist from __init__.
        self.built = True

    # --- core -------------------------------------------------------------------------------------------
    def _augment(self, bk: Any, images: Any, key: Any) -> tuple[Any, Any]:
        batch = bk.core.shape(images)[0]
        recorded: dict[str, Any] = {}
        extra_params = []
        if "crop" not in self.stages:
            images = self._identity_resize(bk, images)
        for name, layer in self._sequence():
            if isinstance(layer, KerasAugmentation):
                # Salted by position in `extra`: adding a Keras layer leaves the kerascl stages' draws unchanged.
                images, columns = layer.run(bk, images, _prng.derive_key(bk, key, _EXTRA_SALT + name), self.image_size)
                if columns is not None:
                    extra_params.append(columns)
                continue
            t = layer._draw(bk, _prng.derive_key(bk, key, _STAGE_SALT[name]), batch, tuple(images.shape[1:]))
            images = layer._transform_batch(bk, images, t)
            recorded.update(layer._to_params(bk, t))
        return images, self._assemble(bk, recorded, batch, extra_params)

    def _identity_resize(self, bk: Any, images: Any) -> Any:
        if tuple(images.shape[1:3]) == (self.image_size, self.image_size):
            return images
        box = bk.numpy.tile(bk.core.convert_to_tensor([[0.0, 0.0, 1.0, 1.0]], "float32"), (bk.core.shape(images)[0], 1))
        return resized_crop(bk, images, box, self.image_size, self.image_size)

    def _assemble(self, bk: Any, recorded: dict, batch: Any, extra_params: list | None = None) -> Any:
        parts = []
        for name, sl in PARAM_LAYOUT.items():
            if name in recorded:
                parts.append(bk.core.cast(recorded[name], "float32"))
            else:
                identity = bk.core.convert_to_tensor(IDENTITY_PARAMS[None, sl], "float32")
                parts.append(bk.numpy.tile(identity, (batch, 1)))
        if extra_params is None:
            # Not augmented (training=False): the Keras layers did nothing, their columns are 0.
            width = self.param_size - PARAM_SIZE
            if width:
                parts.append(bk.numpy.zeros((batch, width), "float32"))
        else:
            parts.extend(bk.core.cast(p, "float32") for p in extra_params)
        return bk.numpy.concatenate(parts, axis=1)

    def _replay(self, bk: Any, images: Any, params: Any) -> Any:
        start = PARAM_SIZE
        # Missing stages replay their identity parameters; the extras' columns follow in running order.
        for name in [*_STAGE_SALT, None]:
            if name is not None:
                layer = self.stages.get(name) or _default_stage(name, self.image_size)
                images = layer._transform_batch(bk, images, layer._from_params(bk, params))
            for _, extra in self._extras_after(name):
                width = extra.columns(self.image_size)
                images = extra.replay(bk, images, params[:, start : start + width], self.image_size)
                start += width
        return images

    def _identity(self, bk: Any, images: Any) -> tuple[Any, Any]:
        batch = bk.core.shape(images)[0]
        return self._identity_resize(bk, images), self._assemble(bk, {}, batch)

    # --- public -----------------------------------------------------------------------------------------
    def augment(self, images: Any, training: bool = True, seed: Any = None) -> tuple[Any, Any]:
        """Augment a batch and return `(views, params)`.

        Args:
            images: `(B, H, W, 3)` float32 in [0, 1].
            training: if False, the images are only resized and the parameters are the identity.
            seed: optional seed (a `(2,)` SeedGenerator state or an integer); default: the layer's generator.

        Returns:
            `(views (B, image_size, image_size, 3), params (B, PARAM_SIZE))`.
        """
        check_images(images, type(self).__name__)
        bk = self.backend
        images = bk.core.cast(bk.core.convert_to_tensor(images), "float32")
        if not training:
            return self._identity(bk, images)
        if seed is None:
            seed = seed_generator(self, bk).next()
        augment = jitted(self, bk, "augment", lambda x, s: self._augment(bk, x, _prng.seed_key(bk, s)))
        return augment(images, seed)

    def apply_params(self, images: Any, params: Any) -> Any:
        """Re-apply recorded parameters `(B, param_size)` to the original images; returns the views."""
        check_images(images, type(self).__name__)
        for extra in self.extra:
            if not extra.recorded:
                raise ValueError(extra.unreplayable_message())
        bk = self.backend
        images = bk.core.cast(bk.core.convert_to_tensor(images), "float32")
        params = bk.core.cast(bk.core.convert_to_tensor(params), "float32")
        if tuple(params.shape)[-1] != self.param_size:
            raise ValueError(
                f"`params` must have {self.param_size} columns (see PARAM_LAYOUT and this view's param_layout); "
                f"received shape {tuple(params.shape)}."
            )
        return jitted(self, bk, "replay", lambda x, p: self._replay(bk, x, p))(images, params)

    def __call__(self, images: Any, *args: Any, **kwargs: Any) -> Any:
        check_images(images, type(self).__name__)
        images = guard_value_range(images, type(self).__name__)
        return super().__call__(images, *args, **kwargs)

    def call(self, images: Any, training: bool = True) -> Any:
        return self.augment(images, training=training)[0]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.image_size, self.image_size, 3)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"image_size": self.image_size, "seed": self.seed})
        for name, _ in STAGES:
            layer = self.stages.get(name)
            config[name] = None if layer is None else keras.saving.serialize_keras_object(layer)
        config["extra"] = [keras.saving.serialize_keras_object(e) for e in self.extra]
        return config

    def describe(self) -> list[dict]:
        """The stages and their settings, in order (used by the docs and `MultiViewAugmentation.summary_table`)."""
        out = []
        for name, layer in self._sequence():
            if isinstance(layer, KerasAugmentation):
                out.append(layer.describe())
                continue
            cfg = layer.get_config()
            for k in ("name", "trainable", "dtype", "seed", "data_format", "bounding_box_format"):
                cfg.pop(k, None)
            out.append({"stage": name, **cfg})
        return out
