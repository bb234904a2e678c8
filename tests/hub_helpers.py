"""Tiny, randomly initialised KerasHub vision backbones built from their configs (no preset download)."""

from __future__ import annotations

import keras_hub


def resnet(image_shape=(None, None, 3)):
    """ResNet (basic blocks, one per stack): a 4-level feature pyramid P2..P5."""
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 8, 8, 8],
        stackwise_num_blocks=[1, 1, 1, 1], stackwise_num_strides=[1, 2, 2, 2], block_type="basic_block",
        image_shape=image_shape)


def efficientnet(image_shape=(None, None, 3)):
    """EfficientNet (one MBConv per stack, three stacks). `num_features` stays at its default, 1280: KerasHub 0.32
    leaves it out of the backbone's config, so any other value would not survive a save and load."""
    return keras_hub.models.EfficientNetBackbone(
        stackwise_width_coefficients=[1.0] * 3, stackwise_depth_coefficients=[1.0] * 3,
        stackwise_kernel_sizes=[3, 3, 3], stackwise_num_repeats=[1, 1, 1], stackwise_input_filters=[8, 8, 16],
        stackwise_output_filters=[8, 16, 16], stackwise_expansion_ratios=[1, 2, 2],
        stackwise_squeeze_and_excite_ratios=[0.0, 0.25, 0.25], stackwise_strides=[1, 2, 2],
        stackwise_block_types=["v1"] * 3, stackwise_force_input_filters=[0] * 3, stackwise_nores_option=[False] * 3,
        input_shape=image_shape)


def mobilenet(image_shape=(None, None, 3)):
    """MobileNetV3-style (two inverted-residual stacks); it has no pyramid outputs."""
    return keras_hub.models.MobileNetBackbone(
        stackwise_expansion=[[16], [24]], stackwise_num_blocks=[1, 1], stackwise_num_filters=[[8], [16]],
        stackwise_kernel_size=[[3], [3]], stackwise_num_strides=[[2], [2]], stackwise_se_ratio=[[None], [0.25]],
        stackwise_activation=[["relu"], ["hard_swish"]], stackwise_padding=[[1], [1]], output_num_filters=32,
        depthwise_filters=8, depthwise_stride=1, depthwise_residual=False, last_layer_filter=32,
        input_num_filters=8, image_shape=image_shape)


def vit(image_size=32, use_class_token=True):
    """ViT: fixed image size, class token, no pyramid outputs."""
    return keras_hub.models.ViTBackbone(
        image_shape=(image_size, image_size, 3), patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=16,
        use_class_token=use_class_token)


def dinov2(image_size=32, num_layers=4, patch_size=8):
    """DINOv2: class token, two register tokens, one pyramid output per transformer layer."""
    return keras_hub.models.DINOV2Backbone(
        patch_size=patch_size, num_layers=num_layers, hidden_dim=16, num_heads=2, intermediate_dim=16,
        image_shape=(image_size, image_size, 3), position_embedding_shape=(image_size, image_size, 3),
        num_register_tokens=2)


BUILDERS = {"resnet": resnet, "efficientnet": efficientnet, "mobilenet": mobilenet, "vit": vit, "dinov2": dinov2}
