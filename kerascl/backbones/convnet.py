"""A small four-stage convolutional backbone for CPU demos, quick experiments and fast tests."""

from __future__ import annotations

from typing import Sequence

import keras

from kerascl.backbones.stages import DEFAULT_STAGE_NAMES


def ConvNet(
    width: float = 1.0,
    input_shape: Sequence[int | None] | None = (32, 32, 3),
    base_channels: int = 32,
    name: str | None = None,
) -> keras.Model:
    """A four-stage ConvNet: `[Conv3x3-BN-ReLU] x 2` per stage, stride 2 from stage 2 on, global average pool.

    Much cheaper than a ResNet-18 (fewer layers to compile and run), with the same interface: a functional model
    from images `(B, H, W, 3)` in [0, 1] to `(B, 8 * base_channels * width)` features, stage outputs named
    `stage_1` ... `stage_4` and the pooled output named `pool`. Used by the offline shapes recipes, which must
    finish in minutes on a laptop CPU, and by the fast recipe tests. Not a paper backbone: use `ResNet18` for
    results you compare with published figures.

    Args:
        width: Channel multiplier; stage `i` has `base_channels * 2**(i-1) * width` channels (at least 4).
        input_shape: Image shape; `(None, None, 3)` accepts any size.
        base_channels: Channels of the first stage at width 1.
        name: Model name (default `convnet`).

    Returns:
        A functional `keras.Model`.

    Examples:
        >>> from kerascl.backbones import ConvNet
        >>> ConvNet(width=0.5).output_shape
        (None, 128)
    """
    if width <= 0:
        raise ValueError(f"width must be positive; got {width}.")
    shape = tuple(input_shape) if input_shape is not None else (None, None, 3)
    inputs = keras.Input(shape)
    x = inputs
    for stage, stage_name in enumerate(DEFAULT_STAGE_NAMES):
        channels = max(4, int(round(base_channels * (2**stage) * width)))
        for block in range(2):
            strides = 2 if (stage > 0 and block == 0) else 1
            x = keras.layers.Conv2D(channels, 3, strides=strides, padding="same", use_bias=False,
                                    kernel_initializer="he_normal", name=f"conv{stage + 1}_{block + 1}")(x)
            x = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"bn{stage + 1}_{block + 1}")(x)
            x = keras.layers.ReLU(name=stage_name if block == 1 else f"relu{stage + 1}_{block + 1}")(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, outputs, name=name or "convnet")
