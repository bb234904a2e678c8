"""The bad-input table: every input kerascl refuses, with the error (or exit code) and the words its message must hold.

One row per check, in the order of docs/checks.md. A row is one `case(...)` line: an id, a function of the test's
`tmp_path` that feeds the bad input (and raises, or returns a click result for command-line rows), what it must
give (an exception type, or an int exit code), and phrases the message must contain: one naming the problem, one
naming the fix. Rows are fast (tiny arrays, no training step); command-line rows use click's CliRunner.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import types
from typing import Any, Callable

import keras
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from kerascl import data
from kerascl.cli import main
from tests.helpers import tiny_backbone
from tests.test_data_support import make_labeled_folder, make_unlabeled_folder


@dataclasses.dataclass
class Case:
    id: str
    run: Callable[[Any], Any]
    expect: type | int  # an exception type, or the exit code of a command-line row
    mentions: tuple[str, ...]


def case(id: str, run: Callable[[Any], Any], expect: type | int, *mentions: str) -> Case:
    return Case(id, run, expect, mentions)


def cli(*args: str) -> Callable[[Any], Any]:
    """A row that runs `kerascl ARGS` (`{tmp}` in an argument is replaced by the test's tmp_path)."""
    return lambda tmp: CliRunner().invoke(main, [a.replace("{tmp}", str(tmp)) for a in args])


# ------------------------------------------------------------------------------------------------ builders
def _images(scale: float = 1.0, offset: float = 0.0, n: int = 8, size: int = 16) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random((n, size, size, 3), dtype=np.float32) * scale + offset).astype(np.float32)


def _byol() -> keras.Model:
    from kerascl.methods import BYOL

    model = BYOL(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=16)
    model.compile(optimizer="sgd")
    return model


def _flip_views(image_size: int):
    """A two-view augmenter with one cheap stage: the README's preset checks its input the same way, but tracing
    a whole preset costs seconds per row."""
    from kerascl.augment import MultiViewAugmentation, RandomHorizontalFlip, ViewAugmentation

    return MultiViewAugmentation([ViewAugmentation(image_size, flip=RandomHorizontalFlip()) for _ in range(2)])


def _readme_pipeline(images: np.ndarray, batch: int) -> tf.data.Dataset:
    """The README's pipeline: float images -> batch(drop_remainder) -> multi-view augmenter in tf.data."""
    augment = _flip_views(images.shape[1])
    return (tf.data.Dataset.from_tensor_slices(images).batch(batch, drop_remainder=True)
            .map(lambda x: augment(x, training=True)))


def _fit(dataset) -> None:
    _byol().fit(dataset, epochs=1, verbose=0)


def _iterate(dataset) -> None:
    for _ in dataset:
        pass


def _corrupt_folder(tmp, zero_byte: bool = False) -> str:
    root = make_labeled_folder(tmp / "folder", classes=("a", "b"), per_class=2)
    bad = os.path.join(root, "a", "broken.jpg")
    with open(bad, "wb") as handle:
        handle.write(b"" if zero_byte else b"this is not an image")
    return root


def _image_folder_split(tmp, labeled: bool = True) -> str:
    root = tmp / "probe_data"
    if labeled:
        make_labeled_folder(root / "train", classes=("a", "b"), per_class=2)
        make_labeled_folder(root / "test", classes=("a", "b"), per_class=2)
    else:
        make_unlabeled_folder(root / "train", count=4)
        make_unlabeled_folder(root / "test", count=4)
    return str(root)


def _probe_unlabeled(tmp):
    backbone = tmp / "backbone.keras"
    tiny_backbone().save(backbone)
    folder = _image_folder_split(tmp, labeled=False)
    result = CliRunner().invoke(main, ["probe", str(backbone), "--data-dir", folder, "--out", str(tmp / "p.json")])
    assert not (tmp / "p.json").exists(), "a refused probe must not write --out"
    return result


def _not_keras_file(tmp) -> Any:
    path = tmp / "notes.keras"
    path.write_text("not a model")
    return CliRunner().invoke(main, ["probe", str(path), "--data-dir", _image_folder_split(tmp)])


