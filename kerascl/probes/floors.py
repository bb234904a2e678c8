"""Floors: the same probes on an untrained copy of the backbone and on raw pixels.

A probe accuracy means little alone: on a small or hard split, a randomly initialised network and even the raw
pixels score well above chance (on a CIFAR-10 split of 5,120 / 2,000 images, kNN with k = 200 scored 24-28 % on
both). `floor_probes` runs the probes of `run_all_probes` (kNN with the same k and temperature, linear, few-shot) and, when
asked, the robustness and colour-sensitivity probes on the same train / test arrays with two encoders that learned
nothing:

- `random_init`: a copy of the backbone's architecture (`keras.models.clone_model`) with freshly initialised weights,
  each initialiser seeded from `seed` so the floor is reproducible; batch normalisation keeps its initial moving
  statistics (mean 0, variance 1), as the trained backbone's probes also run in inference mode.
- `raw_pixels`: the flattened images (`H * W * C` values per image) as features.

A trained backbone is worth its probe accuracy minus the higher of the two floors.
"""

from __future__ import annotations

import functools
import zlib
from typing import Any, Mapping, Sequence

import keras
import numpy as np

from kerascl.probes.features import MissingLabelsError, extract_features
from kerascl.probes.run_all import StageFn, no_stage, probes_on_features

#: The floors `floor_probes` computes, in the order they appear in tables.
FLOOR_NAMES = ("random_init", "raw_pixels")
#: Column titles of the floors in probe tables.
FLOOR_TITLES = {"random_init": "random init", "raw_pixels": "raw pixels"}


def _seeded_config(config: Any, seed: int, layer_name: str) -> Any:
    """A layer config with every initialiser's seed replaced by one derived from `seed` and the layer name."""
    if isinstance(config, dict):
        if "class_name" in config and isinstance(config.get("config"), dict) and "seed" in config["config"]:
            inner = dict(config["config"])
            inner["seed"] = int(zlib.crc32(f"{seed}:{layer_name}".encode()) & 0x7FFFFFFF)
            return {**config, "config": inner}
        return {key: _seeded_config(value, seed, f"{layer_name}/{key}") for key, value in config.items()}
    return config


def random_init_copy(model: keras.Model, seed: int = 0) -> keras.Model:
    """The same architecture as `model` with fresh weights, reproducible from `seed`.

    Every layer is rebuilt from its config (`keras.models.clone_model`); each random initialiser gets a seed derived
    from `seed` and the layer's name, so two calls with one seed give the same weights and the global random state
    is left alone. Non-random initialisers (zeros, ones) and fixed layers (input normalisation) come out as
    configured, batch normalisation with its initial moving statistics.

    Args:
        model: a functional or sequential `keras.Model` (a subclassed model cannot be cloned layer by layer).
        seed: seed of the new weights.

    Returns:
        A new, built `keras.Model` with the input and output shapes of `model`.

    Raises:
        ValueError: the model cannot be rebuilt from its config (the message names the model).

    Examples:
        >>> untrained = random_init_copy(backbone, seed=0)
        >>> untrained.output_shape == backbone.output_shape
        True
    """

    def clone_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
        return layer.__class__.from_config(_seeded_config(layer.get_config(), seed, layer.name))

    try:
        copy = keras.models.clone_model(model, clone_function=clone_layer)
    except Exception as error:  # noqa: BLE001 - any rebuild failure gets the same explanation
        raise ValueError(
            f"Cannot rebuild {getattr(model, 'name', type(model).__name__)!r} from its config for the random-init "
            f"floor ({type(error).__name__}: {error}); only functional and Sequential models can be cloned."
        ) from error
    return copy


