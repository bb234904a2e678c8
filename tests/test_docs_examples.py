"""The code on the "write your own method" page runs as written."""

from __future__ import annotations

import pathlib
import re

import numpy as np

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def _python_blocks(page: str) -> str:
    text = (DOCS / page).read_text()
    return "\n".join(re.findall(r"```python\n(.*?)```", text, flags=re.S))


def test_write_your_own_method_page_runs():
    namespace: dict = {}
    exec(compile(_python_blocks("write-your-own-method.md"), "write-your-own-method.md", "exec"), namespace)
    losses = namespace["history"].history["loss"]
    assert len(losses) == 2 and np.all(np.isfinite(losses))


def test_getting_started_model_fit_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = _python_blocks("getting-started.md")
    code = code.split("from kerascl.data import from_image_folder")[0]  # the folder example needs a folder
    namespace: dict = {}
    exec(compile(code, "getting-started.md", "exec"), namespace)
    assert tuple(namespace["features"].shape) == (8, 64)
    assert (tmp_path / "backbone.keras").exists()
