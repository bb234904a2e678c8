"""Plain-text tables of probe results."""

from __future__ import annotations

from typing import Any, Mapping


def _flatten(results: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str, Any]]:
    rows: list[tuple[str, str, Any]] = []
    scalars = {k: v for k, v in results.items() if not isinstance(v, Mapping)}
    nested = {k: v for k, v in results.items() if isinstance(v, Mapping)}
    for key, value in scalars.items():
        rows.append((prefix or "-", key, value))
    for key, value in nested.items():
        rows.extend(_flatten(value, f"{prefix}.{key}" if prefix else key))
    return rows


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.4f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_format_value(v) for v in value)
    return str(value)


def format_table(results: Mapping[str, Any], title: str | None = None) -> str:
    """Format a (possibly nested) dict of probe results as a Markdown table.

    Nested dicts become dotted probe names, so the result of `run_all_probes` reads
    `knn | top1 | 0.8123`, `few_shot.5way_1shot | accuracy | 0.6012`, ... Accuracies are fractions
    in `[0, 1]` and are printed as such.

    Args:
        results: the dict returned by a probe, or a dict of such dicts.
        title: optional line printed above the table.

    Returns:
        The table as a string (pipe-separated, valid Markdown).

    Examples:
        >>> print(format_table({"knn": {"top1": 0.81, "k": 200}}))
        | probe | metric | value |
        |---|---|---|
        | knn | top1 | 0.8100 |
        | knn | k | 200 |
    """
    if not isinstance(results, Mapping):
        raise TypeError(f"format_table expects a dict of results, got {type(results).__name__}.")
    lines = []
    if title:
        lines.append(title)
        lines.append("")
    lines.append("| probe | metric | value |")
    lines.append("|---|---|---|")
    for probe, metric, value in _flatten(results):
        lines.append(f"| {probe} | {metric} | {_format_value(value)} |")
    return "\n".join(lines)


def print_table(results: Mapping[str, Any], title: str | None = None) -> None:
    """Print `format_table(results, title)`."""
    print(format_table(results, title))
