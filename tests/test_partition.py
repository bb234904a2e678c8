"""Partition config, partitioned siamese methods and DDCL against NumPy references of their losses."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerascl.heads import ProjectionHead
from kerascl.methods import BYOL, DDCL, BarlowTwins, DDCLBarlowTwins, Partition, SimCLR, SimSiam
from tests.grad_utils import gradients
from tests.helpers import random_views, set_deterministic_weights, tiny_backbone


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), np.float64)


def _cos(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def _byol(p, z):
    return np.mean(2.0 - 2.0 * _cos(p, z))


def _built(model, batch):
    model(batch)
    set_deterministic_weights(model, seed=3)
    return model


# ------------------------------------------------------------------------------------------------ Partition
def test_unknown_names_raise_with_suggestions():
    with pytest.raises(ValueError, match="Did you mean 'orthogonal'"):
        Partition(style_objective="orthogonl")
    with pytest.raises(ValueError, match="Did you mean 'encoder'"):
        Partition(where="encodr")
    with pytest.raises(ValueError, match="Did you mean 'color_jitter'"):
        Partition(style_objective="predict_augmentation", predict_params=["colour_jitter"])
    with pytest.raises(ValueError, match="style objective"):
        SimSiam(tiny_backbone(), projection_dim=8, hidden_dim=8, partition={"style_objective": "nope"})


def test_sizes_and_config_round_trip():
    assert Partition(size=0.5).content_dims(256) == 128
    assert Partition(where="encoder", size=0.8).content_dims(2048) == 1638  # DDCL's round(2048 * 0.8)
    assert Partition(size=3).content_dims(8) == 3
    with pytest.raises(ValueError, match="at least one dim"):
        Partition(size=8).content_dims(8)
    with pytest.raises(ValueError, match="fraction"):
        Partition(size=1.5)
    with pytest.raises(ValueError, match="separate"):
        Partition(heads="shared", head_balance=0.1)
    p = Partition(where="encoder", size=0.25, heads="separate", style_objective=None, head_balance=0.1)
    assert Partition.from_config(p.get_config()) == p
    assert Partition.from_any(p.get_config()) == p
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(p)) == p


# ----------------------------------------------------------------------------------- partitioned BYOL (paper 1)
def test_partitioned_byol_matches_numpy_reconstruction():
    """Split z at the projector output, predictor on the full z, L = L_c + lambda_s * (-byol on the style parts)."""
    batch = random_views()
    model = _built(BYOL(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=16,
                        partition=Partition(size=0.5, style_objective="repel", style_weight=0.7)), batch)
    out = model(batch, training=False)
    # The predictor sees the full z: its output, split, is what forward reports.
    z1 = model.projector(model.backbone(batch["view_1"]))
    np.testing.assert_allclose(_np(out["content"]["predictions"][0]), _np(model.predictor(z1))[:, :4], atol=1e-5)
    c, s = out["content"], out["style"]
    p1c, p2c, t1c, t2c = (_np(x) for x in (*c["predictions"], *c["targets"]))
    p1s, p2s, t1s, t2s = (_np(x) for x in (*s["predictions"], *s["targets"]))
    content = _byol(p1c, t2c) + _byol(p2c, t1c)
    style = -(_byol(p1s, t2s) + _byol(p2s, t1s))
    loss, metrics = model.loss_and_metrics(out)
    np.testing.assert_allclose(float(metrics["loss_content"]), content, rtol=1e-4)
    np.testing.assert_allclose(float(metrics["loss_style"]), style, rtol=1e-4)
    np.testing.assert_allclose(float(loss), content + 0.7 * style, rtol=1e-4)


@pytest.mark.parametrize("objective", ["repel", "orthogonal"])
def test_byol_style_targets_get_no_gradient(objective):
    model = BYOL(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=16,
                 partition=Partition(style_objective=objective))
    rng = np.random.default_rng(0)
    p1, p2, t1, t2 = (rng.normal(size=(8, 4)).astype("float32") for _ in range(4))
    fn = lambda a, b, c, d: model.style_loss({"predictions": [a, b], "targets": [c, d], "projections": [c, d]})  # noqa
    grads = gradients(fn, p1, p2, t1, t2)
    assert np.abs(grads[0]).max() > 0 and np.abs(grads[1]).max() > 0
    assert np.all(grads[2] == 0) and np.all(grads[3] == 0)


def test_orthogonal_without_predictor_has_no_stop_gradient():
    model = BarlowTwins(tiny_backbone(), projection_dim=8, hidden_dim=16,
                        partition=Partition(style_objective="orthogonal"))
    rng = np.random.default_rng(1)
    z1, z2 = (rng.normal(size=(8, 4)).astype("float32") for _ in range(2))
    g1, g2 = gradients(lambda a, b: model.style_loss({"projections": [a, b]}), z1, z2)
    assert np.abs(g1).max() > 0 and np.abs(g2).max() > 0
    value = float(model.style_loss({"projections": [z1, z2]}))
    np.testing.assert_allclose(value, abs(np.mean(_cos(z1, z2))), rtol=1e-5)


def test_predict_augmentation_regresses_the_views_params():
    batch = random_views(num_params=5)
    model = _built(SimSiam(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=8,
                           partition=Partition(size=4, heads="separate",
                                               style_objective="predict_augmentation")), batch)
    out = model(batch, training=False)
    style = out["style"]
    np.testing.assert_allclose(_np(style["param_targets"][1]), batch["params_2"], atol=1e-6)
    z2 = _np(model.projector(model.backbone(batch["view_2"])))
    kernel, bias = (_np(w) for w in model.param_head.weights)
    np.testing.assert_allclose(_np(style["param_predictions"][1]), z2[:, 4:] @ kernel + bias, atol=1e-4)
    expected = np.mean([np.mean((_np(q) - _np(t)) ** 2) for q, t in zip(style["param_predictions"],
                                                                         style["param_targets"])])
    np.testing.assert_allclose(float(model.loss_and_metrics(out)[1]["loss_style"]), expected, rtol=1e-4)
    # Separate heads at the projector: the content predictor maps the 4 content dims to 4 dims.
    assert tuple(out["content"]["predictions"][0].shape) == (8, 4)


def test_predict_augmentation_needs_params():
    model = SimSiam(tiny_backbone(), projection_dim=8, hidden_dim=16,
                    partition=Partition(style_objective="predict_augmentation"))
    with pytest.raises(ValueError, match="params_1"):
        model(random_views())
    named = SimSiam(tiny_backbone(), projection_dim=8, hidden_dim=16,
                    partition=Partition(style_objective="predict_augmentation", predict_params=["crop"]))
    with pytest.raises(ValueError, match="columns"):
        named(random_views(num_params=5))


def test_shared_heads_at_the_encoder_need_equal_parts():
    model = SimCLR(tiny_backbone(), projection_dim=8, hidden_dim=16,
                   partition=Partition(where="encoder", size=0.25, heads="shared", style_objective="repel"))
    with pytest.raises(ValueError, match="equal"):
        model(random_views())


def test_parts_for_probes_and_content_only_objective():
    batch = random_views()
    model = _built(SimCLR(tiny_backbone(), projection_dim=8, hidden_dim=16,
                          partition=Partition(where="encoder", size=0.5, style_objective=None)), batch)
    parts = model.embed_parts(batch["view_1"])
    features = _np(model.backbone(batch["view_1"]))
    np.testing.assert_allclose(_np(parts["content"]), features[:, model.content_slice], atol=1e-6)
    np.testing.assert_allclose(_np(parts["style"]), features[:, model.style_slice], atol=1e-6)
    loss, metrics = model.loss_and_metrics(model(batch, training=False))
    assert float(metrics["loss_style"]) == 0.0
    np.testing.assert_allclose(float(loss), float(metrics["loss_content"]), rtol=1e-6)
    with pytest.raises(ValueError, match="without a partition"):
        SimCLR(tiny_backbone()).embed_parts(batch["view_1"])


@pytest.mark.parametrize("where", ["encoder", "projector", "vae"])
def test_representation_of_backbone_features_equals_the_representation_of_images(where):
    # The recipe runner draws the content/style picture from the probes' cached backbone features.
    from kerascl.methods import PartitionedVAE

    batch = random_views(image_size=16) if where == "vae" else random_views()
    if where == "vae":
        model = PartitionedVAE(image_size=16, content_dim=4, style_dim=4, widths=(4, 8), feature_dim=16, seed=3)
    else:
        model = SimSiam(tiny_backbone(), projection_dim=8, hidden_dim=16,
                        partition=Partition(where=where, size=0.5, style_objective=None))
    model = _built(model, batch)
    images = batch["view_1"]
    features = _np(model.backbone(images))
    from_features = _np(model.representation_of_features(features))
    np.testing.assert_allclose(from_features, _np(model.representation(images)), atol=1e-5)
    content, style = model.split_features(from_features)
    np.testing.assert_allclose(content, _np(model.embed_parts(images)["content"]), atol=1e-5)
    np.testing.assert_allclose(style, _np(model.embed_parts(images)["style"]), atol=1e-5)


def _pixel_code_vae(decode_style: bool):
    # A PartitionedVAE whose code is pixels: content (c1, c2) in pixel (0, 0), style (s1, s2) in pixel (0, 1); the
    # decoder draws both, or leaves the style pixel black (a decoder that ignores the style half).
    from kerascl.methods import PartitionedVAE

    class PixelCodeVAE(PartitionedVAE):
        def representation(self, images, training=False):
            x = keras.ops.convert_to_tensor(images)
            return keras.ops.concatenate([x[:, 0, 0, :2], x[:, 0, 1, :2]], axis=1)

        def decode(self, latents, training=False):
            z = np.asarray(keras.ops.convert_to_numpy(latents))
            out = np.zeros((len(z), 8, 8, 3), np.float32)
            out[:, 0, 0, :2] = z[:, :2]
            if decode_style:
                out[:, 0, 1, :2] = z[:, 2:]
            return out

    return PixelCodeVAE(image_size=8, content_dim=2, style_dim=2, widths=(4,), feature_dim=8)


def test_swap_retrieval_scores_a_working_swap_one_and_an_ignored_style_at_chance():
    from kerascl.methods import swap_retrieval

    rng = np.random.default_rng(0)
    a, b = rng.random((5, 8, 8, 3), dtype=np.float32), rng.random((4, 8, 8, 3), dtype=np.float32)
    working = swap_retrieval(_pixel_code_vae(decode_style=True), a, b)
    assert working == {"content_retrieval": 1.0, "style_retrieval": 1.0, "content_chance": 0.2,
                       "style_chance": 0.25, "pairs": 20.0}
    ignored = swap_retrieval(_pixel_code_vae(decode_style=False), a, b)
    assert ignored["content_retrieval"] == 1.0 and ignored["style_retrieval"] == 0.25  # one tie-break hit per row
    with pytest.raises(ValueError, match="N >= 2"):
        swap_retrieval(_pixel_code_vae(decode_style=True), a[:1], b)
    with pytest.raises(TypeError, match="PartitionedVAE"):
        swap_retrieval(SimSiam(tiny_backbone()), a, b)


# ------------------------------------------------------------------------------------------------------ DDCL
def test_ddcl_matches_the_official_formula():
    batch = random_views()
    model = _built(DDCL(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=8), batch)
    assert model.content_slice == slice(0, 13)  # round(16 * 0.8), the 80/20 split of the encoder output
    out = model(batch, training=False)
    y1 = model.backbone(batch["view_1"])
    z_v1 = model.style_projector(y1[:, 13:])
    np.testing.assert_allclose(_np(out["style"]["projections"][0]), _np(z_v1), atol=1e-5)
    np.testing.assert_allclose(_np(out["style"]["predictions"][0]), _np(model.style_predictor(z_v1)), atol=1e-5)
    np.testing.assert_allclose(_np(out["content"]["projections"][0]), _np(model.projector(y1[:, :13])), atol=1e-5)
    zi1, zi2 = (_np(x) for x in out["content"]["projections"])
    pi1, pi2 = (_np(x) for x in out["content"]["predictions"])
    zv1, zv2 = (_np(x) for x in out["style"]["projections"])
    pv1, pv2 = (_np(x) for x in out["style"]["predictions"])
    l_dir = 0.5 * -np.mean(_cos(pi1, zi2)) + 0.5 * -np.mean(_cos(pi2, zi1))
    l_ddl = abs(0.5 * np.mean(_cos(pv1, zv2)) + 0.5 * np.mean(_cos(pv2, zv1)))
    loss, metrics = model.loss_and_metrics(out)
    np.testing.assert_allclose(float(metrics["loss_content"]), l_dir, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(float(metrics["loss_style"]), l_ddl, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(float(loss), l_dir + l_ddl, rtol=1e-4, atol=1e-6)


def test_ddcl_style_targets_get_no_gradient():
    model = DDCL(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=8)
    rng = np.random.default_rng(2)
    z1, z2, p1, p2 = (rng.normal(size=(8, 8)).astype("float32") for _ in range(4))
    grads = gradients(lambda a, b, c, d: model.style_loss({"projections": [a, b], "predictions": [c, d]}),
                      z1, z2, p1, p2)
    assert np.all(grads[0] == 0) and np.all(grads[1] == 0)
    assert np.abs(grads[2]).max() > 0 and np.abs(grads[3]).max() > 0


def test_ddcl_clever_reg_and_dir_only():
    batch = random_views()
    model = _built(DDCL(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=8, clever_reg=0.01),
                   batch)
    out = model(batch, training=False)
    sq = lambda layer: sum(float(np.sum(_np(w) ** 2)) for w in layer.trainable_weights)  # noqa: E731
    expected = 0.5 * (abs(sq(model.projector) - sq(model.style_projector))
                      + abs(sq(model.predictor) - sq(model.style_predictor)))
    np.testing.assert_allclose(float(out["head_balance"]), expected, rtol=1e-4)
    loss, metrics = model.loss_and_metrics(out)
    np.testing.assert_allclose(float(loss), float(metrics["loss_content"]) + float(metrics["loss_style"])
                               + 0.01 * expected, rtol=1e-4)
    ablation = _built(DDCL(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=8, dir_only=True),
                      batch)
    assert ablation.style_projector is None and ablation.style_predictor is None
    loss, metrics = ablation.loss_and_metrics(ablation(batch, training=False))
    assert float(metrics["loss_style"]) == 0.0
    with pytest.raises(TypeError, match="fixes its own partition"):
        DDCL(tiny_backbone(), partition=Partition())


def test_ddcl_barlow_twins_matches_numpy():
    batch = random_views()
    model = _built(DDCLBarlowTwins(tiny_backbone(), projection_dim=8, hidden_dim=16), batch)
    out = model(batch, training=False)
    zi1, zi2 = (_np(x) for x in out["content"]["projections"])
    zv1, zv2 = (_np(x) for x in out["style"]["projections"])
    std = lambda z: (z - z.mean(0)) / np.sqrt(z.var(0) + 1e-5)  # noqa: E731
    c = std(zi1).T @ std(zi2) / len(zi1)
    bt = np.sum((1 - np.diag(c)) ** 2) + 5e-3 * (np.sum(c**2) - np.sum(np.diag(c) ** 2))
    ddl = abs(np.mean(_cos(zv1, zv2)))
    loss, metrics = model.loss_and_metrics(out)
    np.testing.assert_allclose(float(metrics["loss_content"]), bt, rtol=1e-4)
    np.testing.assert_allclose(float(metrics["loss_style"]), ddl, rtol=1e-4)
    np.testing.assert_allclose(float(loss), bt + ddl, rtol=1e-4)
    restored = DDCLBarlowTwins.from_config(model.get_config())
    assert restored.get_config()["dir_fraction"] == 0.8 and "partition" not in restored.get_config()


def _torch_default_stats(layers: list) -> tuple[float, float]:
    """Mean and variance of the summed squared parameters of a head at torch's default init (NumPy, exact).

    `layers`: `(fan_in, fan_out, bias, affine_bn)` per Linear. torch's `nn.Linear` draws weight and bias from
    `U(-a, a)`, `a = 1/sqrt(fan_in)`: `E[u^2] = a^2 / 3`, `Var[u^2] = 4 a^4 / 45`. An affine BatchNorm adds its
    weight (ones; its zero bias adds nothing).
    """
    mean = var = 0.0
    for fan_in, fan_out, bias, affine_bn in layers:
        count = fan_in * fan_out + (fan_out if bias else 0)
        a2 = 1.0 / fan_in
        mean += count * a2 / 3.0 + (fan_out if affine_bn else 0)
        var += count * 4.0 * a2**2 / 45.0
    return mean, var


def _official_head_balance(features: int, content: int, dim: int, pred_dim: int) -> tuple[float, float]:
    """Mean and standard deviation of CLeVER_DDCL's step-0 term with the official heads (`DRL_builder.py`)."""
    def projector(fan_in):
        return [(fan_in, dim, False, True), (dim, dim, False, True), (dim, dim, True, False)]

    predictor = [(dim, pred_dim, False, True), (pred_dim, dim, True, False)]
    sigmas = []
    for content_head, style_head in ((projector(content), projector(features - content)), (predictor, predictor)):
        (mc, vc), (ms, vs) = _torch_default_stats(content_head), _torch_default_stats(style_head)
        assert abs(mc - ms) < 1e-6 * mc  # equal in expectation: the term is a fluctuation around 0
        sigmas.append(np.sqrt(vc + vs))
    # term = 0.5 (|D_g| + |D_q|), D ~ N(0, sigma^2): E|D| = sigma sqrt(2/pi), Var|D| = sigma^2 (1 - 2/pi).
    mean = 0.5 * np.sqrt(2.0 / np.pi) * sum(sigmas)
    std = 0.5 * np.sqrt((1.0 - 2.0 / np.pi) * sum(s**2 for s in sigmas))
    return mean, std


