"""kerascl: self-supervised contrastive learning for Keras 3, on the TensorFlow and JAX backends.

Subpackages: `kerascl.losses`, `kerascl.methods`, `kerascl.heads`, `kerascl.backbones`, `kerascl.augment`,
`kerascl.data`, `kerascl.probes`, `kerascl.callbacks`, `kerascl.optimizers`.
"""

__version__ = "0.1.0"
