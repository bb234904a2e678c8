"""ResNet-18/34/50 backbones with a CIFAR or an ImageNet stem, as functional Keras models.

The networks follow torchvision's ResNet (v1.5: in a bottleneck block the stride sits on the 3x3 convolution),
with torch's BatchNorm defaults (momentum 0.1 in torch's convention, i.e. 0.9 in Keras's; epsilon 1e-5) and
torchvision's Kaiming-normal (fan-out) convolution initialisation, so recipes written for the PyTorch peers carry
over. Stride-2 convolutions pad explicitly by `kernel_size // 2` on every side, as torch does, rather than Keras's
asymmetric `"same"` padding, so the arithmetic matches torchvision exactly.

Reference: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016. The CIFAR stem (3x3 stride-1
convolution, no max-pool) is the one used by the CIFAR experiments of SimCLR, BYOL, SimSiam and solo-learn.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras

#: Blocks per stage for each supported depth.
RESNET_STAGE_BLOCKS: dict[int, tuple[int, int, int, int]] = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
}

#: Variants of the stem. "cifar": 3x3 stride-1 conv, no max-pool. "imagenet": 7x7 stride-2 conv + 3x3/2 max-pool.
VARIANTS: tuple[str, ...] = ("cifar", "imagenet")

#: Per-channel (mean, std) of well-known data sets, for the `normalization` argument.
NORMALIZATION_STATS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}

_BN_MOMENTUM = 0.9  # torch's momentum=0.1 expressed in Keras's convention
_BN_EPSILON = 1e-5  # torch's default


def _conv_init() -> keras.initializers.Initializer:
    """torchvision's `kaiming_normal_(mode="fan_out", nonlinearity="relu")`: std = sqrt(2 / (k*k*out))."""
    return keras.initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="untruncated_normal")


def _conv(x, filters: int, kernel_size: int, strides: int, name: str):
    """A bias-free convolution with torch-style symmetric padding."""
    if strides == 1 or kernel_size == 1:
        padding = "same" if strides == 1 else "valid"
    else:
        x = keras.layers.ZeroPadding2D(kernel_size // 2, data_format="channels_last", name=f"{name}_pad")(x)
        padding = "valid"
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=False,
        kernel_initializer=_conv_init(),
        data_format="channels_last",
        name=name,
    )(x)


def _bn(x, name: str, zero_gamma: bool = False):
    return keras.layers.BatchNormalization(
        axis=-1,
        momentum=_BN_MOMENTUM,
        epsilon=_BN_EPSILON,
        gamma_initializer="zeros" if zero_gamma else "ones",
        name=name,
    )(x)


def _shortcut(x, filters: int, strides: int, prefix: str):
    if strides == 1 and x.shape[-1] == filters:
        return x
    s = _conv(x, filters, 1, strides, name=f"{prefix}_shortcut_conv")
    return _bn(s, name=f"{prefix}_shortcut_bn")


def _basic_block(x, planes: int, strides: int, prefix: str, out_name: str, zero_init_residual: bool):
    shortcut = _shortcut(x, planes, strides, prefix)
    y = _conv(x, planes, 3, strides, name=f"{prefix}_conv1")
    y = _bn(y, name=f"{prefix}_bn1")
    y = keras.layers.ReLU(name=f"{prefix}_relu1")(y)
    y = _conv(y, planes, 3, 1, name=f"{prefix}_conv2")
    y = _bn(y, name=f"{prefix}_bn2", zero_gamma=zero_init_residual)
    y = keras.layers.Add(name=f"{prefix}_add")([shortcut, y])
    return keras.layers.ReLU(name=out_name)(y)


def _bottleneck_block(x, planes: int, strides: int, prefix: str, out_name: str, zero_init_residual: bool):
    filters = planes * 4
    shortcut = _shortcut(x, filters, strides, prefix)
    y = _conv(x, planes, 1, 1, name=f"{prefix}_conv1")
    y = _bn(y, name=f"{prefix}_bn1")
    y = keras.layers.ReLU(name=f"{prefix}_relu1")(y)
    y = _conv(y, planes, 3, strides, name=f"{prefix}_conv2")
    y = _bn(y, name=f"{prefix}_bn2")
    y = keras.layers.ReLU(name=f"{prefix}_relu2")(y)
    y = _conv(y, filters, 1, 1, name=f"{prefix}_conv3")
    y = _bn(y, name=f"{prefix}_bn3", zero_gamma=zero_init_residual)
    y = keras.layers.Add(name=f"{prefix}_add")([shortcut, y])
    return keras.layers.ReLU(name=out_name)(y)


