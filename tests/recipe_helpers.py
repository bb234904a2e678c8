"""Shared helpers of the recipe and CLI tests: a tiny CIFAR-like image folder and the overrides that shrink a run."""

from __future__ import annotations

import os

import numpy as np

from kerascl.recipe import Recipe

CLASSES = ("airplane", "bird", "cat", "deer", "frog")


def make_image_folder(root: str, train_per_class: int = 8, test_per_class: int = 4, size: int = 32,
                      seed: int = 0) -> str:
    """Writes `root/train/<class>/*.png` and `root/test/<class>/*.png`: 5 classes, each a colour-coded pattern
    with noise, so a few images per class are enough for every probe to run."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        for label, name in enumerate(CLASSES):
            folder = os.path.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            base = np.zeros((size, size, 3), np.float32)
            base[..., label % 3] = 0.8
            base[:: label + 2, :, :] = 0.2
            for index in range(count):
                image = np.clip(base + rng.normal(0, 0.15, base.shape), 0, 1)
                Image.fromarray((image * 255).astype(np.uint8)).save(os.path.join(folder, f"{index:04d}.png"))
    return root


#: Overrides that make any recipe run one epoch in seconds.
TINY_SETS = [
    "epochs=1",
    "batch_size=16",
    "limit=32",
    "backbone=convnet",
    "width=0.125",
    "image_size=16",
    "knn_k=5",
    "monitor_samples=16",
    "linear_epochs=2",
    "few_shot_episodes=4",
    "few_shot_shots=1",
    "embedding_plot=pca",
    "embedding_samples=20",
    "probe_train_limit=32",
    "probe_test_limit=20",
    "shapes_test=20",
    "verbose=0",
]

_SMALL_OPTIONS = {"hidden_dim": 32, "prediction_hidden_dim": 16, "projection_dim": 16, "embedding_dim": 8,
                  "pca_dim": 8, "widths": "8,16", "feature_dim": 16, "content_dim": 4, "style_dim": 4}


def tiny_sets(recipe: Recipe) -> list[str]:
    """`TINY_SETS` plus narrow heads for whichever head widths the recipe's method takes."""
    return TINY_SETS + [f"{key}={value}" for key, value in _SMALL_OPTIONS.items() if key in recipe.options]
