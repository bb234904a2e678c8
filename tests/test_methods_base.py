"""The shared method machinery: EMA targets, schedules, input forms and their errors, heads."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from kerascl import heads
from kerascl.methods import BYOL, BarlowTwins, SimilarityClustering, SimSiam
from tests.helpers import XLA, random_views, set_deterministic_weights, tiny_backbone


def _tiny_byol(**kwargs):
    return BYOL(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=16, **kwargs)


def _online_and_target(model):
    online = [v for v in model.backbone.weights + model.projector.weights if v.trainable]
    target_pairs = dict(model.ema.pairs)
    target = [t for o_layer in (model.backbone, model.projector)
              for o, t in zip(o_layer.weights, target_pairs[o_layer].weights) if o.trainable]
    return [np.asarray(v).copy() for v in online], [np.asarray(v).copy() for v in target]


def test_byol_target_follows_the_ema_rule_and_gets_no_gradient():
    total = 10
    model = _tiny_byol(total_steps=total, base_momentum=0.9)
    batch = random_views()
    model(batch)
    set_deterministic_weights(model, seed=3)
    model.compile(optimizer=keras.optimizers.SGD(0.5), jit_compile=XLA)
    target_ids = {id(t) for _, t_layer in model.ema.pairs for t in t_layer.weights}
    assert not target_ids & {id(v) for v in model.trainable_weights}, "target weights must not be trainable"

    model.train_on_batch(batch)  # step 0: the target copies the online network
    online_0, _ = _online_and_target(model)
    for step in range(1, 4):
        online_before, target_before = _online_and_target(model)
        model.train_on_batch(batch)
        _, target_after = _online_and_target(model)
        m = 1.0 - (1.0 - 0.9) * (math.cos(math.pi * step / total) + 1.0) / 2.0
        for o, t0, t1 in zip(online_before, target_before, target_after):
            np.testing.assert_allclose(t1, m * t0 + (1 - m) * o, rtol=1e-5, atol=1e-6)
    online_now, _ = _online_and_target(model)
    assert any(np.abs(a - b).max() > 1e-4 for a, b in zip(online_0, online_now)), "online weights should train"


def test_momentum_schedule_uses_the_planned_steps_from_fit():
    model = _tiny_byol()
    batch = random_views(batch=8)
    model.compile(optimizer="sgd", jit_compile=XLA)
    model.fit(batch, batch_size=4, epochs=3, verbose=0)
    assert float(model.steps_per_epoch) == 2 and float(model.total_steps) == 6
    assert float(model.global_step) == 6
    assert float(model.epoch) == 3.0


def test_fit_on_a_tf_data_pipeline_does_not_warn_that_keras_ignores_shuffle():
    import warnings

    import tensorflow as tf

    model = _tiny_byol()
    model.compile(optimizer="sgd", jit_compile=XLA)
    dataset = tf.data.Dataset.from_tensor_slices(random_views(batch=8)).batch(4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(dataset, epochs=1, verbose=0)
    assert not [w for w in caught if "shuffle=True" in str(w.message)]
    assert float(model.global_step) == 2


def test_ema_target_component_checks_and_schedule():
    from kerascl.methods import EMATarget

    for base, final in ((0.99, 0.9), (-0.1, 1.0), (0.9, 1.5)):
        with pytest.raises(ValueError, match="base_momentum <= final_momentum"):
            EMATarget(base, final)
    ema = EMATarget(0.9, 1.0, total_steps=10)
    for progress in (0.0, 0.3, 1.0):
        expected = 1.0 - 0.1 * (math.cos(math.pi * progress) + 1.0) / 2.0
        np.testing.assert_allclose(float(keras.ops.convert_to_numpy(ema.momentum(progress))), expected, rtol=1e-6)
    assert EMATarget(**ema.get_config()).get_config() == {"base_momentum": 0.9, "final_momentum": 1.0,
                                                          "total_steps": 10}


def test_a_fixed_step_budget_is_kept_and_the_epoch_length_still_recorded():
    """BYOL, ICCL and the hierarchical method share the component, so they plan alike."""
    from kerascl.methods import SimilarityClustering

    models = [_tiny_byol(total_steps=50),
              SimilarityClustering(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=16,
                                   total_steps=50)]
    for model in models:
        model.set_training_plan(steps_per_epoch=4, epochs=3)
        assert float(model.total_steps) == 50 and float(model.steps_per_epoch) == 4
        assert model.get_config()["total_steps"] == 50
    planned = _tiny_byol()
    planned.set_training_plan(steps_per_epoch=4, epochs=3)
    assert float(planned.total_steps) == 12


def test_tuple_views_are_accepted():
    model = SimSiam(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=4)
    batch = random_views()
    out = model((batch["view_1"], batch["view_2"]))
    assert len(out["projections"]) == 2 and tuple(out["projections"][0].shape) == (8, 8)


def test_bare_pair_dataset_gets_a_clear_error():
    import tensorflow as tf

    batch = random_views()
    dataset = tf.data.Dataset.from_tensor_slices((batch["view_1"], batch["view_2"])).batch(4)
    model = SimSiam(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=4)
    model.compile(optimizer="sgd")
    with pytest.raises(Exception, match=r"\(\(v1, v2\),\)"):
        model.fit(dataset, epochs=1, verbose=0)


def test_bad_images_get_clear_errors():
    model = SimSiam(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=4)
    batch = random_views()
    with pytest.raises(TypeError, match="float images"):
        model({"view_1": (batch["view_1"] * 255).astype("uint8"), "view_2": (batch["view_2"] * 255).astype("uint8")})
    with pytest.raises(ValueError, match=r"\(batch, height, width, 3\)"):
        model({"view_1": batch["view_1"][..., :1], "view_2": batch["view_2"][..., :1]})
    with pytest.raises(ValueError, match="no 'view_1'"):
        model({"images": batch["view_1"]})


def test_backbone_without_pooling_is_rejected():
    inputs = keras.Input((16, 16, 3))
    no_pool = keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))
    model = SimSiam(no_pool, projection_dim=8, hidden_dim=16, prediction_hidden_dim=4)
    with pytest.raises(ValueError, match="pooling"):
        model(random_views())


@pytest.mark.parametrize(
    "head, dims",
    [
        (heads.BYOLProjectionHead(), (4096, 256)),
        (heads.SimSiamProjectionHead(), (2048, 2048, 2048)),
        (heads.SimSiamProjectionHead(num_layers=2), (2048, 2048)),
        (heads.SimSiamPredictionHead(), (512, 2048)),
        (heads.BarlowTwinsProjectionHead(), (8192, 8192, 8192)),
        (heads.SimCLRProjectionHead(), (2048, 128)),
    ],
)
def test_heads_have_paper_defaults_and_round_trip(head, dims):
    assert tuple(b[0] for b in head.blocks) == dims
    clone = head.__class__.from_config(head.get_config())
    assert clone.blocks == head.blocks
    small = head.__class__.from_config({**head.get_config(), "hidden_dim": 8, "output_dim": 4})
    assert tuple(small(np.ones((2, 5), "float32")).shape) == (2, 4)


def test_torch_dense_init_matches_nn_linear_bounds():
    """`initializer="torch"`: kernels and biases uniform in +-1/sqrt(fan_in) (nn.Linear); "keras": Glorot, zero bias."""
    keras.utils.set_random_seed(0)
    head = heads.SimSiamPredictionHead(hidden_dim=256, output_dim=512, initializer="torch")
    head.build((None, 1024))
    (hidden, out) = [l for l in head.stack if isinstance(l, keras.layers.Dense)]
    for layer, fan_in in ((hidden, 1024), (out, 256)):
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        bound = 1 / math.sqrt(fan_in)
        assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.95 * bound
        assert kernel.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)  # uniform, not Glorot
    bias = keras.ops.convert_to_numpy(out.bias)
    assert np.abs(bias).max() <= 1 / 16 and np.abs(bias).max() > 0.9 / 16  # fan-in 256

    glorot = heads.SimSiamPredictionHead(hidden_dim=256, output_dim=512)
    glorot.build((None, 1024))
    g_out = [l for l in glorot.stack if isinstance(l, keras.layers.Dense)][-1]
    assert keras.ops.convert_to_numpy(g_out.kernel).std() == pytest.approx(math.sqrt(2 / (256 + 512)), rel=0.05)
    assert not np.any(keras.ops.convert_to_numpy(g_out.bias))

    clone = heads.SimSiamPredictionHead.from_config(head.get_config())
    assert clone.initializer == "torch"
    model = SimSiam(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=4, head_init="torch")
    assert model.projector.initializer == model.predictor.initializer == "torch"
    assert SimSiam.from_config(model.get_config()).predictor.initializer == "torch"
    assert _tiny_byol(head_init="torch").get_config()["head_init"] == "torch"
    barlow = BarlowTwins(tiny_backbone(), projection_dim=8, hidden_dim=16, head_init="torch")
    assert barlow.projector.initializer == "torch"
    assert BarlowTwins.from_config(barlow.get_config()).projector.initializer == "torch"
    assert BarlowTwins(tiny_backbone(), projection_dim=8, hidden_dim=16).projector.initializer == "keras"
    iccl = SimilarityClustering(tiny_backbone(), variant="plain", projection_dim=8, hidden_dim=16,
                                prediction_hidden_dim=8, head_init="torch")
    assert iccl.projector.initializer == iccl.predictor.initializer == "torch"
    assert SimilarityClustering.from_config(iccl.get_config()).predictor.initializer == "torch"
    assert SimilarityClustering(tiny_backbone(), projection_dim=8, hidden_dim=16,
                                prediction_hidden_dim=8).projector.initializer == "keras"
    with pytest.raises(ValueError, match="head_init must be one of"):
        SimSiam(tiny_backbone(), head_init="pytorch")
    with pytest.raises(ValueError, match="initializer must be one of"):
        heads.ProjectionHead([(4, True, None, None)], initializer="he")


def test_simsiam_projector_ends_with_plain_batch_norm():
    head = heads.SimSiamProjectionHead(hidden_dim=8, output_dim=4)
    last_bn = [l for l in head.stack if isinstance(l, keras.layers.BatchNormalization)][-1]
    assert not last_bn.center and not last_bn.scale


# Keras hooks that kerascl's methods override on purpose; any other `keras.Model` attribute a method class defines
# would replace Keras's own by accident.
INTENDED_KERAS_OVERRIDES = {"build", "call", "compute_loss", "fit", "from_config", "get_config"}


def _method_classes() -> set:
    import inspect

    import kerascl.methods

    return {c for c in vars(kerascl.methods).values() if inspect.isclass(c) and issubclass(c, keras.Model)}


def _kerascl_class_attributes(cls) -> set:
    """Non-dunder names defined by the kerascl classes in `cls`'s MRO."""
    return {name for klass in cls.__mro__ if klass.__module__.startswith("kerascl")
            for name in vars(klass) if not name.startswith("__")}