def test_clever_head_balance_starts_at_the_official_value():
    """The paper's sizes: 2048 features split 1638 / 410, heads 2048 wide, predictor 512. With Keras's Glorot init
    the term started near 568; the official torch init gives a fluctuation around 0.7."""
    inputs = keras.Input((4, 4, 3))
    features = keras.layers.Dense(2048)(keras.layers.GlobalAveragePooling2D()(inputs))
    model = DDCL(keras.Model(inputs, features), clever_reg=1e-3)
    model.build({"view_1": (None, 4, 4, 3), "view_2": (None, 4, 4, 3)})
    assert model.content_slice == slice(0, 1638)

    def stats_of(head):  # the kerascl head's own layer list, at torch's default init
        layers = []
        dense = [layer for layer in head.stack if isinstance(layer, keras.layers.Dense)]
        bns = [layer for layer in head.stack if isinstance(layer, keras.layers.BatchNormalization)]
        for i, layer in enumerate(dense):
            affine = any(bn.name == f"batch_norm_{i}" and bn.scale for bn in bns)
            layers.append((int(layer.kernel.shape[0]), layer.units, layer.use_bias, affine))
        return _torch_default_stats(layers)

    for head in (model.projector, model.style_projector, model.predictor, model.style_predictor):
        squared = sum(float(np.sum(_np(w) ** 2)) for w in head.trainable_weights)
        mean, var = stats_of(head)
        assert abs(squared - mean) < 6.0 * np.sqrt(var), (head.name, squared, mean)
    term = float(model._head_balance())
    mean, std = _official_head_balance(2048, 1638, 2048, 512)
    assert 0.5 < mean < 1.0  # the NumPy expectation at the official sizes
    assert term < mean + 6.0 * std, (term, mean, std)


def test_head_balance_off_keeps_keras_initialisation():
    model = DDCL(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=8)
    assert model.projector.initializer == "keras" and model.predictor.initializer == "keras"
    clever = DDCL(tiny_backbone(), projection_dim=8, hidden_dim=16, prediction_hidden_dim=8, clever_reg=1e-3)
    heads = (clever.projector, clever.style_projector, clever.predictor, clever.style_predictor)
    assert all(head.initializer == "torch" for head in heads)
    copy = type(clever.projector).from_config(clever.projector.get_config())
    assert copy.initializer == "torch"  # the style copies and EMA targets are rebuilt from the config
    with pytest.raises(ValueError, match="initializer must be one of"):
        ProjectionHead([(4, True, None, None)], initializer="glorot")
