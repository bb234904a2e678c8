"""ICCL's loss against a NumPy reference of the paper's formulas (with and without its options), its stop-gradient
sites (targets q and assignments m), and the curriculum s(e) inside the compiled step."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from kerascl.losses.feature_clustering import FeatureClusteringLoss
from kerascl.methods.iccl import SimilarityClustering, curriculum_weight
from tests.grad_utils import gradients
from tests.helpers import XLA, random_views, tiny_backbone

RNG = np.random.default_rng(5)
Q = RNG.normal(size=(12, 2, 7)).astype("float32")  # targets (B, V, D)
P = RNG.normal(size=(12, 2, 7)).astype("float32")  # predictions


def _n(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def _pca(q1, q2, p1, p2, k, l2norm=True):
    """The official head's PCA (`fit` on cat(q1, q2), `transform` of q1, q2, p1, p2), in NumPy.

    With `l2norm` every vector is l2-normalised before the fit and before its projection and the projection is
    normalised again; without it the raw vectors are fitted and projected (the clustering terms normalise the
    result). The basis: eigenvectors of the 1/n covariance by decreasing eigenvalue; the official code leaves each
    direction's sign to the eigen-solver, so the reference takes kerascl's convention (largest entry positive).
    """
    prepare = _n if l2norm else (lambda t: t)
    x = prepare(np.concatenate([q1, q2]))
    mean = x.mean(0)
    cov = (x - mean).T @ (x - mean) / len(x)
    values, vectors = np.linalg.eigh(cov)
    basis = vectors[:, np.argsort(-np.abs(values))][:, :k]
    basis = basis * np.sign(basis[np.argmax(np.abs(basis), axis=0), np.arange(k)])
    return [_n((prepare(t) - mean) @ basis) for t in (q1, q2, p1, p2)]


def ref_terms(q, p, similarity="byol", tau1=0.1, tau2=0.07, adaptive=False, clip=True, pca_dim=None,
              pca_l2norm=True):
    """The paper's terms for two views, sample by sample."""
    q, p = q.astype(np.float64), p.astype(np.float64)
    q1, q2, p1, p2 = q[:, 0], q[:, 1], p[:, 0], p[:, 1]
    b, d = q1.shape
    if similarity == "byol":
        sim = np.mean(np.sum((_n(p1) - _n(q2)) ** 2, 1)) + np.mean(np.sum((_n(p2) - _n(q1)) ** 2, 1))
    else:
        sim = 0.5 * -np.mean(np.sum(_n(p1) * _n(q2), 1)) + 0.5 * -np.mean(np.sum(_n(p2) * _n(q1), 1))
    if pca_dim:
        c1, c2, e1, e2 = _pca(q1, q2, p1, p2, pca_dim, pca_l2norm)
        d = pca_dim
    else:
        c1, c2, e1, e2 = _n(q1), _n(q2), _n(p1), _n(p2)
    ce, n1s, n2s = 0.0, [], []
    for i in range(b):
        m1, m2 = _softmax(c1[i] / tau2), _softmax(c2[i] / tau2)
        t1 = t2 = tau1
        if adaptive:  # p1 is matched to m2, p2 to m1
            t1, t2 = np.linalg.norm(m2), np.linalg.norm(m1)
            if clip:
                t1, t2 = min(t1, tau1), min(t2, tau1)
        n1, n2 = _softmax(e1[i] / t1), _softmax(e2[i] / t2)
        ce += -0.5 * (np.sum(m1 * np.log(n2)) + np.sum(m2 * np.log(n1))) / b
        n1s.append(n1)
        n2s.append(n2)
    pbar = 0.5 * (np.mean(n1s, 0) + np.mean(n2s, 0))
    uniform = np.mean(np.log((1.0 / d) / pbar))  # KL(uniform || pbar)
    return {"sim": sim, "ce": ce, "uniform": uniform}