def _check_input_shape(input_shape) -> tuple:
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise TypeError(
            f"`input_shape` must be a (height, width, channels) tuple, got {input_shape!r}. "
            "Use None for a spatial size that may vary, e.g. (None, None, 3)."
        ) from None
    if len(shape) != 3:
        raise ValueError(
            f"`input_shape` must be (height, width, channels) without the batch dimension, got {shape}. "
            "Images are NHWC batches; pass e.g. (32, 32, 3)."
        )
    for i, dim in enumerate(shape):
        if dim is None and i < 2:
            continue
        if not isinstance(dim, int) or dim <= 0:
            raise ValueError(
                f"`input_shape` {shape}: every size must be a positive int (height and width may be None); "
                f"the channel count must be given."
            )
    return shape


def _normalization_layer(normalization, channels: int, name: str = "input_normalization"):
    if normalization is None:
        return None
    if isinstance(normalization, str):
        key = normalization.lower()
        if key not in NORMALIZATION_STATS:
            raise ValueError(
                f"Unknown normalization {normalization!r}; use one of {sorted(NORMALIZATION_STATS)}, "
                "a (mean, std) pair of per-channel sequences, or None."
            )
        mean, std = NORMALIZATION_STATS[key]
    else:
        try:
            mean, std = normalization
            mean, std = [float(m) for m in mean], [float(s) for s in std]
        except (TypeError, ValueError):
            raise ValueError(
                f"`normalization` must be None, a name in {sorted(NORMALIZATION_STATS)} or a (mean, std) pair "
                f"of per-channel sequences, got {normalization!r}."
            ) from None
        if any(s <= 0 for s in std):
            raise ValueError(f"`normalization` std values must be positive, got {std}.")
    if len(mean) != channels or len(std) != channels:
        raise ValueError(
            f"`normalization` has {len(mean)} means and {len(std)} stds but the images have {channels} channels."
        )
    # A Rescaling layer holds its scale and offset in its config, not as captured tensors: tf2onnx turns the
    # constants of keras.layers.Normalization into extra graph inputs of an ONNX export.
    return keras.layers.Rescaling(
        scale=[1.0 / float(s) for s in std], offset=[-float(m) / float(s) for m, s in zip(mean, std)], name=name
    )


