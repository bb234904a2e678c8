"""The extra heads of hierarchical augmentation invariance: per-stage side branches and augmentation embedders.

A side branch turns the feature map tapped at an intermediate backbone stage into a feature vector as wide as the
backbone's pooled output, so every stage's projector sees the same kind of input. An augmentation embedder turns a
view's recorded augmentation parameters (its colour-jitter factors) into a vector that is concatenated to the
branch feature before the projector ("expanded views").

Reference: Zhang & Ma, "Rethinking the Augmentation Module in Contrastive Learning: Learning Hierarchical
Augmentation Invariance with Expanded Views", CVPR 2022, arXiv:2206.00227.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from kerascl.heads import ProjectionHead

# torch BatchNorm2d defaults: momentum 0.1 (0.9 in Keras's convention), epsilon 1e-5.
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5


def _batch_norm(name: str) -> keras.layers.BatchNormalization:
    return keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, name=name)


def _pointwise(filters: int, name: str) -> keras.layers.Conv2D:
    # torchvision-style Kaiming-normal (fan-out) initialisation, as the official code.
    init = keras.initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="untruncated_normal")
    return keras.layers.Conv2D(int(filters), 1, use_bias=False, kernel_initializer=init, name=name)


def _depthwise(channels: int, strides: int, name: str) -> keras.layers.DepthwiseConv2D:
    # torch's Kaiming fan-out of a grouped (c, 1, 3, 3) kernel is 9 * c.
    init = keras.initializers.RandomNormal(stddev=math.sqrt(2.0 / (9.0 * channels)))
    return keras.layers.DepthwiseConv2D(
        3,
        strides=strides,
        padding="valid" if strides > 1 else "same",
        use_bias=False,
        depthwise_initializer=init,
        name=name,
    )


@keras.saving.register_keras_serializable(package="kerascl")
class SeparableConvBlock(keras.layers.Layer):
    """Two depthwise-separable convolutions, the first one strided (the side branches' `SepConv`).

    `DW3x3(stride) -> 1x1(c_in) -> BN -> ReLU -> DW3x3 -> 1x1(filters) -> BN -> ReLU`, without biases. The strided
    depthwise convolution pads by one pixel on every side, as PyTorch's `padding=1` does, so an even side `s`
    becomes `s / 2` exactly.

    Reference: Zhang & Ma, CVPR 2022 (arXiv:2206.00227), official code `resnet_imagenet.py`.

    Args:
        filters: Output channels.
        strides: Stride of the first depthwise convolution (2 in the paper).
        **kwargs: Passed to `keras.layers.Layer`.

    Examples:
        >>> block = SeparableConvBlock(16)
        >>> block(keras.ops.ones((2, 8, 8, 4))).shape
        (2, 4, 4, 16)
    """

    def __init__(self, filters: int, strides: int = 2, **kwargs):
        super().__init__(**kwargs)
        if int(filters) < 1 or int(strides) < 1:
            raise ValueError(f"filters and strides must be positive integers; got {filters} and {strides}.")
        self.filters = int(filters)
        self.strides = int(strides)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel dimension of the input must be known; got {input_shape}.")
        self.stack = []
        if self.strides > 1:
            self.stack.append(keras.layers.ZeroPadding2D(1, name="pad"))
        self.stack += [
            _depthwise(channels, self.strides, "depthwise_1"),
            _pointwise(channels, "pointwise_1"),
            _batch_norm("batch_norm_1"),
            keras.layers.ReLU(name="relu_1"),
            _depthwise(channels, 1, "depthwise_2"),
            _pointwise(self.filters, "pointwise_2"),
            _batch_norm("batch_norm_2"),
            keras.layers.ReLU(name="relu_2"),
        ]
        shape = tuple(input_shape)
        for layer in self.stack:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.stack:
            x = layer(x, training=training) if isinstance(layer, keras.layers.BatchNormalization) else layer(x)
        return x

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return (batch, self._downsampled(height), self._downsampled(width), self.filters)

    def _downsampled(self, side):
        # A 3x3 window with one pixel of padding on each side: (side + 2 - 3) // stride + 1.
        if side is None or self.strides == 1:
            return side
        return (side - 1) // self.strides + 1

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


@keras.saving.register_keras_serializable(package="kerascl")
class StageSideBranch(keras.layers.Layer):
    """Side branch of one intermediate stage: attention, separable downsampling, 1x1 to the feature width, GAP.

    For a stage feature map `x` with `c` reduced channels:

        x_r = ReLU(BN(Conv1x1_c(x)))
        a   = sigmoid(BN(Upsample2x(SepConv(c, c)(x_r))))         (attention; `attention=False` drops it)
        h   = GAP(ReLU(BN(Conv1x1_out(SepConv(...)(a * x_r)))))   (num_downsamples SepConvs, channels doubling)

    With `num_downsamples = K - k` for stage `k` of `K`, the map reaches the last stage's resolution, as in the
    paper's ResNet-50 (stage 1: 64 -> 128 -> 256 -> 512 -> 1x1 2048).

    Reference: Zhang & Ma, "Rethinking the Augmentation Module in Contrastive Learning: Learning Hierarchical
    Augmentation Invariance with Expanded Views", CVPR 2022, arXiv:2206.00227 (official code
    `resnet_imagenet.py`, `prepare_attention*`, `attention*`, `scala*`).

    Args:
        reduced_width: Channels `c` after the first 1x1 convolution (64 * 2**(k-1) for ResNet stage k).
        num_downsamples: Number of stride-2 `SeparableConvBlock`s, each doubling the channels.
        output_dim: Width of the output vector (the backbone's pooled feature width).
        attention: Whether to apply the sigmoid attention mask.
        **kwargs: Passed to `keras.layers.Layer`.

    Returns:
        `(batch, output_dim)` features.

    Examples:
        >>> branch = StageSideBranch(reduced_width=8, num_downsamples=1, output_dim=16)
        >>> branch(keras.ops.ones((2, 16, 16, 8))).shape
        (2, 16)
    """

    def __init__(self, reduced_width: int, num_downsamples: int, output_dim: int, attention: bool = True, **kwargs):
        super().__init__(**kwargs)
        if int(reduced_width) < 1 or int(output_dim) < 1 or int(num_downsamples) < 0:
            raise ValueError(
                "reduced_width and output_dim must be positive and num_downsamples >= 0; got "
                f"{reduced_width}, {output_dim} and {num_downsamples}."
            )
        self.reduced_width = int(reduced_width)
        self.num_downsamples = int(num_downsamples)
        self.output_dim = int(output_dim)
        self.attention = bool(attention)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4:
            raise ValueError(f"{self.name}: expects a (batch, height, width, channels) map; got {input_shape}.")
        if self.attention:
            odd = [s for s in input_shape[1:3] if s is not None and s % 2]
            if odd:
                raise ValueError(
                    f"{self.name}: the attention mask is computed at half resolution and upsampled 2x, so the "
                    f"tapped stage map needs even sides; got {input_shape[1:3]}. Use image sizes that keep the "
                    "stage maps even (e.g. 16, 32, 224) or attention=False."
                )
        c = self.reduced_width
        self.reduce = [_pointwise(c, "reduce"), _batch_norm("reduce_batch_norm"), keras.layers.ReLU(name="reduce_relu")]
        shape = input_shape
        for layer in self.reduce:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        reduced_shape = shape
        if self.attention:
            self.attention_conv = SeparableConvBlock(c, name="attention_sepconv")
            # float32: TensorFlow's XLA gradient of a half-precision bilinear resize mixes precisions and fails to
            # compile under mixed precision policies; the upsampling is cheap, so it runs in float32 everywhere.
            self.attention_upsample = keras.layers.UpSampling2D(2, interpolation="bilinear", dtype="float32",
                                                                name="attention_upsample")
            self.attention_batch_norm = _batch_norm("attention_batch_norm")
            self.attention_conv.build(reduced_shape)
            half = self.attention_conv.compute_output_shape(reduced_shape)
            self.attention_upsample.build(half)
            self.attention_batch_norm.build(self.attention_upsample.compute_output_shape(half))
        self.downsample = []
        for i in range(self.num_downsamples):
            block = SeparableConvBlock(c * 2 ** (i + 1), name=f"sepconv_{i + 1}")
            block.build(shape)
            shape = block.compute_output_shape(shape)
            self.downsample.append(block)
        self.expand = [
            _pointwise(self.output_dim, "expand"),
            _batch_norm("expand_batch_norm"),
            keras.layers.ReLU(name="expand_relu"),
            keras.layers.GlobalAveragePooling2D(name="pool"),
        ]
        for layer in self.expand:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.built = True

    def call(self, inputs, training=None):
        x = _run(self.reduce, inputs, training)
        if self.attention:
            a = self.attention_upsample(self.attention_conv(x, training=training))
            x = ops.sigmoid(self.attention_batch_norm(a, training=training)) * x
        for block in self.downsample:
            x = block(x, training=training)
        return _run(self.expand, x, training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "reduced_width": self.reduced_width,
            "num_downsamples": self.num_downsamples,
            "output_dim": self.output_dim,
            "attention": self.attention,
        }


def _run(layers, x, training):
    for layer in layers:
        x = layer(x, training=training) if isinstance(layer, keras.layers.BatchNormalization) else layer(x)
    return x


@keras.saving.register_keras_serializable(package="kerascl")
class AugmentationEmbedding(ProjectionHead):
    """Embeds recorded augmentation parameters: `e = ReLU(BN(Dense(embedding_dim)(params)))`.

    The paper's "expanded views": each view's own colour-jitter factors `[b, c, s, h]`, raw (no normalisation),
    go through this layer, and the result is concatenated to the view's feature before the projector, so the
    projection does not have to be invariant to what the embedding already says about the view.

    Reference: Zhang & Ma, CVPR 2022 (arXiv:2206.00227), official code `simsiam_base/builder.py` (`Crop_enc`,
    used as the colour encoder, 4 -> 512).

    Args:
        embedding_dim: Output width (512 in the paper).
        **kwargs: Passed to the base layer.

    Examples:
        >>> embed = AugmentationEmbedding(8)
        >>> embed(keras.ops.ones((2, 4))).shape
        (2, 8)
    """

    def __init__(self, embedding_dim: int = 512, **kwargs):
        kwargs.pop("blocks", None)
        if int(embedding_dim) < 1:
            raise ValueError(f"embedding_dim must be a positive integer; got {embedding_dim}.")
        super().__init__([(int(embedding_dim), True, "affine", "relu")], **kwargs)
        self.embedding_dim = int(embedding_dim)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("blocks")
        return {**config, "embedding_dim": self.embedding_dim}
