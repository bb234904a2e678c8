"""The colour-sensitivity probe: R^2 of a random colour jitter read back from an encoder's features."""

import numpy as np
import pytest

from kerascl.probes import COLOR_PARAMETERS, color_sensitivity_on_features, color_sensitivity_probe, floor_probes
from kerascl.probes.robustness import apply_color_jitter, color_jitter, color_jitter_parameters
from kerascl.recipe_comparison import headline_metrics
from tests.helpers import tiny_backbone


def _images(n=400, size=8, seed=0):
    """Images of one warm colour (a little noise) away from the clipping range: every jitter parameter shows."""
    rng = np.random.default_rng(seed)
    base = np.array([0.55, 0.4, 0.3]) + rng.uniform(-0.02, 0.02, (n, 1, 1, 3))
    ramp = np.linspace(-0.1, 0.1, size)[None, :, None, None] * rng.uniform(-1, 1, (n, 1, 1, 3))
    return np.clip(np.broadcast_to(base + ramp, (n, size, size, 3)), 0, 1).astype("float32")


def test_jitter_parameters_apply_as_the_robustness_jitter():
    x = _images(6)
    params = color_jitter_parameters(6, np.random.default_rng(5))
    assert params.shape == (6, 4) and params.dtype == np.float32
    assert np.all(np.abs(params[:, :3] - 1) <= 0.4) and np.all(np.abs(params[:, 3]) <= 0.1)
    np.testing.assert_array_equal(apply_color_jitter(x, params), color_jitter(x, np.random.default_rng(5)))
    identity = np.tile(np.array([[1, 1, 1, 0]], "float32"), (6, 1))
    np.testing.assert_allclose(apply_color_jitter(x, identity), x, atol=1e-5)
    full_turn = identity + np.array([0, 0, 0, 1], "float32")
    np.testing.assert_allclose(apply_color_jitter(x, full_turn), x, atol=1e-5)
    half_bright = identity * np.array([0.5, 1, 1, 1], "float32")
    np.testing.assert_allclose(apply_color_jitter(x, half_bright), x * 0.5, atol=1e-6)
    with pytest.raises(ValueError, match=r"shape \(6, 4\)"):
        apply_color_jitter(x, params[:, :3])


def test_r2_is_one_for_features_that_hold_the_parameters_and_zero_for_features_that_do_not():
    rng = np.random.default_rng(0)
    params = rng.uniform(-1, 1, (600, 4))
    exact = color_sensitivity_on_features(np.concatenate([params @ rng.normal(size=(4, 4)),
                                                          rng.normal(size=(600, 6))], 1), params)
    assert set(exact) == {*COLOR_PARAMETERS, "mean"}
    assert min(exact.values()) > 0.99
    blind = color_sensitivity_on_features(rng.normal(size=(600, 10)), params)
    assert max(abs(v) for v in blind.values()) < 0.1
    half = color_sensitivity_on_features(np.concatenate([params[:, :2], rng.normal(size=(600, 4))], 1), params)
    assert half["brightness"] > 0.99 and half["contrast"] > 0.99 and abs(half["hue"]) < 0.1
    assert half["mean"] == pytest.approx(np.mean([half[name] for name in COLOR_PARAMETERS]))
    with pytest.raises(ValueError, match="parameters"):
        color_sensitivity_on_features(rng.normal(size=(600, 10)), params[:, :3])


def test_the_probe_tells_a_colour_keeping_encoder_from_a_colour_blind_one():
    x = _images()

    def mean_colour(images):  # keeps brightness, saturation and hue: the per-channel means and spreads
        return np.concatenate([images.mean((1, 2)), images.std((1, 2))], axis=1)

    def shape_only(images):  # the luma pattern, normalised per image: the jitter leaves it as it is (no clipping)
        luma = (images @ np.array([0.299, 0.587, 0.114], "float32")).reshape(len(images), -1)
        return (luma - luma.mean(1, keepdims=True)) / (luma.std(1, keepdims=True) + 1e-6)

    keeps = color_sensitivity_probe(mean_colour, x, seed=1)
    blind = color_sensitivity_probe(shape_only, x, seed=1)
    assert min(keeps[name] for name in COLOR_PARAMETERS) > 0.25 and keeps["brightness"] > 0.9
    assert blind["mean"] < 0.15 and keeps["mean"] > blind["mean"] + 0.4
    assert color_sensitivity_probe(mean_colour, x, seed=1) == keeps  # seeded: the same jitter and split
    assert color_sensitivity_probe(mean_colour, x, seed=2) != keeps
    given = color_sensitivity_probe(mean_colour, x, seed=1, original_features=mean_colour(x))
    assert given == keeps  # features already computed replace the encoding of the unjittered images
    with pytest.raises(ValueError, match="original_features holds 3 rows for 400 images"):
        color_sensitivity_probe(mean_colour, x, original_features=mean_colour(x[:3]))
    with pytest.raises(ValueError, match="RGB images"):
        color_sensitivity_probe(mean_colour, x[..., :1])
    with pytest.raises(ValueError, match="strength"):
        color_sensitivity_probe(mean_colour, x, strength=(0.4, 0.4, 0.4))


def test_floors_and_headline_metrics_carry_the_colour_probe():
    backbone = tiny_backbone(image_size=8)
    x = _images(60)
    y = np.arange(60) % 3
    settings = dict(knn={"k": 5}, linear={"epochs": 1}, few_shot={"episodes": 2, "n_query": 2}, few_shot_shots=(1,))
    floors = floor_probes(backbone, (x, y), (x, y), seed=1, **settings, color={"num_test": 40, "seed": 3})
    for floor in ("random_init", "raw_pixels"):
        assert set(floors[floor]["color"]) == {*COLOR_PARAMETERS, "mean"}
    from kerascl.probes.floors import raw_pixel_features

    assert floors["raw_pixels"]["color"] == color_sensitivity_probe(raw_pixel_features, x[:40], seed=3)
    assert "color" not in floor_probes(backbone, (x, y), (x, y), **settings)["raw_pixels"]
    row = headline_metrics({"probes": {"color": {"hue": 0.3, "mean": 0.2}}, "floors": floors})
    assert row["color.hue"] == 0.3 and row["color.hue raw pixels"] == floors["raw_pixels"]["color"]["hue"]
    assert row["color.mean random init"] == floors["random_init"]["color"]["mean"]
