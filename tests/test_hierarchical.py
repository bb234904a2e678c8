"""Hierarchical augmentation invariance: per-stage loss, stop-gradients, embeddings, stage taps, view maker."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerascl.augment import PARAM_SIZE, param_slice
from kerascl.methods.hierarchical import HierarchicalAugmentationInvariance, hierarchical_views
from kerascl.methods.hierarchical_heads import AugmentationEmbedding, SeparableConvBlock, StageSideBranch
from tests.helpers import random_views, set_deterministic_weights, tiny_backbone

STAGES = ("stage_1", "stage_2")
SIZES = dict(projection_dim=8, hidden_dim=16, prediction_hidden_dim=4, embedding_dim=4)
CJ = param_slice("color_jitter")


def make_model(backbone=None, stage_names=STAGES, **kwargs):
    return HierarchicalAugmentationInvariance(backbone or tiny_backbone(), stage_names=stage_names,
                                              **{**SIZES, **kwargs})


def three_stage_backbone(image_size: int = 16, width: int = 4) -> keras.Model:
    inputs = keras.Input((image_size, image_size, 3))
    x = inputs
    for k in range(1, 4):
        x = keras.layers.Conv2D(width * 2 ** (k - 1), 3, strides=1 if k == 1 else 2, padding="same")(x)
        x = keras.layers.ReLU(name=f"block_{k}")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x), name="three_stages")


def views_batch(num_stages: int = 2, batch: int = 8, seed: int = 0) -> dict:
    return random_views(batch=batch, num_views=2 * num_stages, num_params=PARAM_SIZE, seed=seed)


# ------------------------------------------------------------------------------------------- NumPy references
def np_l2n(x):
    return x / np.sqrt(np.sum(x * x, axis=-1, keepdims=True) + 1e-12)


def np_d(p, z):
    return -np.mean(np.sum(np_l2n(p) * np_l2n(z), axis=-1))


def np_byol(p, z):
    return np.mean(np.sum((np_l2n(p) - np_l2n(z)) ** 2, axis=-1))


def np_barlow(z1, z2, lam, scale, eps=1e-5):
    def standardize(z):
        return (z - z.mean(0)) / np.sqrt(z.var(0) + eps)

    c = standardize(z1).T @ standardize(z2) / z1.shape[0]
    on = np.sum((1 - np.diag(c)) ** 2)
    off = np.sum(c**2) - np.sum(np.diag(c) ** 2)
    return scale * (on + lam * off)


def random_outputs(num_stages, batch=6, dim=5, seed=0):
    rng = np.random.default_rng(seed)
    pairs = lambda: [[rng.normal(size=(batch, dim)).astype("float32") for _ in range(2)]  # noqa: E731
                     for _ in range(num_stages)]
    return {"projections": pairs(), "predictions": pairs(), "targets": pairs()}


@pytest.mark.parametrize("base_method", ["simsiam", "byol", "barlow_twins"])
@pytest.mark.parametrize("stage_weights", [None, (0.5, 2.0, 1.5)])
def test_stage_loss_sum_matches_numpy(base_method, stage_weights):
    model = make_model(stage_names=("block_1", "block_2", "block_3"), base_method=base_method,
                       stage_weights=stage_weights)
    outputs = random_outputs(3)
    loss, metrics = model.loss_and_metrics(keras.tree.map_structure(keras.ops.convert_to_tensor, outputs))
    expected_stages = []
    for k in range(3):
        (z1, z2), (p1, p2), (t1, t2) = (outputs[key][k] for key in ("projections", "predictions", "targets"))
        if base_method == "simsiam":
            expected_stages.append(0.5 * np_d(p1, z2) + 0.5 * np_d(p2, z1))
        elif base_method == "byol":
            expected_stages.append(np_byol(p1, t2) + np_byol(p2, t1))
        else:
            expected_stages.append(np_barlow(z1, z2, lam=3.9e-3, scale=1 / 32))
    weights = stage_weights or (1.0, 1.0, 1.0)
    np.testing.assert_allclose(float(loss), sum(w * l for w, l in zip(weights, expected_stages)), rtol=1e-5)
    for k in range(3):
        np.testing.assert_allclose(float(metrics[f"loss_stage_{k + 1}"]), expected_stages[k], rtol=1e-5)


def test_barlow_twins_options_reach_the_loss():
    model = make_model(base_method="barlow_twins", lambda_offdiag=0.1, scale_loss=0.5)
    outputs = random_outputs(2, batch=8)
    loss, _ = model.loss_and_metrics(keras.tree.map_structure(keras.ops.convert_to_tensor, outputs))
    expected = sum(np_barlow(*outputs["projections"][k], lam=0.1, scale=0.5) for k in range(2))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)


# ------------------------------------------------------------------------------------------------ gradients
_JITTED = {}


def gradients(fn, variables, *args):
    """Gradients of the scalar `fn(values, *args)` w.r.t. `variables` (Keras variables or tensors), as NumPy.

    `values` are the variables' values to use (None: read the Keras variables themselves). TensorFlow:
    `tf.GradientTape`; JAX: `jax.grad`, jitted once per `fn` (through a `keras.StatelessScope` for Keras
    variables), so calling again with other `args` does not recompile; torch: `torch.autograd.grad`. Test code only.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        values = [v.value if isinstance(v, keras.Variable) else v for v in variables]
        with tf.GradientTape() as tape:
            tape.watch(values)
            loss = fn(values, *args)
        grads = tape.gradient(loss, values)
        return [np.zeros(v.shape, "float32") if g is None else np.asarray(g) for v, g in zip(values, grads)]
    if keras.backend.backend() == "torch":
        return _torch_gradients(fn, variables, *args)
    import jax

    if id(fn) not in _JITTED:
        if all(isinstance(v, keras.Variable) for v in variables):
            def pure(values, *args):
                with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                    return fn(None, *args)
        else:
            pure = fn
        _JITTED[id(fn)] = (fn, jax.jit(jax.grad(pure)))
    grad_fn = _JITTED[id(fn)][1]
    values = [v.value if isinstance(v, keras.Variable) else v for v in variables]
    return [np.asarray(g) for g in grad_fn(values, *args)]


