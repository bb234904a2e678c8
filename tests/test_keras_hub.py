"""KerasHub backbones as kerascl encoders (`kerascl.backbones.from_keras_hub`) and KerasHub presets out
(`kerascl.export.save_keras_hub_preset`). Offline: every backbone is built small from its config, randomly
initialised; nothing is downloaded."""

from __future__ import annotations

import numpy as np
import pytest

keras_hub = pytest.importorskip("keras_hub")

import keras  # noqa: E402

from kerascl.backbones import KerasHubEncoder, check_backbone, from_keras_hub, stage_outputs  # noqa: E402
from kerascl.export import save_keras_hub_preset  # noqa: E402
from tests import hub_helpers  # noqa: E402
from tests.cases import all_cases, this_share  # noqa: E402

to_numpy = keras.ops.convert_to_numpy
CASES = all_cases()


def _images(n=2, size=32, seed=0):
    return np.random.default_rng(seed).random((n, size, size, 3), dtype=np.float32)


#: (builder, feature width, pooling chosen by "auto", stage map shapes at 32 px without the batch axis)
BACKBONES = {
    "resnet": (hub_helpers.resnet, 8, "avg", [(8, 8, 64), (4, 4, 8), (2, 2, 8), (1, 1, 8)]),
    "efficientnet": (hub_helpers.efficientnet, 1280, "avg", [(16, 16, 8), (8, 8, 16), (4, 4, 1280)]),
    "mobilenet": (hub_helpers.mobilenet, 32, "avg", []),
    "vit": (hub_helpers.vit, 16, "cls", []),
    "dinov2": (hub_helpers.dinov2, 16, "cls", [(4, 4, 16)] * 4),
}


@pytest.mark.parametrize("kind", sorted(BACKBONES))
def test_encoder_of_each_backbone_pools_shares_weights_and_round_trips(kind, tmp_path):
    builder, width, mode, stages = BACKBONES[kind]
    hub = builder()
    encoder = from_keras_hub(hub, image_size=32)
    assert isinstance(encoder, KerasHubEncoder) and encoder.pooling_mode == mode
    assert check_backbone(encoder, (32, 32, 3)) == width
    # The encoder runs the backbone's own variables: training one trains the other.
    assert {id(v) for v in hub.weights} == {id(v) for v in encoder.weights}
    assert [tuple(t.shape[1:]) for t in encoder.stage_tensors().values()] == stages
    images = _images()
    features = to_numpy(encoder(images))
    assert features.shape == (2, width) and np.all(np.isfinite(features))
    raw = to_numpy(hub({"images": images} if isinstance(hub.input, dict) else images))
    expected = raw[:, 0] if mode == "cls" else raw.mean(axis=(1, 2))
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-5)
    path = str(tmp_path / "encoder.keras")
    encoder.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, KerasHubEncoder)
    np.testing.assert_allclose(to_numpy(loaded(images)), features, rtol=1e-5, atol=1e-5)


def test_pooling_modes_and_their_errors():
    images = _images()
    vit = hub_helpers.vit()
    tokens = to_numpy(vit(images))  # (2, 1 + 16, 16)
    avg = from_keras_hub(vit, pooling="avg")
    np.testing.assert_allclose(to_numpy(avg(images)), tokens[:, 1:].mean(axis=1), rtol=1e-5, atol=1e-5)
    no_class_token = from_keras_hub(hub_helpers.vit(use_class_token=False))
    assert no_class_token.pooling_mode == "avg"
    with pytest.raises(ValueError, match="no class token.*pooling='avg'"):
        from_keras_hub(hub_helpers.vit(use_class_token=False), pooling="cls")
    with pytest.raises(ValueError, match="no class token; pass pooling='avg'"):
        from_keras_hub(hub_helpers.resnet(), pooling="cls")
    with pytest.raises(ValueError, match="must return \\(B, C\\)"):
        from_keras_hub(hub_helpers.resnet(), pooling="none")
    resnet_max = from_keras_hub(hub_helpers.resnet(), pooling="max", image_size=32)
    assert resnet_max.pooling_mode == "max"
    with pytest.raises(TypeError, match="keras_hub.models.Backbone"):
        from_keras_hub(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))


def test_fixed_vit_size_against_other_views_is_a_clear_error():
    vit = hub_helpers.vit(image_size=32)
    with pytest.raises(ValueError, match=r"takes 32x32 images.*views are 16x16.*image_shape=\(16, 16, 3\)"):
        from_keras_hub(vit, image_size=16)
    from kerascl.methods import SimSiam

    model = SimSiam(from_keras_hub(vit), projection_dim=8, hidden_dim=8, prediction_hidden_dim=4)
    views = {"view_1": _images(size=16), "view_2": _images(size=16, seed=1)}
    with pytest.raises(ValueError, match=r"takes 32x32 images but the views are 16x16.*image_size=16"):
        model(views)


