"""Self-supervised methods of kerascl: subclassed `keras.Model`s trained with `model.fit()`."""

from kerascl.methods.barlow_twins import BarlowTwins
from kerascl.methods.base import SiameseMethod
from kerascl.methods.byol import BYOL
from kerascl.methods.ddcl import DDCL, DDCLBarlowTwins, ddcl_partition
from kerascl.methods.decoupled_uniformity import DecoupledUniformity
from kerascl.methods.ema_target import EMATarget
from kerascl.methods.hierarchical import HierarchicalAugmentationInvariance, hierarchical_views
from kerascl.methods.iccl import ICCL, SimilarityClustering
from kerascl.methods.method import Method, MethodBatch, collapse_std
from kerascl.methods.partition import Partition
from kerascl.methods.partitioned_vae import PartitionedVAE, save_swap_grid, swap_grid, swap_retrieval
from kerascl.methods.simclr import SimCLR
from kerascl.methods.simsiam import SimSiam

__all__ = ["BYOL", "BarlowTwins", "DDCL", "DDCLBarlowTwins", "DecoupledUniformity", "EMATarget",
           "HierarchicalAugmentationInvariance", "ICCL", "Method", "MethodBatch", "Partition", "PartitionedVAE",
           "SiameseMethod", "SimCLR", "SimSiam", "SimilarityClustering", "collapse_std", "ddcl_partition",
           "hierarchical_views", "save_swap_grid", "swap_grid", "swap_retrieval"]
