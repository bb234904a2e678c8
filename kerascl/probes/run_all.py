"""Run the standard probes (kNN, linear, few-shot) on one encoder with one feature pass."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, ContextManager, Mapping, Sequence

from kerascl.probes.features import MissingLabelsError, extract_features
from kerascl.probes.few_shot import few_shot_on_features
from kerascl.probes.knn import knn_on_features
from kerascl.probes.linear import linear_on_features

#: `stage(name)` returns a context manager wrapped around one timed step (e.g. printing its name and duration).
StageFn = Callable[[str], ContextManager[Any]]


def no_stage(name: str) -> ContextManager[Any]:
    return contextlib.nullcontext()


def probes_on_features(
    train_x: Any,
    train_y: Any,
    test_x: Any,
    test_y: Any,
    knn: Mapping[str, Any] | None = None,
    linear: Mapping[str, Any] | None = None,
    few_shot: Mapping[str, Any] | None = None,
    few_shot_shots: Sequence[int] = (1, 5),
    stage: StageFn | None = None,
) -> dict[str, Any]:
    """kNN, linear and few-shot probes on cached features (the second half of `run_all_probes`).

    Args:
        train_x: `(N, C)` training features (kNN memory bank, linear training set).
        train_y: `(N,)` training labels.
        test_x: `(M, C)` test features (kNN / linear test set, few-shot episodes).
        test_y: `(M,)` test labels.
        knn: keyword arguments of `knn_on_features`, as in `run_all_probes`.
        linear: keyword arguments of `linear_on_features`.
        few_shot: keyword arguments of `few_shot_on_features`.
        few_shot_shots: the K of each N-way K-shot setting.
        stage: optional `stage(name)` context-manager factory wrapped around each probe ("kNN probe", "linear
            probe", "few-shot probe").

    Returns:
        `{"knn": {...}, "linear": {...}, "few_shot": {...}}` as in `run_all_probes`.
    """
    stage = stage or no_stage
    results: dict[str, Any] = {}
    with stage("kNN probe"):
        results["knn"] = knn_on_features(train_x, train_y, test_x, test_y, **dict(knn or {}))
    with stage("linear probe"):
        results["linear"] = linear_on_features(train_x, train_y, test_x, test_y, **dict(linear or {}))
    few_shot_kwargs = dict(few_shot or {})
    n_way = few_shot_kwargs.get("n_way", 5)
    results["few_shot"] = {}
    with stage("few-shot probe"):
        for shots in few_shot_shots:
            key = f"{n_way}way_{shots}shot"
            try:
                results["few_shot"][key] = few_shot_on_features(test_x, test_y, k_shot=shots, **few_shot_kwargs)
            except ValueError as error:
                print(f"Skipping few-shot {key}: {error}")
                results["few_shot"][key] = {"skipped": str(error)}
    return results


def run_all_probes(
    encoder: Callable,
    train_data: Any,
    test_data: Any,
    knn: Mapping[str, Any] | None = None,
    linear: Mapping[str, Any] | None = None,
    few_shot: Mapping[str, Any] | None = None,
    few_shot_shots: Sequence[int] = (1, 5),
    batch_size: int = 256,
    verbose: int = 1,
    stage: StageFn | None = None,
) -> dict[str, Any]:
    """kNN, linear and few-shot probes of a frozen encoder, sharing one feature extraction.

    Features of `train_data` and `test_data` are computed once. kNN uses the training features
    as its memory bank, the linear probe trains on them, and the few-shot episodes are drawn from
    the test features (so no episode sees a sample the encoder's probe heads were fitted on).

    Args:
        encoder: frozen `keras.Model` mapping images `(B, H, W, 3)` to features `(B, C)`.
        train_data: labelled training data (`(images, labels)` batches or arrays).
        test_data: labelled test data.
        knn: keyword arguments of `knn_on_features` (`k`, `temperature`), or None for defaults.
        linear: keyword arguments of `linear_on_features` (`epochs`, `learning_rate`, ...).
        few_shot: keyword arguments of `few_shot_on_features` (`n_way`, `n_query`, `episodes`,
            `classifier`, `seed`); `k_shot` comes from `few_shot_shots`.
        few_shot_shots: the K of each N-way K-shot setting to run (default 1 and 5).
        batch_size: encoder batch size for array inputs.
        verbose: 1 shows progress bars.
        stage: optional `stage(name)` context-manager factory wrapped around the feature extraction and each
            probe (the recipe runner prints one line per stage with it).

    Returns:
        `{"knn": {...}, "linear": {...}, "few_shot": {"5way_1shot": {...}, "5way_5shot": {...}}}`.
        When the data has no labels, prints a message and returns `{"skipped": reason}` instead of
        raising. A few-shot setting the data cannot fill (too few classes or samples) is reported
        as `{"skipped": reason}` under its key.

    Examples:
        >>> results = run_all_probes(backbone, train_ds, test_ds)
        >>> print_table(results)
    """
    stage = stage or no_stage
    try:
        with stage("probe features (trained backbone)"):
            train_x, train_y = extract_features(encoder, train_data, batch_size, verbose)
            test_x, test_y = extract_features(encoder, test_data, batch_size, verbose)
    except MissingLabelsError as error:
        message = f"Skipping probes: {error}"
        print(message)
        return {"skipped": str(error)}
    return probes_on_features(train_x, train_y, test_x, test_y, knn=knn, linear=linear, few_shot=few_shot,
                              few_shot_shots=few_shot_shots, stage=stage)
