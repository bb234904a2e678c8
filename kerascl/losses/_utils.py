"""Small tensor helpers shared by the losses (keras.ops only)."""

from __future__ import annotations

from keras import ops

EPSILON = 1e-12


def l2_normalize(x, axis: int = -1):
    """Divides `x` by its l2 norm along `axis` (with a small epsilon under the root)."""
    return x / ops.sqrt(ops.sum(x * x, axis=axis, keepdims=True) + EPSILON)


def cosine_similarity(a, b, axis: int = -1):
    """Row-wise cosine similarity of two `(batch, dim)` tensors, shape `(batch,)`."""
    return ops.sum(l2_normalize(a, axis) * l2_normalize(b, axis), axis=axis)


def check_pair(a, b, name: str, min_batch: int = 1) -> None:
    """Raises a clear error when two embeddings cannot be compared.

    Checks the rank (2), matching shapes and, where the batch size is known while tracing, that it is at least
    `min_batch`.
    """
    shape_a, shape_b = tuple(a.shape), tuple(b.shape)
    if len(shape_a) != 2 or len(shape_b) != 2:
        raise ValueError(
            f"{name} expects two (batch, dim) tensors; got shapes {shape_a} and {shape_b}."
        )
    for da, db in zip(shape_a, shape_b):
        if da is not None and db is not None and da != db:
            raise ValueError(f"{name} expects two tensors of the same shape; got {shape_a} and {shape_b}.")
    check_batch(shape_a[0], name, min_batch)


def check_batch(batch, name: str, min_batch: int) -> None:
    """Raises when a statically known batch size is smaller than a loss needs."""
    if batch is not None and batch < min_batch:
        raise ValueError(
            f"{name} needs a batch of at least {min_batch} samples (it compares samples within the batch); "
            f"got a batch of {batch}. Use a larger batch_size (and drop_remainder=True in tf.data)."
        )