def _torch_gradients(fn, variables, *args):
    """torch: `torch.autograd.grad`. A non-trainable variable (requires_grad False) is made differentiable for the
    call, so that a zero gradient shows a cut path (stop_gradient), as on the other backends."""
    import torch

    values = [v.value if isinstance(v, keras.Variable)
              else torch.tensor(keras.ops.convert_to_numpy(v), requires_grad=True) for v in variables]
    frozen = [t for t in values if not t.requires_grad]
    for t in frozen:
        t.requires_grad_(True)
    try:
        loss = fn(values, *args)
        if not loss.requires_grad:
            return [np.zeros(tuple(t.shape), "float32") for t in values]
        grads = torch.autograd.grad(loss, values, allow_unused=True)
    finally:
        for t in frozen:
            t.requires_grad_(False)
    return [np.zeros(tuple(t.shape), "float32") if g is None else g.detach().cpu().numpy() for t, g in zip(values, grads)]


@pytest.mark.parametrize("base_method", ["simsiam", "byol", "barlow_twins"])
def test_stop_gradient_sites_of_the_loss(base_method):
    model = make_model(base_method=base_method)
    outputs = random_outputs(2, batch=8)
    keys = ["projections", "predictions", "targets"]
    flat = [outputs[key][k][i] for key in keys for k in range(2) for i in range(2)]

    def loss_of(values):
        values = flat if values is None else values
        it = iter(values)
        structured = {key: [[next(it), next(it)] for _ in range(2)] for key in keys}
        return model.loss_and_metrics(structured)[0]

    grads = gradients(loss_of, [keras.ops.convert_to_tensor(v) for v in flat])
    norms = {key: [float(np.abs(g).max()) for g in grads[4 * i: 4 * i + 4]] for i, key in enumerate(keys)}
    if base_method == "simsiam":  # D(p, sg(z)): no gradient into z, all of it through p
        assert norms["projections"] == [0.0] * 4
        assert min(norms["predictions"]) > 0
    elif base_method == "byol":  # byol(p, sg(z')): nothing into the targets
        assert norms["targets"] == [0.0] * 4
        assert min(norms["predictions"]) > 0
    else:  # Barlow Twins: symmetric, no stop-gradient
        assert min(norms["projections"]) > 0


def _kernel(layer):
    return next(w for w in layer.weights if len(w.shape) >= 2)


