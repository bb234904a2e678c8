"""Collects the method cases of every `tests/cases_*.py` file.

A case is `name -> factory`, the factory returning `(model, batch)`: a freshly built-from-scratch method with tiny
sizes and one multi-view batch. Every case goes through the shared method tests (fit lowers the loss, TensorFlow,
JAX and torch agree, save/load round-trip), so a new method is covered by adding one line to a cases file.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pathlib
from typing import Sequence, TypeVar

import keras

T = TypeVar("T")

BACKEND = keras.backend.backend()

#: The backends one CI run covers: every installed one of TensorFlow, JAX and torch, in that order (`.ci/run` installs
#: all three). Files whose cases need not run on every backend split them between these runs, so that each case is
#: covered once per CI run; a machine with only TensorFlow and JAX splits them in two, and covers them all too.
CI_BACKENDS = tuple(b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b) is not None)
#: This run's share (its index in CI_BACKENDS) and the number of shares.
CI_SHARE = CI_BACKENDS.index(BACKEND) if BACKEND in CI_BACKENDS else 0
CI_SHARES = max(len(CI_BACKENDS), 1)


def every_case_requested() -> bool:
    """True when `KERAS_CL_ALL_CASES` is set: the splitting files then run every case on the current backend."""
    return bool(os.environ.get("KERAS_CL_ALL_CASES"))


def this_share(items: Sequence[T], among: Sequence[str] = CI_BACKENDS) -> list[T]:
    """The items this backend's run takes: every `CI_SHARES`-th one from `CI_SHARE` (all with KERAS_CL_ALL_CASES).

    `among` is the rotation instead: item i goes to `among[i % len(among)]`, so it can narrow the split to some
    backends (those that train on several devices) or weight it (a backend named twice takes twice the items).
    Backends that are not installed drop out of the rotation.
    """
    if every_case_requested():
        return list(items)
    among = [b for b in among if b in CI_BACKENDS]
    return [item for i, item in enumerate(items) if among and among[i % len(among)] == BACKEND]


def in_this_share(index: int) -> bool:
    """Whether item `index` of a split list belongs to this backend's run."""
    return every_case_requested() or index % CI_SHARES == CI_SHARE


def all_cases() -> dict:
    cases = {}
    for path in sorted(pathlib.Path(__file__).parent.glob("cases_*.py")):
        module = importlib.import_module(f"tests.{path.stem}")
        for name, factory in module.CASES.items():
            if name in cases:
                raise ValueError(f"Duplicate method case name {name!r} in {path.name}.")
            cases[name] = factory
    return cases
