"""Method cases for the shared method tests: hierarchical augmentation invariance, one per base method.

Two stages (the tiny backbone's `stage_1`, `stage_2`), four views with recorded parameters, tiny widths.
"""

from kerascl.augment import PARAM_SIZE
from kerascl.methods.hierarchical import HierarchicalAugmentationInvariance
from tests.helpers import random_views, tiny_backbone

STAGES = ("stage_1", "stage_2")
# Two-layer projectors keep the SimSiam loss away from zero over the three cross-backend steps, where a relative
# tolerance would compare float noise.
SIZES = dict(projection_dim=8, hidden_dim=16, prediction_hidden_dim=4, embedding_dim=4, num_projector_layers=2)


def _case(base_method: str, **kwargs):
    def factory():
        model = HierarchicalAugmentationInvariance(
            tiny_backbone(), stage_names=STAGES, base_method=base_method, **SIZES, **kwargs
        )
        return model, random_views(num_views=4, num_params=PARAM_SIZE)

    return factory


CASES = {
    "hierarchical_simsiam": _case("simsiam"),
    "hierarchical_byol": _case("byol", total_steps=10),
    "hierarchical_barlow_twins": _case("barlow_twins"),
}
