"""Collects the method cases of every `tests/cases_*.py` file.

A case is `name -> factory`, the factory returning `(model, batch)`: a freshly built-from-scratch method with tiny
sizes and one multi-view batch. Every case goes through the shared method tests (fit lowers the loss, TF and JAX
agree, save/load round-trip), so a new method is covered by adding one line to a cases file.
"""

from __future__ import annotations

import importlib
import os
import pathlib

import keras

#: Which share of the cases this run takes, for the files that split their cases between the two backend runs of CI
#: (0 on TensorFlow, 1 on JAX), so that each case is covered once per CI run.
CI_SHARE = 0 if keras.backend.backend() == "tensorflow" else 1


def every_case_requested() -> bool:
    """True when `KERAS_CL_ALL_CASES` is set: the splitting files then run every case on the current backend."""
    return bool(os.environ.get("KERAS_CL_ALL_CASES"))


def all_cases() -> dict:
    cases = {}
    for path in sorted(pathlib.Path(__file__).parent.glob("cases_*.py")):
        module = importlib.import_module(f"tests.{path.stem}")
        for name, factory in module.CASES.items():
            if name in cases:
                raise ValueError(f"Duplicate method case name {name!r} in {path.name}.")
            cases[name] = factory
    return cases
