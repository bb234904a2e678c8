"""Run the standard probes (kNN, linear, few-shot) on one encoder with one feature pass."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from kerascl.probes.features import MissingLabelsError, extract_features
from kerascl.probes.few_shot import few_shot_on_features
from kerascl.probes.knn import knn_on_features
from kerascl.probes.linear import linear_on_features


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

    Returns:
        `{"knn": {...}, "linear": {...}, "few_shot": {"5way_1shot": {...}, "5way_5shot": {...}}}`.
        When the data has no labels, prints a message and returns `{"skipped": reason}` instead of
        raising. A few-shot setting the data cannot fill (too few classes or samples) is reported
        as `{"skipped": reason}` under its key.

    Examples:
        >>> results = run_all_probes(backbone, train_ds, test_ds)
        >>> print_table(results)
    """
    try:
        train_x, train_y = extract_features(encoder, train_data, batch_size, verbose)
        test_x, test_y = extract_features(encoder, test_data, batch_size, verbose)
    except MissingLabelsError as error:
        message = f"Skipping probes: {error}"
        print(message)
        return {"skipped": str(error)}
    results: dict[str, Any] = {
        "knn": knn_on_features(train_x, train_y, test_x, test_y, **dict(knn or {})),
        "linear": linear_on_features(train_x, train_y, test_x, test_y, **dict(linear or {})),
    }
    few_shot_kwargs = dict(few_shot or {})
    n_way = few_shot_kwargs.get("n_way", 5)
    results["few_shot"] = {}
    for shots in few_shot_shots:
        key = f"{n_way}way_{shots}shot"
        try:
            results["few_shot"][key] = few_shot_on_features(
                test_x, test_y, k_shot=shots, **few_shot_kwargs
            )
        except ValueError as error:
            print(f"Skipping few-shot {key}: {error}")
            results["few_shot"][key] = {"skipped": str(error)}
    return results