def resnet(
    depth: int,
    variant: str = "cifar",
    width: float = 1.0,
    input_shape: Sequence[int | None] | None = None,
    normalization: str | tuple | None = None,
    zero_init_residual: bool = False,
    name: str | None = None,
) -> keras.Model:
    """Builds a ResNet backbone mapping images `(B, H, W, C)` in [0, 1] to pooled features `(B, features)`.

    The last layer of stage `i` is a ReLU named `stage_i` (`i` = 1..4), so
    `kerascl.backbones.stage_outputs` can tap it; the global average pool that gives the feature vector is
    named `pool`. There is no classifier.

    Stems:

    - `variant="cifar"`: 3x3 convolution, stride 1, no max-pool. A 32 px image gives stage maps of 32, 16, 8 and
      4 px. Use it for CIFAR, SVHN, STL-10 at 32-96 px and other small images; the ImageNet stem throws away
      15/16 of a 32 px image before the first block and costs CIFAR linear-probe accuracy by tens of points.
    - `variant="imagenet"`: 7x7 convolution, stride 2, then a 3x3 stride-2 max-pool. A 224 px image gives 56,
      28, 14 and 7 px.

    Reference: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.

    Args:
        depth: 18, 34 (basic blocks) or 50 (bottleneck blocks, expansion 4).
        variant: `"cifar"` or `"imagenet"` (see above).
        width: Width multiplier; stage `i` has `64 * width * 2**(i-1)` channels (times 4 at the output of a
            bottleneck block). Values such as 0.125 give tiny models for tests.
        input_shape: `(height, width, channels)`; height and width may be None to accept any size. Defaults to
            `(32, 32, 3)` for the CIFAR variant and `(224, 224, 3)` for the ImageNet variant.
        normalization: Optional per-channel standardisation applied to the [0, 1] input inside the model:
            `"imagenet"`, `"cifar10"`, `"cifar100"`, or a `(mean, std)` pair. None (default) feeds the [0, 1]
            images to the first convolution unchanged.
        zero_init_residual: Initialise the last BatchNorm scale of every residual branch to zero, as
            torchvision's option of the same name (each block starts as the identity).
        name: Model name; defaults to `resnet{depth}_{variant}`.

    Returns:
        A functional `keras.Model` with output shape `(B, 512 * width)` for depths 18/34 and
        `(B, 2048 * width)` for depth 50.

    Examples:
        >>> import numpy as np
        >>> from kerascl.backbones import resnet
        >>> net = resnet(18, variant="cifar", width=0.125, input_shape=(16, 16, 3))
        >>> tuple(net(np.zeros((2, 16, 16, 3), "float32")).shape)
        (2, 64)
    """
    if isinstance(depth, bool) or depth not in RESNET_STAGE_BLOCKS:
        raise ValueError(f"Unsupported ResNet depth {depth!r}; use one of {sorted(RESNET_STAGE_BLOCKS)}.")
    if not isinstance(variant, str) or variant.lower() not in VARIANTS:
        raise ValueError(
            f"Unknown ResNet variant {variant!r}; use 'cifar' (3x3 stride-1 stem, no max-pool, for small images "
            "such as CIFAR) or 'imagenet' (7x7 stride-2 stem + 3x3/2 max-pool)."
        )
    variant = variant.lower()
    if isinstance(width, bool) or not isinstance(width, (int, float)) or width <= 0:
        raise ValueError(f"`width` must be a positive number (e.g. 1.0, 0.5, 0.125), got {width!r}.")
    stem_filters = int(round(64 * width))
    if stem_filters < 1 or abs(64 * width - stem_filters) > 1e-6:
        raise ValueError(
            f"`width`={width} gives {64 * width} stem channels; choose a width for which 64 * width is a "
            "positive integer (e.g. 2, 1, 0.5, 0.25, 0.125, 0.0625)."
        )
    if input_shape is None:
        input_shape = (32, 32, 3) if variant == "cifar" else (224, 224, 3)
    input_shape = _check_input_shape(input_shape)

    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    norm = _normalization_layer(normalization, input_shape[-1])
    if norm is not None:
        x = norm(x)
    if variant == "cifar":
        x = _conv(x, stem_filters, 3, 1, name="stem_conv")
        x = _bn(x, name="stem_bn")
        x = keras.layers.ReLU(name="stem_relu")(x)
    else:
        x = _conv(x, stem_filters, 7, 2, name="stem_conv")
        x = _bn(x, name="stem_bn")
        x = keras.layers.ReLU(name="stem_relu")(x)
        # Zero padding equals torch's -inf padding here: the input is a ReLU output, so every value is >= 0.
        x = keras.layers.ZeroPadding2D(1, data_format="channels_last", name="stem_pool_pad")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, data_format="channels_last", name="stem_pool")(x)

    block = _bottleneck_block if depth == 50 else _basic_block
    for stage, num_blocks in enumerate(RESNET_STAGE_BLOCKS[depth], start=1):
        planes = stem_filters * 2 ** (stage - 1)
        for b in range(1, num_blocks + 1):
            strides = 2 if (b == 1 and stage > 1) else 1
            out_name = f"stage_{stage}" if b == num_blocks else f"stage_{stage}_block_{b}_out"
            x = block(x, planes, strides, f"stage_{stage}_block_{b}", out_name, zero_init_residual)
    features = keras.layers.GlobalAveragePooling2D(data_format="channels_last", name="pool")(x)
    return keras.Model(inputs, features, name=name or f"resnet{depth}_{variant}")


def ResNet18(
    variant: str = "cifar", width: float = 1.0, input_shape: Sequence[int | None] | None = None, **kwargs: Any
) -> keras.Model:
    """ResNet-18 backbone (basic blocks 2-2-2-2, 512 * width features). See `resnet` for every argument.

    Examples:
        >>> from kerascl.backbones import ResNet18
        >>> ResNet18(variant="cifar", width=0.125).output_shape
        (None, 64)
    """
    return resnet(18, variant=variant, width=width, input_shape=input_shape, **kwargs)


def ResNet34(
    variant: str = "cifar", width: float = 1.0, input_shape: Sequence[int | None] | None = None, **kwargs: Any
) -> keras.Model:
    """ResNet-34 backbone (basic blocks 3-4-6-3, 512 * width features). See `resnet` for every argument.

    Examples:
        >>> from kerascl.backbones import ResNet34
        >>> ResNet34(variant="cifar", width=0.125).output_shape
        (None, 64)
    """
    return resnet(34, variant=variant, width=width, input_shape=input_shape, **kwargs)


def ResNet50(
    variant: str = "cifar", width: float = 1.0, input_shape: Sequence[int | None] | None = None, **kwargs: Any
) -> keras.Model:
    """ResNet-50 backbone (bottleneck blocks 3-4-6-3, 2048 * width features). See `resnet` for every argument.

    Examples:
        >>> from kerascl.backbones import ResNet50
        >>> ResNet50(variant="imagenet", width=0.125, input_shape=(64, 64, 3)).output_shape
        (None, 256)
    """
    return resnet(50, variant=variant, width=width, input_shape=input_shape, **kwargs)
