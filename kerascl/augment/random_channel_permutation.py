"""Random permutation of the colour channels, per sample (ICCL's colour permutation)."""

from __future__ import annotations

import itertools
from typing import Any

import keras

from kerascl.augment import _prng
from kerascl.keras_internals import BaseImagePreprocessingLayer, seed_generator

CHANNEL_PERMUTATIONS: tuple[tuple[int, int, int], ...] = tuple(itertools.permutations(range(3)))
"""The six orders of the RGB channels; index 0 is the identity."""


@keras.saving.register_keras_serializable(package="kerascl")
class RandomChannelPermutation(BaseImagePreprocessingLayer):
    """With probability `p`, put each image's RGB channels in one of their six orders, drawn uniformly per sample.

    A Keras image preprocessing layer (its `get_random_transformation` returns one permutation index per
    sample, 0 when the sample is left as it is), so it runs in `tf.data` and in a compiled step on every backend,
    and in a kerascl view through `ViewAugmentation(extra=[KerasAugmentation(layer)])`, which records the index
    as one column and can replay it. As in ICCL's `ColorPermutation`, the drawn order may be the identity (1 in 6).

    Args:
        p: probability of permuting a sample's channels (ICCL: 0.8).
        seed: integer seed.
        **kwargs: passed to `keras.layers.Layer`.

    Examples:
        >>> layer = RandomChannelPermutation(p=1.0, seed=0)
        >>> layer(np.random.rand(4, 8, 8, 3).astype("float32")).shape
        (4, 8, 8, 3)

    Reference:
        Ge et al., "Learning the Relation between Similarity Loss and Clustering Loss in Self-Supervised
        Learning", IEEE TIP 32 (2023), arXiv:2301.03041 (official code guijiejie/ICCL, `ColorPermutation`).
    """

    def __init__(self, p: float = 0.8, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"`p` must be in [0, 1]; received p={p}.")
        if self.data_format != "channels_last":
            raise ValueError("RandomChannelPermutation works on channels_last images (kerascl's views are).")
        self.p = float(p)
        self.seed = seed
        self.generator = self.backend.random.SeedGenerator(seed)

    def get_random_transformation(self, images: Any, training: bool = True, seed: Any = None) -> dict:
        bk = self.backend
        if seed is None:
            seed = seed_generator(self)
        if isinstance(seed, keras.random.SeedGenerator):
            seed = seed.next()
        batch_size = bk.core.shape(images)[0] if len(images.shape) == 4 else 1
        # kerascl's counter-based uniforms from the generator's state, not the backend's random functions: the
        # same seed then draws the same orders in tf.data and in a compiled step, on every backend.
        u = _prng.uniform(bk, _prng.seed_key(bk, seed), batch_size, 2)
        count = len(CHANNEL_PERMUTATIONS)
        drawn = bk.numpy.minimum(bk.cast(u[:, 1] * count, "int32"), count - 1)
        return {"permutation": bk.numpy.where(u[:, 0] < self.p, drawn, bk.numpy.zeros_like(drawn))}

    def transform_images(self, images: Any, transformation: Any, training: bool = True) -> Any:
        if not training:
            return images
        if transformation is None:
            transformation = self.get_random_transformation(images)
        bk = self.backend
        unbatched = len(images.shape) == 3
        if unbatched:
            images = bk.numpy.expand_dims(images, 0)
        table = bk.core.convert_to_tensor(CHANNEL_PERMUTATIONS, "int32")
        order = bk.numpy.take(table, bk.cast(transformation["permutation"], "int32"), axis=0)  # (B, 3)
        # out[..., c] = images[..., order[c]], as a 0/1 mixing matrix: exact, and one op on every backend.
        mixing = bk.nn.one_hot(order, 3, dtype=images.dtype)  # (B, out channel, in channel)
        out = bk.numpy.einsum("bhwi,boi->bhwo", images, mixing)
        return out[0] if unbatched else out

    def transform_labels(self, labels: Any, transformation: Any, training: bool = True) -> Any:
        return labels

    def transform_bounding_boxes(self, bounding_boxes: Any, transformation: Any, training: bool = True) -> Any:
        return bounding_boxes

    def transform_segmentation_masks(self, segmentation_masks: Any, transformation: Any, training: bool = True) -> Any:
        return segmentation_masks

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"p": self.p, "seed": self.seed})
        return config
