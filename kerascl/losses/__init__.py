"""Losses of kerascl: each a `keras.losses.Loss` written in `keras.ops`, usable in any training loop.

Every loss takes two `(batch, dim)` tensors as `loss(target, prediction)` (Keras's `(y_true, y_pred)` order) and
returns a scalar. Where a paper stops the gradient, it is stopped at the first argument.
"""

from kerascl.losses.barlow_twins import BarlowTwinsLoss
from kerascl.losses.byol import BYOLLoss
from kerascl.losses.decoupled_uniformity import DecoupledUniformityLoss
from kerascl.losses.distortion_disentangled import DistortionDisentangledLoss
from kerascl.losses.feature_clustering import FeatureClusteringLoss
from kerascl.losses.info_nce import InfoNCELoss
from kerascl.losses.negative_cosine import NegativeCosineSimilarity
from kerascl.losses.style import AugmentationPredictionLoss, LatentPartitionLoss

__all__ = [
    "AugmentationPredictionLoss",
    "DistortionDisentangledLoss",
    "LatentPartitionLoss",
    "BYOLLoss",
    "BarlowTwinsLoss",
    "DecoupledUniformityLoss",
    "FeatureClusteringLoss",
    "InfoNCELoss",
    "NegativeCosineSimilarity",
]