def _tfds_missing_module(tmp):
    """from_tfds(download=True) with a tfds whose download needs a module that is not installed."""
    def download_and_prepare():
        try:
            import importlib_resources_missing_for_test  # noqa: F401
        except ModuleNotFoundError as error:
            raise RuntimeError("tfds wrapped it") from error

    class NotFound(Exception):
        pass

    fake = types.SimpleNamespace(
        builder=lambda name, data_dir=None: types.SimpleNamespace(download_and_prepare=download_and_prepare),
        core=types.SimpleNamespace(registered=types.SimpleNamespace(DatasetNotFoundError=NotFound)),
        ReadConfig=lambda **kwargs: None,
    )
    saved = sys.modules.get("tensorflow_datasets")
    sys.modules["tensorflow_datasets"] = fake
    try:
        data.from_tfds("mnist", download=True)
    finally:
        if saved is None:
            del sys.modules["tensorflow_datasets"]
        else:
            sys.modules["tensorflow_datasets"] = saved


def _own_data(tmp, data, *extra: str):
    """`kerascl recipe cifar10-byol --data-dir DATA ...`: `data` is a folder name to create, or a (name, array)
    pair saved with numpy.save, or (name, text) written as a text file."""
    if isinstance(data, tuple):
        name, content = data
        path = tmp / name
        if isinstance(content, str):
            path.write_text(content)
        else:
            np.save(path, content)
    else:
        path = tmp / data
        path.mkdir()
        (path / "notes.txt").write_text("no images here")
    args = ["recipe", "cifar10-byol", "--data-dir", str(path), "--out", str(tmp / "run"), "--epochs", "1"]
    result = CliRunner().invoke(main, args + [a.replace("{tmp}", str(tmp)) for a in extra])
    return result


def _unlabeled_eval_dir(tmp):
    photos = make_unlabeled_folder(tmp / "photos", count=4)
    return _own_data(tmp, ("images.npy", np.zeros((4, 8, 8, 3), np.uint8)), "--eval-dir", photos)


def _compare_with_failures(tmp):
    result = CliRunner().invoke(main, ["compare", "cifar10-byol", "cifar10-simsiam", "--data-dir",
                                       str(tmp / "missing"), "--out", str(tmp / "cmp")])
    table = (tmp / "cmp" / "comparison.md").read_text()
    assert table.count("failed: FileNotFoundError") == 2, table
    return result


def _too_many_devices(tmp):
    from kerascl.distribute import configure_devices

    configure_devices(64)


def _uneven_global_batch(tmp):
    from kerascl.distribute import DeviceSetup

    DeviceSetup("tensorflow", 2).per_device_batch(7)


def _single_batch_without_augmentation(tmp):
    model = _byol()
    model(_images())


def _filtered_empty_pipeline() -> tf.data.Dataset:
    # .filter hides the size from tf.data (unknown cardinality), so the empty epoch is only seen after fit.
    views = {"view_1": _images(), "view_2": _images()}
    return tf.data.Dataset.from_tensor_slices(views).filter(lambda x: False).batch(4)


# ------------------------------------------------------------------------------------------- run folders
def _finished_run(tmp) -> str:
    """A run folder as a finished `shapes-partitioned` run leaves it (its config.json and stage; no training)."""
    from kerascl.recipe import get_recipe
    from kerascl.run_folder import write_json_atomic, write_state

    folder = tmp / "run"
    folder.mkdir()
    write_json_atomic(folder / "config.json", {**get_recipe("shapes-partitioned").resolved(),
                                               "backend": keras.backend.backend()})
    write_state(str(folder), "complete")
    return str(folder)


def _rerun_with_other_settings(tmp):
    folder = _finished_run(tmp)
    result = CliRunner().invoke(main, ["recipe", "shapes-partitioned", "--out", folder,
                                       "--set", "learning_rate=0.123"])
    assert sorted(os.listdir(folder)) == ["config.json", "state.json"], "a refused rerun must leave the folder alone"
    return result


def _locked_run_folder(tmp):
    from kerascl.run_folder import write_json_atomic

    folder = tmp / "run"
    folder.mkdir()
    write_json_atomic(folder / "run.lock", {"pid": os.getpid(), "host": socket.gethostname(),
                                            "started": "2026-01-01T00:00:00+00:00", "command": "kerascl recipe x"})
    return CliRunner().invoke(main, ["recipe", "shapes-partitioned", "--out", str(folder)])


def _backup_without_config(tmp):
    folder = tmp / "run"
    (folder / "backup").mkdir(parents=True)
    (folder / "backup" / "training_metadata.json").write_text('{"epoch": 1}')
    return CliRunner().invoke(main, ["recipe", "shapes-partitioned", "--out", str(folder)])


