"""Strided 1x1 convolutions without TensorFlow's faulty oneDNN kernel.

TensorFlow's oneDNN CPU kernels (on whenever `kerascl` is imported first, see `kerascl/__init__.py`) corrupt the
heap when they train a 1x1 convolution with stride 2 on an odd batch size: the process dies with signal 11 or a
`malloc()` abort, with no Python error (docs: Getting started, "Known issues"). The same result is computed by
keeping every `stride`-th row and column first and convolving with stride 1, which oneDNN trains correctly:
for a 1x1 kernel, output pixel `(i, j)` of the strided convolution reads exactly input pixel
`(stride * i, stride * j)`, whatever the padding (`"same"` and `"valid"` agree for a 1x1 kernel).

Two tools use that identity:

- `SpatialSubsample`, a weightless layer; kerascl's ResNet shortcuts are `SpatialSubsample` + stride-1 `Conv2D`,
  so a saved backbone stays safe after `keras.models.load_model`.
- `subsample_strided_pointwise_convs(model)`, which makes the strided 1x1 `Conv2D` layers of any built model (a
  `keras.applications` ResNet, a kerascl ResNet saved before its shortcuts were
  written this way) compute the same way.
  Every kerascl method calls it on itself at the start of `fit` on the TensorFlow backend.
"""

from __future__ import annotations

import math
import types

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerascl")
class SpatialSubsample(keras.layers.Layer):
    """Keeps every `stride`-th row and column of an image batch: `x[:, ::stride, ::stride, :]`.

    Followed by a stride-1 1x1 convolution it computes exactly a stride-`stride` 1x1 convolution.

    Args:
        stride: Step between the rows (and columns) kept.
        data_format: `"channels_last"` (NHWC) or `"channels_first"` (NCHW).
        **kwargs: Passed to `keras.layers.Layer` (e.g. `name`).

    Example:
        >>> import numpy as np
        >>> from kerascl.backbones import SpatialSubsample
        >>> tuple(SpatialSubsample(2)(np.zeros((1, 5, 5, 3), "float32")).shape)
        (1, 3, 3, 3)
    """

    def __init__(self, stride: int = 2, data_format: str = "channels_last", **kwargs):
        super().__init__(**kwargs)
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise ValueError(f"`stride` must be a positive int, got {stride!r}.")
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"`data_format` must be 'channels_last' or 'channels_first', got {data_format!r}.")
        self.stride = stride
        self.data_format = data_format

    def call(self, inputs):
        return _subsample(inputs, self.stride, self.stride, self.data_format)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
        for axis in axes:
            if shape[axis] is not None:
                shape[axis] = math.ceil(shape[axis] / self.stride)
        return tuple(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "stride": self.stride, "data_format": self.data_format}


def _subsample(x, stride_h: int, stride_w: int, data_format: str):
    if data_format == "channels_last":
        return x[:, ::stride_h, ::stride_w, :]
    return x[:, :, ::stride_h, ::stride_w]


def is_strided_pointwise_conv(layer) -> bool:
    """Whether `layer` is a 2-D convolution with a 1x1 kernel and a stride above 1 (the faulty oneDNN case)."""
    return (
        isinstance(layer, keras.layers.Conv2D)
        and tuple(layer.kernel_size) == (1, 1)
        and tuple(layer.strides) != (1, 1)
        and getattr(layer, "groups", 1) == 1
    )


def _subsampled_convolution_op(self, inputs, kernel):
    stride_h, stride_w = self.strides
    return ops.conv(_subsample(inputs, stride_h, stride_w, self.data_format), kernel, strides=1, padding="valid",
                    data_format=self.data_format)


def subsample_strided_pointwise_convs(model: keras.layers.Layer) -> list[str]:
    """Makes every strided 1x1 `Conv2D` inside `model` subsample first, then convolve with stride 1.

    The result and the weights are unchanged (the identity in this module's docstring); only the kernel TensorFlow
    picks changes, which avoids the oneDNN heap corruption on odd batch sizes. The change lives on the layer
    objects of this process (it is not saved). Call it before the first `fit` (the train function is traced then).

    Args:
        model: Any Keras layer or model; nested models are searched too.

    Returns:
        The names of the layers changed by this call (empty when there are none, or they were changed before).

    Example:
        >>> import keras
        >>> from kerascl.backbones import subsample_strided_pointwise_convs
        >>> net = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 1, strides=2, name="down")])
        >>> subsample_strided_pointwise_convs(net)
        ['down']
    """
    layers = [model] + list(model._flatten_layers(include_self=False, recursive=True))
    changed = []
    for layer in layers:
        if is_strided_pointwise_conv(layer) and not getattr(layer, "_kerascl_subsampled", False):
            # object.__setattr__: a plain instance attribute, outside Keras's attribute tracking.
            object.__setattr__(layer, "convolution_op", types.MethodType(_subsampled_convolution_op, layer))
            object.__setattr__(layer, "_kerascl_subsampled", True)
            changed.append(layer.name)
    return changed
