"""Tests for kerascl.optimizers: LARS against a NumPy reference, the warm-up cosine schedule, lr scaling."""

import copy
import math

import numpy as np
import pytest

import keras

from kerascl.optimizers import LARS, WarmupCosineDecay, scaled_learning_rate
from tests.helpers import XLA

RNG = np.random.default_rng(0)


def lars_reference(w, g, v, lr, momentum, weight_decay, eta, decay, adapt, nesterov=False):
    """One LARS step in NumPy, written from the formula (SimCLR/BYOL variant)."""
    if decay:
        g = g + weight_decay * w
    trust = 1.0
    if adapt:
        w_norm, g_norm = np.linalg.norm(w), np.linalg.norm(g)
        if w_norm > 0 and g_norm > 0:
            trust = eta * w_norm / g_norm
    v = momentum * v + lr * trust * g
    step = momentum * v + lr * trust * g if nesterov else v
    return w - step, v


def _variables():
    """A weight matrix, a bias, a BatchNorm-style gamma (1-D), a 2-D variable named gamma, a 1-D `scale`."""
    values = {
        "kernel": RNG.normal(size=(5, 3)).astype("float32"),
        "bias": RNG.normal(size=(3,)).astype("float32"),
        "gamma": (1 + 0.1 * RNG.normal(size=(3,))).astype("float32"),
        "gamma_2d": RNG.normal(size=(2, 3)).astype("float32"),
        "scale": RNG.normal(size=(4,)).astype("float32"),
    }
    variables = {
        key: keras.Variable(value, name="gamma" if key == "gamma_2d" else key) for key, value in values.items()
    }
    return values, variables


def _grads(values):
    return {k: RNG.normal(size=v.shape).astype("float32") for k, v in values.items()}


def _run(optimizer, variables, grad_steps):
    names = list(variables)
    for grads in grad_steps:
        optimizer.apply_gradients([(grads[n], variables[n]) for n in names])
    return {n: keras.ops.convert_to_numpy(variables[n]) for n in names}


@pytest.mark.parametrize("nesterov", [False, True])
def test_lars_matches_numpy_reference(nesterov):
    lr, momentum, wd, eta = 0.5, 0.9, 1e-2, 0.02
    values, variables = _variables()
    steps = [_grads(values) for _ in range(3)]
    optimizer = LARS(learning_rate=lr, momentum=momentum, weight_decay=wd, eta=eta, nesterov=nesterov)
    result = _run(optimizer, variables, steps)

    # Default rule: only the 2-D kernel gets weight decay and the trust ratio; the bias, the 1-D gamma, the 2-D
    # variable named "gamma" and the 1-D "scale" are plain SGD with momentum.
    included = {"kernel"}
    for name, w in values.items():
        v = np.zeros_like(w)
        for grads in steps:
            w, v = lars_reference(
                w, grads[name], v, lr, momentum, wd, eta, name in included, name in included, nesterov
            )
        np.testing.assert_allclose(result[name], w, rtol=1e-5, atol=1e-6, err_msg=name)
    for name, variable in variables.items():
        assert optimizer.uses_weight_decay(variable) == optimizer.uses_adaptation(variable) == (name in included)


def test_lars_trust_ratio_changes_the_step():
    """Guard against a reference that cannot fail: the adapted kernel step differs from plain SGD."""
    values, variables = _variables()
    grads = _grads(values)
    optimizer = LARS(learning_rate=0.1, momentum=0.0, eta=0.001)
    result = _run(optimizer, variables, [grads])
    plain = values["kernel"] - 0.1 * grads["kernel"]
    trust = 0.001 * np.linalg.norm(values["kernel"]) / np.linalg.norm(grads["kernel"])
    assert not np.allclose(result["kernel"], plain, atol=1e-4)
    np.testing.assert_allclose(result["kernel"], values["kernel"] - 0.1 * trust * grads["kernel"], rtol=1e-5)
    np.testing.assert_allclose(result["bias"], values["bias"] - 0.1 * grads["bias"], rtol=1e-5)


def test_lars_weight_decay_with_zero_gradient():
    # With g = 0 the decayed gradient is wd * w, the trust ratio eta * ||w|| / (wd * ||w||) = eta / wd, so the
    # step is lr * eta * w whatever wd is; excluded variables do not move at all.
    lr, eta = 0.1, 0.01
    for wd in (1e-4, 1e-2):
        values, variables = _variables()
        zeros = {k: np.zeros_like(v) for k, v in values.items()}
        result = _run(LARS(learning_rate=lr, momentum=0.0, weight_decay=wd, eta=eta), variables, [zeros])
        np.testing.assert_allclose(result["kernel"], values["kernel"] * (1 - lr * eta), rtol=1e-6)
        for name in ("bias", "gamma", "gamma_2d", "scale"):
            np.testing.assert_array_equal(result[name], values[name])
    # Without adaptation, the decay is plain L2: w <- w - lr * wd * w
    values, variables = _variables()
    zeros = {k: np.zeros_like(v) for k, v in values.items()}
    optimizer = LARS(learning_rate=lr, momentum=0.0, weight_decay=1e-2, exclude_from_adaptation=[".*"])
    result = _run(optimizer, variables, [zeros])
    np.testing.assert_allclose(result["kernel"], values["kernel"] * (1 - lr * 1e-2), rtol=1e-6)