def _non_finite_loss(tmp):
    from kerascl.callbacks import StopOnNonFiniteLoss

    guard = StopOnNonFiniteLoss(str(tmp))
    guard.on_epoch_begin(0)
    guard.on_train_batch_end(0, {"loss": float("nan")})


CASES = [
    # Recipes and --set (command line).
    case("recipe-typo", cli("recipe", "shapes-partitoned"), 1, "unknown recipe", "did you mean 'shapes-partitioned'"),
    case("set-typo", cli("recipe", "shapes-partitioned", "--set", "widht=0.5"), 1, "unknown recipe setting",
         "did you mean 'width'"),
    case("set-without-value", cli("recipe", "shapes-partitioned", "--set", "epochs"), 1, "key=value",
         "--set epochs=5"),
    case("set-wrong-type", cli("recipe", "shapes-partitioned", "--set", "width=wide"), 1, "width is a number",
         "'wide'"),
    case("set-unknown-augmenter", cli("recipe", "cifar10-byol", "--set", "augmenter=byoll"), 1, "not a preset",
         "did you mean 'byol'"),
    case("set-augmenter-on-own-views", cli("recipe", "shapes-partitioned", "--set", "augmenter=byol"), 1,
         "own augmenter", "would be ignored", "--set views.crop_scale"),
    case("devices-zero", cli("recipe", "shapes-partitioned", "--devices", "0"), 2, "--devices", "x>=1"),
    case("set-learning-rate-nan", cli("recipe", "shapes-partitioned", "--set", "learning_rate=nan"), 1,
         "learning_rate must be a finite number", "--set learning_rate="),
    case("set-learning-rate-zero", cli("recipe", "shapes-partitioned", "--set", "learning_rate=0"), 1,
         "learning_rate must be a finite number", "--set learning_rate="),
    case("set-method-number-nan", cli("recipe", "cifar10-simclr", "--set", "temperature=nan"), 1,
         "temperature must be a finite number", "--set temperature="),
    case("compare-writes-table-on-failure", _compare_with_failures, 1, "2 of 2 runs failed", "comparison.md"),
    # Run folders and training (command line).
    case("rerun-with-other-settings", _rerun_with_other_settings, 1, "holds a finished run with other settings",
         "learning_rate", "--force"),
    case("run-folder-in-use", _locked_run_folder, 1, "is in use by another run", "another --out"),
    case("resume-with-nothing-to-resume", cli("recipe", "shapes-partitioned", "--out", "{tmp}/empty", "--resume"), 1,
         "holds no interrupted run", "drop --resume"),
    case("force-and-resume", cli("recipe", "shapes-partitioned", "--force", "--resume"), 2, "--force", "not both"),
    case("backup-without-config", _backup_without_config, 1, "no config.json", "--force"),
    case("non-finite-loss", _non_finite_loss, Exception, "became nan", "no epoch was completed"),
    # Probe (command line).
    case("probe-not-keras-archive", _not_keras_file, 1, "is not a keras archive", "backbone.keras"),
    case("probe-unlabeled-folder", _probe_unlabeled, 1, "no class subfolders", "DIR/train/<class>"),
    # Your own data: --data-dir, --tfds, --eval-dir (command line).
    case("data-dir-without-images", lambda tmp: _own_data(tmp, "photos"), 1, "holds no images",
         "pass the folder that holds your images, a .npy array file, or --tfds name"),
    case("data-dir-not-npy", lambda tmp: _own_data(tmp, ("images.txt", "pixels")), 1, "not a .npy array",
         "numpy.save"),
    case("npy-channels-first", lambda tmp: _own_data(tmp, ("x.npy", np.zeros((4, 3, 8, 8), np.uint8))), 1,
         "shape (4, 3, 8, 8)", "transpose(0, 2, 3, 1)"),
    case("npy-one-image", lambda tmp: _own_data(tmp, ("x.npy", np.zeros((8, 8, 3), np.uint8))), 1,
         "reads as one image", "numpy.stack"),
    case("npy-integer-dtype", lambda tmp: _own_data(tmp, ("x.npy", np.zeros((4, 8, 8, 3), np.int64))), 1,
         "dtype int64", "astype('uint8')"),
    case("npy-0-255-floats", lambda tmp: _own_data(tmp, ("x.npy", _images(255.0, n=4, size=8))), 1, "0..255",
         "divide by 255"),
    case("data-dir-and-tfds", lambda tmp: _own_data(tmp, "photos", "--tfds", "cifar10"), 1, "--data-dir",
         "not both"),
    case("eval-dir-without-labels", _unlabeled_eval_dir, 1, "no class subfolders", "DIR/<class>/*"),
    case("shapes-recipe-with-data-dir", cli("recipe", "shapes-partitioned", "--data-dir", "{tmp}"), 1,
         "generates its own images", "cifar10-byol --data-dir DIR"),
    # Batch size and the number of steps.
    case("arrays-batch-larger-than-data", lambda tmp: data.from_arrays(_images(n=20), batch_size=64), ValueError,
         "20 example(s) but batch_size=64", "0 steps", "batch_size=20 or less", "drop_remainder=False"),
    case("folder-batch-larger-than-data", lambda tmp: data.from_image_folder(
        make_labeled_folder(tmp / "f", classes=("a", "b"), per_class=2), image_size=8, batch_size=8), ValueError,
         "4 example(s) but batch_size=8", "--batch-size"),
    case("readme-pipeline-zero-steps", lambda tmp: _fit(_readme_pipeline(_images(n=20), batch=32)), ValueError,
         "0 steps", "drop_remainder=False"),
    case("unknown-size-pipeline-zero-steps", lambda tmp: _fit(_filtered_empty_pipeline()), ValueError, "0 steps",
         "smaller batch size"),
    case("batch-size-zero", lambda tmp: data.from_arrays(_images(), batch_size=0), ValueError, "batch_size",
         "positive integer"),
    case("global-batch-not-divisible", _uneven_global_batch, ValueError, "does not split evenly", "multiple of 2"),
    case("too-many-devices", _too_many_devices, ValueError, "asked for 64 devices", "--virtual-cpus 64",
         "set_virtual_cpu_devices(64)")
    if keras.backend.backend() != "torch" else
    case("too-many-devices", _too_many_devices, NotImplementedError,
         "on the torch backend kerascl trains on one device", "use --devices 1, or the jax or tensorflow backend"),
    # Value range of float images.
    case("arrays-0-255-floats", lambda tmp: data.from_arrays(_images(255.0)), ValueError, "0..255", "divide by 255"),
    case("arrays-minus-1-to-1", lambda tmp: data.from_arrays(_images(2.0, -1.0)), ValueError, "negative values",
         "(images + 1) / 2"),
    case("arrays-divided-twice", lambda tmp: data.from_arrays(_images(1 / 255)), ValueError,
         "divided by 255 twice", "divide by 255 once"),
    case("readme-pipeline-0-255-floats", lambda tmp: _iterate(_readme_pipeline(_images(255.0), batch=4)),
         tf.errors.InvalidArgumentError, "0..255", "divide by 255"),
    case("readme-pipeline-minus-1-to-1", lambda tmp: _iterate(_readme_pipeline(_images(2.0, -1.0), batch=4)),
         tf.errors.InvalidArgumentError, "negative values", "(images + 1) / 2"),
    case("readme-pipeline-divided-twice", lambda tmp: _iterate(_readme_pipeline(_images(1 / 255), batch=4)),
         tf.errors.InvalidArgumentError, "divided by 255 twice", "divide by 255 once"),
    case("fit-numpy-views-0-255", lambda tmp: _byol().fit({"view_1": _images(255.0), "view_2": _images(255.0)},
                                                          batch_size=4, verbose=0), ValueError, "0..255",
         "divide by 255"),
    case("integer-dtype", lambda tmp: data.from_arrays(_images().astype(np.int64)), TypeError, "dtype int64",
         "astype('float32') / 255"),
    # Layout.
    case("channels-first", lambda tmp: data.from_arrays(_images().transpose(0, 3, 1, 2)), ValueError,
         "channels-first", "transpose(0, 2, 3, 1)"),
    case("labels-length", lambda tmp: data.from_arrays(_images(), np.zeros(3, np.int32)), ValueError,
         "labels has 3 entries", "images has 8"),
    # Files.
    case("corrupt-image", lambda tmp: data.from_image_folder(_corrupt_folder(tmp), image_size=8, batch_size=2),
         data.CorruptImageError, "broken.jpg", "skip_corrupt=True", "--skip-corrupt"),
    case("zero-byte-image", lambda tmp: data.from_image_folder(_corrupt_folder(tmp, zero_byte=True), image_size=8,
                                                               batch_size=2),
         data.CorruptImageError, "broken.jpg", "--skip-corrupt"),
    case("tfds-missing-module", _tfds_missing_module, ImportError, "importlib_resources_missing_for_test",
         "not the cause", "pip install"),
    # Views format.
    case("single-batch-without-augmentation", _single_batch_without_augmentation, ValueError,
         "single image batch", "view_1", "augmentation="),
    case("as-views-not-tuples", lambda tmp: data.as_views(tf.data.Dataset.from_tensor_slices(_images()).batch(2)),
         TypeError, "tuples of image batches", "no conversion"),
]


