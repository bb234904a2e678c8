"""Pictures of a run: training curves, 2-D embeddings coloured by class, content vs style, comparisons.

(The partitioned VAE's content / style swap grid is drawn by `kerascl.methods.partitioned_vae.save_swap_grid`.)

Every function writes a PNG with matplotlib's non-interactive `Agg` backend and returns the path, so it works on a
machine without a display. Inputs are NumPy arrays; nothing here needs Keras.
"""

from __future__ import annotations

import csv
import math
import os
from typing import Mapping, Sequence

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def read_history(path: str | os.PathLike) -> dict[str, list[float]]:
    """Reads a Keras `CSVLogger` file into `{column: [values per epoch]}` (empty cells become NaN).

    Raises:
        FileNotFoundError: the file does not exist.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No history file at {path!r}; a run writes history.csv when it trains.")
    columns: dict[str, list[float]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            for key, value in row.items():
                try:
                    number = float(value) if value not in (None, "") else math.nan
                except ValueError:
                    number = math.nan
                columns.setdefault(key, []).append(number)
    return columns


def plot_history(history: Mapping[str, Sequence[float]], path: str | os.PathLike, title: str = "") -> str:
    """Loss curve(s) and the kNN-monitor accuracy per epoch, side by side.

    Args:
        history: `{column: values}`, e.g. from `read_history`; `loss` and every `loss_*` column are drawn in the
            left panel, `knn_top1` (and `linear_top1` when present) in the right one.
        path: PNG file to write.
        title: Figure title.

    Returns:
        The path written.

    Raises:
        ValueError: the history has no `loss` column.
    """
    if "loss" not in history:
        raise ValueError(f"The history has no 'loss' column; columns: {sorted(history)}.")
    plt = _pyplot()
    epochs = history.get("epoch") or list(range(len(history["loss"])))
    epochs = [int(e) + 1 for e in epochs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key in ["loss"] + sorted(k for k in history if k.startswith("loss_")):
        left.plot(epochs, history[key], marker="o", markersize=3, label=key)
    left.set_xlabel("epoch")
    left.set_ylabel("training loss")
    left.legend(fontsize=8)
    left.grid(alpha=0.3)
    drawn = False
    for key, label in (("knn_top1", "kNN top-1 (monitor)"), ("linear_top1", "linear top-1 (monitor)")):
        values = np.asarray(history.get(key, []), dtype=float)
        if values.size and np.isfinite(values).any():
            keep = np.isfinite(values)
            right.plot(np.asarray(epochs)[keep], values[keep], marker="o", markersize=3, label=label)
            drawn = True
    if drawn:
        right.set_ylim(0, 1)
        right.legend(fontsize=8)
    else:
        right.text(0.5, 0.5, "no kNN monitor in this run", ha="center", va="center", transform=right.transAxes)
    right.set_xlabel("epoch")
    right.set_ylabel("accuracy (fraction)")
    right.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return os.fspath(path)


def reduce_2d(features: np.ndarray, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
    """Projects `(N, C)` features to 2-D.

    Args:
        features: the features.
        method: `"pca"`, `"tsne"` (needs scikit-learn) or `"auto"` (t-SNE when scikit-learn is installed and there
            are enough points, else PCA).
        seed: t-SNE seed.

    Returns:
        `(points (N, 2), the method used)`.
    """
    x = np.asarray(features, np.float64).reshape(len(features), -1)
    if method not in ("auto", "pca", "tsne"):
        raise ValueError(f"method must be 'auto', 'pca' or 'tsne'; got {method!r}.")
    if method in ("auto", "tsne") and len(x) > 5:
        try:
            from sklearn.manifold import TSNE
        except ImportError:
            if method == "tsne":
                raise ImportError("method='tsne' needs scikit-learn: pip install scikit-learn.") from None
        else:
            perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))
            points = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
            return np.asarray(points), "t-SNE"
    x = x - x.mean(0, keepdims=True)
    if x.shape[1] < 2:
        return np.concatenate([x, np.zeros_like(x)], axis=1)[:, :2], "PCA"
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:2].T, "PCA"


def _scatter(ax, points, labels, class_names, title):
    labels = np.asarray(labels).reshape(-1)
    classes = np.unique(labels)
    cmap = _pyplot().get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for index, cls in enumerate(classes):
        keep = labels == cls
        name = class_names[int(cls)] if class_names is not None and int(cls) < len(class_names) else str(cls)
        ax.scatter(points[keep, 0], points[keep, 1], s=6, alpha=0.7, color=cmap(index % cmap.N), label=name)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_embedding(
    features: np.ndarray,
    labels: np.ndarray,
    path: str | os.PathLike,
    method: str = "auto",
    class_names: Sequence[str] | None = None,
    title: str = "backbone features",
    seed: int = 0,
) -> str:
    """A 2-D picture (PCA or t-SNE) of features, one colour per class.

    Returns:
        The path written.
    """
    if len(features) != len(labels):
        raise ValueError(f"{len(features)} feature rows but {len(labels)} labels.")
    plt = _pyplot()
    points, used = reduce_2d(features, method, seed)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    _scatter(ax, points, labels, class_names, f"{title} ({used})")
    ax.legend(fontsize=7, markerscale=2, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return os.fspath(path)


def plot_content_style(
    content: np.ndarray,
    style: np.ndarray,
    labels: np.ndarray,
    path: str | os.PathLike,
    method: str = "auto",
    class_names: Sequence[str] | None = None,
    seed: int = 0,
) -> str:
    """The content part and the style part of a partitioned representation side by side, coloured by class.

    A well-partitioned model shows class clusters on the content side and mixed classes on the style side.

    Returns:
        The path written.
    """
    if not len(content) == len(style) == len(labels):
        raise ValueError("content, style and labels must have the same number of rows.")
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.8))
    for ax, part, name in ((axes[0], content, "content"), (axes[1], style, "style")):
        points, used = reduce_2d(part, method, seed)
        _scatter(ax, points, labels, class_names, f"{name} part, {np.asarray(part).shape[1]} dims ({used})")
    axes[1].legend(fontsize=7, markerscale=2, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return os.fspath(path)


def plot_comparison(
    rows: Mapping[str, Mapping[str, float]],
    path: str | os.PathLike,
    title: str = "",
) -> str:
    """Grouped bars: one group per metric, one bar per run.

    Args:
        rows: `{run name: {metric name: value}}`; missing or non-finite values are left out.
        path: PNG file to write.
        title: Figure title.

    Returns:
        The path written.
    """
    if not rows:
        raise ValueError("Nothing to compare: rows is empty.")
    metrics: list[str] = []
    for values in rows.values():
        metrics.extend(m for m in values if m not in metrics)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(metrics) * max(1, len(rows)) / 2 + 2), 4))
    width = 0.8 / len(rows)
    positions = np.arange(len(metrics))
    for index, (name, values) in enumerate(rows.items()):
        heights = [float(values.get(m, math.nan)) for m in metrics]
        heights = [h if math.isfinite(h) else 0.0 for h in heights]
        ax.bar(positions + index * width - 0.4 + width / 2, heights, width, label=name)
    ax.set_xticks(positions)
    ax.set_xticklabels(metrics, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("value (accuracy as a fraction, R^2)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return os.fspath(path)


_VERDICT_COLOURS = {"reproduced": "tab:green", "not reproduced": "tab:red"}


def plot_paired_differences(
    bars: Sequence[tuple[str, float, float, str]],
    path: str | os.PathLike,
    title: str = "",
) -> str:
    """Horizontal bars of paired differences (candidate - baseline) with two-standard-error whiskers.

    Args:
        bars: `(label, mean difference, standard error, verdict)` per comparison; a non-finite standard error
            draws no whisker. Green: reproduced, red: not reproduced, grey: inconclusive.
        path: PNG file to write.
        title: Figure title.

    Returns:
        The path written.
    """
    if not bars:
        raise ValueError("Nothing to plot: no paired difference.")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 0.6 * len(bars) + 1.6))
    positions = np.arange(len(bars))[::-1]
    means = [100 * mean for _, mean, _, _ in bars]
    errors = [200 * se if math.isfinite(se) else 0.0 for _, _, se, _ in bars]
    colours = [next((c for v, c in _VERDICT_COLOURS.items() if verdict.startswith(v)), "tab:gray")
               for *_, verdict in bars]
    ax.barh(positions, means, xerr=errors, color=colours, capsize=3)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(positions)
    ax.set_yticklabels([label for label, *_ in bars], fontsize=7)
    ax.set_xlabel("candidate - baseline\n(x 100: accuracy points, R^2 hundredths)")
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    # bbox "tight" keeps long tick labels inside the image where tight_layout cannot make room for them.
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return os.fspath(path)
