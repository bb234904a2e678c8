"""N-way K-shot few-shot probe on frozen features.

Each episode draws `n_way` classes, `k_shot` labelled support samples and `n_query` query samples
per class, fits a classifier on the support features only and scores it on the queries. The
result is the mean query accuracy over episodes with its 95% confidence interval
`1.96 * std / sqrt(episodes)`, the convention of the few-shot literature (e.g. Chen et al., "A
Closer Look at Few-shot Classification", ICLR 2019). Two classifiers:

- `"prototype"`: nearest class mean (Snell et al., "Prototypical Networks", NeurIPS 2017) on
  l2-normalised features, Euclidean distance.
- `"logistic"`: multinomial logistic regression on l2-normalised features, fitted per episode
  by a small NumPy solver (L2-regularised, Nesterov gradient descent), so no extra dependency.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from kerascl.probes.features import extract_features, l2_normalize

CLASSIFIERS = ("prototype", "logistic")


def prototype_predict(support: np.ndarray, support_labels: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Predict query labels by the nearest class mean of the support features.

    Args:
        support: `(S, C)` support features (already normalised if wanted).
        support_labels: `(S,)` labels in `0 .. n_way - 1`.
        query: `(Q, C)` query features.

    Returns:
        `(Q,)` predicted labels.
    """
    n_way = int(support_labels.max()) + 1
    prototypes = np.stack([support[support_labels == c].mean(axis=0) for c in range(n_way)])
    dist = (
        (query**2).sum(1, keepdims=True) - 2 * query @ prototypes.T + (prototypes**2).sum(1)[None]
    )
    return np.argmin(dist, axis=1)


def _largest_gram_eigenvalue(x: np.ndarray, iterations: int = 50) -> float:
    """Largest eigenvalue of `x^T x / n` by power iteration (an upper bound up to 1%)."""
    n, dim = x.shape
    v = np.ones(dim) / np.sqrt(dim)
    value = 0.0
    for _ in range(iterations):
        w = x.T @ (x @ v) / n
        value = float(np.linalg.norm(w))
        if value == 0.0:
            return 0.0
        v = w / value
    return value * 1.01


