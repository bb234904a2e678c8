"""Recipe registry, overrides and the pieces of the runner that need no training."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kerascl import recipe as recipe_module
from kerascl.recipe import (
    Recipe,
    RecipeConfig,
    UnknownRecipeError,
    discover_recipes,
    get_recipe,
    list_recipes,
    parse_set,
    parse_value,
)

EXPECTED = {
    "cifar10-byol",
    "cifar10-byol-1h",
    "cifar10-simsiam",
    "cifar10-simsiam-1h",
    "cifar10-barlow-twins",
    "cifar10-simclr",
    "cifar10-partitioned",
    "cifar10-partitioned-simsiam",
    "cifar10-ddcl",
    "cifar10-hierarchical",
    "cifar10-iccl",
    "cifar10-decoupled-uniformity",
    "shapes-partitioned",
    "shapes-decoupled-uniformity",
    "shapes-vae",
}

_RECIPE_FILE = textwrap.dedent(
    '''
    from kerascl.recipe import Recipe, RecipeConfig

    RECIPE = Recipe(name="{name}", description="d", method="M", source="s", config=RecipeConfig(dataset="shapes"),
                    build=lambda backbone, config, options: None)
    '''
)


def test_every_expected_recipe_is_registered_with_a_source():
    names = set(list_recipes())
    assert EXPECTED <= names
    for name in names:
        recipe = get_recipe(name)
        assert recipe.name == name
        assert recipe.description and recipe.source and recipe.reported
        assert recipe.config.epochs >= 1


def test_unknown_recipe_suggests_close_names():
    with pytest.raises(UnknownRecipeError, match="cifar10-byol"):
        get_recipe("cifar10-byl")
    with pytest.raises(UnknownRecipeError, match="kerascl recipes"):
        get_recipe("no-such-thing-at-all")


def test_discover_reads_a_folder_by_path(tmp_path):
    (tmp_path / "one.py").write_text(_RECIPE_FILE.format(name="folder-one"))
    (tmp_path / "_private.py").write_text("raise RuntimeError('private modules are not recipes')")
    found = discover_recipes(package=None, directory=tmp_path)
    assert list(found) == ["folder-one"]


def test_discover_falls_back_to_the_folder_when_the_package_is_missing(tmp_path):
    (tmp_path / "two.py").write_text(_RECIPE_FILE.format(name="folder-two"))
    found = discover_recipes(package="kerascl_no_such_package.recipes", directory=tmp_path)
    assert list(found) == ["folder-two"]


def test_discover_prefers_an_installed_package(tmp_path, monkeypatch):
    package = tmp_path / "site" / "fake_kerascl_pkg" / "recipes"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "three.py").write_text(_RECIPE_FILE.format(name="package-three"))
    folder = tmp_path / "checkout"
    folder.mkdir()
    (folder / "four.py").write_text(_RECIPE_FILE.format(name="folder-four"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    found = discover_recipes(package="fake_kerascl_pkg.recipes", directory=folder)
    assert list(found) == ["package-three"]


def test_discover_without_package_or_folder_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="No recipes found"):
        discover_recipes(package="kerascl_no_such_package.recipes", directory=tmp_path / "missing")


def test_duplicate_names_are_rejected(tmp_path):
    (tmp_path / "a.py").write_text(_RECIPE_FILE.format(name="same"))
    (tmp_path / "b.py").write_text(_RECIPE_FILE.format(name="same"))
    with pytest.raises(ValueError, match="same"):
        discover_recipes(package=None, directory=tmp_path)


def test_shipped_recipes_come_from_the_package_or_the_checkout_folder():
    # In a checkout kerascl/recipes links to recipes/; after `pip install .` it is a real package. Either way the
    # package import and the by-path folder read agree.
    by_folder = discover_recipes(package=None, directory=recipe_module.checkout_recipes_dir())
    assert set(by_folder) == set(list_recipes())


@pytest.mark.parametrize(
    "raw, annotation, expected",
    [
        ("5", int, 5),
        ("5.0", int, 5),
        ("0.25", float, 0.25),
        ("3", float, 3.0),
        ("true", bool, True),
        ("off", bool, False),
        ("none", int | None, None),
        ("12", int | None, 12),
        ("1,5,10", tuple[int, ...], (1, 5, 10)),
        ("byol", str, "byol"),
        ("none", str | None, None),
    ],
)
def test_parse_value_types(raw, annotation, expected):
    value = parse_value(raw, annotation)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("raw, annotation", [("five", int), ("maybe", bool), ("x", float), ("1.5", int)])
def test_parse_value_rejects_bad_text(raw, annotation):
    with pytest.raises(ValueError, match="field"):
        parse_value(raw, annotation, key="field")


def test_parse_set_needs_an_equals_sign():
    assert parse_set("a.b=c=d") == ("a.b", "c=d")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_set("epochs")


def test_overrides_are_typed_by_the_field_and_leave_the_recipe_unchanged():
    base = get_recipe("cifar10-partitioned")
    changed = base.with_overrides(
        sets=["width=0.5", "partition.size=0.25", "partition.style_objective=orthogonal", "few_shot_shots=1,3",
              "probe_test_limit=none", "hidden_dim=64", "robustness=yes"],
        epochs=3,
        limit=None,
    )
    assert changed.config.width == 0.5 and changed.config.epochs == 3
    assert changed.config.few_shot_shots == (1, 3) and changed.config.probe_test_limit is None
    assert changed.config.robustness is True
    assert changed.options["partition"] == {**base.options["partition"], "size": 0.25,
                                            "style_objective": "orthogonal"}
    assert changed.options["hidden_dim"] == 64
    assert base.options["hidden_dim"] == 4096 and base.options["partition"]["size"] == 0.5
    assert base.config.epochs == 1000
    json.dumps(changed.resolved())


def test_unknown_override_keys_get_suggestions():
    recipe = get_recipe("cifar10-byol")
    with pytest.raises(ValueError, match="epochs"):
        recipe.with_overrides(sets=["epoch=3"])
    with pytest.raises(ValueError, match="hidden_dim"):
        recipe.with_overrides(sets=["hiden_dim=3"])
    with pytest.raises(ValueError, match="positive"):
        recipe.with_overrides(sets=["batch_size=0"])
    with pytest.raises(ValueError, match="integer"):
        recipe.with_overrides(sets=["epochs=many"])


def test_nullable_options_take_null_where_the_recipe_declares_it():
    recipe = get_recipe("cifar10-decoupled-uniformity")
    changed = recipe.with_overrides(sets=["fc_dim=null", "lam=none", "sigma=20"])
    assert changed.options["fc_dim"] is None and changed.options["lam"] is None and changed.options["sigma"] == 20.0
    assert recipe.with_overrides(sets=["fc_dim=512"]).options["fc_dim"] == 512
    with pytest.raises(ValueError, match="fc_dim"):
        recipe.with_overrides(sets=["fc_dim=wide"])
    with pytest.raises(ValueError, match="hidden_dim"):  # an option without a declared type keeps its default's
        recipe.with_overrides(sets=["hidden_dim=null"])


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="dataset"):
        RecipeConfig(dataset="imagenet21k")
    with pytest.raises(ValueError, match="optimizer"):
        RecipeConfig(optimizer="sgdd")
    with pytest.raises(ValueError, match="shapes_scale"):
        RecipeConfig(dataset="shapes", shapes_scale=(0.4, 0.3))
    assert RecipeConfig(dataset="shapes", shapes_scale=(0.3, 0.45)).shapes_scale == (0.3, 0.45)
    with pytest.raises(ValueError, match="crop_scale=0.2,1.0"):
        RecipeConfig(crop_scale=(0.2, 1.5))
    assert get_recipe("cifar10-byol-1h").with_overrides(sets=["crop_scale=0.2,1.0"]).config.crop_scale == (0.2, 1.0)
    with pytest.raises(ValueError, match="shapes_attributes=descriptors"):
        RecipeConfig(dataset="shapes", shapes_attributes="labels")
    with pytest.raises(ValueError, match="shapes_descriptor_noise"):
        RecipeConfig(dataset="shapes", shapes_descriptor_noise=0.6)
    with pytest.raises(ValueError, match="name"):
        Recipe(name="two words", description="", method="", source="", config=RecipeConfig(),
               build=lambda *a: None)


@pytest.mark.parametrize("setting", ["learning_rate=nan", "learning_rate=inf", "learning_rate=-inf",
                                     "learning_rate=0", "end_learning_rate=nan", "weight_decay=-1e-4",
                                     "weight_decay=inf", "momentum=1", "momentum=nan", "width=inf",
                                     "knn_temperature=0"])
def test_float_settings_must_be_finite_and_in_range(setting):
    key = setting.split("=")[0]
    with pytest.raises(ValueError, match=rf"^{key} must be a finite number .*--set {key}=VALUE"):
        get_recipe("shapes-partitioned").with_overrides(sets=[setting])


def test_a_huge_but_finite_learning_rate_is_left_to_the_nan_guard():
    assert get_recipe("shapes-partitioned").with_overrides(sets=["learning_rate=1e30"]).config.learning_rate == 1e30


def test_linear_scaling_rule():
    assert RecipeConfig(learning_rate=0.06, lr_reference_batch=128, batch_size=512).peak_learning_rate() == \
        pytest.approx(0.24)
    assert RecipeConfig(learning_rate=1e-3, lr_reference_batch=0, batch_size=64).peak_learning_rate() == 1e-3


def test_listing_recipes_imports_no_deep_learning_framework():
    code = ("import sys; from kerascl.recipe import list_recipes; names = list_recipes(); "
            "print(len(names), 'keras' in sys.modules, 'tensorflow' in sys.modules, 'jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    count, *imported = out.stdout.split()
    assert int(count) >= len(EXPECTED)
    assert imported == ["False", "False", "False"]


def test_cifar_recipe_without_data_dir_names_the_option(tmp_path):
    from kerascl.recipe_runner import load_data

    recipe = get_recipe("cifar10-byol").with_overrides(sets=["data_dir=" + str(tmp_path / "nowhere")])
    with pytest.raises(FileNotFoundError, match="train/<class>"):
        load_data(recipe, augmenter=None)
    (tmp_path / "flat").mkdir()  # neither the labeled layout nor any image to read unlabeled
    recipe = get_recipe("cifar10-byol").with_overrides(data_dir=str(tmp_path / "flat"))
    with pytest.raises(FileNotFoundError, match="holds no images"):
        load_data(recipe, augmenter=None)


def test_comparison_table_and_headline_metrics():
    from kerascl.recipe_comparison import comparison_table, headline_metrics

    metrics = {"probes": {"knn": {"top1": 0.5, "k": 20}, "linear": {"top1": 0.6},
                          "few_shot": {"5way_1shot": {"accuracy": 0.4}, "5way_5shot": {"skipped": "few"}},
                          "robustness": {"none": 0.6, "jitter": 0.55}}}
    row = headline_metrics(metrics)
    assert row == {"knn.top1": 0.5, "linear.top1": 0.6, "few_shot.5way_1shot": 0.4, "robustness.none": 0.6,
                   "robustness.jitter": 0.55}
    table = comparison_table({"a": row, "b": {"knn.top1": 0.7}})
    lines = table.splitlines()
    assert lines[0].startswith("| run | knn.top1 | linear.top1")
    assert lines[3].startswith("| b | 0.7000 | - |")


def test_comparison_rows_carry_the_floors():
    from kerascl.recipe_comparison import comparison_table, headline_metrics

    metrics = {"probes": {"knn": {"top1": 0.5}, "linear": {"top1": 0.6}},
               "floors": {"random_init": {"knn": {"top1": 0.27}, "linear": {"top1": 0.3}},
                          "raw_pixels": {"knn": {"top1": 0.25}, "linear": {"top1": 0.33}}}}
    row = headline_metrics(metrics)
    assert list(row) == ["knn.top1", "knn.top1 random init", "knn.top1 raw pixels", "linear.top1",
                         "linear.top1 random init", "linear.top1 raw pixels"]
    assert row["knn.top1 random init"] == 0.27 and row["linear.top1 raw pixels"] == 0.33
    header = comparison_table({"a": row}).splitlines()[0]
    assert header == ("| run | knn.top1 | knn.top1 random init | knn.top1 raw pixels | linear.top1 | "
                      "linear.top1 random init | linear.top1 raw pixels |")
    few_shot = {"probes": {"few_shot": {"5way_1shot": {"accuracy": 0.4}}},
                "floors": {"random_init": {"few_shot": {"5way_1shot": {"accuracy": 0.3}}},
                           "raw_pixels": {"few_shot": {"5way_1shot": {"accuracy": 0.28}}}}}
    assert headline_metrics(few_shot) == {"few_shot.5way_1shot": 0.4, "few_shot.5way_1shot random init": 0.3,
                                          "few_shot.5way_1shot raw pixels": 0.28}


def test_limit_bounds_the_probes_too():
    from kerascl.recipe import SMOKE_PROBE_TEST_IMAGES

    recipe = get_recipe("cifar10-byol")
    assert recipe.config.probe_limits() == (recipe.config.probe_train_limit, None)  # no limit: all test images
    small = recipe.with_overrides(limit=512).config
    assert small.probe_limits() == (512, SMOKE_PROBE_TEST_IMAGES)
    large = recipe.with_overrides(limit=20_000).config
    assert large.probe_limits() == (min(20_000, recipe.config.probe_train_limit), 20_000)
    assert recipe.with_overrides(limit=512, probe_test_limit=300).config.probe_limits() == (512, 300)
    assert recipe.with_overrides(sets=["floors=false"]).config.floors is False


def test_plots_write_pngs(tmp_path):
    from kerascl import plots

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 10)
    features = rng.normal(size=(30, 8)) + labels[:, None]
    history = {"epoch": [0, 1], "loss": [1.0, 0.5], "loss_content": [0.4, 0.3], "knn_top1": [0.2, float("nan")]}
    paths = [
        plots.plot_history(history, tmp_path / "curves.png"),
        plots.plot_embedding(features, labels, tmp_path / "embedding.png", method="pca"),
        plots.plot_content_style(features[:, :4], features[:, 4:], labels, tmp_path / "cs.png", method="pca"),
        plots.plot_comparison({"a": {"x": 0.5}, "b": {"x": 0.6, "y": 0.1}}, tmp_path / "cmp.png"),
    ]
    for path in paths:
        with open(path, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    points, used = plots.reduce_2d(features, "pca")
    assert points.shape == (30, 2) and used == "PCA"
    with pytest.raises(ValueError, match="loss"):
        plots.plot_history({"epoch": [0]}, tmp_path / "x.png")


def test_read_history_handles_missing_cells(tmp_path):
    from kerascl.plots import read_history

    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,knn_top1\n0,1.5,NA\n1,1.0,0.3\n")
    history = read_history(path)
    assert history["loss"] == [1.5, 1.0]
    assert np.isnan(history["knn_top1"][0]) and history["knn_top1"][1] == 0.3
    with pytest.raises(FileNotFoundError):
        read_history(tmp_path / "missing.csv")


@pytest.mark.parametrize("name, expected", [("sgd", "SGD"), ("l2sgd", "L2SGD"), ("lars", "LARS")])
def test_recipe_optimizer_names_build_their_optimizer(name, expected):
    from kerascl.recipe_runner import make_optimizer

    config = get_recipe("cifar10-byol-1h").with_overrides([f"optimizer={name}"]).config
    assert type(make_optimizer(config, steps_per_epoch=10)).__name__ == expected


def test_one_hour_simsiam_recipe_runs_the_official_update_by_default():
    """cifar10-simsiam-1h: torch's SGD with the predictor's rate fixed and torch's head initialisation (run T18); a
    user switching back to Keras's SGD is told to turn the fixed rate off too."""
    from kerascl.optimizers import PREDICTOR_PATTERNS
    from kerascl.recipe_runner import make_optimizer

    recipe = get_recipe("cifar10-simsiam-1h")
    optimizer = make_optimizer(recipe.config, steps_per_epoch=10)
    assert type(optimizer).__name__ == "L2SGD"
    assert optimizer.get_config()["fixed_learning_rate_variables"] == list(PREDICTOR_PATTERNS)
    assert recipe.options["head_init"] == "torch"
    with pytest.raises(ValueError, match="fixed_predictor_lr=false"):
        recipe.with_overrides(["optimizer=sgd"])
    keras_form = recipe.with_overrides(["optimizer=sgd", "fixed_predictor_lr=false", "head_init=keras"])
    assert type(make_optimizer(keras_form.config, steps_per_epoch=10)).__name__ == "SGD"