def test_input_normalization_is_applied_inside_the_encoder():
    hub = hub_helpers.resnet()
    encoder = from_keras_hub(hub, normalization="imagenet", image_size=32)
    images = _images()
    mean, std = np.array([0.485, 0.456, 0.406], "float32"), np.array([0.229, 0.224, 0.225], "float32")
    expected = to_numpy(hub((images - mean) / std)).mean(axis=(1, 2))
    np.testing.assert_allclose(to_numpy(encoder(images)), expected, rtol=1e-4, atol=1e-5)


def test_stage_outputs_of_an_encoder_tap_the_pyramid():
    encoder = from_keras_hub(hub_helpers.resnet(), image_size=32)
    taps = stage_outputs(encoder, ("stage_1", "stage_3"))
    shapes = [tuple(t.shape) for t in taps(_images())]
    assert shapes == [(2, 8, 8, 64), (2, 2, 2, 8)]
    with pytest.raises(ValueError, match="no pyramid outputs"):
        stage_outputs(from_keras_hub(hub_helpers.vit()), ("stage_1", "stage_2"))


def _hub_encoder(kind: str, image_size: int = 16):
    if kind == "dinov2":  # 4 x 4 patch grid, class token, two register tokens
        return from_keras_hub(hub_helpers.dinov2(image_size=image_size, num_layers=2, patch_size=4), num_stages=2)
    return from_keras_hub(hub_helpers.resnet(), image_size=image_size, num_stages=2)


# Each method case runs on one backend per CI run (rotating over the backends, tests/cases.py), on a KerasHub
# encoder instead of the tiny kerascl backbone: pooled ResNet maps or the DINOv2 class token, and DINOv2's layers as
# the two stages of the hierarchical cases (their side branches need even stage maps, which the ResNet's 1 x 1 last
# levels are not at 16 px).
HUB_CASES = [name for name in sorted(CASES) if name != "partitioned_vae"]  # the VAE's encoder is its own
SHARED = this_share(HUB_CASES)


