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


def _floor_lookup(floor: Any, probe: str, metric: str) -> Any:
    """The value at `probe` (dotted) / `metric` in a floor's result dict, or None."""
    node = floor
    for key in ([] if probe == "-" else probe.split(".")) + [metric]:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return None if isinstance(node, Mapping) else node


def format_table(
    results: Mapping[str, Any],
    title: str | None = None,
    floors: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Format a (possibly nested) dict of probe results as a Markdown table, with its floors beside it.

    Nested dicts become dotted probe names, so the result of `run_all_probes` reads
    `knn | top1 | 0.8123`, `few_shot.5way_1shot | accuracy | 0.6012`, ... Accuracies are fractions
    in `[0, 1]` and are printed as such. With `floors` (the dict of `floor_probes`), the table has
    one more column per floor (`random init`, `raw pixels`) holding the same probe's result; a
    probe the floors do not cover (separability) shows `-` there.

    Args:
        results: the dict returned by a probe, or a dict of such dicts.
        title: optional line printed above the table.
        floors: optional `{floor name: result dict shaped like results}`, e.g. `floor_probes(...)`.

    Returns:
        The table as a string (pipe-separated, valid Markdown).

    Examples:
        >>> print(format_table({"knn": {"top1": 0.81, "k": 200}}))
        | probe | metric | value |
        |---|---|---|
        | knn | top1 | 0.8100 |
        | knn | k | 200 |
        >>> print(format_table({"knn": {"top1": 0.81}}, floors={"random_init": {"knn": {"top1": 0.27}},
        ...                                                      "raw_pixels": {"knn": {"top1": 0.25}}}))
        | probe | metric | trained | random init | raw pixels |
        |---|---|---|---|---|
        | knn | top1 | 0.8100 | 0.2700 | 0.2500 |
    """
    if not isinstance(results, Mapping):
        raise TypeError(f"format_table expects a dict of results, got {type(results).__name__}.")
    from kerascl.probes.floors import FLOOR_TITLES

    floors = {name: value for name, value in (floors or {}).items() if isinstance(value, Mapping)}
    lines = []
    if title:
        lines.append(title)
        lines.append("")
    if not floors:
        lines.append("| probe | metric | value |")
        lines.append("|---|---|---|")
        for probe, metric, value in _flatten(results):
            lines.append(f"| {probe} | {metric} | {_format_value(value)} |")
        return "\n".join(lines)
    titles = [FLOOR_TITLES.get(name, name) for name in floors]
    lines.append("| probe | metric | trained | " + " | ".join(titles) + " |")
    lines.append("|---|---|---|" + "---|" * len(titles))
    for probe, metric, value in _flatten(results):
        cells = []
        for floor in floors.values():
            floor_value = _floor_lookup(floor, probe, metric)
            cells.append("-" if floor_value is None else _format_value(floor_value))
        lines.append(f"| {probe} | {metric} | {_format_value(value)} | " + " | ".join(cells) + " |")
    skipped = [f"{FLOOR_TITLES.get(name, name)}: {floor['skipped']}" for name, floor in floors.items()
               if "skipped" in floor]
    if skipped:
        lines += ["", "Floors skipped: " + "; ".join(skipped)]
    return "\n".join(lines)


def print_table(
    results: Mapping[str, Any],
    title: str | None = None,
    floors: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Print `format_table(results, title, floors)`."""
    print(format_table(results, title, floors))
