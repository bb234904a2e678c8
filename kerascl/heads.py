"""Projector and predictor MLPs with each paper's defaults.

Every head is a `ProjectionHead`: a stack of blocks, each block a `Dense` layer optionally followed by batch
normalisation and an activation. The named subclasses only fix the block list to the paper's choice; every size is
an argument.
"""

from __future__ import annotations

import math
from typing import Sequence

import keras

# Block: (units, use_bias, batch_norm, activation); batch_norm is None, "affine" or "plain" (no scale/offset).
Block = tuple

INITIALIZERS = ("keras", "torch")
"""How the heads' `Dense` layers start: Keras's `Dense` defaults or PyTorch's `nn.Linear` defaults."""


def check_initializer(value: str, arg_name: str = "initializer") -> str:
    """Returns `value` if it is one of `INITIALIZERS`, else raises an error naming `arg_name` and the choices."""
    if value not in INITIALIZERS:
        raise ValueError(f"{arg_name} must be one of {INITIALIZERS}; got {value!r}. 'torch' starts the heads' Dense "
                         "layers as PyTorch's nn.Linear does (as lightly's heads start), 'keras' as Keras's Dense does.")
    return value


def torch_linear_initializers(fan_in: int) -> tuple[keras.initializers.Initializer, keras.initializers.Initializer]:
    """`(kernel, bias)` initialisers of torch's `nn.Linear` default: both `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.

    torch draws the weight with `kaiming_uniform_(a=sqrt(5))`, whose bound is `sqrt(6 / ((1 + 5) fan_in))`
    `= 1/sqrt(fan_in)`, which is `VarianceScaling(scale=1/3, mode="fan_in", distribution="uniform")`.

    Args:
        fan_in: Input width of the layer.

    Returns:
        The kernel and bias initialisers.

    Examples:
        >>> kernel, bias = torch_linear_initializers(16)
        >>> float(keras.ops.max(keras.ops.abs(kernel((16, 8))))) <= 0.25
        True
    """
    bound = 1.0 / float(fan_in) ** 0.5
    kernel = keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform")
    return kernel, keras.initializers.RandomUniform(-bound, bound)


def _batch_norm(kind: str | None, name: str):
    if kind is None:
        return None
    if kind not in ("affine", "plain"):
        raise ValueError(f"batch_norm must be None, 'affine' or 'plain'; got {kind!r}.")
    affine = kind == "affine"
    # torch BatchNorm1d defaults: momentum 0.1 (Keras 0.9), eps 1e-5.
    return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, center=affine, scale=affine, name=name)


@keras.saving.register_keras_serializable(package="kerascl")
class ProjectionHead(keras.layers.Layer):
    """A multi-layer perceptron head: `Dense -> [BatchNorm] -> [activation]` per block.

    Args:
        blocks: A sequence of `(units, use_bias, batch_norm, activation)` tuples, one per layer. `batch_norm` is None,
            `"affine"` (with learned scale and offset) or `"plain"` (without, like torch's `affine=False`);
            `activation` is a Keras activation name or None.
        initializer: How the `Dense` layers start: `"keras"` (Keras's defaults, Glorot-uniform kernels and zero
            biases) or `"torch"` (torch's `nn.Linear` default, kernels and biases `U(+-1/sqrt(fan_in))`, see
            `torch_linear_initializers`).
        **kwargs: Passed to `keras.layers.Layer` (e.g. `name`).

    Examples:
        >>> head = ProjectionHead([(64, False, "affine", "relu"), (16, True, None, None)])
        >>> head(keras.ops.ones((2, 32))).shape
        (2, 16)
    """

    def __init__(self, blocks: Sequence[Block], initializer: str = "keras", **kwargs):
        super().__init__(**kwargs)
        self.initializer = check_initializer(initializer)
        self.blocks = [tuple(b) for b in blocks]
        if not self.blocks:
            raise ValueError("A ProjectionHead needs at least one block.")
        self.stack = []
        for i, (units, use_bias, batch_norm, activation) in enumerate(self.blocks):
            self.stack.append(keras.layers.Dense(int(units), use_bias=bool(use_bias), name=f"dense_{i}"))
            bn = _batch_norm(batch_norm, name=f"batch_norm_{i}")
            if bn is not None:
                self.stack.append(bn)
            if activation is not None:
                self.stack.append(keras.layers.Activation(activation, name=f"{activation}_{i}"))

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.stack:
            if self.initializer == "torch" and isinstance(layer, keras.layers.Dense):
                layer.kernel_initializer, layer.bias_initializer = torch_linear_initializers(shape[-1])
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.stack:
            x = layer(x, training=training) if isinstance(layer, keras.layers.BatchNormalization) else layer(x)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.output_dim,)

    @property
    def output_dim(self) -> int:
        return int(self.blocks[-1][0])

    def get_config(self) -> dict:
        return {**super().get_config(), "blocks": [list(b) for b in self.blocks], "initializer": self.initializer}


