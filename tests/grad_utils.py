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
    if backend == "torch":
        import torch

        tensors = [torch.tensor(np.asarray(x), requires_grad=True) for x in inputs]
        value = fn(*tensors)
        if not value.requires_grad:  # every path to the inputs is cut (stop_gradient): all gradients are zero
            return [np.zeros(np.shape(x), "float32") for x in inputs]
        grads = torch.autograd.grad(value, tensors, allow_unused=True)
        # An input the value does not depend on gets None; TensorFlow's UnconnectedGradients.ZERO gives zeros.
        return [torch.zeros_like(t).detach().numpy() if g is None else g.detach().cpu().numpy()
                for t, g in zip(tensors, grads)]
    raise NotImplementedError(f"gradients() supports tensorflow, jax and torch, not {backend}.")
