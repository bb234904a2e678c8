"""kerascl: self-supervised contrastive learning for Keras 3, on the TensorFlow and JAX backends.

Subpackages: `kerascl.losses`, `kerascl.methods`, `kerascl.heads`, `kerascl.backbones`, `kerascl.augment`,
`kerascl.data`, `kerascl.probes`, `kerascl.callbacks`, `kerascl.optimizers`.
"""

from kerascl import cpu_defaults as _cpu_defaults

# Settings the backends read when they start (TensorFlow's oneDNN kernels, XLA:CPU's library choice for JAX): they
# only apply if kerascl is imported before TensorFlow and JAX, and a value the user has set wins. See
# `kerascl/cpu_defaults.py`.
_cpu_defaults.apply()

__version__ = "0.1.0"
