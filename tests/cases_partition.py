"""Method cases for the shared method tests: partitioned BYOL / SimSiam, DDCL (both versions), PartitionedVAE."""

from kerascl.methods.byol import BYOL
from kerascl.methods.ddcl import DDCL, DDCLBarlowTwins
from kerascl.methods.partition import Partition
from kerascl.methods.partitioned_vae import PartitionedVAE
from kerascl.methods.simsiam import SimSiam
from tests.helpers import random_views, tiny_backbone

CASES = {
    # Paper 1's BYOL reconstruction: split z at the projector output, predictor on the full z, repel the styles.
    "partitioned_byol": lambda: (
        BYOL(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=16, total_steps=10,
             partition=Partition(where="projector", size=0.5, style_objective="repel", style_weight=0.5)),
        random_views(),
    ),
    # Separate predictors per part, style regresses the recorded augmentation parameters.
    "partitioned_simsiam": lambda: (
        SimSiam(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=8,
                partition=Partition(where="projector", size=4, heads="separate",
                                    style_objective="predict_augmentation")),
        random_views(num_params=5),
    ),
    "ddcl": lambda: (
        DDCL(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=8, clever_reg=1e-3),
        random_views(),
    ),
    "ddcl_barlow_twins": lambda: (DDCLBarlowTwins(tiny_backbone(), projection_dim=8, hidden_dim=16), random_views()),
    "partitioned_vae": lambda: (
        PartitionedVAE(image_size=16, content_dim=4, style_dim=4, widths=(4, 8), feature_dim=16, seed=3),
        random_views(),
    ),
}
