"""Method cases for the shared method tests: the four baseline methods, tiny sizes."""

from kerascl.methods import BYOL, BarlowTwins, SimCLR, SimSiam
from tests.helpers import random_views, tiny_backbone

CASES = {
    "byol": lambda: (BYOL(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=16, total_steps=10),
                     random_views()),
    "simsiam": lambda: (SimSiam(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=4),
                        random_views()),
    "barlow_twins": lambda: (BarlowTwins(tiny_backbone(), projection_dim=8, hidden_dim=16), random_views()),
    "simclr": lambda: (SimCLR(tiny_backbone(), projection_dim=8, hidden_dim=16), random_views()),
}
