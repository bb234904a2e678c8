"""Tests for kerascl.optimizers.L2SGD: torch.optim.SGD's update (momentum, L2 weight decay in the gradient)."""

import copy

import numpy as np
import pytest

import keras

from kerascl.optimizers import L2SGD, PREDICTOR_PATTERNS, WarmupCosineDecay
from tests.helpers import XLA

RNG = np.random.default_rng(0)


def torch_sgd_reference(w, grads, rates, momentum, weight_decay, nesterov=False):
    """torch.optim.SGD (dampening 0) in NumPy, written from its documented algorithm; one entry of `rates` per step."""
    buffer = None
    for g, lr in zip(grads, rates):
        d = g + weight_decay * w
        if momentum:
            buffer = d.copy() if buffer is None else momentum * buffer + d
            d = d + momentum * buffer if nesterov else buffer
        w = w - lr * d
    return w


def _values():
    return {
        "kernel": RNG.normal(size=(5, 3)).astype("float32"),
        "bias": RNG.normal(size=(3,)).astype("float32"),
        "gamma": (1 + 0.1 * RNG.normal(size=(3,))).astype("float32"),
    }


def _run(optimizer, values, steps):
    variables = {k: keras.Variable(v, name=k) for k, v in values.items()}
    for grads in steps:
        # Tensors, not NumPy arrays: Keras's own optimizers on torch take only tensors.
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(grads[k]), variables[k]) for k in values])
    return {k: keras.ops.convert_to_numpy(v) for k, v in variables.items()}, variables


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_matches_torch_sgd_reference(momentum, nesterov):
    if nesterov and momentum == 0:
        pytest.skip("Nesterov needs momentum")
    lr, wd = 0.3, 0.05
    values = _values()
    steps = [{k: RNG.normal(size=v.shape).astype("float32") for k, v in values.items()} for _ in range(4)]
    result, _ = _run(L2SGD(learning_rate=lr, momentum=momentum, weight_decay=wd, nesterov=nesterov), values, steps)
    for name, w in values.items():  # torch decays every variable, biases and BN scales included
        expected = torch_sgd_reference(w, [s[name] for s in steps], [lr] * 4, momentum, wd, nesterov)
        np.testing.assert_allclose(result[name], expected, rtol=1e-5, atol=1e-6, err_msg=name)


def test_schedule_scales_the_whole_buffer_like_torch():
    """With a changing rate torch multiplies the buffer of raw gradients by the current rate; Keras's SGD does not."""
    schedule = WarmupCosineDecay(peak=1.0, total_steps=6, warmup_steps=0)
    rates = [float(schedule(s)) for s in range(5)]
    values = {"kernel": RNG.normal(size=(4, 2)).astype("float32")}
    steps = [{"kernel": RNG.normal(size=(4, 2)).astype("float32")} for _ in range(5)]
    result, _ = _run(L2SGD(learning_rate=schedule, momentum=0.9, weight_decay=0.1), values, steps)
    expected = torch_sgd_reference(values["kernel"], [s["kernel"] for s in steps], rates, 0.9, 0.1)
    np.testing.assert_allclose(result["kernel"], expected, rtol=1e-5, atol=1e-6)


def test_decay_is_stronger_than_keras_decoupled_decay():
    """Zero gradients: torch-style decay through momentum 0.9 shrinks the weights far more than Keras's SGD."""
    lr, wd, n = 0.1, 0.01, 60
    values = {"kernel": np.ones((2, 2), "float32")}
    zeros = [{"kernel": np.zeros((2, 2), "float32")} for _ in range(n)]
    coupled, _ = _run(L2SGD(learning_rate=lr, momentum=0.9, weight_decay=wd), values, zeros)
    decoupled, _ = _run(keras.optimizers.SGD(learning_rate=lr, momentum=0.9, weight_decay=wd), values, zeros)
    expected = torch_sgd_reference(values["kernel"], [z["kernel"] for z in zeros], [lr] * n, 0.9, wd)
    np.testing.assert_allclose(coupled["kernel"], expected, rtol=1e-5)
    np.testing.assert_allclose(decoupled["kernel"], (1 - lr * wd) ** n, rtol=1e-5)  # Keras: w -= lr * wd * w
    shrink_coupled, shrink_decoupled = 1 - coupled["kernel"][0, 0], 1 - decoupled["kernel"][0, 0]
    assert shrink_coupled > 5 * shrink_decoupled


