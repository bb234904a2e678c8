"""Every recipe completes one epoch on a tiny data set and writes its whole run folder.

In CI each recipe runs in one of the backend runs (the recipes rotate over TensorFlow, JAX and torch: tests/cases.py);
`KERAS_CL_ALL_CASES=1` runs every recipe on the current backend.
"""

import json
import os
import warnings

import pytest

from kerascl.recipe import get_recipe, list_recipes
from kerascl.recipe_runner import run_recipe
from tests.cases import this_share
from tests.recipe_helpers import make_image_folder, tiny_sets

RECIPES = this_share(list_recipes())

RUN_FILES = ("config.json", "history.csv", "metrics.json", "backbone.keras", "curves.png", "embedding.png")


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    return make_image_folder(str(tmp_path_factory.mktemp("tiny_cifar")))


@pytest.mark.slow
@pytest.mark.parametrize("name", RECIPES)
def test_recipe_runs_one_epoch(name, image_folder, tmp_path, capsys):
    import keras

    recipe = get_recipe(name)
    sets = tiny_sets(recipe)
    if recipe.config.dataset != "shapes":
        sets.append(f"data_dir={image_folder}")
    recipe = recipe.with_overrides(sets=sets)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_recipe(recipe, tmp_path / "run")
    # Method.fit: a tf.data pipeline shuffles itself, so Keras's shuffle=True warning must not appear
    assert not [w for w in caught if "shuffle=True" in str(w.message)]
    for file in RUN_FILES:
        assert os.path.exists(tmp_path / "run" / file), file
    with open(tmp_path / "run" / "metrics.json") as handle:
        metrics = json.load(handle)
    assert metrics == json.loads(json.dumps(result.metrics, default=str))
    assert metrics["backend"] == keras.backend.backend()
    assert metrics["recipe"] == name and metrics["epochs_this_session"] == 1
    assert metrics["timing"]["images_per_second"] > 0
    probes = metrics["probes"]
    assert 0.0 <= probes["knn"]["top1"] <= 1.0 and 0.0 <= probes["linear"]["top1"] <= 1.0
    assert "5way_1shot" in probes["few_shot"]
    floors = metrics["floors"]  # the same probes, same split, on a random-init backbone and on raw pixels
    for floor in ("random_init", "raw_pixels"):
        assert floors[floor]["knn"]["num_test"] == probes["knn"]["num_test"] == metrics["probe_test_images"]
        assert 0.0 <= floors[floor]["knn"]["top1"] <= 1.0 and "5way_1shot" in floors[floor]["few_shot"]
    if recipe.config.robustness:
        assert set(probes["robustness"]) >= {"none", "jitter"}
        # --limit bounds the distorted test images too (the clean column uses the same images)
        assert metrics["robustness_test_images"] == min(metrics["probe_test_images"], 32)
        for floor in ("random_init", "raw_pixels"):  # the robustness probe has its floors too
            assert set(floors[floor]["robustness"]) == set(probes["robustness"])
    if recipe.config.color_probe:  # R^2 of each jitter parameter and their mean, beside both floors
        for result in (probes["color"], floors["random_init"]["color"], floors["raw_pixels"]["color"]):
            assert set(result) == {"brightness", "contrast", "saturation", "hue", "mean"}
            assert all(value <= 1.0 for value in result.values())
    if recipe.partitioned and recipe.config.separability:
        assert set(probes["separability"]) == {"class_acc_content", "class_acc_style", "aug_r2_content",
                                               "aug_r2_style"}
        assert os.path.exists(tmp_path / "run" / "content_style.png")
    with open(tmp_path / "run" / "config.json") as handle:
        config = json.load(handle)
    assert config["recipe"] == name and config["config"]["epochs"] == 1
    assert "| probe | metric | trained | random init | raw pixels |" in capsys.readouterr().out
    backbone = keras.models.load_model(tmp_path / "run" / "backbone.keras", compile=False)
    assert backbone.output_shape[-1] >= 1
