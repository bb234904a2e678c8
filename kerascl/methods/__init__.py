"""Self-supervised methods of kerascl: subclassed `keras.Model`s trained with `model.fit()`."""

from kerascl.methods.barlow_twins import BarlowTwins
from kerascl.methods.base import SiameseMethod
from kerascl.methods.byol import BYOL
from kerascl.methods.simclr import SimCLR
from kerascl.methods.simsiam import SimSiam

__all__ = ["BYOL", "BarlowTwins", "SiameseMethod", "SimCLR", "SimSiam"]
