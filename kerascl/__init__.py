"""kerascl: self-supervised contrastive learning for Keras 3, on the TensorFlow and JAX backends.

Subpackages: `kerascl.losses`, `kerascl.methods`, `kerascl.heads`, `kerascl.backbones`, `kerascl.augment`,
`kerascl.data`, `kerascl.probes`, `kerascl.callbacks`, `kerascl.optimizers`.
"""

import os as _os

# TensorFlow's oneDNN CPU kernels: TensorFlow switches them on by default only on some CPUs (on the 2-core AVX2
# machine of docs/benchmarks.md, TensorFlow 2.21 left them off), and with them the CIFAR ResNet-18 train step ran
# 1.6x faster there. The variable is read once, when TensorFlow loads: this default only applies if kerascl is
# imported before TensorFlow (the `kerascl` command always is), and a value the user has set wins
# (`TF_ENABLE_ONEDNN_OPTS=0` turns them off).
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
