"""The four baseline losses against NumPy references of their papers' formulas, and their stop-gradient sites."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerascl.losses import BarlowTwinsLoss, BYOLLoss, InfoNCELoss, NegativeCosineSimilarity
from tests.grad_utils import gradients

RNG = np.random.default_rng(42)
A = RNG.normal(size=(12, 7)).astype("float32")
B = RNG.normal(size=(12, 7)).astype("float32")


def _l2n(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def ref_negative_cosine(z, p):
    return -np.mean(np.sum(_l2n(p) * _l2n(z), axis=1))


def ref_byol(z, p):
    return np.mean(2.0 - 2.0 * np.sum(_l2n(p) * _l2n(z), axis=1))


def ref_barlow_twins(z1, z2, lam=5e-3, eps=1e-5):
    n = z1.shape[0]
    z1n = (z1 - z1.mean(0)) / np.sqrt(z1.var(0) + eps)
    z2n = (z2 - z2.mean(0)) / np.sqrt(z2.var(0) + eps)
    c = z1n.T @ z2n / n
    on = np.sum((1 - np.diag(c)) ** 2)
    off = np.sum(c**2) - np.sum(np.diag(c) ** 2)
    return on + lam * off


def ref_nt_xent(z1, z2, t):
    """Per-anchor loop, the way the SimCLR paper writes l(i, j)."""
    u = _l2n(np.concatenate([z1, z2]))
    n2 = len(u)
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        pos = (i + n) % n2
        sims = np.array([u[i] @ u[k] / t for k in range(n2)])
        denom = sum(np.exp(sims[k]) for k in range(n2) if k != i)
        total += -np.log(np.exp(sims[pos]) / denom)
    return total / n2


@pytest.mark.parametrize(
    "loss, ref",
    [
        (NegativeCosineSimilarity(), ref_negative_cosine),
        (BYOLLoss(), ref_byol),
        (BarlowTwinsLoss(), ref_barlow_twins),
        (BarlowTwinsLoss(lambda_offdiag=0.1, scale_loss=0.5), lambda a, b: 0.5 * ref_barlow_twins(a, b, lam=0.1)),
        (InfoNCELoss(temperature=0.5), lambda a, b: ref_nt_xent(a, b, 0.5)),
        (InfoNCELoss(temperature=0.1), lambda a, b: ref_nt_xent(a, b, 0.1)),
    ],
)
def test_loss_matches_numpy_reference(loss, ref):
    np.testing.assert_allclose(float(loss(A, B)), ref(A, B), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("loss_cls", [NegativeCosineSimilarity, BYOLLoss])
def test_gradient_stops_at_the_target(loss_cls):
    grad_target, grad_prediction = gradients(lambda z, p: loss_cls()(z, p), A, B)
    assert np.all(grad_target == 0.0)
    assert np.abs(grad_prediction).sum() > 0
    grad_target, _ = gradients(lambda z, p: loss_cls(stop_gradient=False)(z, p), A, B)
    assert np.abs(grad_target).sum() > 0


@pytest.mark.parametrize("loss", [BarlowTwinsLoss(), InfoNCELoss()])
def test_symmetric_losses_send_gradient_to_both_views(loss):
    g1, g2 = gradients(lambda a, b: loss(a, b), A, B)
    assert np.abs(g1).sum() > 0 and np.abs(g2).sum() > 0
    np.testing.assert_allclose(float(loss(A, B)), float(loss(B, A)), rtol=1e-5)


@pytest.mark.parametrize("loss", [BarlowTwinsLoss(), InfoNCELoss()])
def test_batch_of_one_is_a_clear_error(loss):
    with pytest.raises(ValueError, match="batch of at least 2"):
        loss(A[:1], B[:1])


@pytest.mark.parametrize("loss", [NegativeCosineSimilarity(), BYOLLoss(), BarlowTwinsLoss(), InfoNCELoss()])
def test_shape_errors_and_config_round_trip(loss):
    with pytest.raises(ValueError, match="same shape"):
        loss(A, B[:, :5])
    with pytest.raises(ValueError, match=r"\(batch, dim\)"):
        loss(A[None], B[None])
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(clone) is type(loss) and clone.get_config() == loss.get_config()
    np.testing.assert_allclose(float(clone(A, B)), float(loss(A, B)), rtol=1e-6)


def test_info_nce_rejects_non_positive_temperature():
    with pytest.raises(ValueError, match="temperature"):
        InfoNCELoss(temperature=0.0)
