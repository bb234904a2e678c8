"""Every private Keras symbol kerascl uses, in one place.

Keras's public API does not cover everything kerascl needs (augmentation layers that also run inside `tf.data` on
JAX, EMA updates in float32 under mixed precision, walking nested layers). This is the only kerascl module that
imports from `keras.src` or calls a private Keras method; the rest of kerascl imports the names below.
`tests/test_keras_internals.py` checks each of them, and the behaviour kerascl relies on, so that a Keras release
that moves or changes one fails there first. `pyproject.toml` bounds `keras` to the minor versions that pass.
"""

from __future__ import annotations

from typing import Iterator

import keras

# Base class of `ViewAugmentation` and `MultiViewAugmentation`: a layer that runs on the JAX/TensorFlow backend
# inside a compiled step and also on TensorFlow inside `tf.data` (it switches `self.backend` to match).
from keras.src.layers.preprocessing.data_layer import DataLayer

# Base class of kerascl's single augmentations (`RecordedAugmentation`): `DataLayer` plus the
# `get_random_transformation` / `transform_images` contract of Keras's own image augmentation layers. Its subclasses
# set the private class flag `_USE_BASE_FACTOR = False`, so that `__init__` takes no Keras-style `factor` argument.
from keras.src.layers.preprocessing.image_preprocessing.base_image_preprocessing_layer import (  # noqa: E501
    BaseImagePreprocessingLayer,
)

# `AutocastScope(None)` turns off autocasting inside `call`, so the EMA update and CLeVER's head-balance term read
# the float32 weights rather than their half-precision copies under a mixed precision policy.
from keras.src.backend.common.variables import AutocastScope

# Keras's numpy-2 compatibility patch of tf2onnx (it fixes tf2onnx's use of removed numpy names); kerascl's ONNX
# export on TensorFlow calls tf2onnx itself (kerascl.export) and needs the same patch.
from keras.src.export.tf2onnx_lib import patch_tf2onnx

# Functional models are cloned with `keras.models.clone_model` for EMA targets; subclassed ones from their config.
from keras.src.models.functional import Functional

# The backend-switching namespace a `DataLayer` computes with (`layer.backend`): `.name`, and the backend's `.core`,
# `.numpy`, `.image`, `.random` ops, which kerascl's augmentations call. PartitionedVAE builds one to draw its noise
# with the same counter-based generator as the augmentations.
from keras.src.utils.backend_utils import DynamicBackend

__all__ = [
    "AutocastScope",
    "BaseImagePreprocessingLayer",
    "DataLayer",
    "DynamicBackend",
    "Functional",
    "flatten_layers",
    "patch_tf2onnx",
    "run_functional_graph",
    "seed_generator",
]


def seed_generator(layer: DataLayer, backend: DynamicBackend | None = None) -> keras.random.SeedGenerator:
    """The `SeedGenerator` a `DataLayer` draws from when it computes with `backend`.

    On the model's backend that is the layer's own `generator` (its state is a layer variable, so it advances inside
    a compiled step); inside `tf.data` on JAX it is a separate TensorFlow generator with the same seed, which
    Keras creates once per backend and keeps.

    Args:
        layer: A `DataLayer` with `seed` and `generator` set in `__init__`.
        backend: The `DynamicBackend` the layer computes with; defaults to `layer.backend`.

    Returns:
        A `keras.random.SeedGenerator`.

    Examples:
        >>> from kerascl.augment import RandomGrayscale
        >>> layer = RandomGrayscale(seed=0)
        >>> seed_generator(layer) is layer.generator
        True
    """
    backend = layer.backend if backend is None else backend
    return layer._get_seed_generator(backend.name)


def flatten_layers(model: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """Every layer nested in `model` (recursively, through sub-models and layers), without `model` itself.

    Used to find the BatchNormalization layers to synchronise and the strided 1x1 convolutions to patch, wherever
    they sit in a user's backbone.

    Args:
        model: Any Keras layer or model.

    Returns:
        An iterator over the nested layers, each once.

    Examples:
        >>> import keras
        >>> inner = keras.Sequential([keras.layers.Dense(2, name="d")])
        >>> outer = keras.Sequential([keras.Input((3,)), inner])
        >>> [layer.name for layer in flatten_layers(outer)][-1]
        'd'
    """
    return model._flatten_layers(include_self=False, recursive=True)


def run_functional_graph(model: keras.Model, inputs):
    """Calls the layers of a functional `model` on new symbolic `inputs`, without nesting `model` as one layer.

    The result is the flat list of the model's outputs computed by its own layers (shared weights), so a new functional
    model built on them lists those layers itself and can tap any of their outputs. `kerascl.backbones.from_keras_hub`
    puts an input normalisation in front of a KerasHub backbone this way. (`keras.models.clone_model` with
    `input_tensors` needs Input tensors and copies the model.)

    Args:
        model: A functional `keras.Model`.
        inputs: Symbolic tensors in the structure of `model.input`.

    Returns:
        The list of output tensors, in the order of `model.outputs`.

    Examples:
        >>> import keras
        >>> inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
        >>> x = keras.Input((3,))
        >>> outer = keras.Model(x, run_functional_graph(inner, keras.layers.Rescaling(2.0)(x))[0])
        >>> [layer.name for layer in outer.layers][-1]
        'd'
    """
    outputs = model._run_through_graph(inputs, operation_fn=lambda operation: operation)
    return keras.tree.flatten(outputs)