def test_exclusions():
    values = _values()
    zeros = [{k: np.zeros_like(v) for k, v in values.items()}]
    result, variables = _run(L2SGD(learning_rate=1.0, momentum=0.0, weight_decay=0.5,
                                   exclude_from_weight_decay=None), values, zeros)
    np.testing.assert_allclose(result["kernel"], 0.5 * values["kernel"], rtol=1e-6)  # LARS's rule keeps 2-D kernels
    np.testing.assert_allclose(result["bias"], values["bias"])
    np.testing.assert_allclose(result["gamma"], values["gamma"])

    optimizer = L2SGD(learning_rate=1.0, momentum=0.0, weight_decay=0.5, exclude_from_weight_decay=["bias"])
    result, variables = _run(optimizer, values, zeros)
    np.testing.assert_allclose(result["bias"], values["bias"])
    np.testing.assert_allclose(result["gamma"], 0.5 * values["gamma"], rtol=1e-6)
    assert optimizer.uses_weight_decay(variables["gamma"]) and not optimizer.uses_weight_decay(variables["bias"])


def test_trains_a_model_in_a_compiled_step_and_saves(tmp_path):
    keras.utils.set_random_seed(0)
    x = RNG.uniform(size=(64, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    optimizer = L2SGD(learning_rate=WarmupCosineDecay(peak=0.05, total_steps=40), momentum=0.9, weight_decay=5e-4)
    model.compile(optimizer=optimizer, loss="mse", jit_compile=XLA)
    losses = model.fit(x, y, batch_size=16, epochs=10, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.2 * losses[0]
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.optimizer, L2SGD) and int(loaded.optimizer.iterations) == 40
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)),
                               rtol=1e-5, atol=1e-5)


def test_get_config_round_trip():
    optimizer = L2SGD(learning_rate=0.1, momentum=0.8, weight_decay=1e-4, nesterov=True,
                      exclude_from_weight_decay=["bias"], clipnorm=1.0,
                      fixed_learning_rate_variables=PREDICTOR_PATTERNS, fixed_learning_rate=0.05)
    config = optimizer.get_config()
    assert config["weight_decay"] == 1e-4 and config["momentum"] == 0.8 and config["nesterov"]
    assert config["fixed_learning_rate_variables"] == list(PREDICTOR_PATTERNS) and config["fixed_learning_rate"] == 0.05
    restored = L2SGD.from_config(copy.deepcopy(config))
    assert restored.get_config() == config
    assert restored.weight_decay is None  # Keras's decoupled decay stays off: decay is never applied twice
    assert L2SGD().get_config()["exclude_from_weight_decay"] == []
    assert L2SGD().get_config()["fixed_learning_rate_variables"] is None


def test_fixed_learning_rate_variables_match_torch_parameter_groups():
    """The official `--fix-pred-lr`: the predictor group keeps the initial rate while the rest follows the schedule;
    after a warm-up (DDCL's) the fixed group continues at the peak."""
    schedule = WarmupCosineDecay(peak=0.5, total_steps=8, warmup_steps=2)
    scheduled = [float(schedule(s)) for s in range(6)]
    values = {"predictor_kernel": RNG.normal(size=(4, 3)).astype("float32"),
              "projector_kernel": RNG.normal(size=(4, 3)).astype("float32")}
    steps = [{k: RNG.normal(size=v.shape).astype("float32") for k, v in values.items()} for _ in range(6)]
    optimizer = L2SGD(schedule, momentum=0.9, weight_decay=0.01, fixed_learning_rate_variables=["predictor"])
    result, variables = _run(optimizer, values, steps)
    assert optimizer.uses_fixed_learning_rate(variables["predictor_kernel"])
    assert not optimizer.uses_fixed_learning_rate(variables["projector_kernel"])
    fixed = scheduled[:2] + [0.5] * 4
    for name, rates in (("predictor_kernel", fixed), ("projector_kernel", scheduled)):
        expected = torch_sgd_reference(values[name], [s[name] for s in steps], rates, 0.9, 0.01)
        np.testing.assert_allclose(result[name], expected, rtol=1e-5, atol=1e-6, err_msg=name)

    explicit = L2SGD(schedule, momentum=0.9, fixed_learning_rate_variables=["predictor"], fixed_learning_rate=0.2)
    result, _ = _run(explicit, values, steps)
    expected = torch_sgd_reference(values["predictor_kernel"], [s["predictor_kernel"] for s in steps], [0.2] * 6,
                                   0.9, 0.0)
    np.testing.assert_allclose(result["predictor_kernel"], expected, rtol=1e-5, atol=1e-6)
    cosine = keras.optimizers.schedules.CosineDecay(0.3, decay_steps=10)
    result, _ = _run(L2SGD(cosine, momentum=0.0, fixed_learning_rate_variables=["predictor"]), values, steps[:2])
    expected = torch_sgd_reference(values["predictor_kernel"], [s["predictor_kernel"] for s in steps[:2]],
                                   [0.3, 0.3], 0.0, 0.0)  # a Keras schedule: its initial rate
    np.testing.assert_allclose(result["predictor_kernel"], expected, rtol=1e-5, atol=1e-6)


