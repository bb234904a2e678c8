"""Runs every method case for three SGD steps on the current backend and prints the losses as JSON.

Used by `tests/test_methods_shared.py` to compare TensorFlow and JAX from the same weights and batch:
`KERAS_BACKEND=jax python -m tests.cross_backend_runner`.
"""

from __future__ import annotations

import json
import sys

from tests.cases import all_cases
from tests.helpers import train_losses


def run(names=None) -> dict:
    cases = all_cases()
    return {name: train_losses(*cases[name]()) for name in (names or cases)}


if __name__ == "__main__":
    print("CROSS_BACKEND_RESULT " + json.dumps(run(sys.argv[1:] or None)))
