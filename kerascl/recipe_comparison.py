"""Side-by-side runs of several recipes at one budget: a markdown table and a bar chart of their probes.

`kerascl compare NAME NAME ... --epochs E --limit N` runs each recipe into `OUT/<name>` (a name may carry its own
overrides after `@`, e.g. `shapes-decoupled-uniformity@prior=none`), then writes `OUT/comparison.md` and
`OUT/comparison.png`. Typical comparisons: `cifar10-byol cifar10-partitioned` (linear and few-shot),
`cifar10-simsiam@augmenter=ddcl_caug cifar10-ddcl` (robustness table), `shapes-decoupled-uniformity
shapes-decoupled-uniformity@prior=none` (with and without the prior).
"""

from __future__ import annotations

import math
import os
import re
import sys
from typing import Any, Mapping, Sequence

from kerascl.recipe import Recipe


def headline_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numbers a comparison shows, flattened from a run's `metrics.json` dict.

    Returns:
        `{"knn.top1", "knn.top1 random init", "knn.top1 raw pixels", "linear.top1", "linear.top1 random init",
        "linear.top1 raw pixels", "few_shot.<setting>", "robustness.<distortion>", "separability.<key>"}` where the
        run has them (accuracies as fractions; the floors from `metrics.json`'s `floors`).
    """
    from kerascl.probes.floors import FLOOR_TITLES

    probes = metrics.get("probes", {}) or {}
    floors = metrics.get("floors", {}) or {}
    row: dict[str, float] = {}
    for probe in ("knn", "linear"):
        value = (probes.get(probe) or {}).get("top1")
        if isinstance(value, (int, float)):
            row[f"{probe}.top1"] = float(value)
        for floor, title in FLOOR_TITLES.items():
            value = ((floors.get(floor) or {}).get(probe) or {}).get("top1")
            if isinstance(value, (int, float)):
                row[f"{probe}.top1 {title}"] = float(value)
    for setting, result in (probes.get("few_shot") or {}).items():
        if isinstance(result, Mapping):
            value = result.get("accuracy", result.get("mean"))
            if isinstance(value, (int, float)):
                row[f"few_shot.{setting}"] = float(value)
    for name, value in (probes.get("robustness") or {}).items():
        if isinstance(value, (int, float)):
            row[f"robustness.{name}"] = float(value)
    for name, value in (probes.get("separability") or {}).items():
        if isinstance(value, (int, float)):
            row[f"separability.{name}"] = float(value)
    return row


def comparison_table(
    rows: Mapping[str, Mapping[str, float]], budget: str = "", failures: Mapping[str, str] | None = None
) -> str:
    """A markdown table: one row per run, one column per metric (missing values as `-`).

    Args:
        rows: `{label: {metric: value}}` of the runs that finished.
        budget: A line printed above the table.
        failures: `{label: error message}` of the runs that failed; each gets a row whose `status` column holds
            the message (the column appears only when a run failed).

    Returns:
        The markdown text.
    """
    failures = dict(failures or {})
    columns: list[str] = []
    for values in rows.values():
        columns.extend(c for c in values if c not in columns)
    lines = []
    if budget:
        lines += [budget, ""]
    status = ["status"] if failures else []
    lines.append("| run | " + " | ".join(status + columns) + " |")
    lines.append("|---|" + "---|" * (len(status) + len(columns)))
    for name in list(rows) + [n for n in failures if n not in rows]:
        values = rows.get(name, {})
        cells = []
        if failures:
            cells.append(f"failed: {_one_line(failures[name])}" if name in failures else "ok")
        for column in columns:
            value = values.get(column)
            cells.append("-" if value is None or not math.isfinite(value) else f"{value:.4f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _one_line(message: str, limit: int = 200) -> str:
    text = " ".join(str(message).split()).replace("|", "/")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _folder_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label)


def compare_recipes(runs: Sequence[tuple[str, Recipe]], out_dir: str | os.PathLike, force: bool = False,
                    resume: bool = False) -> dict:
    """Runs each recipe into `out_dir/<label>` and writes `comparison.md` and `comparison.png`.

    Each run folder behaves as in `run_recipe`: a finished run with the same settings is reused (so a comparison
    stopped half-way, or extended by one recipe, does not train the finished runs again), an interrupted one
    continues, one with other settings is refused unless `force`.

    Args:
        runs: `(label, recipe)` pairs, overrides already applied (the same budget for all).
        out_dir: The comparison folder.
        force: Run every recipe again (`run_recipe(force=True)`).
        resume: Only continue or reuse runs (`run_recipe(resume=True)`).

    Returns:
        `{"rows": {label: metrics}, "failures": {label: message}, "table": markdown, "files": {...}}`. A run that
        raises does not stop the others: its error is printed, kept in `failures` and shown in the table's
        `status` column (the caller decides the exit status; `kerascl compare` exits 1).
    """
    from kerascl import plots
    from kerascl.recipe_runner import run_recipe
    from kerascl.run_folder import atomic_path, write_text_atomic

    if len(runs) < 2:
        raise ValueError("A comparison needs at least two runs.")
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    rows: dict[str, dict[str, float]] = {}
    failures: dict[str, str] = {}
    budgets = set()
    for label, recipe in runs:
        c = recipe.config
        budgets.add(f"{c.epochs} epochs, batch {c.batch_size}, limit {c.limit}, width {c.width}, seed {c.seed}")
        try:
            result = run_recipe(recipe, os.path.join(out_dir, _folder_name(label)), force=force, resume=resume)
        except Exception as error:  # one failed run must not throw away the others' results
            failures[label] = f"{type(error).__name__}: {error}"
            print(f"\nRun {label!r} failed: {failures[label]}", file=sys.stderr)
            continue
        rows[label] = headline_metrics(result.metrics)
    budget = "Budget: " + "; ".join(sorted(budgets))
    table = comparison_table(rows, budget, failures)
    write_text_atomic(os.path.join(out_dir, "comparison.md"), table + "\n")
    files = {"table": "comparison.md"}
    if rows:
        with atomic_path(os.path.join(out_dir, "comparison.png")) as tmp:
            plots.plot_comparison(rows, tmp, title=" vs ".join(rows))
        files["plot"] = "comparison.png"
    print()
    print(table)
    print(f"\nWrote {', '.join(os.path.join(out_dir, f) for f in files.values())}")
    return {"rows": rows, "failures": failures, "table": table, "files": files}