OPTIONS = [
    {},
    {"similarity": "cosine"},
    {"tau1": 0.2, "tau2": 0.5},
    {"adaptive": True, "tau1": 0.5, "tau2": 0.3},  # the clip is active for some samples
    {"adaptive": True, "adaptive_clip": False, "tau2": 0.3},
    {"pca_dim": 5},
    {"pca_dim": 5, "pca_l2norm": False},
    {"pca_dim": 7, "similarity": "cosine", "adaptive": True, "adaptive_clip": False},
    {"pca_dim": 7, "similarity": "cosine", "adaptive": True, "adaptive_clip": False, "pca_l2norm": False},
]


@pytest.mark.parametrize("kwargs", OPTIONS)
def test_terms_match_numpy_reference(kwargs):
    ref_kwargs = {("clip" if k == "adaptive_clip" else k): v for k, v in kwargs.items()}
    expected = ref_terms(Q, P, **ref_kwargs)
    got = FeatureClusteringLoss(**kwargs).terms(Q, P)
    for key in ("sim", "ce", "uniform"):
        np.testing.assert_allclose(float(got[key]), expected[key], rtol=2e-4, atol=2e-5, err_msg=key)


@pytest.mark.parametrize("mix, r", [(0.0, 5.0), (1.0, 5.0), (0.3, 1.0)])
def test_call_mixes_the_terms(mix, r):
    t = ref_terms(Q, P)
    expected = mix * (r * t["uniform"] + t["ce"]) + (1 - mix) * t["sim"]
    loss = FeatureClusteringLoss(uniform_weight=r, mix=mix)
    np.testing.assert_allclose(float(loss(Q, P)), expected, rtol=2e-4, atol=2e-5)
    views = ([Q[:, 0], Q[:, 1]], [P[:, 0], P[:, 1]])
    np.testing.assert_allclose(float(loss(*views)), expected, rtol=2e-4, atol=2e-5)


def test_uniform_term_is_zero_for_a_uniform_marginal_and_positive_otherwise():
    # Predictions that put each sample on a different feature, evenly: pbar is uniform.
    eye = np.eye(7, dtype="float32")
    p = np.stack([eye, eye], axis=1)
    assert abs(float(FeatureClusteringLoss().terms(p, p)["uniform"])) < 1e-5
    collapsed = np.repeat(p[:1], 7, axis=0)
    assert float(FeatureClusteringLoss().terms(collapsed, collapsed)["uniform"]) > 0.5


@pytest.mark.parametrize("kwargs", [{}, {"pca_dim": 5, "adaptive": True}, {"similarity": "cosine"}])
def test_no_gradient_reaches_the_targets(kwargs):
    grad_q, grad_p = gradients(lambda q, p: FeatureClusteringLoss(mix=0.5, **kwargs)(q, p), Q, P)
    assert np.all(grad_q == 0.0)
    assert np.abs(grad_p).sum() > 0


def test_assignments_are_stopped_even_without_the_target_stop_gradient():
    # Clustering only: q reaches the loss only through m = softmax(q / tau2), which is always stopped.
    (grad_q,) = gradients(lambda q: FeatureClusteringLoss(mix=1.0, stop_gradient=False)(q, P), Q)
    assert np.all(grad_q == 0.0)
    # Similarity only, no stop-gradient: the gradient reaches q.
    (grad_q,) = gradients(lambda q: FeatureClusteringLoss(mix=0.0, stop_gradient=False)(q, P), Q)
    assert np.abs(grad_q).sum() > 0