def _mlp(hidden_dims: Sequence[int], output_dim: int, hidden_bias: bool, hidden_bn: str | None,
         output_bias: bool, output_bn: str | None) -> list:
    blocks = [(h, hidden_bias, hidden_bn, "relu") for h in hidden_dims]
    blocks.append((output_dim, output_bias, output_bn, None))
    return blocks


class _PaperHead(ProjectionHead):
    """Base of the named heads: the block list follows from a few size arguments, which are the config."""

    def __init__(self, blocks: Sequence[Block], head_args: dict, **kwargs):
        super().__init__(blocks, **kwargs)
        self.head_args = dict(head_args)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("blocks")
        return {**config, **self.head_args}

@keras.saving.register_keras_serializable(package="kerascl")
class BYOLProjectionHead(_PaperHead):
    """BYOL's projector (and, with the same shape, predictor): `Dense(4096)-BN-ReLU-Dense(256)`.

    Reference: Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020.

    Args:
        hidden_dim: Hidden width (4096 in the paper).
        output_dim: Output width (256 in the paper).
        **kwargs: Passed to `ProjectionHead`'s base layer.
    """

    def __init__(self, hidden_dim: int = 4096, output_dim: int = 256, **kwargs):
        blocks = _mlp([hidden_dim], output_dim, True, "affine", True, None)
        super().__init__(blocks, {"hidden_dim": hidden_dim, "output_dim": output_dim}, **kwargs)


@keras.saving.register_keras_serializable(package="kerascl")
class BYOLPredictionHead(BYOLProjectionHead):
    """BYOL's predictor: the same MLP as the projector, `Dense(4096)-BN-ReLU-Dense(256)`.

    Reference: Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020.
    """


@keras.saving.register_keras_serializable(package="kerascl")
class SimSiamProjectionHead(_PaperHead):
    """SimSiam's projector: three layers, BN on every output, the last BN without scale/offset.

    `Dense(d, no bias)-BN-ReLU-Dense(d, no bias)-BN-ReLU-Dense(d, no bias)-BN(plain)`, d = 2048.

    Reference: Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021.

    Args:
        hidden_dim: Width of the two hidden layers.
        output_dim: Output width.
        num_layers: 3 in the paper (CIFAR setups often use 2).
        **kwargs: Passed to the base layer.
    """

    def __init__(self, hidden_dim: int = 2048, output_dim: int = 2048, num_layers: int = 3, **kwargs):
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1; got {num_layers}.")
        blocks = _mlp([hidden_dim] * (num_layers - 1), output_dim, False, "affine", False, "plain")
        super().__init__(blocks, {"hidden_dim": hidden_dim, "output_dim": output_dim, "num_layers": num_layers}, **kwargs)


@keras.saving.register_keras_serializable(package="kerascl")
class SimSiamPredictionHead(_PaperHead):
    """SimSiam's bottleneck predictor: `Dense(512, no bias)-BN-ReLU-Dense(2048)`.

    Reference: Chen & He, "Exploring Simple Siamese Representation Learning", CVPR 2021.

    Args:
        hidden_dim: Bottleneck width (512).
        output_dim: Output width (2048).
        **kwargs: Passed to the base layer.
    """

    def __init__(self, hidden_dim: int = 512, output_dim: int = 2048, **kwargs):
        blocks = _mlp([hidden_dim], output_dim, False, "affine", True, None)
        super().__init__(blocks, {"hidden_dim": hidden_dim, "output_dim": output_dim}, **kwargs)


@keras.saving.register_keras_serializable(package="kerascl")
class BarlowTwinsProjectionHead(_PaperHead):
    """Barlow Twins' projector: three layers of 8192, BN and ReLU after the first two, no biases.

    Reference: Zbontar et al., "Barlow Twins: Self-Supervised Learning via Redundancy Reduction", ICML 2021.

    Args:
        hidden_dim: Width of the hidden layers (8192; CIFAR setups often use 2048).
        output_dim: Output width (8192).
        num_layers: 3 in the paper.
        **kwargs: Passed to the base layer.
    """

    def __init__(self, hidden_dim: int = 8192, output_dim: int = 8192, num_layers: int = 3, **kwargs):
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1; got {num_layers}.")
        blocks = _mlp([hidden_dim] * (num_layers - 1), output_dim, False, "affine", False, None)
        super().__init__(blocks, {"hidden_dim": hidden_dim, "output_dim": output_dim, "num_layers": num_layers}, **kwargs)


@keras.saving.register_keras_serializable(package="kerascl")
class SimCLRProjectionHead(_PaperHead):
    """SimCLR's projector: `Dense(2048, no bias)-BN-ReLU-Dense(128)`.

    Reference: Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020.

    Args:
        hidden_dim: Hidden width (the backbone's feature width, 2048 for ResNet-50).
        output_dim: Output width (128).
        **kwargs: Passed to the base layer.
    """

    def __init__(self, hidden_dim: int = 2048, output_dim: int = 128, **kwargs):
        blocks = _mlp([hidden_dim], output_dim, False, "affine", True, None)
        super().__init__(blocks, {"hidden_dim": hidden_dim, "output_dim": output_dim}, **kwargs)