@pytest.mark.parametrize("row", CASES, ids=[c.id for c in CASES])
def test_bad_input_names_problem_and_fix(row: Case, tmp_path):
    if isinstance(row.expect, int):
        result = row.run(tmp_path)
        text = result.output
        assert result.exit_code == row.expect, text
    else:
        with pytest.raises(row.expect) as info:
            row.run(tmp_path)
        text = str(info.value)
    for phrase in row.mentions:
        assert phrase.lower() in text.lower(), f"{phrase!r} missing from: {text}"


# --------------------------------------------------------------------------- what the fixes make possible
def test_set_none_on_a_string_option_gives_none():
    from kerascl.recipe import get_recipe

    recipe = get_recipe("shapes-decoupled-uniformity").with_overrides(sets=["prior=none"])
    assert recipe.options["prior"] is None
    from kerascl.recipe_runner import build_model

    assert build_model(recipe).prior is None  # the documented ablation's second run builds its method
    recipe = get_recipe("cifar10-partitioned").with_overrides(sets=["partition.style_objective=null"])
    assert recipe.options["partition"]["style_objective"] is None
    # A config field typed str keeps the word: embedding_plot takes "none".
    assert get_recipe("cifar10-byol").with_overrides(sets=["embedding_plot=none"]).config.embedding_plot == "none"