def test_pca_normalises_before_fitting_and_projecting_by_default():
    """The l2-normalisation changes the PCA terms (targets of very different norms), and it is on by default."""
    scaled = Q * np.geomspace(0.1, 10.0, len(Q), dtype="float32")[:, None, None]
    on = FeatureClusteringLoss(pca_dim=5).terms(scaled, P)
    off = FeatureClusteringLoss(pca_dim=5, pca_l2norm=False).terms(scaled, P)
    assert abs(float(on["ce"]) - float(off["ce"])) > 1e-3
    expected = ref_terms(scaled, P, pca_dim=5)
    np.testing.assert_allclose(float(on["ce"]), expected["ce"], rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(float(on["uniform"]), expected["uniform"], rtol=2e-4, atol=2e-5)


def _path_terms_against_the_reference(model):
    """The model's loss (as `loss_and_metrics` calls it) against the official formula, PCA with l2norm, on targets
    of very different norms (where normalising before the PCA matters)."""
    scaled = Q * np.geomspace(0.1, 10.0, len(Q), dtype="float32")[:, None, None]
    got = model.loss_fn.terms(scaled, P)
    options = dict(similarity="cosine", adaptive=True, clip=False, pca_dim=model.loss_fn.pca_dim)
    expected = ref_terms(scaled, P, **options)
    for key in ("sim", "ce", "uniform"):
        np.testing.assert_allclose(float(got[key]), expected[key], rtol=2e-4, atol=2e-5, err_msg=key)
    raw = ref_terms(scaled, P, pca_l2norm=False, **options)  # kerascl's former PCA, the official l2norm=False
    assert abs(raw["ce"] - expected["ce"]) > 1e-3


def test_small_data_pca_follows_the_official_formula():
    widths = dict(projection_dim=7, hidden_dim=7, prediction_hidden_dim=7, pca_dim=7)
    model = SimilarityClustering.small_data(tiny_backbone(image_size=8, width=2), **widths)
    assert model.loss_fn.pca_l2norm and model.get_config()["pca_l2norm"] is True
    _path_terms_against_the_reference(model)


def test_cifar10_iccl_recipe_pca_follows_the_official_formula():
    from kerascl.recipe import get_recipe

    recipe = get_recipe("cifar10-iccl")
    assert recipe.options["pca_dim"] == 512 and recipe.options["pca_l2norm"] is True
    options = {**recipe.options, "projection_dim": 7, "hidden_dim": 7, "prediction_hidden_dim": 7, "pca_dim": 7}
    model = recipe.build(tiny_backbone(image_size=8, width=2), recipe.config, options)
    assert model.loss_fn.pca_l2norm
    _path_terms_against_the_reference(model)


def test_config_round_trip_and_errors():
    loss = FeatureClusteringLoss(similarity="cosine", pca_dim=4, adaptive=True, adaptive_clip=False, mix=0.2,
                                 pca_l2norm=False)
    restored = FeatureClusteringLoss.from_config(loss.get_config())
    assert restored.pca_l2norm is False
    np.testing.assert_allclose(float(restored(Q, P)), float(loss(Q, P)), rtol=1e-6)
    with pytest.raises(ValueError, match="similarity"):
        FeatureClusteringLoss(similarity="l2")
    with pytest.raises(ValueError, match="mix"):
        FeatureClusteringLoss(mix=1.5)
    with pytest.raises(ValueError, match="pca_dim"):
        FeatureClusteringLoss(pca_dim=9)(Q, P)
    with pytest.raises(ValueError, match="at least 2 views"):
        FeatureClusteringLoss()(Q[:, :1], P[:, :1])


@pytest.mark.parametrize(
    "epoch, expected",
    [(0, 0.0), (149, 0.0), (150, 0.0), (165, 0.5), (171, 0.7), (180, 1.0), (299, 1.0)],
)
def test_curriculum_schedule_below_inside_and_after_the_ramp(epoch, expected):
    np.testing.assert_allclose(float(curriculum_weight(epoch, 150, 180)), expected, atol=1e-6)


def test_curriculum_step_when_the_ramp_is_empty():
    assert float(curriculum_weight(9, 10, 10)) == 0.0
    assert float(curriculum_weight(10, 10, 10)) == 1.0


def test_curriculum_runs_inside_the_compiled_step_from_the_epoch_counter():
    """One step per epoch, ramp from epoch 1 to 3: s per epoch is 0, 0, 0.5, 1, 1; the loss follows s."""
    model = SimilarityClustering(tiny_backbone(image_size=8, width=2), variant="plain", projection_dim=4,
                                 hidden_dim=4, prediction_hidden_dim=4, num_projector_layers=1, e0=1, e1=3)
    batch = random_views(batch=4, image_size=8)
    model.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=XLA)  # lr 0: the terms stay fixed
    history = model.fit(batch, batch_size=4, epochs=5, verbose=0).history
    np.testing.assert_allclose(history["s"], [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-6)
    for e in range(5):
        s = history["s"][e]
        mixed = s * (5.0 * history["loss_uniform"][e] + history["loss_ce"][e]) + (1 - s) * history["loss_sim"][e]
        np.testing.assert_allclose(history["loss"][e], mixed, rtol=1e-4, atol=1e-5)
    assert history["loss_sim"][0] != history["loss_ce"][0]


def test_small_data_config_and_variant_errors():
    model = SimilarityClustering.small_data(tiny_backbone(image_size=8, width=2), e0=50, e1=60)
    config = model.get_config()
    assert config["variant"] == "plain" and config["pca_dim"] == 512 and config["adaptive"] is True
    assert config["adaptive_clip"] is False and config["uniform_weight"] == 1.0 and config["e0"] == 50
    assert model.loss_fn.similarity == "cosine"
    with pytest.raises(ValueError, match="variant"):
        SimilarityClustering(tiny_backbone(), variant="ema")
    with pytest.raises(ValueError, match="pca_dim"):
        SimilarityClustering(tiny_backbone(), projection_dim=8, pca_dim=16)


def test_curriculum_warns_when_the_epoch_length_is_unknown():
    model = SimilarityClustering(tiny_backbone(), projection_dim=8, hidden_dim=8, prediction_hidden_dim=8)
    with pytest.warns(UserWarning, match="every step as an epoch"):
        model.set_training_plan(None, 3)
    model.set_training_plan(5, 3)
    assert float(keras.ops.convert_to_numpy(model.steps_per_epoch)) == 5.0


def test_curriculum_warns_when_whole_epochs_never_reach_the_clustering_stage():
    """At 2 epochs a ramp from epoch 1.0 to 1.2 gives s = 0 at epochs 0 and 1: nothing of the clustering trains."""
    short = SimilarityClustering(tiny_backbone(), projection_dim=8, hidden_dim=8, prediction_hidden_dim=8, e0=1.0,
                                 e1=1.2)
    with pytest.warns(UserWarning, match="never leaves the similarity loss in these 2 epochs"):
        short.set_training_plan(5, 2)
    for epoch in range(2):
        assert float(keras.ops.convert_to_numpy(curriculum_weight(epoch, 1.0, 1.2))) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        short.set_training_plan(5, 3)  # epoch 2 reaches s = 1
        SimilarityClustering(tiny_backbone(), projection_dim=8, hidden_dim=8, prediction_hidden_dim=8,
                             e0=2.5, e1=3.0).set_training_plan(5, 5)  # the 5-epoch claim: s = 0, 0, 0, 1, 1
        # a ramp at or past the end of the run is a choice (the iccl claim's similarity-only base), not a surprise
        SimilarityClustering(tiny_backbone(), projection_dim=8, hidden_dim=8, prediction_hidden_dim=8,
                             e0=5.0, e1=5.0).set_training_plan(5, 5)
        SimilarityClustering(tiny_backbone(), projection_dim=8, hidden_dim=8, prediction_hidden_dim=8, e0=1.0,
                             e1=1.2, mix=0.5).set_training_plan(5, 2)


def test_partition_is_rejected_rather_than_ignored():
    from kerascl.methods.partition import Partition

    with pytest.raises(ValueError, match="does not take a partition"):
        SimilarityClustering(tiny_backbone(), partition=Partition())