def test_fixed_learning_rate_in_a_compiled_step_matches_the_eager_update():
    x = RNG.uniform(size=(32, 4)).astype("float32")
    y = RNG.uniform(size=(32, 2)).astype("float32")
    weights = None
    results = []
    for compiled in (True, False):  # Keras's compiled step (XLA; torch: its train function), then run_eagerly
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="projector"),
                                  keras.layers.Dense(2, name="predictor")])
        if weights is None:
            weights = [w.copy() for w in model.get_weights()]
        model.set_weights(weights)
        optimizer = L2SGD(WarmupCosineDecay(peak=0.1, total_steps=8, warmup_steps=2), momentum=0.9,
                          weight_decay=1e-3, fixed_learning_rate_variables=PREDICTOR_PATTERNS)
        model.compile(optimizer=optimizer, loss="mse", jit_compile=compiled and XLA, run_eagerly=not compiled)
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        flags = [optimizer.uses_fixed_learning_rate(v) for v in model.trainable_variables]
        assert flags == [False, False, True, True]  # projector kernel, bias; predictor kernel, bias
        results.append(model.get_weights())
    for compiled, eager in zip(*results):
        np.testing.assert_allclose(compiled, eager, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(momentum=1.0), "momentum"),
        (dict(weight_decay=-1.0), "weight_decay"),
        (dict(momentum=0.0, nesterov=True), "nesterov"),
        (dict(exclude_from_weight_decay=["("]), "exclude_from_weight_decay"),
        (dict(fixed_learning_rate_variables=["("]), "fixed_learning_rate_variables"),
        (dict(fixed_learning_rate=0.0), "fixed_learning_rate"),
        (dict(learning_rate=keras.optimizers.schedules.PiecewiseConstantDecay([10], [0.1, 0.01]),
              fixed_learning_rate_variables=["predictor"]), "fixed_learning_rate=<rate>"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        L2SGD(**kwargs)



def test_predictor_patterns_pick_exactly_the_predictor_heads_of_the_methods():
    """The variables the official `--fix-pred-lr` puts in the fixed group: SimSiam's predictor, DDCL's two
    predictors, one predictor per stage in the hierarchical method; no projector, embedder or backbone weight."""
    import re

    from kerascl.augment.layout import PARAM_SIZE
    from kerascl.methods import DDCL, HierarchicalAugmentationInvariance, SimSiam
    from tests.helpers import random_views, tiny_backbone

    def fixed(model):
        return {v.path for v in model.trainable_variables if any(re.search(p, v.path) for p in PREDICTOR_PATTERNS)}

    sizes = dict(projection_dim=8, hidden_dim=8, prediction_hidden_dim=4)
    simsiam = SimSiam(tiny_backbone(), **sizes)
    ddcl = DDCL(tiny_backbone(), **sizes)
    hierarchical = HierarchicalAugmentationInvariance(tiny_backbone(), stage_names=("stage_1", "stage_2"),
                                                      embedding_dim=4, **sizes)
    for model, heads, views in ((simsiam, [simsiam.predictor], 2),
                                (ddcl, [ddcl.predictor, ddcl.style_predictor], 2),
                                (hierarchical, hierarchical.predictors, 4)):
        model(random_views(batch=4, num_views=views, num_params=PARAM_SIZE))
        expected = {v.path for head in heads for v in head.trainable_variables}
        assert expected and fixed(model) == expected, type(model).__name__
