"""The code on the probes and callbacks pages runs as written."""

import pathlib
import re

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def _run_python_blocks(page):
    text = (DOCS / page).read_text()
    namespace = {}
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        exec(compile(block, page, "exec"), namespace)
    return namespace


def test_probes_page_runs():
    ns = _run_python_blocks("probes.md")
    results = ns["results"]
    assert results["knn"]["top1"] > 0.9 and results["linear"]["top1"] > 0.9
    assert set(ns["report"]) == {"class_acc_content", "class_acc_style", "aug_r2_content", "aug_r2_style"}
    floors = ns["floors"]
    assert set(floors) == {"random_init", "raw_pixels"}
    assert floors["raw_pixels"]["knn"]["num_test"] == ns["trained"]["knn"]["num_test"] == 120
    assert set(ns["color"]) == {"brightness", "contrast", "saturation", "hue", "mean"}


def test_callbacks_page_runs():
    ns = _run_python_blocks("callbacks.md")
    history = ns["history"].history
    assert len(history["knn_top1"]) == 2 and len(history["feature_std"]) == 2
