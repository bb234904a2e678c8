"""The core dependencies are what `import kerascl` and its default paths need, and nothing more.

Static checks (no framework is imported): every third-party module that kerascl imports at module level is a core
dependency, so `pip install .` on a fresh machine runs the README's first command; packages kerascl never uses
(KerasCV) or uses only for the lightly comparison (torch, lightly) are not core dependencies.
"""

from __future__ import annotations

import ast
import pathlib
import re
import sys

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: Import name -> distribution name, where they differ.
DISTRIBUTIONS = {"PIL": "pillow", "tensorflow_datasets": "tensorflow-datasets", "keras_cv": "keras-cv"}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements) -> set[str]:
    return {re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].strip().lower() for requirement in requirements}


def _sources():
    return sorted((ROOT / "kerascl").rglob("*.py")) + sorted((ROOT / "recipes").glob("*.py"))


def _imports(tree: ast.AST, module_level: bool) -> set[str]:
    nodes = tree.body if module_level else list(ast.walk(tree))
    if module_level:  # a module-level try: / if: block runs at import time too
        nodes = [n for node in nodes for n in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name not in ("kerascl", "__future__")}


def test_module_level_imports_are_core_dependencies():
    core = _names(_project()["dependencies"])
    for path in _sources():
        for name in _imports(ast.parse(path.read_text()), module_level=True):
            assert DISTRIBUTIONS.get(name, name).lower() in core, f"{path.relative_to(ROOT)} imports {name}"


def test_kerascv_is_an_extra_that_no_code_imports():
    project = _project()
    assert "keras-cv" not in _names(project["dependencies"])
    assert "keras-cv" in _names(project["optional-dependencies"]["kerascv"])
    for path in _sources():
        assert "keras_cv" not in _imports(ast.parse(path.read_text()), module_level=False), path


def test_the_comparison_packages_stay_out_of_the_package():
    project = _project()
    assert not {"torch", "lightly", "torchvision"} & _names(project["dependencies"])
    assert {"lightly", "torch", "torchvision"} <= _names(project["optional-dependencies"]["bench"])
    for path in _sources():
        used = _imports(ast.parse(path.read_text()), module_level=False)
        assert not {"lightly", "torchvision", "lightly_harness", "benchmarks"} & used, path