def test_lars_zero_weight_uses_trust_one():
    kernel = keras.Variable(np.zeros((3, 3), "float32"), name="kernel")
    grad = RNG.normal(size=(3, 3)).astype("float32")
    LARS(learning_rate=0.1, momentum=0.0, weight_decay=1e-3).apply_gradients([(grad, kernel)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kernel), -0.1 * grad, rtol=1e-6)


def test_lars_custom_exclusions():
    lr, wd, eta = 0.2, 1e-2, 0.05
    values, variables = _variables()
    grads = _grads(values)
    # patterns replace the default rule: everything adapted, only "bias" decayed (an odd but checkable choice)
    optimizer = LARS(
        learning_rate=lr, momentum=0.0, weight_decay=wd, eta=eta, exclude_from_adaptation=[],
        exclude_from_weight_decay=lambda variable: variable.path != "bias",
    )
    result = _run(optimizer, variables, [grads])
    for name, w in values.items():
        expected, _ = lars_reference(w, grads[name], 0.0, lr, 0.0, wd, eta, name == "bias", True)
        np.testing.assert_allclose(result[name], expected, rtol=1e-5, atol=1e-7, err_msg=name)


def test_lars_layer_paths_and_keras_exclusion_api():
    dense = keras.layers.Dense(3, kernel_initializer="ones", name="dense")
    norm = keras.layers.BatchNormalization(name="batch_normalization")
    dense.build((None, 4))
    norm.build((None, 3))
    variables = dense.trainable_variables + norm.trainable_variables
    optimizer = LARS(learning_rate=0.1, weight_decay=1e-4)
    optimizer.build(variables)
    flags = {v.path: (optimizer.uses_weight_decay(v), optimizer.uses_adaptation(v)) for v in variables}
    assert flags == {
        "dense/kernel": (True, True),
        "dense/bias": (False, False),
        "batch_normalization/gamma": (False, False),
        "batch_normalization/beta": (False, False),
    }
    # Keras's own exclude_from_weight_decay() is honoured on top of LARS's rule
    optimizer = LARS(learning_rate=0.1, weight_decay=1e-4)
    optimizer.exclude_from_weight_decay(var_names=["kernel"])
    optimizer.build(variables)
    assert not optimizer.uses_weight_decay(dense.kernel) and optimizer.uses_adaptation(dense.kernel)


def test_lars_with_schedule_uses_each_step_rate():
    schedule = WarmupCosineDecay(peak=1.0, total_steps=10, warmup_steps=4)
    variable = keras.Variable(np.ones((2, 2), "float32"), name="kernel")
    grad = np.full((2, 2), 0.5, "float32")
    optimizer = LARS(learning_rate=schedule, momentum=0.0, exclude_from_adaptation=[".*"])
    for _ in range(3):
        optimizer.apply_gradients([(grad, variable)])
    rates = [0.0, 0.25, 0.5]  # linear warm-up from 0 to 1 over 4 steps
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), 1.0 - 0.5 * sum(rates), rtol=1e-6)


def test_lars_trains_a_model_in_a_compiled_step(tmp_path):
    keras.utils.set_random_seed(0)
    x = RNG.uniform(size=(64, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")).astype("float32")
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8), keras.layers.BatchNormalization(), keras.layers.Dense(1)]
    )
    optimizer = LARS(learning_rate=WarmupCosineDecay(peak=0.05, total_steps=40, warmup_steps=4), eta=0.5)
    model.compile(optimizer=optimizer, loss="mse", jit_compile=XLA)
    losses = model.fit(x, y, batch_size=16, epochs=10, verbose=0).history["loss"]
    # training-mode losses (evaluate() would use BatchNorm moving statistics, barely warmed up after 40 steps)
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.2 * losses[0]

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.optimizer, LARS)
    assert loaded.optimizer.get_config()["learning_rate"]["class_name"] == "WarmupCosineDecay"
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 40
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-5
    )


@keras.saving.register_keras_serializable(package="kerascl_tests")
def exclude_kernels(variable):
    return variable.path.endswith("kernel")


