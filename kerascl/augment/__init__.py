"""Per-sample augmentation layers that record their parameters, multi-view augmenters and per-paper presets.

Keras and KerasCV image augmentation layers join a view through `ViewAugmentation(extra=[...])`
(`KerasAugmentation`).

See the Views page of the docs for the parameter layout, the presets and where augmentation runs.
"""

from kerascl.augment.apply_params import apply_params
from kerascl.augment.base import RecordedAugmentation
from kerascl.augment.keras_layer import KerasAugmentation
from kerascl.augment.layout import IDENTITY_PARAMS, PARAM_LAYOUT, PARAM_SIZE, feature_mask, param_slice
from kerascl.augment.multi_view import MultiViewAugmentation
from kerascl.augment.presets import get_preset, list_presets
from kerascl.augment.random_channel_permutation import RandomChannelPermutation
from kerascl.augment.random_color_jitter import RandomColorJitter
from kerascl.augment.random_elastic_transform import RandomElasticTransform
from kerascl.augment.random_gaussian_blur import RandomGaussianBlur
from kerascl.augment.random_grayscale import RandomGrayscale
from kerascl.augment.random_horizontal_flip import RandomHorizontalFlip
from kerascl.augment.random_resized_crop import RandomResizedCrop
from kerascl.augment.random_rotation import RandomRotation
from kerascl.augment.random_solarization import RandomSolarization
from kerascl.augment.view_augmentation import STAGES, ViewAugmentation

__all__ = [
    "IDENTITY_PARAMS",
    "KerasAugmentation",
    "MultiViewAugmentation",
    "PARAM_LAYOUT",
    "PARAM_SIZE",
    "RandomChannelPermutation",
    "RandomColorJitter",
    "RandomElasticTransform",
    "RandomGaussianBlur",
    "RandomGrayscale",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomSolarization",
    "RecordedAugmentation",
    "STAGES",
    "ViewAugmentation",
    "apply_params",
    "feature_mask",
    "get_preset",
    "list_presets",
    "param_slice",
]
