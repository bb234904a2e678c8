"""What a recipe trains and probes on (`kerascl.recipe_data`, `kerascl.recipe_runner.load_data`): labeled and
unlabeled folders, `.npy` arrays, tfds names (mocked: tfds cannot download here) and `--eval-dir`.

Nothing trains here: `load_data` builds the pipelines and the probe arrays, with a one-flip augmenter. The end-to-end
runs (training, run folder, exported backbone) are the "Your own images" example of docs/cli.md, run by
tests/test_docs_examples.py.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from kerascl import recipe_data
from kerascl.recipe import get_recipe
from tests.recipe_helpers import make_image_folder
from tests.test_data_support import TinyFlipViews, make_labeled_folder, make_unlabeled_folder


def _recipe(**fields):
    return get_recipe("cifar10-byol").with_overrides(sets=["image_size=16", "batch_size=4"], **fields)


def _load(recipe):
    from kerascl.recipe_runner import load_data

    return load_data(recipe, TinyFlipViews(seed=0))


def _nested_photos(root) -> str:
    make_unlabeled_folder(os.path.join(root, "2023"), count=5)
    make_unlabeled_folder(os.path.join(root, "2024", "trip"), count=3)
    return str(root)


def test_the_data_is_recognised_from_its_form(tmp_path):
    labeled = make_image_folder(str(tmp_path / "labeled"), train_per_class=1, test_per_class=1, size=8)
    photos = _nested_photos(tmp_path / "photos")
    array = tmp_path / "images.npy"
    np.save(array, np.zeros((4, 8, 8, 3), np.uint8))
    kinds = {name: recipe_data.resolve_source(_recipe(data_dir=path).config)
             for name, path in (("labeled", labeled), ("photos", photos), ("array", str(array)))}
    assert kinds["labeled"].kind == "labeled folder" and kinds["labeled"].test_dir.endswith("test")
    assert kinds["photos"].kind == "folder" and kinds["array"].kind == "array"
    assert recipe_data.resolve_source(_recipe(tfds="stl10").config) == recipe_data.DataSource("tfds", "stl10")
    assert recipe_data.resolve_source(_recipe().config) == recipe_data.DataSource("tfds", "cifar10")
    assert recipe_data.resolve_source(get_recipe("shapes-partitioned").config).kind == "shapes"


def test_image_extensions_agree_with_the_folder_reader():
    from kerascl.data import IMAGE_EXTENSIONS

    assert recipe_data.IMAGE_EXTENSIONS == IMAGE_EXTENSIONS


def test_hold_out_test_takes_every_fifth_image_of_each_class():
    labels = np.array([0, 1, 2] * 10)
    test = recipe_data.hold_out_test(labels)
    assert np.bincount(labels[test]).tolist() == [2, 2, 2]
    assert not recipe_data.hold_out_test(np.array([0, 1] * 4)).any()


def test_unlabeled_nested_folder_trains_and_skips_the_probes(tmp_path):
    data = _load(_recipe(data_dir=_nested_photos(tmp_path / "photos")))
    assert data.num_train == 8 and data.probe_train is None and data.class_names is None
    assert "--eval-dir" in data.missing_labels and "no labels" in data.missing_labels
    batch = next(iter(data.train))
    assert batch["view_1"].shape == (4, 16, 16, 3) and "label" not in batch
    assert data.source == {"source": "folder", "location": str(tmp_path / "photos"), "train_images": 8,
                           "probe_data": None}


def test_array_file_with_an_eval_dir_of_class_folders(tmp_path):
    array = tmp_path / "images.npy"
    np.save(array, np.random.default_rng(0).random((6, 12, 12), dtype=np.float32))  # grayscale, floats in [0, 1]
    labeled = make_labeled_folder(tmp_path / "labeled", classes=("a", "b"), per_class=5)
    data = _load(_recipe(data_dir=str(array), eval_dir=labeled))
    assert data.num_train == 6 and data.missing_labels is None
    assert next(iter(data.train))["view_1"].shape == (4, 16, 16, 3)
    (train_x, _), (_, test_y) = data.probe_train, data.probe_test
    assert train_x.shape == (8, 16, 16, 3) and sorted(test_y.tolist()) == [0, 1]
    assert data.class_names == ["a", "b"] and data.source["probe_data"] == labeled


def test_eval_dir_with_train_and_test_replaces_the_source_labels(tmp_path):
    own = make_image_folder(str(tmp_path / "own"), train_per_class=1, test_per_class=1, size=8)
    evaluation = tmp_path / "eval"
    make_labeled_folder(evaluation / "train", classes=("x", "y"), per_class=2)
    make_labeled_folder(evaluation / "test", classes=("x", "y"), per_class=1)
    data = _load(_recipe(data_dir=own, eval_dir=str(evaluation)))
    assert data.num_train == 5  # the five classes of `own`, one image each
    assert data.class_names == ["x", "y"] and len(data.probe_train[0]) == 4 and len(data.probe_test[0]) == 2


def test_tfds_name_with_labels_feeds_the_probes():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=8):
        data = _load(_recipe(tfds="stl10", tfds_split="unlabelled", limit=8, probe_test_limit=6))
    assert data.num_train == 8 and data.missing_labels is None
    assert next(iter(data.train))["view_1"].shape == (4, 16, 16, 3)
    assert data.probe_train[0].shape[1:] == (16, 16, 3) and len(data.probe_test[0]) == 6
    assert len(data.class_names) == 10 and data.source["source"] == "tfds"


def test_tfds_name_that_is_not_prepared_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        _load(_recipe(tfds="cifar10", tfds_data_dir=str(tmp_path), limit=8))
    message = str(info.value)
    assert "--tfds 'cifar10'" in message and "tfds build cifar10" in message and "--data-dir" in message
