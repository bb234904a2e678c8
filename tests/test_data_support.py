"""Helpers for the kerascl.data tests: tiny augmenters and temporary image folders.

Other test files may import `make_labeled_folder`, `make_unlabeled_folder` and `unlabeled_folder_dataset` to build
an unlabeled-folder dataset quickly (e.g. a method's fit test).
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
from PIL import Image

from keras.src.layers.preprocessing.data_layer import DataLayer
from keras.src.random.seed_generator import SeedGenerator


def flip_noise_augmenter(images, training=True):
    """A host augmenter written with tf ops: view_1 flipped per sample, view_2 with noise; params record both."""
    batch = tf.shape(images)[0]
    flip = tf.cast(tf.random.uniform([batch]) < 0.5, tf.float32)
    view_1 = tf.where(flip[:, None, None, None] > 0, images[:, :, ::-1], images)
    sigma = tf.random.uniform([batch], 0.0, 0.05)
    view_2 = tf.clip_by_value(images + sigma[:, None, None, None] * tf.random.normal(tf.shape(images)), 0.0, 1.0)
    zeros = tf.zeros([batch])
    return {
        "view_1": view_1,
        "view_2": view_2,
        "params_1": tf.stack([flip, zeros], axis=-1),
        "params_2": tf.stack([zeros, sigma], axis=-1),
    }


class TinyFlipViews(DataLayer):
    """A tiny Keras augmenter layer (DataLayer: usable in tf.data on every backend): two randomly flipped views."""

    def __init__(self, num_views: int = 2, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.num_views = num_views
        self.seed = seed
        self.generator = SeedGenerator(seed)

    def call(self, images, training=True):
        ops = self.backend
        batch = ops.shape(images)[0]
        seed = self._get_seed_generator(ops._backend)
        out = {}
        for v in range(1, self.num_views + 1):
            flip = ops.cast(ops.random.uniform((batch,), seed=seed) < 0.5, "float32")
            flipped = ops.numpy.flip(images, axis=2)
            out[f"view_{v}"] = ops.numpy.where(flip[:, None, None, None] > 0, flipped, images)
            out[f"params_{v}"] = flip[:, None]
        return out

    def compute_output_shape(self, input_shape):
        return {**{f"view_{v}": input_shape for v in range(1, self.num_views + 1)},
                **{f"params_{v}": (input_shape[0], 1) for v in range(1, self.num_views + 1)}}

    def get_config(self):
        return {**super().get_config(), "num_views": self.num_views, "seed": self.seed}


def write_image(path, size=(12, 10), mode="RGB", seed=0, fmt=None):
    """Writes a random image file; `size` is (width, height)."""
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1, "LA": 2}[mode]
    array = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    if channels == 1:
        array = array[..., 0]
    Image.fromarray(array, mode=mode).save(path, format=fmt)
    return path


def make_labeled_folder(root, classes=("cat", "dog", "emu"), per_class=3, size=(12, 10)):
    """root/<class>/<i>.jpg (sizes vary a little); returns root."""
    for c, name in enumerate(classes):
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(per_class):
            write_image(os.path.join(root, name, f"{i:03d}.jpg"), size=(size[0] + i, size[1] + c), seed=10 * c + i)
    return str(root)


def make_unlabeled_folder(root, count=8, size=(14, 11)):
    """A flat folder of `count` images, mixed jpg and png; returns root."""
    os.makedirs(root, exist_ok=True)
    for i in range(count):
        ext = "png" if i % 2 else "jpg"
        write_image(os.path.join(root, f"img_{i:03d}.{ext}"), size=(size[0] + i % 3, size[1]), seed=100 + i)
    return str(root)


def unlabeled_folder_dataset(root, count=8, image_size=16, batch_size=4, augmenter=None, **kwargs):
    """An unlabeled-folder multi-view dataset (no 'label' key), e.g. for a method's fit test."""
    from kerascl.data import from_image_folder

    make_unlabeled_folder(root, count=count)
    return from_image_folder(root, image_size=image_size, batch_size=batch_size,
                             augmenter=augmenter or TinyFlipViews(seed=0), seed=0, **kwargs)