@pytest.mark.parametrize("cls", sorted(_method_classes(), key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_method_classes_override_only_the_intended_keras_hooks(cls):
    clashes = {n for n in _kerascl_class_attributes(cls) & set(dir(keras.Model))} - INTENDED_KERAS_OVERRIDES
    assert not clashes, f"{cls.__name__} overrides keras.Model attributes {sorted(clashes)}"


@pytest.mark.parametrize("cls", sorted(_method_classes(), key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_method_classes_shadow_nothing_of_torch_module(cls):
    """On Keras's torch backend every layer is a `torch.nn.Module` (e.g. `forward` is its call)."""
    torch = pytest.importorskip("torch")
    clashes = _kerascl_class_attributes(cls) & set(dir(torch.nn.Module))
    assert not clashes, f"{cls.__name__} shadows torch.nn.Module attributes {sorted(clashes)}"


def test_method_instances_set_no_torch_module_attribute():
    torch = pytest.importorskip("torch")
    from tests.cases import all_cases

    keras_own = set(vars(keras.Model()))
    for name, factory in all_cases().items():
        model, _ = factory()
        clashes = (set(vars(model)) - keras_own) & set(dir(torch.nn.Module))
        assert not clashes, f"{name} sets torch.nn.Module attributes {sorted(clashes)}"


def test_a_method_defining_forward_is_refused_with_the_new_name():
    from kerascl.methods import SiameseMethod

    with pytest.raises(TypeError, match="method_outputs"):
        type("Legacy", (SiameseMethod,), {"forward": lambda self, views, params, training=False: {}})


def test_has_momentum_target_reads_the_ema_component():
    """The recipe plan's cost per view counts a target network for BYOL, not for SimSiam."""
    from kerascl.recipe_runner import has_momentum_target

    byol = _tiny_byol()
    simsiam = SimSiam(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=8)
    views = random_views(batch=4)
    for model in (byol, simsiam):
        model(views, training=False)
    assert has_momentum_target(byol)
    assert not has_momentum_target(simsiam)
