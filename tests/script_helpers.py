"""Loading the scripts in `benchmarks/` (not a package) as modules, for the tests of their functions."""

from __future__ import annotations

import importlib.util
import os
import types

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def script_path(file_name: str) -> str:
    """The absolute path of `benchmarks/<file_name>`."""
    return os.path.join(REPO, "benchmarks", file_name)


def load_script(file_name: str, module_name: str | None = None) -> types.ModuleType:
    """Imports `benchmarks/<file_name>` as a fresh module (each call runs the script's top level again)."""
    spec = importlib.util.spec_from_file_location(module_name or file_name.removesuffix(".py"),
                                                  script_path(file_name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
