"""Gradients of a scalar function of tensors, on the current backend (tests only)."""

from __future__ import annotations

import keras
import numpy as np


def gradients(fn, *inputs) -> list[np.ndarray]:
    """Returns d fn(*inputs) / d input for every input, as NumPy arrays."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(x) for x in inputs]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            value = fn(*tensors)
        grads = tape.gradient(value, tensors, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return [np.asarray(g) for g in grads]
    if backend == "jax":
        import jax

        return [np.asarray(g) for g in jax.grad(lambda *xs: fn(*xs), argnums=tuple(range(len(inputs))))(*inputs)]
    raise NotImplementedError(f"gradients() supports tensorflow and jax, not {backend}.")