def test_time_budget_recipes_take_the_head_initialisation_as_a_setting():
    recipe = get_recipe("cifar10-byol-1h").with_overrides(["head_init=torch"])
    assert recipe.options["head_init"] == "torch"
    recipe = get_recipe("cifar10-simsiam-1h").with_overrides(["head_init=keras"])
    assert recipe.options["head_init"] == "keras"
    with pytest.raises(ValueError, match="optimizer"):
        get_recipe("cifar10-byol-1h").with_overrides(["optimizer=l2sdg"])


def test_fixed_predictor_lr_setting_builds_l2sgd_with_the_predictor_group():
    """`--set fixed_predictor_lr=true`: the official `--fix-pred-lr` (SimSiam, DDCL, hierarchical), torch's SGD only."""
    from kerascl.optimizers import PREDICTOR_PATTERNS
    from kerascl.recipe_runner import make_optimizer

    for name in ("cifar10-simsiam", "cifar10-ddcl", "cifar10-hierarchical"):
        config = get_recipe(name).with_overrides(["optimizer=l2sgd", "fixed_predictor_lr=true"]).config
        optimizer = make_optimizer(config, steps_per_epoch=10)
        assert optimizer.get_config()["fixed_learning_rate_variables"] == list(PREDICTOR_PATTERNS)
    assert make_optimizer(get_recipe("cifar10-simsiam").with_overrides(["optimizer=l2sgd"]).config,
                          steps_per_epoch=10).get_config()["fixed_learning_rate_variables"] is None
    with pytest.raises(ValueError, match="--set optimizer=l2sgd"):
        get_recipe("cifar10-simsiam").with_overrides(["fixed_predictor_lr=true"])


