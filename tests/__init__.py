"""kerascl's test suite.

The test models are tiny, so on a CPU much of the suite's time goes to XLA compiling them. On the JAX backend, unless
the caller already chose one, the tests ask XLA for its cheapest backend optimisation level: the JAX suite took
9m32s instead of 10m33s in `bash .ci/run` on 2 cores (2026-11-22/23). On TensorFlow the whole suite was slower with
it (10m39s against 8m31s: its tests also run real training, which the unoptimised code slows), so it is JAX only.
It does not change what the tests check: every comparison in the suite is between runs that use the same flags.
This runs before any test module imports a backend, and before the subprocess runners (`python -m tests.<runner>`)
do.

kerascl itself is imported here too, for its CPU defaults (TensorFlow's oneDNN kernels, XLA:CPU's library choice for
JAX; see `kerascl/cpu_defaults.py`, which imports no framework): whether a test module imports keras or kerascl
first, each suite runs with the kernels users get from the `kerascl` command.
"""

import os

_OPT_LEVEL = "--xla_backend_optimization_level"
if os.environ.get("KERAS_BACKEND") == "jax" and _OPT_LEVEL not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" {_OPT_LEVEL}=0").strip()

import kerascl  # noqa: E402,F401  (its CPU defaults, before any test module loads a backend)