def test_each_pair_only_trains_up_to_its_stage():
    """Pair 1 goes up to stage 1 only; pair 2 through the whole backbone, never through branch 1."""
    model = make_model()
    batch = views_batch()
    model(batch)
    set_deterministic_weights(model)
    backbone_convs = [l for l in model.backbone.layers if isinstance(l, keras.layers.Conv2D)]
    first_conv, last_conv = _kernel(backbone_convs[0]), _kernel(backbone_convs[-1])
    branch_1 = _kernel(model.branches[0])
    embedding_2 = _kernel(model.embedders[0])
    variables = [first_conv, last_conv, branch_1, embedding_2]

    def weighted_stage_losses(_, weights):
        losses = model.stage_losses(model(batch, training=True))
        return weights[0] * losses[0] + weights[1] * losses[1]

    def stage_gradients(weights):
        grads = gradients(weighted_stage_losses, variables, keras.ops.convert_to_tensor(weights, "float32"))
        return [float(np.abs(g).max()) for g in grads]

    g1, g2 = stage_gradients([1.0, 0.0]), stage_gradients([0.0, 1.0])
    assert g1[0] > 0 and g1[2] > 0
    assert g1[1] == 0.0 and g1[3] == 0.0  # stage-2 conv and stage-2 embedding untouched by pair 1
    assert g2[0] > 0 and g2[1] > 0 and g2[3] > 0
    assert g2[2] == 0.0  # the side branch of stage 1 is not on pair 2's path


def test_byol_variant_targets_get_no_gradient_and_are_not_trainable():
    model = make_model(base_method="byol", total_steps=10)
    batch = views_batch()
    model(batch)
    set_deterministic_weights(model)
    target_ids = {id(w) for layer in [model.target_backbone, *model.target_branches, *model.target_embedders,
                                      *model.target_projectors] for w in layer.weights}
    assert not target_ids & {id(w) for w in model.trainable_weights}
    target_kernel = _kernel(model.target_projectors[1])
    online_kernel = _kernel(model.projectors[1])
    def loss(_):
        return model.loss_and_metrics(model(batch, training=True))[0]

    g_target, g_online = gradients(loss, [target_kernel, online_kernel])
    assert float(np.abs(g_target).max()) == 0.0
    assert float(np.abs(g_online).max()) > 0.0


# ------------------------------------------------------------------------------------------------ embeddings
def _projections(model, batch):
    out = model(batch, training=False)
    return [[keras.ops.convert_to_numpy(z) for z in pair] for pair in out["projections"]]


def test_colour_jitter_params_expand_the_views_from_stage_two_on():
    model = make_model()
    batch = views_batch()
    model(batch)
    set_deterministic_weights(model)
    base = _projections(model, batch)

    changed = dict(batch)
    changed["params_3"] = batch["params_3"].copy()
    changed["params_3"][:, CJ] += 0.5  # view 3 = first view of pair 2
    changed["params_1"] = batch["params_1"].copy()
    changed["params_1"][:, CJ] += 0.5  # stage 1 has no embedding
    out = _projections(model, changed)
    assert np.abs(out[1][0] - base[1][0]).max() > 1e-4
    np.testing.assert_allclose(out[1][1], base[1][1], atol=1e-6)  # view 4 keeps its own params
    np.testing.assert_allclose(out[0][0], base[0][0], atol=1e-6)

    other = dict(batch)
    other["params_3"] = batch["params_3"].copy()
    other["params_3"][:, param_slice("crop")] += 0.5  # not a colour-jitter slot
    np.testing.assert_allclose(_projections(model, other)[1][0], base[1][0], atol=1e-6)
    # Evaluation uses the backbone's pooled output; the side branches are dropped.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.embed(batch["view_1"])),
                               keras.ops.convert_to_numpy(model.backbone(batch["view_1"])), atol=1e-6)


def test_embedding_options():
    batch = views_batch()
    first = make_model(embedding_stages=(1, 2))
    first(batch)
    changed = dict(batch, params_1=batch["params_1"].copy())
    changed["params_1"][:, CJ] += 0.5
    assert np.abs(_projections(first, changed)[0][0] - _projections(first, batch)[0][0]).max() > 1e-4

    crop_too = make_model(embedding_params=("color_jitter", "crop"))
    crop_too(batch)
    assert tuple(crop_too.embedders[0].weights[0].shape) == (8, 4)

    plain = make_model(embedding_dim=0)
    views = tuple(batch[f"view_{i}"] for i in range(1, 5))
    out = plain(views)  # no params needed without embeddings
    assert not plain.embedders and len(out["projections"]) == 2


