"""Shared test helpers: tiny backbones, random views, deterministic weights, one training run."""

from __future__ import annotations

import numpy as np
import keras

IMAGE_SIZE = 16

#: `jit_compile` for most of the tests' models: Keras's "auto", what recipes use (XLA on JAX, and on TensorFlow with
#: a GPU; TensorFlow's graph without XLA on a CPU, where XLA compiled the tiny test models 1.2-2x slower; eager on
#: torch, where `jit_compile=True` means `torch.compile`, minutes per model on a CPU: test_methods_shared.py).
JIT = "auto"
#: `jit_compile` for the tests of state carried through a compiled step: XLA on TensorFlow and JAX, eager on torch.
XLA = keras.backend.backend() != "torch"


def tiny_backbone(image_size: int = IMAGE_SIZE, width: int = 8, name: str = "tiny_backbone") -> keras.Model:
    """A two-conv functional backbone with named stages, fast to compile on CPU."""
    inputs = keras.Input((image_size, image_size, 3))
    x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU(name="stage_1")(x)
    x = keras.layers.Conv2D(2 * width, 3, strides=2, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU(name="stage_2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, x, name=name)


def random_views(batch: int = 8, image_size: int = IMAGE_SIZE, num_views: int = 2, seed: int = 0,
                 num_params: int | None = None, label_classes: int | None = None) -> dict:
    """A multi-view dict batch of random images (and params / labels when asked)."""
    rng = np.random.default_rng(seed)
    base = rng.random((batch, image_size, image_size, 3), dtype=np.float32)
    out = {}
    for v in range(1, num_views + 1):
        noise = rng.normal(scale=0.1, size=base.shape).astype(np.float32)
        out[f"view_{v}"] = np.clip(base + noise, 0, 1).astype(np.float32)
        if num_params:
            out[f"params_{v}"] = rng.random((batch, num_params), dtype=np.float32)
    if label_classes:
        out["label"] = rng.integers(0, label_classes, size=batch).astype(np.int32)
    return out


def set_deterministic_weights(model: keras.Model, seed: int = 0) -> None:
    """Sets every trainable weight (and BN statistics) from a NumPy RNG, identically on every backend,
    then copies the online weights into EMA targets."""
    rng = np.random.default_rng(seed)
    for variable in model.trainable_weights:
        shape = tuple(variable.shape)
        name = variable.path
        if len(shape) >= 2:
            fan_in = int(np.prod(shape[:-1]))
            value = rng.normal(scale=1.0 / np.sqrt(fan_in), size=shape)
        elif "gamma" in name:
            value = 1.0 + 0.1 * rng.normal(size=shape)
        else:
            value = 0.1 * rng.normal(size=shape)
        variable.assign(value.astype("float32"))
    for variable in model.non_trainable_weights:
        if "moving_mean" in variable.path:
            variable.assign(np.zeros(variable.shape, "float32"))
        elif "moving_variance" in variable.path:
            variable.assign(np.ones(variable.shape, "float32"))
    if hasattr(model, "reset_targets"):
        model.reset_targets()


def train_losses(model: keras.Model, batch: dict, steps: int = 3, learning_rate: float = 0.01, seed: int = 0) -> list:
    """Builds `model` on `batch`, sets deterministic weights and returns the loss of `steps` SGD steps."""
    model(batch)  # build
    set_deterministic_weights(model, seed)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), jit_compile=JIT)
    losses = []
    for _ in range(steps):
        logs = model.train_on_batch(batch, return_dict=True)
        losses.append(float(logs["loss"]))
    return losses


def compiled_augmenter_call(augmenter):
    """The augmenter inside a compiled function of the active backend (the device placement): a callable on images."""
    if keras.backend.backend() == "jax":
        import jax

        state = [v.value for v in augmenter.non_trainable_variables]
        step = jax.jit(lambda s, x: augmenter.stateless_call([], s, x, training=True))

        def call(x):
            nonlocal state
            out, state = step(state, x)
            return out

        return call
    import tensorflow as tf

    return tf.function(lambda x: augmenter(x, training=True), jit_compile=True)
