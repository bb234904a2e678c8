"""The examples of the docs run as written: the "write your own method" and getting-started code, and the
commands of docs/cli.md "Your own images"."""

from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def _python_blocks(page: str) -> str:
    text = (DOCS / page).read_text()
    return "\n".join(re.findall(r"```python\n(.*?)```", text, flags=re.S))


@pytest.mark.one_backend
def test_write_your_own_method_page_runs():
    namespace: dict = {}
    exec(compile(_python_blocks("write-your-own-method.md"), "write-your-own-method.md", "exec"), namespace)
    losses = namespace["history"].history["loss"]
    assert len(losses) == 2 and np.all(np.isfinite(losses))


@pytest.mark.one_backend
def test_getting_started_model_fit_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = _python_blocks("getting-started.md")
    code = code.split("from kerascl.data import from_image_folder")[0]  # the folder example needs a folder
    namespace: dict = {}
    exec(compile(code, "getting-started.md", "exec"), namespace)
    assert tuple(namespace["features"].shape) == (8, 64)
    assert (tmp_path / "backbone.keras").exists()


def _section(page: str, heading: str) -> str:
    text = (DOCS / page).read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def _own_images(root: pathlib.Path) -> None:
    """What the "Your own images" example reads: nested unlabeled photos, an image array, labeled class folders."""
    from PIL import Image

    from tests.test_data_support import make_labeled_folder

    rng = np.random.default_rng(0)
    for index in range(64):
        folder = root / "photos" / f"{2023 + index % 2}" / ("trip" if index % 3 == 0 else "")
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (20 + index % 5, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img_{index:03d}.{'png' if index % 4 == 0 else 'jpg'}")
    np.save(root / "images.npy", rng.integers(0, 256, (64, 16, 16, 3), dtype=np.uint8))
    make_labeled_folder(root / "labeled", classes=("cat", "dog", "emu", "fox", "owl"), per_class=10)


def _own_images_commands() -> list[list[str]]:
    import shlex

    (block,) = re.findall(r"```bash\n(.*?)```", _section("cli.md", "Your own images"), flags=re.S)
    return [shlex.split(line)[1:] for line in block.splitlines() if line.startswith("kerascl ")]


@pytest.mark.parametrize("line", range(3), ids=["folder", "array-eval-dir", "tfds"])
def test_cli_your_own_images_example_runs(line, tmp_path, monkeypatch):
    """A command of docs/cli.md "Your own images", verbatim (the tfds one with tfds mocked: it cannot download
    here). Each trains a recipe, so the lines split between the backend runs of CI (every line once per CI run;
    KERAS_CL_ALL_CASES=1 runs all); tests/test_recipe_data.py reads every kind of data on every backend."""
    import json

    import keras
    from click.testing import CliRunner

    from kerascl.cli import main
    from tests.cases import in_this_share

    commands = _own_images_commands()
    assert [args[0] for args in commands] == ["recipe"] * 3
    if not in_this_share(line):
        pytest.skip("runs in the other backend's CI run (KERAS_CL_ALL_CASES=1 runs it here)")
    args = commands[line]
    monkeypatch.chdir(tmp_path)
    _own_images(tmp_path)
    if "--tfds" in args:
        import tensorflow_datasets as tfds

        with tfds.testing.mock_data(num_examples=64):
            result = CliRunner().invoke(main, args, catch_exceptions=False)
    else:
        result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = tmp_path / args[args.index("--out") + 1]
    for file in ("config.json", "history.csv", "curves.png", "metrics.json", "backbone.keras"):
        assert (run / file).exists(), (run, file)
    assert keras.models.load_model(run / "backbone.keras").output_shape[-1] > 0
    metrics = json.loads((run / "metrics.json").read_text())
    if "--eval-dir" in args or "--tfds" in args:
        assert 0.0 <= metrics["probes"]["knn"]["top1"] <= 1.0 and "floors" in metrics
        assert metrics["data"]["probe_data"] == ("labeled/" if "--eval-dir" in args else "stl10")
    else:
        skipped = [text for text in result.output.splitlines() if text.startswith("Skipping probes:")]
        assert len(skipped) == 1 and "--eval-dir" in skipped[0]
        assert set(metrics["probes"]) == {"skipped"} and "floors" not in metrics
        assert metrics["data"] == {"source": "folder", "location": "photos/", "train_images": 64,
                                   "probe_data": None}