def raw_pixel_features(images: np.ndarray) -> np.ndarray:
    """Flattened images as features: `(N, H, W, C)` -> float32 `(N, H * W * C)`."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim < 2:
        raise ValueError(f"Images must be (N, H, W, C); got shape {images.shape}.")
    return images.reshape(len(images), -1)


def _arrays_of(data: Any, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels as arrays from any probe data form (arrays are passed through)."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and not isinstance(data[0], (tuple, list, dict)):
        images, labels = np.asarray(data[0]), data[1]
        if labels is None:
            raise MissingLabelsError("raw-pixel floor: the data has no labels.")
        return images, np.asarray(labels)
    from kerascl.probes.features import as_class_indices, iterate_batches

    images, labels = [], []
    for batch_images, batch_labels in iterate_batches(data, batch_size):
        if batch_labels is None:
            raise MissingLabelsError("raw-pixel floor: the data has no labels.")
        images.append(np.asarray(batch_images, np.float32))
        labels.append(as_class_indices(batch_labels))
    return np.concatenate(images), np.concatenate(labels)


def floor_probes(
    backbone: keras.Model,
    train_data: Any,
    test_data: Any,
    knn: Mapping[str, Any] | None = None,
    linear: Mapping[str, Any] | None = None,
    few_shot: Mapping[str, Any] | None = None,
    few_shot_shots: Sequence[int] = (1, 5),
    seed: int = 0,
    floors: Sequence[str] = FLOOR_NAMES,
    batch_size: int = 256,
    verbose: int = 0,
    stage: StageFn | None = None,
    robustness: Mapping[str, Any] | None = None,
    color: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """kNN, linear and few-shot probes of an untrained copy of `backbone` and of raw pixels, on the same split.

    Pass the same probe settings as to `run_all_probes` so each floor is the same probe as the trained result
    beside it. Each encoder's features are extracted once and shared by its three probes.

    Args:
        backbone: the (trained) backbone whose architecture the random-init floor copies; its weights are not used.
        train_data: labelled training data (`(images, labels)` arrays or batches), the kNN memory bank and the
            linear probe's training set.
        test_data: labelled test data.
        knn: keyword arguments of `knn_on_features` (`k`, `temperature`).
        linear: keyword arguments of `linear_on_features` (`epochs`, `seed`, ...).
        few_shot: keyword arguments of `few_shot_on_features` (`episodes`, `seed`, ...).
        few_shot_shots: the K of each N-way K-shot setting.
        seed: seed of the random-init weights.
        floors: which floors to compute, a subset of `FLOOR_NAMES`.
        batch_size: encoder batch size.
        verbose: 1 shows the feature-extraction progress bar.
        stage: optional `stage(name)` context-manager factory, called around each timed step (the recipe runner
            prints one line per stage with it).
        robustness: None (no robustness floor), or keyword arguments of `robustness_probe` (`epochs`,
            `distortions`, ...) plus `num_test`, how many of the first test images to distort (default all): the
            floors then hold the robustness probe with the same settings as the trained encoder's.
        color: None (no colour-sensitivity floor), or keyword arguments of `color_sensitivity_probe` (`strength`,
            `seed`) plus `num_test`, how many of the first test images it jitters (default all).

    Returns:
        `{"random_init": {...}, "raw_pixels": {...}}`, each shaped like `run_all_probes`'s result plus
        `"encoder"` (what the floor encoded) and, for `random_init`, `"seed"`. A floor that cannot be computed
        (a backbone that cannot be cloned) is `{"skipped": reason}`.

    Examples:
        >>> floors = floor_probes(backbone, (x_train, y_train), (x_test, y_test), knn={"k": 20})
        >>> print(format_table(run_all_probes(backbone, (x_train, y_train), (x_test, y_test), knn={"k": 20}),
        ...                    floors=floors))
    """
    unknown = [name for name in floors if name not in FLOOR_NAMES]
    if unknown:
        raise ValueError(f"Unknown floor(s) {unknown}; choose from {list(FLOOR_NAMES)}.")
    stage = stage or no_stage
    settings = dict(knn=knn, linear=linear, few_shot=few_shot, few_shot_shots=few_shot_shots)
    results: dict[str, Any] = {}
    # The test images and labels as arrays, converted once for every floor that reads them.
    test_arrays = functools.cache(lambda: _arrays_of(test_data, batch_size))

    if "random_init" in floors:
        try:
            untrained = random_init_copy(backbone, seed=seed)
        except ValueError as error:
            print(f"Skipping the random-init floor: {error}")
            results["random_init"] = {"skipped": str(error)}
        else:
            with stage("floor features (random-init backbone)"):
                train_x, train_y = extract_features(untrained, train_data, batch_size, verbose)
                test_x, test_y = extract_features(untrained, test_data, batch_size, verbose)
            with stage("floor probes (random init)"):
                results["random_init"] = {
                    "encoder": f"{backbone.name} architecture at random initialisation",
                    "seed": int(seed),
                    **probes_on_features(train_x, train_y, test_x, test_y, **settings),
                }
            if robustness is not None:
                with stage("floor robustness probe (random init)"):
                    results["random_init"]["robustness"] = _robustness_floor(
                        untrained, test_arrays(), (train_x, train_y), (test_x, test_y), robustness, batch_size)
            if color is not None:
                with stage("floor colour-sensitivity probe (random init)"):
                    results["random_init"]["color"] = _color_floor(untrained, test_arrays()[0], test_x, color,
                                                                   batch_size)
    if "raw_pixels" in floors:
        with stage("floor probes (raw pixels)"):
            train_images, train_y = _arrays_of(train_data, batch_size)
            test_images, test_y = test_arrays()
            train_x, test_x = raw_pixel_features(train_images), raw_pixel_features(test_images)
            results["raw_pixels"] = {
                "encoder": f"flattened pixels ({int(np.prod(train_images.shape[1:]))} values per image)",
                **probes_on_features(train_x, train_y, test_x, test_y, **settings),
            }
        if robustness is not None:
            with stage("floor robustness probe (raw pixels)"):
                results["raw_pixels"]["robustness"] = _robustness_floor(
                    raw_pixel_features, (test_images, test_y), (train_x, train_y), (test_x, test_y), robustness,
                    batch_size)
        if color is not None:
            with stage("floor colour-sensitivity probe (raw pixels)"):
                results["raw_pixels"]["color"] = _color_floor(raw_pixel_features, test_images, test_x, color,
                                                              batch_size)
    return results


def _color_floor(encoder, test_images: np.ndarray, test_features: np.ndarray, options: Mapping[str, Any],
                 batch_size: int) -> dict[str, float]:
    """The colour-sensitivity probe of an untrained encoder, on the first `options["num_test"]` test images (whose
    features `test_features` the floor's other probes already computed)."""
    from kerascl.probes.color_sensitivity import color_sensitivity_probe

    options = dict(options)
    n = int(options.pop("num_test", None) or len(test_images))
    return color_sensitivity_probe(encoder, test_images[:n], batch_size=batch_size,
                                   original_features=test_features[:n], **options)


def _robustness_floor(encoder, test_arrays: tuple, train_features: tuple, clean_test_features: tuple,
                      options: Mapping[str, Any], batch_size: int) -> dict[str, float]:
    """The robustness probe of an untrained encoder, on the first `options["num_test"]` test images."""
    from kerascl.probes.robustness import robustness_probe

    options = dict(options)
    test_images, test_labels = test_arrays
    n = int(options.pop("num_test", None) or len(test_images))
    test_x, test_y = clean_test_features
    return robustness_probe(encoder, None, (test_images[:n], test_labels[:n]), batch_size=batch_size,
                            train_features=train_features, clean_test_features=(test_x[:n], test_y[:n]),
                            **{"verbose": 0, **options})
