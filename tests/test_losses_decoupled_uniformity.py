"""Decoupled uniformity: the loss against a NumPy reference of the paper's formula, the stop-gradient at alpha, the
batch-size error, and the method's prior options (attributes, frozen encoder, fc layer)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerascl.kernels import CosineKernel
from kerascl.losses.decoupled_uniformity import DecoupledUniformityLoss
from kerascl.methods.decoupled_uniformity import DecoupledUniformity
from tests.grad_utils import gradients
from tests.helpers import random_views, tiny_backbone

RNG = np.random.default_rng(11)
Z = RNG.normal(size=(10, 2, 6)).astype("float32")
Z3 = RNG.normal(size=(10, 3, 6)).astype("float32")
W = RNG.random((10, 4)).astype("float32")


def ref_decoupled_uniformity(z, w=None, kernel=None, sigma=None, lam=0.01, t=2.0):
    """Per-pair loops: centroids of the normalised views, kernel conditional means, log-mean-exp over i < j."""
    z = z.astype(np.float64)
    b = z.shape[0]
    mu = np.stack([np.mean([v / np.linalg.norm(v) for v in z[i]], axis=0) for i in range(b)])
    if kernel is not None:
        w = w.astype(np.float64)
        k = np.empty((b, b))
        for i in range(b):
            for j in range(b):
                if kernel == "rbf":
                    k[i, j] = np.exp(-np.sum((w[i] - w[j]) ** 2) / (2 * sigma**2))
                else:
                    k[i, j] = w[i] @ w[j] / (np.linalg.norm(w[i]) * np.linalg.norm(w[j]))
        lam = 1.0 / np.sqrt(b) if lam is None else lam
        mu = np.linalg.inv(k + lam * np.eye(b)) @ k @ mu
    values = [np.exp(-t * np.sum((mu[i] - mu[j]) ** 2)) for i in range(b) for j in range(i + 1, b)]
    return np.log(np.mean(values))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"t": 1.0},
        {"kernel": "rbf", "sigma": 0.5},
        {"kernel": "rbf", "sigma": 2.0, "lam": 0.1},
        {"kernel": "rbf", "sigma": 1.0, "lam": None},
        {"kernel": "cosine"},
    ],
)
def test_loss_matches_numpy_reference(kwargs):
    loss = DecoupledUniformityLoss(**kwargs)
    prior = W if "kernel" in kwargs else None
    np.testing.assert_allclose(float(loss(prior, Z)), ref_decoupled_uniformity(Z, W, **kwargs), rtol=2e-4, atol=2e-5)


def test_more_than_two_views_and_list_input():
    loss = DecoupledUniformityLoss(kernel="rbf", sigma=1.0)
    expected = ref_decoupled_uniformity(Z3, W, kernel="rbf", sigma=1.0)
    np.testing.assert_allclose(float(loss(W, Z3)), expected, rtol=2e-4, atol=2e-5)
    views = [Z3[:, v] for v in range(3)]
    np.testing.assert_allclose(float(loss(W, views)), expected, rtol=2e-4, atol=2e-5)


def test_kernel_object_and_serialization():
    loss = DecoupledUniformityLoss(kernel=CosineKernel(), lam=0.05)
    restored = DecoupledUniformityLoss.from_config(loss.get_config())
    np.testing.assert_allclose(float(restored(W, Z)), float(loss(W, Z)), rtol=1e-6)
    np.testing.assert_allclose(float(loss(W, Z)), ref_decoupled_uniformity(Z, W, "cosine", lam=0.05), rtol=2e-4)


def test_perfectly_aligned_spread_views_reach_the_lower_value():
    # Views that agree and centroids far apart give a lower loss than random views.
    basis = np.eye(6, dtype="float32")[:6]
    aligned = np.stack([basis, basis], axis=1)
    assert float(DecoupledUniformityLoss()(None, aligned)) < float(DecoupledUniformityLoss()(None, Z[:6]))
    np.testing.assert_allclose(float(DecoupledUniformityLoss()(None, aligned)), -4.0, rtol=1e-5)  # ||e_i-e_j||^2 = 2


def test_gradient_flows_to_embeddings_not_to_the_prior():
    loss = DecoupledUniformityLoss(kernel="rbf", sigma=0.5)
    grad_w, grad_z = gradients(lambda w, z: loss(w, z), W, Z)
    assert np.all(grad_w == 0.0)
    assert np.abs(grad_z).sum() > 0
    # alpha enters as a constant: the gradient equals that of the no-prior loss on pre-mixed centroids.
    k = np.exp(-((W[:, None] - W[None]) ** 2).sum(-1) / (2 * 0.25))
    alpha = (np.linalg.inv(k + 0.01 * np.eye(10)) @ k).astype("float32")
    plain = DecoupledUniformityLoss()

    def premixed(z):
        mu = keras.ops.mean(z / keras.ops.sqrt(keras.ops.sum(z * z, -1, keepdims=True) + 1e-12), axis=1)
        return plain.uniformity(keras.ops.matmul(alpha, mu))

    (expected,) = gradients(premixed, Z)
    np.testing.assert_allclose(grad_z, expected, rtol=1e-2, atol=1e-5)


def test_batch_without_two_images_is_an_error():
    with pytest.raises(ValueError, match="at least 2 distinct images"):
        DecoupledUniformityLoss()(None, Z[:1])
    with pytest.raises(ValueError, match="at least 2 views"):
        DecoupledUniformityLoss()(None, Z[:, :1])
    with pytest.raises(ValueError, match="no prior"):
        DecoupledUniformityLoss(kernel="cosine")(None, Z)
    with pytest.raises(ValueError, match="sigma"):
        DecoupledUniformityLoss(kernel="rbf")


def test_method_rejects_a_batch_of_one_and_a_missing_attribute_key():
    model = DecoupledUniformity(tiny_backbone(), hidden_dim=8, projection_dim=4, prior="attributes", sigma=1.0)
    batch = random_views(batch=4)
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="'attributes' key"):
        model.train_on_batch(batch)
    one = {k: v[:1] for k, v in random_views(batch=4).items()}
    one["attributes"] = W[:1]
    model = DecoupledUniformity(tiny_backbone(), hidden_dim=8, projection_dim=4)
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="at least 2 distinct images"):
        model.train_on_batch(one)
    with pytest.raises(ValueError, match="prior must be"):
        DecoupledUniformity(tiny_backbone(), prior="labels")
    with pytest.raises(ValueError, match="needs a kernel"):
        DecoupledUniformity(tiny_backbone(), prior="attributes", kernel=None)


def _frozen_encoder():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, name="prior_dense")(x), name="prior_encoder")


def test_frozen_encoder_prior_and_fc_layer_train_save_and_export(tmp_path):
    encoder = _frozen_encoder()
    frozen = [np.asarray(w) for w in encoder.weights]
    model = DecoupledUniformity(tiny_backbone(), hidden_dim=8, projection_dim=4, fc_dim=6, prior=encoder,
                                kernel="cosine")
    batch = random_views(batch=8)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    history = model.fit(batch, batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"])) and "align" in history.history
    assert -1.0 - 1e-5 <= history.history["align"][-1] <= 0.0
    for before, after in zip(frozen, encoder.weights):  # the prior encoder is not trained
        np.testing.assert_array_equal(before, np.asarray(after))
    assert tuple(model.embed(batch["view_1"]).shape) == (8, 6)

    path = str(tmp_path / "du.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.fc_dim == 6 and isinstance(loaded.prior_encoder, keras.Model)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), err_msg=a.path)
    export = str(tmp_path / "encoder.keras")
    model.export_backbone(export)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.models.load_model(export)(batch["view_1"])),
                               keras.ops.convert_to_numpy(model.embed(batch["view_1"])), rtol=1e-5, atol=1e-5)


def test_lambda_zero_falls_back_to_one_over_sqrt_b_as_the_official_code():
    """The official `lambda_ or 1/sqrt(B)` replaces 0 too (with 0, alpha = K^-1 K would drop the prior)."""
    zero = DecoupledUniformityLoss(kernel="rbf", sigma=1.0, lam=0.0)
    expected = ref_decoupled_uniformity(Z, W, kernel="rbf", sigma=1.0, lam=None)
    np.testing.assert_allclose(float(zero(W, Z)), expected, rtol=2e-4, atol=2e-5)
    assert abs(expected - ref_decoupled_uniformity(Z)) > 1e-3  # the fallback keeps the prior's effect


def _layer_list(model: DecoupledUniformity, features: int) -> list:
    """The default encoder-output-to-embedding path as `(kind, in, out)` / `(kind,)` entries, torch-style."""
    layers = ([model.fc] if model.fc is not None else []) + list(model.projector.layers)
    out, width = [], features
    for layer in layers:
        if isinstance(layer, keras.layers.Dense):
            assert layer.use_bias  # nn.Linear's default bias
            out.append(("Linear", width, layer.units))
            width = layer.units
        else:
            assert layer.get_config()["activation"] == "relu"
            out.append(("ReLU",))
    return out


def test_default_head_is_the_official_layer_list():
    """Official: `encoder = base_encoder(num_classes=2048)` (pooled features -> fc Linear(C, 2048)) and
    `head = ReLU - Linear(2048, 2048) - ReLU - Linear(2048, 256)`; the embedding is head(encoder(x))."""
    backbone = tiny_backbone()
    features = backbone.output_shape[-1]
    model = DecoupledUniformity(backbone)
    model.build({"view_1": (None, 16, 16, 3), "view_2": (None, 16, 16, 3)})
    official = [("Linear", features, 2048), ("ReLU",), ("Linear", 2048, 2048), ("ReLU",), ("Linear", 2048, 256)]
    assert _layer_list(model, features) == official
    images = random_views(batch=2)["view_1"]
    assert tuple(model.embed(images).shape) == (2, 2048)  # what `embed` and `export_backbone` give the probes
    manual = model.projector(model.fc(backbone(images)))
    embedding = model.method_outputs([images, images], None)["embeddings"][0]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(embedding),
                               keras.ops.convert_to_numpy(manual), rtol=1e-5, atol=1e-5)
    assert _layer_list(DecoupledUniformity(tiny_backbone(), fc_dim=None), features)[0] == ("ReLU",)


def test_a_model_saved_without_fc_layer_still_loads(tmp_path):
    model = DecoupledUniformity(tiny_backbone(), hidden_dim=8, projection_dim=4, fc_dim=None)
    model.build({"view_1": (None, 16, 16, 3), "view_2": (None, 16, 16, 3)})
    path = str(tmp_path / "no_fc.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.fc is None and loaded.fc_dim is None
    images = random_views(batch=2)["view_1"]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded.embed(images)),
                               keras.ops.convert_to_numpy(model.embed(images)), rtol=1e-5)


def test_recipe_probes_read_the_fc_output_as_the_official_evaluation():
    """The official linear evaluation reads `encoder.fc`'s output; `kerascl recipe` probes (and saves) the same model,
    and its random-init floor is a fresh copy of backbone + fc."""
    from kerascl.probes.floors import random_init_copy

    model = DecoupledUniformity(tiny_backbone(), fc_dim=12, hidden_dim=8, projection_dim=4)
    model.build({"view_1": (None, 16, 16, 3), "view_2": (None, 16, 16, 3)})
    images = random_views(batch=2)["view_1"]
    encoder = model.evaluation_encoder()
    features = keras.ops.convert_to_numpy(encoder(images))
    assert features.shape == (2, 12)
    np.testing.assert_allclose(features, keras.ops.convert_to_numpy(model.embed(images)), rtol=1e-5, atol=1e-6)
    untrained = random_init_copy(encoder, seed=0)
    assert untrained.output_shape == (None, 12)
    assert not np.allclose(keras.ops.convert_to_numpy(untrained(images)), features)
    no_fc = DecoupledUniformity(tiny_backbone(), fc_dim=None, hidden_dim=8, projection_dim=4)
    assert no_fc.evaluation_encoder() is no_fc.backbone
