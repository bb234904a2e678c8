"""kerascl's test suite.

The test models are tiny, so on a CPU the suite's time goes to XLA compiling them, not to running them. Unless the
caller already chose one, the tests ask XLA for its cheapest backend optimisation level, which cuts the wall time of
the compile-heavy tests by about 40 % on both backends (measured on 2 cores, 2026-11-23) and does not change what
they check: every comparison in the suite is between two runs that use the same flags. This runs before any test
module imports a backend, and before the subprocess runners (`python -m tests.<runner>`) do.
"""

import os

_OPT_LEVEL = "--xla_backend_optimization_level"
if _OPT_LEVEL not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" {_OPT_LEVEL}=0").strip()
