"""Kernel priors (kerascl.kernels) against NumPy, and their errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerascl import kernels
from tests.grad_utils import gradients

RNG = np.random.default_rng(7)
W = RNG.normal(size=(9, 4)).astype("float32")
V = RNG.normal(size=(5, 4)).astype("float32")


def np_rbf(x, y, sigma):
    out = np.empty((len(x), len(y)))
    for i in range(len(x)):
        for j in range(len(y)):
            out[i, j] = np.exp(-np.sum((x[i].astype(float) - y[j]) ** 2) / (2 * sigma**2))
    return out


def np_cosine(x, y):
    out = np.empty((len(x), len(y)))
    for i in range(len(x)):
        for j in range(len(y)):
            out[i, j] = x[i] @ y[j] / (np.linalg.norm(x[i]) * np.linalg.norm(y[j]))
    return out


@pytest.mark.parametrize("sigma", [0.5, 2.0, 20.0])
def test_rbf_kernel_matches_numpy(sigma):
    k = kernels.RBFKernel(sigma)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k(W)), np_rbf(W, W, sigma), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k(W, V)), np_rbf(W, V, sigma), rtol=1e-5, atol=1e-6)


def test_median_heuristic_bandwidth_is_the_median_distance_between_distinct_samples():
    d2 = ((W[:, None, :].astype(float) - W[None, :, :]) ** 2).sum(-1)
    median = np.median(d2[~np.eye(len(W), dtype=bool)])
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(kernels.median_squared_distance(W))), median, rtol=1e-5)
    k = kernels.get_kernel("rbf", sigma="median")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k(W)), np_rbf(W, W, np.sqrt(median)), rtol=1e-4, atol=1e-6)
    # The bandwidth follows the batch: scaling the features leaves the kernel matrix unchanged.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k(10.0 * W)), keras.ops.convert_to_numpy(k(W)), atol=1e-5)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(k))
    assert restored.sigma == "median"


def test_decoupled_uniformity_recipe_gives_a_frozen_encoder_prior_the_median_bandwidth():
    from kerascl.backbones import ResNet18
    from kerascl.recipes.cifar10_decoupled_uniformity import RECIPE

    backbone = ResNet18(width=0.125)
    options = {**RECIPE.options, "fc_dim": 8, "hidden_dim": 8, "projection_dim": 4, "prior": _tiny_prior_encoder()}
    model = RECIPE.build(backbone, RECIPE.config, options)
    assert model.loss_fn.kernel_fn.sigma == "median"
    chosen = RECIPE.build(backbone, RECIPE.config, {**options, "sigma": 5.0})
    assert chosen.loss_fn.kernel_fn.sigma == 5.0


def test_loading_a_prior_encoder_leaves_the_heads_initialisation_as_without_a_prior(tmp_path):
    """A prior/no-prior pair of one seed must differ by the prior only, not by the fc layer's and head's start."""
    from kerascl.recipes.cifar10_decoupled_uniformity import RECIPE

    path = str(tmp_path / "prior.keras")
    _tiny_prior_encoder().save(path)
    backbone = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.GlobalAveragePooling2D()])
    options = {**RECIPE.options, "fc_dim": 8, "hidden_dim": 8, "projection_dim": 4}

    def head_weights(prior):
        keras.utils.set_random_seed(7)
        model = RECIPE.build(backbone, RECIPE.config, {**options, "prior": prior})
        model.build_heads((None, 3))
        return [np.asarray(w) for w in model.fc.weights + model.projector.weights]

    without, with_prior = head_weights(None), head_weights(path)
    assert len(without) == len(with_prior) == 6
    for a, b in zip(without, with_prior):
        np.testing.assert_array_equal(a, b)


def _tiny_prior_encoder():
    inputs = keras.Input((32, 32, 3))
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))


def test_cosine_kernel_matches_numpy():
    k = kernels.CosineKernel()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k(W)), np_cosine(W, W), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(k(W, V)), np_cosine(W, V), rtol=1e-5, atol=1e-6)


def test_one_dimensional_and_integer_priors_become_columns():
    labels = np.array([0, 1, 1, 2])
    k = keras.ops.convert_to_numpy(kernels.RBFKernel(1.0)(labels))
    np.testing.assert_allclose(k, np_rbf(labels[:, None].astype(float), labels[:, None].astype(float), 1.0), rtol=1e-6)


def test_pairwise_squared_distances_match_numpy():
    expected = ((W[:, None, :].astype(float) - V[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kernels.pairwise_squared_distances(W, V)), expected,
                               rtol=1e-4, atol=1e-5)
    assert np.all(keras.ops.convert_to_numpy(kernels.pairwise_squared_distances(W)) >= 0.0)


@pytest.mark.parametrize("lam", [0.01, 0.5, None])
def test_conditional_mean_weights_match_numpy_solve(lam):
    k = np_rbf(W, W, 2.0)
    lam_value = 1.0 / np.sqrt(len(W)) if lam is None else lam
    expected = np.linalg.inv(k + lam_value * np.eye(len(W))) @ k
    alpha = keras.ops.convert_to_numpy(kernels.conditional_mean_weights(k.astype("float32"), lam))
    np.testing.assert_allclose(alpha, expected, rtol=1e-3, atol=1e-4)


def test_conditional_mean_weights_of_identity_kernel_without_ridge_is_identity():
    alpha = keras.ops.convert_to_numpy(kernels.conditional_mean_weights(np.eye(5, dtype="float32"), 0.0))
    np.testing.assert_allclose(alpha, np.eye(5), atol=1e-6)


def test_conditional_mean_weights_carry_no_gradient():
    k = np_rbf(W, W, 2.0).astype("float32")
    (grad,) = gradients(lambda m: keras.ops.sum(kernels.conditional_mean_weights(m, 0.01) ** 2), k)
    assert np.all(grad == 0.0)


def test_get_kernel_names_objects_and_errors():
    assert isinstance(kernels.get_kernel("rbf", sigma=3.0), kernels.RBFKernel)
    assert isinstance(kernels.get_kernel("cosine"), kernels.CosineKernel)
    assert kernels.get_kernel(None) is None
    own = kernels.CosineKernel()
    assert kernels.get_kernel(own) is own
    with pytest.raises(ValueError, match="sigma"):
        kernels.get_kernel("rbf")
    with pytest.raises(ValueError, match="kernel must be one of"):
        kernels.get_kernel("laplace")
    with pytest.raises(ValueError, match="positive bandwidth"):
        kernels.RBFKernel(0.0)
    with pytest.raises(ValueError, match="sigma='median'"):
        kernels.RBFKernel("mean")
    with pytest.raises(ValueError, match="square"):
        kernels.conditional_mean_weights(np.ones((3, 4), "float32"))
    with pytest.raises(ValueError, match="shape"):
        kernels.RBFKernel(1.0)(np.ones((2, 3, 4), "float32"))


def test_kernels_serialize_round_trip():
    for k in (kernels.RBFKernel(4.0), kernels.CosineKernel()):
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(k))
        assert type(restored) is type(k) and restored.get_config() == k.get_config()


def _tiny_encoder():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Flatten()(inputs)
    mean = keras.layers.Dense(3, name="mean")(x)
    log_var = keras.layers.Dense(3, name="log_var")(x)
    return keras.Model(inputs, [mean, log_var])


def test_encoder_features_take_the_first_output_and_encode_prior_batches():
    encoder = _tiny_encoder()
    images = RNG.random((5, 8, 8, 3)).astype("float32")
    feats = keras.ops.convert_to_numpy(kernels.encoder_features(encoder, images))
    np.testing.assert_allclose(feats, keras.ops.convert_to_numpy(encoder(images)[0]), rtol=1e-6)
    np.testing.assert_allclose(kernels.encode_prior(encoder, images, batch_size=2), feats, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="images of shape"):
        kernels.encode_prior(encoder, images[0])
