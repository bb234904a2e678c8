"""Method cases for the shared method tests: ICCL (momentum and plain) and decoupled uniformity (with and without
a kernel prior), tiny sizes."""

import numpy as np

from kerascl.methods.decoupled_uniformity import DecoupledUniformity
from kerascl.methods.iccl import SimilarityClustering
from tests.helpers import random_views, tiny_backbone


def _with_attributes(batch: dict, num_attributes: int = 4, seed: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    return {**batch, "attributes": rng.random((len(batch["view_1"]), num_attributes), dtype=np.float32)}


CASES = {
    # The curriculum ramps s from 0 to 1 over epochs 0-4, inside the compiled step.
    "iccl_momentum": lambda: (
        SimilarityClustering(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=16,
                             num_projector_layers=2, uniform_weight=1.0, e0=0, e1=4, total_steps=20),
        random_views(),
    ),
    # Small-data options: PCA (6 of 8 dims, fit on 16 rows) and the unclipped adaptive temperature, fixed mix.
    "iccl_plain": lambda: (
        SimilarityClustering(tiny_backbone(), variant="plain", projection_dim=8, hidden_dim=16,
                             prediction_hidden_dim=4, num_projector_layers=2, uniform_weight=1.0, mix=0.5,
                             adaptive=True, adaptive_clip=False, pca_dim=6),
        random_views(),
    ),
    "decoupled_uniformity": lambda: (
        DecoupledUniformity(tiny_backbone(), fc_dim=16, hidden_dim=16, projection_dim=8),
        random_views(),
    ),
    "decoupled_uniformity_attributes": lambda: (
        DecoupledUniformity(tiny_backbone(), fc_dim=16, hidden_dim=16, projection_dim=8, prior="attributes", sigma=0.5),
        _with_attributes(random_views()),
    ),
}
