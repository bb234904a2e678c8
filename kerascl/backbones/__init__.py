"""Backbones: CIFAR- and ImageNet-stem ResNets with named stages, KerasHub backbones, checks for user backbones.

A backbone is any `keras.Model` mapping an image batch `(B, H, W, 3)` float32 in [0, 1] to `(B, features)`.
"""

from kerascl.backbones.convnet import ConvNet
from kerascl.backbones.checks import check_backbone, feature_dim
from kerascl.backbones.hub import KerasHubEncoder, TokenPooling, TokensToGrid, from_keras_hub
from kerascl.backbones.registry import available_backbones, get_backbone, register_backbone
from kerascl.backbones.resnet_backbone import NORMALIZATION_STATS, ResNet18, ResNet34, ResNet50, resnet
from kerascl.backbones.stages import DEFAULT_STAGE_NAMES, stage_outputs
from kerascl.backbones.strided_pointwise import subsample_strided_pointwise_convs

__all__ = [
    "ConvNet",
    "DEFAULT_STAGE_NAMES",
    "KerasHubEncoder",
    "NORMALIZATION_STATS",
    "TokenPooling",
    "TokensToGrid",
    "ResNet18",
    "ResNet34",
    "ResNet50",
    "available_backbones",
    "check_backbone",
    "feature_dim",
    "from_keras_hub",
    "get_backbone",
    "register_backbone",
    "resnet",
    "stage_outputs",
    "subsample_strided_pointwise_convs",
]
