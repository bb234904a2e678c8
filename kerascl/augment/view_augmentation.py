"""One view's augmentation pipeline: a fixed-order composition that records its parameters."""

from __future__ import annotations

from typing import Any

import keras

from kerascl.augment import _prng
from kerascl.augment.base import RecordedAugmentation, check_images, guard_value_range, jitted
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
                raise TypeError(f"`{name}` must be a kerascl.augment.{cls.__name__} or None; received {type(layer).__name__}.")
            self.stages[name] = layer
        crop_layer = self.stages.get("crop")
        if crop_layer is not None and (crop_layer.height, crop_layer.width) != (self.image_size, self.image_size):
            raise ValueError(
                f"The crop outputs {crop_layer.height}x{crop_layer.width} but image_size={self.image_size}; "
                "make them equal."
            )
        self.seed = seed
        self.generator = self.backend.random.SeedGenerator(seed)
        self.built = True  # no shape-dependent state

    def build(self, input_shape: tuple) -> None:
        # Stateless apart from the seed generators, which exist from __init__.
        self.built = True

    # --- core -------------------------------------------------------------------------------------------
    def _augment(self, bk: Any, images: Any, key: Any) -> tuple[Any, Any]:
        batch = bk.core.shape(images)[0]
        recorded: dict[str, Any] = {}
        if "crop" not in self.stages:
            images = self._identity_resize(bk, images)
        for name, _ in STAGES:
            layer = self.stages.get(name)
            if layer is None:
                continue
            t = layer._draw(bk, _prng.derive_key(bk, key, _STAGE_SALT[name]), batch, tuple(images.shape[1:]))
            images = layer._transform_batch(bk, images, t)
            recorded.update(layer._to_params(bk, t))
        return images, self._assemble(bk, recorded, batch)

    def _identity_resize(self, bk: Any, images: Any) -> Any:
        if tuple(images.shape[1:3]) == (self.image_size, self.image_size):
            return images
        box = bk.numpy.tile(bk.core.convert_to_tensor([[0.0, 0.0, 1.0, 1.0]], "float32"), (bk.core.shape(images)[0], 1))
        return resized_crop(bk, images, box, self.image_size, self.image_size)

    @staticmethod
    def _assemble(bk: Any, recorded: dict, batch: Any) -> Any:
        parts = []
        for name, sl in PARAM_LAYOUT.items():
            if name in recorded:
                parts.append(bk.core.cast(recorded[name], "float32"))
            else:
                identity = bk.core.convert_to_tensor(IDENTITY_PARAMS[None, sl], "float32")
                parts.append(bk.numpy.tile(identity, (batch, 1)))
        return bk.numpy.concatenate(parts, axis=1)

    def _replay(self, bk: Any, images: Any, params: Any) -> Any:
        for name, _ in STAGES:
            layer = self.stages.get(name) or _default_stage(name, self.image_size)
            images = layer._transform_batch(bk, images, layer._from_params(bk, params))
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
        """Re-apply recorded parameters `(B, PARAM_SIZE)` to the original images; returns the views."""
        check_images(images, type(self).__name__)
        bk = self.backend
        images = bk.core.cast(bk.core.convert_to_tensor(images), "float32")
        params = bk.core.cast(bk.core.convert_to_tensor(params), "float32")
        if tuple(params.shape)[-1] != PARAM_SIZE:
            raise ValueError(f"`params` must have {PARAM_SIZE} columns (see PARAM_LAYOUT); received shape {tuple(params.shape)}.")
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
        return config

    def describe(self) -> list[dict]:
        """The stages and their settings, in order (used by the docs and `MultiViewAugmentation.summary_table`)."""
        out = []
        for name, _ in STAGES:
            layer = self.stages.get(name)
            if layer is not None:
                cfg = layer.get_config()
                for k in ("name", "trainable", "dtype", "seed", "data_format", "bounding_box_format"):
                    cfg.pop(k, None)
                out.append({"stage": name, **cfg})
        return out
