"""Content / style separability probe for partitioned representations.

A partitioned model (content part + style part; see Methods) should put the class in the content
part and the augmentation in the style part. This probe measures both claims on a held-out split:

- `class_acc_content`, `class_acc_style`: accuracy of a linear softmax classifier predicting the
  class from the content part alone and from the style part alone;
- `aug_r2_content`, `aug_r2_style`: coefficient of determination $R^2$ of a ridge regression
  predicting the recorded augmentation parameters of the view from each part (averaged over the
  parameter dimensions that vary).

A well-separated model reads `class_acc_content > class_acc_style` and
`aug_r2_style > aug_r2_content`.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np

from kerascl.probes.features import (
    MissingLabelsError,
    NO_LABELS_HINT,
    as_class_indices,
    encode_batch,
    num_classes_of,
)
from kerascl.probes.few_shot import softmax_regression

KEYS = ("class_acc_content", "class_acc_style", "aug_r2_content", "aug_r2_style")


def standardise(train_x: np.ndarray, test_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both feature splits, float64, standardised with the training split's mean and standard deviation."""
    mean_x = train_x.mean(0, keepdims=True)
    std_x = train_x.std(0, keepdims=True) + 1e-6
    return (np.asarray(train_x, np.float64) - mean_x) / std_x, (np.asarray(test_x, np.float64) - mean_x) / std_x


def ridge_r2(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    ridge: float = 1.0,
) -> float:
    """Held-out $R^2$ of a ridge regression from `x` to the columns of `y`.

    Features are standardised and targets centred with the training statistics; the closed-form
    solution `W = (X^T X + ridge * I)^{-1} X^T Y` is scored on the test split with
    `R^2 = 1 - SS_res / SS_tot` per target column, averaged over the columns whose test variance is
    non-zero. `R^2` is 1 for a perfect prediction, 0 for predicting the mean, and negative for worse.

    Args:
        train_x: `(N, C)` features. train_y: `(N, P)` targets.
        test_x: `(M, C)` features. test_y: `(M, P)` targets.
        ridge: L2 penalty (on standardised features).

    Returns:
        The mean held-out `R^2`.
    """
    train_y = np.asarray(train_y, np.float64).reshape(len(train_y), -1)
    test_y = np.asarray(test_y, np.float64).reshape(len(test_y), -1)
    xs, xt = standardise(train_x, test_x)
    mean_y = train_y.mean(0, keepdims=True)
    gram = xs.T @ xs + ridge * np.eye(xs.shape[1])
    w = np.linalg.solve(gram, xs.T @ (train_y - mean_y))
    pred = xt @ w + mean_y
    ss_res = ((test_y - pred) ** 2).sum(0)
    ss_tot = ((test_y - test_y.mean(0, keepdims=True)) ** 2).sum(0)
    varying = ss_tot > 1e-12
    if not np.any(varying):
        raise ValueError(
            "Every augmentation parameter is constant on the held-out split, so R^2 is undefined; "
            "record parameters of random augmentations (or use more samples)."
        )
    return float(np.mean(1.0 - ss_res[varying] / ss_tot[varying]))


