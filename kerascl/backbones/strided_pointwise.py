"""Strided 1x1 convolutions on odd batches without TensorFlow's faulty oneDNN kernel.

TensorFlow's oneDNN CPU kernels (on whenever `kerascl` is imported first, see `kerascl/__init__.py`) corrupt the
heap when they train a 1x1 convolution with stride 2 on an odd batch size: the process dies with signal 11 or a
`malloc()` abort, with no Python error (docs: Getting started, "Known issue"). Every ResNet's downsampling shortcut
is such a convolution.

The same numbers come from keeping every `stride`-th row and column first and convolving with stride 1, which
oneDNN trains correctly: for a 1x1 kernel, output pixel `(i, j)` of the strided convolution reads exactly input
pixel `(stride * i, stride * j)`, whatever the padding (`"same"` and `"valid"` agree for a 1x1 kernel). That form
was measured slower than the strided kernel, so kerascl uses it only when a batch may be odd: every kerascl method
calls `avoid_faulty_onednn_kernels` at the start of `fit`.
"""

from __future__ import annotations

import types
from typing import Any

import keras
from keras import ops

from kerascl.keras_internals import flatten_layers


def is_strided_pointwise_conv(layer: Any) -> bool:
    """Whether `layer` is a 2-D convolution with a 1x1 kernel and a stride above 1 (the faulty oneDNN case)."""
    return (
        isinstance(layer, keras.layers.Conv2D)
        and tuple(layer.kernel_size) == (1, 1)
        and tuple(layer.strides) != (1, 1)
        and getattr(layer, "groups", 1) == 1
    )


def _subsampled_convolution_op(self, inputs, kernel):
    stride_h, stride_w = self.strides
    if self.data_format == "channels_last":
        inputs = inputs[:, ::stride_h, ::stride_w, :]
    else:
        inputs = inputs[:, :, ::stride_h, ::stride_w]
    return ops.conv(inputs, kernel, strides=1, padding="valid", data_format=self.data_format)


def subsample_strided_pointwise_convs(model: keras.layers.Layer) -> list[str]:
    """Makes every strided 1x1 `Conv2D` inside `model` subsample first, then convolve with stride 1.

    The result and the weights are unchanged (see the module docstring); only the kernel TensorFlow runs changes,
    which avoids the oneDNN heap corruption on odd batch sizes. The change lives on the layer objects of this
    process (it is not saved). Call it before `fit` traces its train function.

    Args:
        model: Any Keras layer or model; nested models are searched too.

    Returns:
        The names of the layers changed by this call (empty when there are none, or they were changed before).

    Examples:
        >>> import keras
        >>> from kerascl.backbones import subsample_strided_pointwise_convs
        >>> net = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 1, strides=2, name="down")])
        >>> subsample_strided_pointwise_convs(net)
        ['down']
    """
    layers = [model] + list(flatten_layers(model))
    changed = []
    for layer in layers:
        if is_strided_pointwise_conv(layer) and not getattr(layer, "_kerascl_subsampled", False):
            # object.__setattr__: a plain instance attribute, outside Keras's attribute tracking.
            object.__setattr__(layer, "convolution_op", types.MethodType(_subsampled_convolution_op, layer))
            object.__setattr__(layer, "_kerascl_subsampled", True)
            changed.append(layer.name)
    return changed


def onednn_enabled() -> bool:
    """Whether this process's TensorFlow runs its oneDNN CPU kernels (True when it cannot tell)."""
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return True


def batches_are_even(x: Any, batch_size: int | None = None, replicas: int = 1) -> bool:
    """Whether every batch `fit` draws from `x` is provably even-sized per replica.

    True for a `tf.data.Dataset` whose batch dimension is static and even (batched with `drop_remainder=True`), and
    for arrays whose `batch_size` and last partial batch are both even; False for anything that cannot be told
    (a dataset batched without `drop_remainder`, a generator).
    """
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - tensorflow is a dependency
        return False
    if isinstance(x, tf.data.Dataset):
        specs = [s for s in tf.nest.flatten(x.element_spec) if isinstance(s, tf.TensorSpec)]
        sizes = {s.shape[0] if s.shape.rank else None for s in specs}
        if len(sizes) != 1 or None in sizes:
            return False
        size = sizes.pop()
        return size % replicas == 0 and (size // replicas) % 2 == 0
    arrays = list(x.values()) if isinstance(x, dict) else (list(x) if isinstance(x, (list, tuple)) else [x])
    lengths = {a.shape[0] for a in arrays if hasattr(a, "shape") and len(a.shape) > 0}
    if len(lengths) != 1:
        return False
    n, size = lengths.pop(), int(batch_size or 32)
    return all(b % replicas == 0 and (b // replicas) % 2 == 0 for b in {min(size, n), n % size} if b)


def avoid_faulty_onednn_kernels(model: keras.Model, x: Any, batch_size: int | None = None) -> list[str]:
    """The batch policy of kerascl's `fit`: on TensorFlow with oneDNN, unless every batch is provably even, make the
    model's strided 1x1 convolutions subsample first (`subsample_strided_pointwise_convs`).

    Even batches keep oneDNN's strided kernel, which is faster. Once changed, layers stay changed; the model's
    cached train function is dropped so the next `fit` traces the new form.

    Returns:
        The names of the layers changed by this call.
    """
    if keras.backend.backend() != "tensorflow" or not onednn_enabled():
        return []
    replicas = getattr(getattr(model, "distribute_strategy", None), "num_replicas_in_sync", 1) or 1
    if batches_are_even(x, batch_size, replicas):
        return []
    changed = subsample_strided_pointwise_convs(model)
    if changed:
        model.train_function = None
    return changed