def softmax_regression(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    l2: float = 1e-3,
    steps: int = 300,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit multinomial logistic regression by Nesterov-accelerated gradient descent.

    Minimises `mean cross-entropy + l2 / 2 * ||W||^2` (bias not penalised), starting from zero.
    The step size is `1 / L` with `L = lambda_max([x, 1]^T [x, 1] / n) / 2 + l2`, a bound on the
    curvature of the loss, so it converges for any feature scale; the result does not depend on
    the Keras backend.

    Args:
        x: `(N, C)` features.
        y: `(N,)` labels in `0 .. num_classes - 1`.
        num_classes: number of classes.
        l2: L2 penalty on the weights.
        steps: gradient steps.

    Returns:
        `(W, b)` with shapes `(C, num_classes)` and `(num_classes,)`.
    """
    x = np.asarray(x, dtype=np.float32)
    n, dim = x.shape
    onehot = np.eye(num_classes, dtype=np.float32)[np.asarray(y, dtype=np.int64)]
    augmented = np.concatenate([x, np.ones((n, 1), np.float32)], axis=1).astype(np.float64)
    lipschitz = 0.5 * _largest_gram_eigenvalue(augmented) + l2
    lr = np.float32(1.0 / lipschitz)
    l2 = np.float32(l2)
    w = np.zeros((dim, num_classes), np.float32)
    b = np.zeros(num_classes, np.float32)
    w_prev, b_prev = w.copy(), b.copy()
    for t in range(1, steps + 1):
        momentum = np.float32((t - 1) / (t + 2))
        w_look = w + momentum * (w - w_prev)
        b_look = b + momentum * (b - b_prev)
        logits = x @ w_look + b_look
        logits -= logits.max(axis=1, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=1, keepdims=True)
        grad_logits = (prob - onehot) / n
        grad_w = x.T @ grad_logits + l2 * w_look
        grad_b = grad_logits.sum(axis=0)
        w_prev, b_prev = w, b
        w = w_look - lr * grad_w
        b = b_look - lr * grad_b
    return w, b


def logistic_predict(
    support: np.ndarray,
    support_labels: np.ndarray,
    query: np.ndarray,
    l2: float = 1e-3,
    steps: int = 300,
) -> np.ndarray:
    """Predict query labels with a softmax regression fitted on the support set."""
    n_way = int(support_labels.max()) + 1
    w, b = softmax_regression(support, support_labels, n_way, l2=l2, steps=steps)
    return np.argmax(query @ w + b, axis=1)


def confidence_interval_95(accuracies: np.ndarray) -> float:
    """Half-width of the 95% interval of a mean over episodes: `1.96 * std / sqrt(n)`.

    `std` is the population standard deviation of the per-episode accuracies (NumPy's default,
    `ddof=0`), as in the few-shot literature's evaluation code.
    """
    accuracies = np.asarray(accuracies, dtype=np.float64)
    return float(1.96 * accuracies.std() / np.sqrt(len(accuracies)))


def few_shot_on_features(
    features: np.ndarray,
    labels: np.ndarray,
    n_way: int = 5,
    k_shot: int = 1,
    n_query: int = 15,
    episodes: int = 600,
    classifier: str = "prototype",
    seed: int = 0,
    l2: float = 1e-3,
    steps: int = 300,
) -> dict[str, Any]:
    """N-way K-shot episodes on cached features (see `few_shot_probe`)."""
    if classifier not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {classifier!r}.")
    for name, value in (("n_way", n_way), ("k_shot", k_shot), ("n_query", n_query), ("episodes", episodes)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}.")
    if n_way < 2:
        raise ValueError(f"n_way must be >= 2 for a classification episode, got {n_way}.")
    features = l2_normalize(features)
    labels = np.asarray(labels, dtype=np.int64)
    classes, counts = np.unique(labels, return_counts=True)
    eligible = classes[counts >= k_shot + n_query]
    if len(eligible) < n_way:
        raise ValueError(
            f"A {n_way}-way {k_shot}-shot episode with {n_query} queries needs {n_way} classes "
            f"with at least {k_shot + n_query} samples each; the data has {len(eligible)} such "
            f"classes (of {len(classes)}). Use more data, fewer ways, or fewer queries."
        )
    by_class = {int(c): np.flatnonzero(labels == c) for c in eligible}
    rng = np.random.default_rng(seed)
    accuracies = np.empty(episodes)
    for episode in range(episodes):
        chosen = rng.choice(eligible, size=n_way, replace=False)
        s_idx, q_idx = [], []
        for c in chosen:
            picked = rng.choice(by_class[int(c)], size=k_shot + n_query, replace=False)
            s_idx.append(picked[:k_shot])
            q_idx.append(picked[k_shot:])
        support = features[np.concatenate(s_idx)]
        query = features[np.concatenate(q_idx)]
        support_y = np.repeat(np.arange(n_way), k_shot)
        query_y = np.repeat(np.arange(n_way), n_query)
        if classifier == "prototype":
            pred = prototype_predict(support, support_y, query)
        else:
            pred = logistic_predict(support, support_y, query, l2=l2, steps=steps)
        accuracies[episode] = np.mean(pred == query_y)
    return {
        "accuracy": float(accuracies.mean()),
        "ci95": confidence_interval_95(accuracies),
        "std": float(accuracies.std()),
        "n_way": int(n_way),
        "k_shot": int(k_shot),
        "n_query": int(n_query),
        "episodes": int(episodes),
        "classifier": classifier,
    }


def few_shot_probe(
    encoder: Callable,
    data: Any,
    n_way: int = 5,
    k_shot: int = 1,
    n_query: int = 15,
    episodes: int = 600,
    classifier: str = "prototype",
    seed: int = 0,
    batch_size: int = 256,
    verbose: int = 1,
) -> dict[str, Any]:
    """N-way K-shot few-shot accuracy of a frozen encoder.

    Features of `data` are extracted once; each episode samples its classes, support and query
    samples from them with a seeded generator, so the result is repeatable.

    Args:
        encoder: frozen `keras.Model` mapping images `(B, H, W, 3)` to features `(B, C)`.
        data: labelled data to draw episodes from (typically the test split).
        n_way: classes per episode (default 5).
        k_shot: labelled support samples per class (1 and 5 are the usual settings).
        n_query: query samples per class (default 15).
        episodes: number of episodes (default 600).
        classifier: `"prototype"` (nearest class mean) or `"logistic"` (softmax regression).
        seed: episode sampling seed.
        batch_size: encoder batch size for array inputs.
        verbose: 1 shows the extraction progress bar.

    Returns:
        `{"accuracy", "ci95", "std", "n_way", "k_shot", "n_query", "episodes", "classifier"}`:
        mean accuracy over episodes (fraction) and the half-width of its 95% interval, so the
        result reads `accuracy ± ci95`.

    Examples:
        >>> r = few_shot_probe(backbone, test_ds, n_way=5, k_shot=5, episodes=200)
        >>> print(f"{100 * r['accuracy']:.1f} ± {100 * r['ci95']:.1f}")
    """
    features, labels = extract_features(encoder, data, batch_size, verbose)
    return few_shot_on_features(
        features,
        labels,
        n_way=n_way,
        k_shot=k_shot,
        n_query=n_query,
        episodes=episodes,
        classifier=classifier,
        seed=seed,
    )