@pytest.mark.parametrize("name", SHARED)
def test_every_method_trains_on_a_keras_hub_encoder(name, monkeypatch):
    import importlib
    import pathlib

    kind = "dinov2" if name.startswith("hierarchical") or HUB_CASES.index(name) % 2 == 0 else "resnet"
    for path in sorted(pathlib.Path(__file__).parent.glob("cases_*.py")):
        module = importlib.import_module(f"tests.{path.stem}")
        if hasattr(module, "tiny_backbone"):
            monkeypatch.setattr(module, "tiny_backbone", lambda *args, **kwargs: _hub_encoder(kind))
    model, batch = CASES[name]()
    assert isinstance(model.backbone, KerasHubEncoder)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    history = model.fit(batch, batch_size=len(batch["view_1"]), epochs=1, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert model.embed(batch["view_1"]).shape[0] == len(batch["view_1"])


@pytest.mark.one_backend  # which stages the method taps is backend-independent; every backend trains it above
def test_hierarchical_method_uses_the_four_resnet_pyramid_stages():
    from kerascl.methods import HierarchicalAugmentationInvariance
    from tests.helpers import random_views

    encoder = from_keras_hub(hub_helpers.resnet(), image_size=32)
    model = HierarchicalAugmentationInvariance(encoder, projection_dim=8, hidden_dim=8, prediction_hidden_dim=4,
                                               embedding_dim=4, num_projector_layers=2)
    from kerascl.augment import PARAM_SIZE

    batch = random_views(batch=4, image_size=32, num_views=8, num_params=PARAM_SIZE)
    outputs = model(batch)  # training runs in test_every_method_trains_on_a_keras_hub_encoder
    assert [b.num_downsamples for b in model.branches] == [3, 2, 1]
    assert len(outputs["projections"]) == 4
    losses = model.stage_losses(outputs)
    assert len(losses) == 4 and all(np.isfinite(to_numpy(loss)) for loss in losses)


def test_hierarchical_method_refuses_a_backbone_without_pyramid_outputs():
    from kerascl.methods import HierarchicalAugmentationInvariance

    model = HierarchicalAugmentationInvariance(from_keras_hub(hub_helpers.vit()), projection_dim=8, hidden_dim=8,
                                               prediction_hidden_dim=4, embedding_dim=0)
    views = {f"view_{i}": _images() for i in range(1, 9)}
    with pytest.raises(ValueError, match="no pyramid outputs to tap"):
        model(views)


@pytest.mark.parametrize("kind", ["resnet", "vit"])
def test_keras_hub_preset_out_loads_in_keras_hub_and_back_in_kerascl(kind, tmp_path):
    if kind == "resnet":
        hub = hub_helpers.resnet()
        encoder = from_keras_hub(hub, normalization="imagenet", image_size=32)
    else:
        hub = hub_helpers.vit()
        encoder = from_keras_hub(hub, pooling="avg")
    # Move the weights off their initialisation, as pre-training would.
    rng = np.random.default_rng(0)
    for variable in hub.trainable_weights:
        variable.assign(variable + 0.01 * rng.normal(size=variable.shape).astype("float32"))
    images = _images()
    preset = save_keras_hub_preset(encoder, tmp_path / "preset")
    restored = keras_hub.models.Backbone.from_preset(preset)
    assert type(restored) is type(hub)
    raw_input = images if kind == "vit" else (images - np.array([0.485, 0.456, 0.406], "float32")) / np.array(
        [0.229, 0.224, 0.225], "float32")
    np.testing.assert_allclose(to_numpy(restored(raw_input)), to_numpy(hub(raw_input)), rtol=1e-5, atol=1e-5)
    # The preset's image converter carries the encoder's input scaling: from_keras_hub(preset) is the same encoder.
    again = from_keras_hub(str(preset), pooling="avg")
    np.testing.assert_allclose(to_numpy(again(images)), to_numpy(encoder(images)), rtol=1e-4, atol=1e-5)
    converter = keras_hub.layers.ImageConverter.from_preset(str(preset))
    np.testing.assert_allclose(to_numpy(converter(images * 255.0)), raw_input, rtol=1e-4, atol=1e-4)
    with pytest.raises(FileExistsError, match="overwrite"):
        save_keras_hub_preset(encoder, preset)


def test_save_keras_hub_preset_refuses_kerascl_backbones(tmp_path):
    from kerascl.backbones import ConvNet

    with pytest.raises(TypeError, match="Save kerascl's own backbones as .keras"):
        save_keras_hub_preset(ConvNet(width=0.125), tmp_path / "preset")


def test_byol_target_of_a_keras_hub_encoder_keeps_its_stages():
    from kerascl.methods.base import clone_layer

    encoder = from_keras_hub(hub_helpers.resnet(), image_size=32)
    copy = clone_layer(encoder)
    assert isinstance(copy, KerasHubEncoder) and list(copy.stage_tensors()) == list(encoder.stage_tensors())
    assert not {id(v) for v in copy.weights} & {id(v) for v in encoder.weights}


@pytest.mark.one_backend("tensorflow")  # the page exports a SavedModel, which Keras does not do on torch
def test_keras_hub_and_export_page_runs(tmp_path, monkeypatch):
    from tests.test_docs_examples import _python_blocks

    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_python_blocks("keras-hub-and-export.md"), "keras-hub-and-export.md", "exec"), namespace)
    assert type(namespace["restored"]).__name__ == "ResNetBackbone"
    assert (tmp_path / "byol_resnet_preset" / "config.json").exists()
    assert (tmp_path / "encoder_saved_model" / "saved_model.pb").exists()


def test_a_recipe_trains_a_keras_hub_preset_named_on_the_command_line(tmp_path):
    """`kerascl recipe NAME --set backbone=keras_hub:DIR --set width=1` trains the preset's backbone, probes it beside
    its random-init floor and saves it as the run's backbone; another width is refused before any data is read."""
    import json

    from click.testing import CliRunner

    from kerascl.cli import main
    from kerascl.recipe import get_recipe
    from tests.recipe_helpers import tiny_sets

    preset = save_keras_hub_preset(from_keras_hub(hub_helpers.resnet(), image_size=16), tmp_path / "preset")
    sets = [s for s in tiny_sets(get_recipe("shapes-partitioned")) if not s.startswith(("backbone=", "width="))]

    def run(out, *extra):
        args = ["recipe", "shapes-partitioned", "--out", str(tmp_path / out)]
        for value in [*sets, *extra]:
            args += ["--set", value]
        return CliRunner().invoke(main, args)

    result = run("run", f"backbone=keras_hub:{preset}", "width=1")
    assert result.exit_code == 0, result.output
    with open(tmp_path / "run" / "metrics.json") as handle:
        metrics = json.load(handle)
    assert "top1" in metrics["floors"]["random_init"]["knn"]
    backbone = keras.models.load_model(tmp_path / "run" / "backbone.keras")
    assert isinstance(backbone, KerasHubEncoder) and backbone.output_shape == (None, 8)

    refused = run("refused", f"backbone=keras_hub:{preset}", "width=0.5")
    assert refused.exit_code != 0 and "--set width=1" in refused.output
    assert not (tmp_path / "refused").exists()