def test_compare_table_keeps_finished_runs_next_to_a_failed_one(tmp_path, monkeypatch):
    from kerascl import recipe_comparison, recipe_runner
    from kerascl.recipe import get_recipe

    def fake_run(recipe, out, **kwargs):
        if recipe.options.get("prior") is None:
            raise ValueError("prior must be None, 'attributes' or a keras.Model")
        return types.SimpleNamespace(metrics={"probes": {"knn": {"top1": 0.5}}})

    monkeypatch.setattr(recipe_runner, "run_recipe", fake_run)
    base = get_recipe("shapes-decoupled-uniformity")
    runs = [("with", base), ("without", base.with_overrides(sets=["prior=none"]))]
    result = recipe_comparison.compare_recipes(runs, tmp_path)
    table = (tmp_path / "comparison.md").read_text()
    assert "| with | ok | 0.5000 |" in table
    assert "| without | failed: ValueError: prior must be None" in table
    assert set(result["failures"]) == {"without"} and (tmp_path / "comparison.png").exists()


def test_skip_corrupt_from_the_command_line():
    from kerascl.cli import _configured

    assert _configured("cifar10-byol", None, None, None, None, None, [], True).config.skip_corrupt is True
    assert _configured("cifar10-byol", None, None, None, None, None, ["skip_corrupt=true"]).config.skip_corrupt
    assert _configured("cifar10-byol", None, None, None, None, None, []).config.skip_corrupt is False


def test_probe_with_skip_corrupt_leaves_the_file_out(tmp_path):
    backbone = tmp_path / "backbone.keras"
    tiny_backbone(image_size=8).save(backbone)
    folder = _image_folder_split(tmp_path)
    with open(os.path.join(folder, "train", "a", "broken.jpg"), "wb") as handle:
        handle.write(b"not an image")
    args = ["probe", str(backbone), "--data-dir", folder, "--linear-epochs", "1", "--no-robustness"]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1 and "--skip-corrupt" in refused.output
    result = CliRunner().invoke(main, args + ["--skip-corrupt"])
    assert result.exit_code == 0, result.output


def test_augmenter_preset_names_match_kerascl_augment():
    from kerascl.augment import list_presets
    from kerascl.recipe import AUGMENTER_PRESETS

    assert sorted(AUGMENTER_PRESETS) == list_presets()


def test_black_and_in_range_images_pass():
    _iterate(_readme_pipeline(np.zeros((4, 16, 16, 3), np.float32), batch=4))
    _iterate(_readme_pipeline(_images(), batch=4))
    assert data.from_arrays(_images(), batch_size=8, views=False).steps_per_epoch == 1