def test_head_init_starts_every_dense_head_as_torch_does():
    batch = views_batch()
    model = make_model(head_init="torch", embedding_stages=(1, 2))
    model(batch)
    heads = model.projectors + model.predictors + model.embedders
    assert len(heads) == 6 and {head.initializer for head in heads} == {"torch"}
    # torch's nn.Linear: kernel and bias uniform in +-1/sqrt(fan_in); Keras's Glorot kernel and zero bias differ.
    dense = [layer for layer in model.projectors[0].stack if isinstance(layer, keras.layers.Dense)][0]
    fan_in = int(dense.kernel.shape[0])
    bias = keras.ops.convert_to_numpy(dense.bias)
    assert np.any(bias) and np.abs(bias).max() <= 1 / np.sqrt(fan_in)
    keras_model = make_model(embedding_stages=(1, 2))
    keras_model(batch)
    assert {head.initializer for head in keras_model.projectors + keras_model.embedders} == {"keras"}
    first = [layer for layer in keras_model.projectors[0].stack if isinstance(layer, keras.layers.Dense)][0]
    assert not np.any(keras.ops.convert_to_numpy(first.bias))
    clone = HierarchicalAugmentationInvariance.from_config(model.get_config())
    assert clone.head_init == "torch" and clone.embedders[0].initializer == "torch"
    with pytest.raises(ValueError, match="head_init must be one of"):
        make_model(head_init="pytorch")


# --------------------------------------------------------------------------------------------- stages, build
def test_three_stage_backbone_branches_reach_the_last_stage():
    model = make_model(three_stage_backbone(), stage_names=("block_1", "block_2", "block_3"))
    model.build({f"view_{i}": (8, 16, 16, 3) for i in range(1, 7)})
    assert [b.num_downsamples for b in model.branches] == [2, 1]
    assert [b.reduced_width for b in model.branches] == [4, 8]  # min(stage channels, 64 * 2**(k-1))
    assert all(b.output_dim == 16 for b in model.branches)  # the backbone's feature width
    maps = [keras.KerasTensor((8, 16, 16, 4)), keras.KerasTensor((8, 8, 8, 8))]
    assert [tuple(b(m).shape) for b, m in zip(model.branches, maps)] == [(8, 16), (8, 16)]
    assert [tuple(p.weights[0].shape) for p in model.projectors] == [(16, 16), (20, 16), (20, 16)]


def test_side_branch_layers_shapes_and_config():
    block = SeparableConvBlock(6)
    assert tuple(block(keras.KerasTensor((2, 8, 8, 3))).shape) == (2, 4, 4, 6)
    branch = StageSideBranch(4, 2, 10, attention=True)
    assert tuple(branch(keras.KerasTensor((2, 16, 16, 5))).shape) == (2, 10)
    assert [b.filters for b in branch.downsample] == [8, 16]
    clone = StageSideBranch.from_config(branch.get_config())
    assert clone.get_config() == branch.get_config()
    with pytest.raises(ValueError, match="even sides"):
        StageSideBranch(4, 1, 10).build((1, 7, 7, 3))
    embed = AugmentationEmbedding(3)
    assert tuple(embed(keras.KerasTensor((2, 4))).shape) == (2, 3)
    assert AugmentationEmbedding.from_config(embed.get_config()).embedding_dim == 3


