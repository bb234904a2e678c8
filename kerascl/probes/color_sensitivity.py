"""Colour-sensitivity probe: how much a frozen encoder's features move with a colour jitter, and how readably.

Strong colour augmentation teaches invariance to colour; the hierarchical augmentation-invariance paper (Zhang & Ma,
"Rethinking the Augmentation Module in Contrastive Learning") argues that this throws away colour information that
fine-grained tasks need, and that its augmentation embeddings keep it. This probe measures it on the test images:
each image is jittered with its own random brightness, contrast, saturation and hue (the colour jitter of SimSiam's
views, 0.4 / 0.4 / 0.4 / 0.1, by default), the frozen encoder embeds the image and its jittered copy, and a ridge
regression learns to read the four jitter parameters from the change of the features (jittered minus original). The
result is the held-out $R^2$ of each parameter (1: the change gives the jitter exactly; 0: no better than its mean)
and their mean. An encoder invariant to the jitter does not move and scores 0; one that keeps colour moves in a
direction that says how the colour changed.

Half of the images (a seeded random half) fit the regression and the other half score it. The ridge penalty is
chosen on a fifth of the fitting half from a fixed grid, so raw pixels (3,072 features) and a 128-d backbone are
each read at their best penalty.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from kerascl.probes.features import extract_features
from kerascl.probes.robustness import apply_color_jitter, color_jitter_parameters
from kerascl.probes.separability import standardise

COLOR_PARAMETERS = ("brightness", "contrast", "saturation", "hue")
RIDGE_GRID = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)
#: Fewest images the probe accepts: half fit the regression (a fifth of that half chooses its penalty), half score it.
MIN_IMAGES = 10


def _ridge_predictions(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, ridges: Sequence[float]
) -> list[np.ndarray]:
    """Test predictions of a ridge regression on standardised features, one array per penalty.

    One SVD of the training features serves every penalty: `W = V diag(s / (s^2 + ridge)) U^T Y`.
    """
    xs, xt = standardise(train_x, test_x)
    mean_y = train_y.mean(0, keepdims=True)
    u, s, vt = np.linalg.svd(xs, full_matrices=False)
    projected = u.T @ (train_y - mean_y)
    test_v = xt @ vt.T
    return [test_v @ ((s / (s**2 + ridge))[:, None] * projected) + mean_y for ridge in ridges]


def _r2_per_column(targets: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    ss_res = ((targets - predictions) ** 2).sum(0)
    ss_tot = ((targets - targets.mean(0, keepdims=True)) ** 2).sum(0)
    return 1.0 - ss_res / np.maximum(ss_tot, 1e-12)


def color_sensitivity_on_features(
    features: np.ndarray,
    parameters: np.ndarray,
    seed: int = 0,
    ridges: Sequence[float] = RIDGE_GRID,
) -> dict[str, float]:
    """Held-out $R^2$ of each colour-jitter parameter read back from features (the regression half of the probe).

    Args:
        features: `(N, C)` features to read the parameters from (the probe passes the change of each image's
            features under its jitter).
        parameters: `(N, 4)` their jitter parameters (brightness, contrast, saturation, hue).
        seed: seed of the fit / score split.
        ridges: penalties to choose from (on a fifth of the fitting half).

    Returns:
        `{"brightness", "contrast", "saturation", "hue", "mean"}`: held-out $R^2$ of each parameter and their mean.
    """
    features = np.asarray(features, np.float64)
    parameters = np.asarray(parameters, np.float64)
    if features.ndim != 2 or parameters.shape != (len(features), len(COLOR_PARAMETERS)):
        raise ValueError(
            f"Expected features (N, C) and parameters (N, {len(COLOR_PARAMETERS)}); got {features.shape} and "
            f"{parameters.shape}."
        )
    if len(features) < MIN_IMAGES:
        raise ValueError(f"The colour-sensitivity probe needs at least {MIN_IMAGES} images; got {len(features)}.")
    if not ridges:
        raise ValueError("Give at least one ridge penalty.")
    order = np.random.default_rng([seed, 1]).permutation(len(features))
    fit, score = order[: len(order) // 2], order[len(order) // 2:]
    n_val = max(1, len(fit) // 5)
    choose_fit, choose_val = fit[n_val:], fit[:n_val]
    validation = [
        float(np.mean(_r2_per_column(parameters[choose_val], pred)))
        for pred in _ridge_predictions(features[choose_fit], parameters[choose_fit], features[choose_val], ridges)
    ]
    ridge = ridges[int(np.argmax(validation))]
    (prediction,) = _ridge_predictions(features[fit], parameters[fit], features[score], (ridge,))
    r2 = _r2_per_column(parameters[score], prediction)
    result = {name: float(value) for name, value in zip(COLOR_PARAMETERS, r2)}
    result["mean"] = float(np.mean(r2))
    return result


def color_sensitivity_probe(
    encoder: Callable,
    images: np.ndarray,
    strength: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1),
    seed: int = 0,
    batch_size: int = 256,
    verbose: int = 0,
    original_features: np.ndarray | None = None,
) -> dict[str, float]:
    """How much of a random colour jitter a frozen encoder keeps: held-out $R^2$ of the jitter read from the change
    it makes to the features.

    Each image gets its own brightness, contrast and saturation factor (uniform in `[1 - s, 1 + s]`) and hue shift
    (uniform in `[-h, h]` of a turn), applied as the robustness probe's colour jitter; a ridge regression fitted on
    half of the images predicts the four parameters of the other half from `encoder(jittered) - encoder(image)`.

    Reference: Zhang & Ma, "Rethinking the Augmentation Module in Contrastive Learning: Learning Hierarchical
    Augmentation Invariance with Expanded Views", CVPR 2022 (arXiv:2206.00227), whose claim the probe tests.

    Args:
        encoder: frozen `keras.Model` (or callable) mapping images `(B, H, W, 3)` in `[0, 1]` to features `(B, C)`.
        images: `(N, H, W, 3)` float images in `[0, 1]` (the test split), N >= 10.
        strength: `(brightness, contrast, saturation, hue)` jitter strengths.
        seed: seed of the jitter and of the fit / score split.
        batch_size: encoder batch size.
        verbose: 1 shows the extraction progress bar.
        original_features: optional `(N, C)` features of `images` already computed with this encoder (the recipe
            runner and the floors pass the probes' test features), so the unjittered images are not encoded again.

    Returns:
        `{"brightness", "contrast", "saturation", "hue", "mean"}`: held-out $R^2$ of each parameter and their mean.

    Examples:
        >>> result = color_sensitivity_probe(backbone, x_test)
        >>> sorted(result)
        ['brightness', 'contrast', 'hue', 'mean', 'saturation']
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"The colour-sensitivity probe needs RGB images (N, H, W, 3); got shape {images.shape}.")
    if len(strength) != len(COLOR_PARAMETERS) or min(strength) <= 0:
        raise ValueError(f"strength must be four positive numbers (brightness, contrast, saturation, hue); got "
                         f"{tuple(strength)}.")
    parameters = color_jitter_parameters(len(images), np.random.default_rng([seed, 0]), *strength)
    jittered = apply_color_jitter(images, parameters)
    if original_features is None:
        original_features, _ = extract_features(encoder, (images, None), batch_size, verbose, require_labels=False)
    elif len(original_features) != len(images):
        raise ValueError(f"original_features holds {len(original_features)} rows for {len(images)} images.")
    moved, _ = extract_features(encoder, (jittered, None), batch_size, verbose, require_labels=False)
    return color_sensitivity_on_features(moved - np.asarray(original_features, np.float32), parameters, seed=seed)
