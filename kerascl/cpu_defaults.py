"""Process settings that make the backends faster on a CPU, applied once when kerascl is imported.

Both are read by a backend when it starts, so they only take effect if kerascl is imported before TensorFlow and
JAX (the `kerascl` command always is; in your own script put `import kerascl` before `import keras`), and a value
the user has set wins. Where each was measured: docs/benchmarks.md.

- TensorFlow's oneDNN kernels (`TF_ENABLE_ONEDNN_OPTS=1`): TensorFlow switches them on by default only on some CPUs
  (on the 2-core AVX2 machine of docs/benchmarks.md, TensorFlow 2.21 left them off), and with them the CIFAR
  ResNet-18 train step ran 1.6x faster there. `TF_ENABLE_ONEDNN_OPTS=0` turns them off.
- XLA:CPU's YNNPACK library for reductions only (`--xla_cpu_experimental_ynn_fusion_type=reduce` in `XLA_FLAGS`):
  jaxlib 0.10 hands both convolutions and reductions to YNNPACK, whose convolutions ran the CIFAR ResNet-18's
  small-channel layers 1.5-1.7x slower (forward and backward) than XLA's own on a 2-core Xeon; keeping YNNPACK's
  reductions (without them XLA rewrites the batch-norm sums into slower windowed reductions) and XLA's convolutions
  made the JAX train step 1.21-1.24x faster on BYOL and 1.07-1.13x on SimSiam there (docs/benchmarks.md, run T24).
  Only set where the flag is known: jaxlib >= 0.10.2 and, when TensorFlow is
  installed (its XLA parses `XLA_FLAGS` too and stops on a flag it does not know), TensorFlow >= 2.21. A user's own
  `xla_cpu_experimental_ynn_fusion_type` wins; `KERASCL_XLA_CPU_DEFAULTS=0` leaves `XLA_FLAGS` alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from importlib import metadata

#: The XLA:CPU flag kerascl adds to `XLA_FLAGS` (see the module docstring).
YNN_REDUCE_ONLY_FLAG = "--xla_cpu_experimental_ynn_fusion_type=reduce"
#: Set to "0" to keep kerascl from touching `XLA_FLAGS`.
XLA_OPT_OUT_VARIABLE = "KERASCL_XLA_CPU_DEFAULTS"
#: The oldest versions whose XLA is known to accept the flag (checked: jaxlib 0.10.2, TensorFlow 2.21).
MIN_JAXLIB_VERSION = (0, 10, 2)
MIN_TENSORFLOW_VERSION = (2, 21)
#: The distribution names TensorFlow is installed under.
TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tf-nightly", "tf-nightly-cpu")


def installed_version(*distributions: str) -> tuple[int, ...] | None:
    """The leading numeric release parts of the first installed distribution of `distributions` (e.g. (2, 21, 0)),
    or None if none is installed; read from package metadata, without importing the package."""
    for name in distributions:
        try:
            text = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        parts = []
        for piece in text.split(".")[:3]:
            digits = re.match(r"\d+", piece)
            if digits is None:
                break
            parts.append(int(digits.group()))
        return tuple(parts)
    return None


def _user_decides_xla_flags(environ: MutableMapping[str, str]) -> bool:
    """Whether the user opted out or set the YNNPACK flag themselves (then kerascl leaves `XLA_FLAGS` alone)."""
    return (environ.get(XLA_OPT_OUT_VARIABLE, "").strip() == "0"
            or "xla_cpu_experimental_ynn_fusion_type" in environ.get("XLA_FLAGS", ""))


def xla_flags_with_defaults(environ: MutableMapping[str, str], jaxlib_version: tuple[int, ...] | None,
                            tensorflow_version: tuple[int, ...] | None) -> str | None:
    """The `XLA_FLAGS` value kerascl sets, or None to leave the variable as it is.

    Args:
        environ: the process environment (read only).
        jaxlib_version: the installed jaxlib's version, None if jaxlib is not installed (then nothing is set).
        tensorflow_version: the installed TensorFlow's version, None if TensorFlow is not installed.
    """
    if _user_decides_xla_flags(environ):
        return None
    current = environ.get("XLA_FLAGS", "")
    if jaxlib_version is None or jaxlib_version < MIN_JAXLIB_VERSION:
        return None
    if tensorflow_version is not None and tensorflow_version < MIN_TENSORFLOW_VERSION:
        return None
    return f"{current} {YNN_REDUCE_ONLY_FLAG}".strip()


def apply(environ: MutableMapping[str, str] | None = None) -> None:
    """Sets kerascl's CPU defaults in `environ` (default: `os.environ`), keeping every value the user has set."""
    environ = os.environ if environ is None else environ
    environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    if _user_decides_xla_flags(environ):  # before the package-metadata lookups, which cost tens of milliseconds
        return
    xla_flags = xla_flags_with_defaults(environ, installed_version("jaxlib"),
                                        installed_version(*TENSORFLOW_DISTRIBUTIONS))
    if xla_flags is not None:
        environ["XLA_FLAGS"] = xla_flags