def test_clear_errors():
    with pytest.raises(ValueError, match="at least 2 stages"):
        make_model(stage_names=("stage_1",))
    with pytest.raises(ValueError, match="base_method"):
        make_model(base_method="moco")
    with pytest.raises(ValueError, match="embedding_stages"):
        make_model(embedding_stages=(3,))
    with pytest.raises(ValueError, match="Unknown parameter name"):
        make_model(embedding_params=("colour",))
    with pytest.raises(ValueError, match="does not take a partition"):
        make_model(partition={"size": 0.5})
    with pytest.raises(ValueError, match="branch_widths"):
        make_model(branch_widths=(4, 4))
    with pytest.raises(ValueError, match="no layer named"):
        make_model(stage_names=("stage_1", "stage_9"))(views_batch())
    model = make_model()
    with pytest.raises(ValueError, match="needs 4 views"):
        model(random_views(num_views=2, num_params=PARAM_SIZE))
    batch = views_batch()
    with pytest.raises(ValueError, match="recorded parameters"):
        model(tuple(batch[f"view_{i}"] for i in range(1, 5)))
    with pytest.raises(ValueError, match="P >= 9"):
        model({**batch, **{f"params_{i}": batch[f"params_{i}"][:, :4] for i in range(1, 5)}})


# --------------------------------------------------------------------------------------------------- views
def test_hierarchical_views_add_one_augmentation_per_stage():
    import kerascl.data

    augmenter = hierarchical_views(num_stages=4, image_size=16, seed=3)
    stages = [sorted(v.stages) for v in augmenter.views]
    assert len(stages) == 8 and all(stages[2 * k] == stages[2 * k + 1] for k in range(4))
    assert stages[0] == ["color_jitter", "crop"]
    assert stages[2] == ["color_jitter", "crop", "grayscale"]
    # The official rule drops the blur at <= 32 px (stage 3 then equals stage 2) and keeps it above.
    assert stages[4] == ["color_jitter", "crop", "grayscale"]
    assert stages[6] == ["color_jitter", "crop", "flip", "grayscale"]
    larger = [sorted(v.stages) for v in hierarchical_views(num_stages=4, image_size=64, seed=3).views]
    assert larger[4] == ["blur", "color_jitter", "crop", "grayscale"]
    assert larger[6] == ["blur", "color_jitter", "crop", "flip", "grayscale"]

    # Two stages: presets 1 and 4, through the host (tf.data) pipeline of kerascl.data.
    dataset = kerascl.data.from_shapes(32, image_size=16, batch_size=32,
                                       augmenter=hierarchical_views(num_stages=2, image_size=16, seed=0))
    out = {k: np.asarray(v) for k, v in next(iter(dataset)).items()}
    assert {f"view_{i}" for i in range(1, 5)} | {f"params_{i}" for i in range(1, 5)} <= set(out)
    gray, flip = param_slice("grayscale"), param_slice("flip")
    for i in (1, 2):  # stage 1: crop + colour jitter only
        assert np.all(out[f"params_{i}"][:, gray] == 0) and np.all(out[f"params_{i}"][:, flip] == 0)
    assert np.any(out["params_3"][:, flip] == 1)  # the last pair has the full pipeline
    assert np.any(out["params_1"][:, CJ] != np.array([1, 1, 1, 0], "float32"))

    uniform = hierarchical_views(num_stages=3, presets="hierarchical_stage_4")
    assert all(sorted(v.stages) == stages[6] for v in uniform.views)
    with pytest.raises(ValueError, match="at least 2"):
        hierarchical_views(num_stages=1)
    with pytest.raises(ValueError, match="presets"):
        hierarchical_views(num_stages=5)
    with pytest.raises(ValueError, match="one preset per stage"):
        hierarchical_views(num_stages=2, presets=["hierarchical_stage_1"])


def test_on_device_views():
    # Crop + jitter for both pairs keeps the augmenter small; the default add-one views are checked above.
    model = make_model(augmentation=hierarchical_views(num_stages=2, image_size=16, seed=0,
                                                       presets="hierarchical_stage_1"))
    images = np.random.default_rng(0).random((8, 16, 16, 3), dtype=np.float32)
    loss, metrics = model.loss_and_metrics(model({"image": images}, training=True))
    assert np.isfinite(float(loss))
    np.testing.assert_allclose(float(loss), float(metrics["loss_stage_1"]) + float(metrics["loss_stage_2"]),
                               rtol=1e-5)


def test_get_config_round_trip():
    model = make_model(base_method="byol", stage_weights=(1.0, 2.0), branch_widths=(4,), branch_attention=False,
                       embedding_stages=(1, 2), total_steps=5)
    config = model.get_config()
    clone = HierarchicalAugmentationInvariance.from_config(config)
    drop = lambda c: {k: v for k, v in c.items() if k != "backbone"}  # noqa: E731
    assert drop(clone.get_config()) == drop(config)