def separability_probe(
    content_features: np.ndarray,
    style_features: np.ndarray,
    labels: np.ndarray,
    aug_params: np.ndarray,
    test_fraction: float = 0.3,
    ridge: float = 1.0,
    l2: float = 1e-4,
    steps: int = 500,
    seed: int = 0,
) -> dict[str, float]:
    """Class accuracy and augmentation $R^2$ from the content and the style parts.

    One random split (seeded) of the samples is used for all four numbers: classifiers and
    regressions are fitted on the training part and scored on the held-out part. The classifier
    is a multinomial logistic regression on standardised features fitted in NumPy
    (`kerascl.probes.few_shot.softmax_regression`), so the numbers are the same on every backend.

    Args:
        content_features: `(N, Cc)` content part of the representation.
        style_features: `(N, Cs)` style part.
        labels: `(N,)` class indices.
        aug_params: `(N, P)` recorded augmentation parameters of the view that produced each row
            (`params_1` of a multi-view batch when the features come from `view_1`).
        test_fraction: held-out fraction (default 0.3).
        ridge: ridge penalty of the parameter regression.
        l2: L2 penalty of the linear classifier.
        steps: gradient steps of the linear classifier.
        seed: split seed.

    Returns:
        Exactly `{"class_acc_content", "class_acc_style", "aug_r2_content", "aug_r2_style"}`.

    Examples:
        >>> r = separability_probe(z[:, :96], z[:, 96:], labels, params)
        >>> r["class_acc_content"] > r["class_acc_style"]
    """
    if labels is None:
        raise MissingLabelsError(NO_LABELS_HINT)
    content = np.asarray(content_features, np.float32)
    style = np.asarray(style_features, np.float32)
    labels = as_class_indices(labels)
    params = np.asarray(aug_params, np.float32).reshape(len(aug_params), -1)
    n = len(labels)
    for name, arr in (("content_features", content), ("style_features", style), ("aug_params", params)):
        if len(arr) != n:
            raise ValueError(f"{name} has {len(arr)} rows but there are {n} labels.")
    if content.ndim != 2 or style.ndim != 2:
        raise ValueError("content_features and style_features must be 2-D (N, dims).")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}.")
    n_test = int(round(n * test_fraction))
    if n_test < 1 or n - n_test < 2:
        raise ValueError(f"Too few samples ({n}) for a train / held-out split.")
    order = np.random.default_rng(seed).permutation(n)
    test_idx, train_idx = order[:n_test], order[n_test:]
    num_classes = num_classes_of(labels)
    result: dict[str, float] = {}
    for part, feats in (("content", content), ("style", style)):
        mean = feats[train_idx].mean(0, keepdims=True)
        std = feats[train_idx].std(0, keepdims=True) + 1e-6
        train_x, test_x = (feats[train_idx] - mean) / std, (feats[test_idx] - mean) / std
        w, b = softmax_regression(train_x, labels[train_idx], num_classes, l2=l2, steps=steps)
        predicted = np.argmax(test_x @ w + b, axis=1)
        result[f"class_acc_{part}"] = float(np.mean(predicted == labels[test_idx]))
    for part, feats in (("content", content), ("style", style)):
        result[f"aug_r2_{part}"] = ridge_r2(
            feats[train_idx], params[train_idx], feats[test_idx], params[test_idx], ridge
        )
    return {key: result[key] for key in KEYS}


def _split_features(features: np.ndarray, split: int | Callable) -> tuple[np.ndarray, np.ndarray]:
    if callable(split):
        content, style = split(features)
        return (
            np.asarray(keras.ops.convert_to_numpy(content), np.float32),
            np.asarray(keras.ops.convert_to_numpy(style), np.float32),
        )
    split = int(split)
    if not 0 < split < features.shape[1]:
        raise ValueError(
            f"split={split} must leave both parts non-empty for {features.shape[1]}-d features."
        )
    return features[:, :split], features[:, split:]


def separability_probe_from_encoder(
    encoder: Callable,
    data: Any,
    split: int | Callable,
    view: int = 1,
    verbose: int = 1,
    **kwargs: Any,
) -> dict[str, float]:
    """Run `separability_probe` on an encoder over multi-view batches.

    Args:
        encoder: frozen model mapping images to `(B, C)` features (content and style together).
        data: iterable (e.g. `tf.data.Dataset`) of multi-view dict batches holding
            `view_{view}`, `params_{view}` and `label` (see Architecture).
        split: number of content dimensions (content = first `split` dims, style = the rest), or
            a function mapping the `(B, C)` feature array to `(content, style)`.
        view: which view's images and recorded parameters to use (default 1).
        verbose: 1 shows a progress bar.
        **kwargs: passed to `separability_probe` (`test_fraction`, `ridge`, `l2`, `steps`, `seed`).

    Returns:
        The four-key dict of `separability_probe`.
    """
    image_key, params_key = f"view_{view}", f"params_{view}"
    progbar = keras.utils.Progbar(None, verbose=verbose, unit_name="batch")
    contents, styles, labels, params = [], [], [], []
    for step, batch in enumerate(data):
        if not isinstance(batch, dict):
            raise TypeError(
                "separability_probe_from_encoder needs multi-view dict batches with "
                f"'{image_key}', '{params_key}' and 'label'; got {type(batch).__name__}."
            )
        if "label" not in batch:
            raise MissingLabelsError(NO_LABELS_HINT)
        missing = [k for k in (image_key, params_key) if k not in batch]
        if missing:
            raise ValueError(f"Batch lacks {missing}; it has keys {sorted(batch)}.")
        images = np.asarray(keras.ops.convert_to_numpy(batch[image_key]), np.float32)
        content, style = _split_features(encode_batch(encoder, images), split)
        contents.append(content)
        styles.append(style)
        labels.append(as_class_indices(keras.ops.convert_to_numpy(batch["label"])))
        params.append(np.asarray(keras.ops.convert_to_numpy(batch[params_key]), np.float32))
        progbar.update(step + 1)
    if not contents:
        raise ValueError("Separability data is empty: no batches were produced.")
    return separability_probe(
        np.concatenate(contents),
        np.concatenate(styles),
        np.concatenate(labels),
        np.concatenate(params),
        **kwargs,
    )
