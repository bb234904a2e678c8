"""Losses of partitioned representations against NumPy references, and their stop-gradient sites."""

from __future__ import annotations

import numpy as np
import pytest

from kerascl.losses import AugmentationPredictionLoss, DistortionDisentangledLoss, LatentPartitionLoss
from tests.grad_utils import gradients

RNG = np.random.default_rng(7)
Z1, Z2, P1, P2 = (RNG.normal(size=(10, 6)).astype("float32") for _ in range(4))


def _cos(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)


def ref_ddl_official(p1, p2, z1, z2):
    """DDCL main_simsiam.py: L1Loss(0.5 * cos(p1, z2).mean() + 0.5 * cos(p2, z1).mean(), 0)."""
    return abs(0.5 * _cos(p1, z2).mean() + 0.5 * _cos(p2, z1).mean())


def ref_ddl_mean_abs(p1, p2, z1, z2):
    return 0.5 * np.abs(_cos(p1, z2)).mean() + 0.5 * np.abs(_cos(p2, z1)).mean()


@pytest.mark.parametrize("reading,ref", [("abs_of_mean", ref_ddl_official), ("mean_of_abs", ref_ddl_mean_abs)])
def test_ddl_matches_numpy_on_stacked_pairs(reading, ref):
    loss = DistortionDisentangledLoss(reading=reading)
    value = float(loss(np.concatenate([Z2, Z1]), np.concatenate([P1, P2])))
    np.testing.assert_allclose(value, ref(P1, P2, Z1, Z2), rtol=1e-5, atol=1e-6)


def test_ddl_readings_differ_and_orthogonal_is_zero():
    a = DistortionDisentangledLoss("abs_of_mean")(Z1, P1)
    b = DistortionDisentangledLoss("mean_of_abs")(Z1, P1)
    assert float(b) > float(a) >= 0.0  # |mean| < mean |.| for mixed signs
    eye = np.eye(4, dtype="float32")
    assert float(DistortionDisentangledLoss()(eye, np.roll(eye, 1, axis=1))) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("stop", [True, False])
def test_ddl_stop_gradient_site(stop):
    loss = DistortionDisentangledLoss(stop_gradient=stop)
    g_target, g_pred = gradients(lambda t, p: loss(t, p), Z1, P1)
    assert np.abs(g_pred).max() > 0
    if stop:
        assert np.all(g_target == 0)
    else:
        assert np.abs(g_target).max() > 0


def test_ddl_rejects_unknown_reading_and_bad_shapes():
    with pytest.raises(ValueError, match="reading"):
        DistortionDisentangledLoss(reading="mean")
    with pytest.raises(ValueError, match="same shape"):
        DistortionDisentangledLoss()(Z1, Z1[:, :3])


def test_augmentation_prediction_loss_matches_numpy_and_stops_target_gradient():
    target = RNG.random((10, 5)).astype("float32")
    pred = RNG.normal(size=(10, 5)).astype("float32")
    loss = AugmentationPredictionLoss()
    np.testing.assert_allclose(float(loss(target, pred)), np.mean((pred - target) ** 2), rtol=1e-5)
    g_target, g_pred = gradients(lambda t, p: loss(t, p), target, pred)
    assert np.all(g_target == 0) and np.abs(g_pred).max() > 0


def ref_latent(m1, m2, d, term, margin, weight):
    content = np.mean(np.sum((m1[:, :d] - m2[:, :d]) ** 2, axis=1))
    dist2 = np.sum((m1[:, d:] - m2[:, d:]) ** 2, axis=1)
    if term == "hinge":
        style = np.mean(np.maximum(0.0, margin - np.sqrt(dist2)) ** 2)
    elif term == "negative_squared":
        style = -np.mean(dist2)
    else:
        style = 0.0
    return content + weight * style


@pytest.mark.parametrize("term", ["hinge", "negative_squared", None])
def test_latent_partition_loss_matches_numpy(term):
    m1 = RNG.normal(size=(10, 6)).astype("float32")
    m2 = (m1 + 0.3 * RNG.normal(size=(10, 6))).astype("float32")
    loss = LatentPartitionLoss(content_dim=2, style_term=term, margin=2.0, style_weight=0.5)
    np.testing.assert_allclose(float(loss(m1, m2)), ref_latent(m1, m2, 2, term, 2.0, 0.5), rtol=1e-5, atol=1e-6)
    assert LatentPartitionLoss.from_config(loss.get_config()).get_config() == loss.get_config()


def test_latent_partition_loss_pulls_content_and_pushes_style():
    m1 = RNG.normal(size=(10, 6)).astype("float32")
    m2 = (m1 + 0.1 * RNG.normal(size=(10, 6))).astype("float32")
    loss = LatentPartitionLoss(content_dim=3, style_term="negative_squared")
    g1, _ = gradients(lambda a, b: loss(a, b), m1, m2)
    diff = m1 - m2
    # Gradient descent moves content of view 1 towards view 2 and style away from it.
    assert np.all(np.sign(g1[:, :3]) == np.sign(diff[:, :3]))
    assert np.all(np.sign(g1[:, 3:]) == -np.sign(diff[:, 3:]))
    with pytest.raises(ValueError, match="style_term"):
        LatentPartitionLoss(content_dim=3, style_term="repel")