@pytest.mark.parametrize("setting, width", [("style", 9), ("descriptors", 4), ("style+descriptors", 13)])
def test_shapes_attributes_setting_chooses_what_the_prior_sees(setting, width):
    from kerascl.data import DESCRIPTOR_FACTORS, encode_attributes
    from kerascl.recipe_runner import load_data, make_augmenter

    recipe = get_recipe("shapes-decoupled-uniformity").with_overrides(
        [f"shapes_attributes={setting}", "limit=64", "shapes_test=16", "batch_size=32"])
    data = load_data(recipe, make_augmenter(recipe))
    shapes = data.train.shapes_data
    assert shapes.attributes.shape == (64, width)
    assert "attributes" in next(iter(data.train))
    if setting == "descriptors":  # the recipe's 10 % noise: mostly, not always, the class's own code
        exact = np.asarray(_descriptor_table(shapes.class_names))[shapes.labels]
        agree = (encode_attributes(shapes.factors, DESCRIPTOR_FACTORS) == exact).mean()
        assert 0.75 < agree < 1.0


def _descriptor_table(class_names):
    from kerascl.data import SHAPE_DESCRIPTORS

    return [SHAPE_DESCRIPTORS[name] for name in class_names]


def test_crop_scale_reaches_the_preset_views_and_is_refused_by_a_recipes_own_view_maker():
    from kerascl.recipe_runner import make_augmenter

    augmenter = make_augmenter(get_recipe("cifar10-byol-1h").with_overrides(["crop_scale=0.2,1.0"]))
    assert all(tuple(view.describe()[0]["scale"]) == (0.2, 1.0) for view in augmenter.views)
    with pytest.raises(ValueError, match="makes its own views"):
        make_augmenter(get_recipe("shapes-partitioned").with_overrides(["crop_scale=0.2,1.0"]))


def test_shapes_vae_views_change_the_appearance_and_keep_the_shape():
    # The swap needs views whose shared part is the object: colour, grey and flip change pixel values, never which
    # pixels belong together, so the map of equal neighbours is the image's own (or its mirror's) in every view.
    from kerascl.data import make_shapes
    from kerascl.recipe_runner import make_augmenter

    recipe = get_recipe("shapes-vae")
    images = make_shapes(32, image_size=recipe.config.image_size, seed=3, antialias=1).images
    views = make_augmenter(recipe)(images)

    def equal_neighbours(x):
        x = np.asarray(x)
        return np.all(x[:, :, 1:] == x[:, :, :-1], axis=-1), np.all(x[:, 1:] == x[:, :-1], axis=-1)

    for key in ("view_1", "view_2"):
        view = np.asarray(views[key])
        assert not np.allclose(view, images), "the views should change the images' appearance"
        for i in range(len(images)):
            seen = equal_neighbours(view[i: i + 1])
            kept = [equal_neighbours(x[None]) for x in (images[i], images[i, :, ::-1])]
            assert any(all(np.array_equal(a, b) for a, b in zip(seen, k)) for k in kept), (key, i)