def test_lars_get_config_round_trip():
    optimizer = LARS(
        learning_rate=WarmupCosineDecay(peak=0.3, total_steps=100, warmup_steps=10),
        momentum=0.8,
        weight_decay=1e-6,
        eta=0.02,
        nesterov=True,
        epsilon=1e-9,
        exclude_from_weight_decay=["bias", "norm"],
        exclude_from_adaptation=exclude_kernels,
        clipnorm=1.0,
    )
    config = optimizer.get_config()
    assert config["weight_decay"] == 1e-6 and config["eta"] == 0.02 and config["momentum"] == 0.8
    restored = LARS.from_config(copy.deepcopy(config))
    assert restored.get_config() == config
    via_keras = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(via_keras, LARS) and via_keras.get_config() == config
    kernel = keras.Variable(np.ones((2, 2), "float32"), name="kernel")
    restored.build([kernel])
    assert not restored.uses_adaptation(kernel)
    # Keras's decoupled weight decay must stay off, or the decay would be applied twice
    assert restored.weight_decay is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(momentum=1.0), "momentum"),
        (dict(weight_decay=-1.0), "weight_decay"),
        (dict(eta=0.0), "eta"),
        (dict(epsilon=-1.0), "epsilon"),
        (dict(exclude_from_adaptation=3), "exclude_from_adaptation"),
        (dict(exclude_from_weight_decay=["("]), "exclude_from_weight_decay"),
    ],
)
def test_lars_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LARS(**kwargs)


# ------------------------------------------------------------------ schedule


def schedule_reference(step, peak, total, warmup, start, end):
    if step < warmup:
        return start + (peak - start) * step / warmup
    progress = min(max((step - warmup) / (total - warmup), 0.0), 1.0)
    return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * progress))


@pytest.mark.parametrize(
    "peak, total, warmup, start, end",
    [(1.0, 100, 10, 0.0, 0.0), (0.3, 1000, 50, 1e-4, 1e-3), (0.05, 20, 0, 0.0, 0.0)],
)
def test_schedule_matches_formula(peak, total, warmup, start, end):
    schedule = WarmupCosineDecay(peak=peak, total_steps=total, warmup_steps=warmup, warmup_start=start, end_value=end)
    steps = sorted({0, 1, warmup // 2, max(warmup - 1, 0), warmup, warmup + 1, (warmup + total) // 2, total - 1,
                    total, total + 25})
    got = [float(schedule(s)) for s in steps]
    expected = [schedule_reference(s, peak, total, warmup, start, end) for s in steps]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-8)
    assert float(schedule(0)) == pytest.approx(start if warmup else peak)
    assert float(schedule(warmup)) == pytest.approx(peak)
    assert float(schedule(total)) == pytest.approx(end, abs=1e-8)
    assert float(schedule(total + 1000)) == pytest.approx(end, abs=1e-8)
    # half-way through the decay the rate is the mean of peak and end
    if (total - warmup) % 2 == 0:
        assert float(schedule((warmup + total) // 2)) == pytest.approx((peak + end) / 2, rel=1e-5)


def test_schedule_alpha_and_tensor_steps():
    schedule = WarmupCosineDecay(peak=2.0, total_steps=10, alpha=0.1)
    assert float(schedule(10)) == pytest.approx(0.2)
    assert schedule.final_value == pytest.approx(0.2)
    value = schedule(keras.ops.convert_to_tensor(5, dtype="int32"))
    assert float(value) == pytest.approx(0.2 + 1.8 * 0.5)


def test_schedule_serialisation():
    schedule = WarmupCosineDecay(peak=0.4, total_steps=500, warmup_steps=20, warmup_start=0.01, end_value=0.002)
    config = schedule.get_config()
    restored = WarmupCosineDecay.from_config(config)
    assert restored.get_config() == config
    via_keras = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert isinstance(via_keras, WarmupCosineDecay)
    for step in (0, 10, 20, 260, 500):
        assert float(via_keras(step)) == pytest.approx(float(schedule(step)))
    sgd = keras.optimizers.SGD.from_config(keras.optimizers.SGD(learning_rate=schedule).get_config())
    assert sgd.get_config()["learning_rate"]["class_name"] == "WarmupCosineDecay"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(peak=1.0, total_steps=10, warmup_steps=10), "smaller than"),
        (dict(peak=1.0, total_steps=0), "total_steps"),
        (dict(peak=-1.0, total_steps=10), "peak"),
        (dict(peak=1.0, total_steps=10.5), "total_steps"),
        (dict(peak=1.0, total_steps=10, end_value=0.1, alpha=0.1), "not both"),
    ],
)
def test_schedule_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WarmupCosineDecay(**kwargs)


# ------------------------------------------------------------------ lr scaling


def test_scaled_learning_rate():
    assert scaled_learning_rate(0.05, batch_size=512) == pytest.approx(0.1)
    assert scaled_learning_rate(0.3, batch_size=256) == pytest.approx(0.3)
    assert scaled_learning_rate(1.0, batch_size=128, reference=64) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="batch_size"):
        scaled_learning_rate(0.1, batch_size=0)
    with pytest.raises(ValueError, match="base_lr"):
        scaled_learning_rate(-0.1, batch_size=256)
