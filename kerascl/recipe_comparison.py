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
        "linear.top1 raw pixels", "few_shot.<setting>", "robustness.<distortion>", "color.<parameter>" (each with its
        two floors), "separability.<key>", "separability.class_gap", "separability.augmentation_gap",
        "swap.<key>"}` where the run has them (accuracies as fractions; the floors from `metrics.json`'s `floors`;
        the two gaps are content minus style for the class accuracy and style minus content for the view
        parameters' R^2; `swap.*` are the partitioned VAE's swap retrieval rates from `extras.swap`).
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

    def few_shot_accuracies(results) -> dict[str, float]:
        out = {}
        for setting, result in (results or {}).items():
            value = result.get("accuracy", result.get("mean")) if isinstance(result, Mapping) else None
            if isinstance(value, (int, float)):
                out[setting] = float(value)
        return out

    def numbers(results) -> dict[str, float]:
        return {k: float(v) for k, v in (results or {}).items() if isinstance(v, (int, float))}

    # Each value is followed by its floors, so a table's columns put them side by side.
    for probe, read in (("few_shot", few_shot_accuracies), ("robustness", numbers), ("color", numbers)):
        floor_values = {title: read((floors.get(floor) or {}).get(probe)) for floor, title in FLOOR_TITLES.items()}
        for name, value in read(probes.get(probe)).items():
            row[f"{probe}.{name}"] = value
            for title, values in floor_values.items():
                if name in values:
                    row[f"{probe}.{name} {title}"] = values[name]
    for name, value in (probes.get("separability") or {}).items():
        if isinstance(value, (int, float)):
            row[f"separability.{name}"] = float(value)
    # The partition's two claims as one number each: class from content beats class from style, and the view's
    # parameters from style beat them from content (positive = separated as claimed).
    if {"separability.class_acc_content", "separability.class_acc_style"} <= row.keys():
        row["separability.class_gap"] = row["separability.class_acc_content"] - row["separability.class_acc_style"]
    if {"separability.aug_r2_style", "separability.aug_r2_content"} <= row.keys():
        row["separability.augmentation_gap"] = row["separability.aug_r2_style"] - row["separability.aug_r2_content"]
    for name, value in ((metrics.get("extras") or {}).get("swap") or {}).items():
        if isinstance(value, (int, float)) and name != "pairs":
            row[f"swap.{name}"] = float(value)
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
    _print_report(table, out_dir, files)
    return {"rows": rows, "failures": failures, "table": table, "files": files}


def _print_report(table: str, out_dir: str, files: Mapping[str, str]) -> None:
    """Prints a comparison's table and the files it wrote."""
    print()
    print(table)
    print(f"\nWrote {', '.join(os.path.join(out_dir, f) for f in files.values())}")


# --------------------------------------------------------------------------------------------------- the claims
# A run "learned" when its kNN accuracy is this far above the same probe on its random-init backbone (mean over
# seeds); a claim none of whose runs learned is inconclusive whatever the differences say.
LEARNED_MARGIN = 0.02


def paired_difference(candidate: Sequence[float], baseline: Sequence[float]) -> dict[str, Any]:
    """Candidate minus baseline per seed, their mean and standard error.

    Args:
        candidate: One value per seed.
        baseline: The baseline's value for the same seeds, in the same order.

    Returns:
        `{"differences": [...], "mean": float, "se": float, "n": int}`; `se` is the sample standard deviation
        (ddof 1) over sqrt(n), NaN for one seed.
    """
    if len(candidate) != len(baseline):
        raise ValueError(f"Paired values need one baseline per candidate value; got {len(candidate)} and "
                         f"{len(baseline)}.")
    differences = [float(c) - float(b) for c, b in zip(candidate, baseline)]
    n = len(differences)
    mean = sum(differences) / n if n else math.nan
    if n > 1:
        variance = sum((d - mean) ** 2 for d in differences) / (n - 1)
        se = math.sqrt(variance / n)
    else:
        se = math.nan
    return {"differences": differences, "mean": mean, "se": se, "n": n}


def claim_verdict(mean: float, se: float, n: int, learned: bool | None = True) -> str:
    """The verdict on one paired difference (candidate - baseline, higher is better for the candidate).

    `reproduced` when the mean difference is more than two standard errors above 0, `not reproduced` when more
    than two below (the baseline is ahead), otherwise `inconclusive at this budget`. One seed, or no run above its
    random-init floor (`learned` False), is always inconclusive.
    """
    if learned is False:
        return "inconclusive: no run above its random-init floor"
    if n < 2 or not math.isfinite(se) or not math.isfinite(mean):
        return "inconclusive: fewer than 2 seeds"
    if mean - 2 * se > 0:
        return "reproduced"
    if mean + 2 * se < 0:
        return "not reproduced: the baseline is ahead"
    return "inconclusive at this budget"


def _metric_keys(patterns: Sequence[str], available: Sequence[str]) -> list[str]:
    keys: list[str] = []
    for pattern in patterns:
        if pattern.endswith(".*"):
            prefix = pattern[:-1]
            keys += [k for k in available if k.startswith(prefix) and " " not in k and k not in keys]
        elif pattern not in keys:
            keys.append(pattern)
    return keys


def _learned(rows: Sequence[Mapping[str, float]]) -> bool | None:
    """Mean kNN accuracy over seeds at least `LEARNED_MARGIN` above the random-init floor (None: no floor)."""
    gains = [r["knn.top1"] - r["knn.top1 random init"] for r in rows
             if "knn.top1" in r and "knn.top1 random init" in r]
    if not gains:
        return None
    return sum(gains) / len(gains) >= LEARNED_MARGIN


def summarise_claim(claim, runs: Mapping[str, Mapping[int, Mapping[str, float]]]) -> list[dict[str, Any]]:
    """The paired comparisons of one claim from its runs' headline metrics.

    Args:
        claim: A `kerascl.claims.Claim`.
        runs: `{entry: {seed: headline metrics}}` of the runs that finished.

    Returns:
        One dict per (baseline, metric): the means of both sides and of the random-init floor where the metric has
        one, the paired difference over the seeds both sides finished (`paired_difference`) and the verdict.
    """
    rows = []
    candidate = runs.get(claim.candidate, {})
    for baseline_entry in claim.baselines:
        baseline = runs.get(baseline_entry, {})
        seeds = sorted(set(candidate) & set(baseline))
        if not seeds:  # a side failed at every seed: its errors are in the claim's failures
            continue
        available = sorted(set().union(*(candidate[s].keys() & baseline[s].keys() for s in seeds)))
        for metric in _metric_keys(claim.metrics, available):
            paired = [s for s in seeds if metric in candidate[s] and metric in baseline[s]]
            c_values = [candidate[s][metric] for s in paired]
            b_values = [baseline[s][metric] for s in paired]
            floors = [candidate[s][f"{metric} random init"] for s in paired
                      if f"{metric} random init" in candidate[s]]
            learned = [_learned([candidate[s] for s in paired]), _learned([baseline[s] for s in paired])]
            learned_any = None if learned == [None, None] else any(bool(x) for x in learned)
            difference = paired_difference(c_values, b_values)
            rows.append({
                "baseline": baseline_entry,
                "metric": metric,
                "seeds": paired,
                "candidate_mean": sum(c_values) / len(c_values) if c_values else math.nan,
                "baseline_mean": sum(b_values) / len(b_values) if b_values else math.nan,
                "random_init_mean": sum(floors) / len(floors) if floors else math.nan,
                **difference,
                "verdict": claim_verdict(difference["mean"], difference["se"], difference["n"], learned_any),
            })
    return rows


def _percent(value: float) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100 * value:.1f}"


def reproductions_table(results: Sequence[Mapping[str, Any]]) -> str:
    """Markdown: a summary line per claim, then per claim its comparisons with the paired difference and verdict.

    Values are x 100 (accuracies in %, R^2 and the separability gaps in hundredths).
    """
    lines = ["| claim | reported | verdicts |", "|---|---|---|"]
    for result in results:
        counts: dict[str, int] = {}
        for row in result["comparisons"]:
            counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
        verdicts = "; ".join(f"{v} x{n}" for v, n in counts.items()) or "no finished pair"
        lines.append(f"| {result['name']} | {_one_line(result['reported'], 160)} | {verdicts} |")
    for result in results:
        lines += ["", f"### {result['name']}", "", f"{result['paper']}. Reported: {result['reported']}.", "",
                  f"Candidate `{result['candidate']}`; budget: {result['budget']}.", ""]
        if result.get("notes"):
            lines += [result["notes"], ""]
        lines += ["| metric | baseline | candidate | baseline value | random-init floor | candidate - baseline "
                  "(mean +- SE) | seeds | verdict |", "|---|---|---|---|---|---|---|---|"]
        for row in result["comparisons"]:
            se = "" if not math.isfinite(row["se"]) else f" +- {100 * row['se']:.1f}"
            lines.append(
                f"| {row['metric']} | `{row['baseline']}` | {_percent(row['candidate_mean'])} | "
                f"{_percent(row['baseline_mean'])} | {_percent(row['random_init_mean'])} | "
                f"{100 * row['mean']:+.1f}{se} | {len(row['seeds'])} | {row['verdict']} |"
                if math.isfinite(row["mean"]) else
                f"| {row['metric']} | `{row['baseline']}` | - | - | - | - | 0 | {row['verdict']} |"
            )
        for entry, message in result["failures"].items():
            lines.append(f"| - | `{entry}` | failed: {_one_line(message)} | | | | | |")
    return "\n".join(lines)


# Where a run reads its images: given once on the command line for the CIFAR claims, not for a shapes claim.
_IMAGE_SOURCE_FIELDS = ("data_dir", "tfds", "eval_dir", "skip_corrupt")


def _claim_recipe(entry: str, claim, seed: int, sets: Sequence[str], epochs: int | None,
                  overrides: Mapping[str, Any]) -> Recipe:
    from kerascl.recipe import get_recipe

    name, *entry_sets = entry.split("@")
    recipe = get_recipe(name)
    if recipe.config.dataset == "shapes":  # a claim on the generated shapes set takes no image folder
        overrides = {k: v for k, v in overrides.items() if k not in _IMAGE_SOURCE_FIELDS}
    if entry == claim.prior_from and claim.prior_budget == "own":  # the prior keeps its recipe's budget
        own = {k: v for k, v in overrides.items() if k in _IMAGE_SOURCE_FIELDS + ("deterministic",)}
        return recipe.with_overrides(sets=entry_sets, seed=seed, **own)
    return recipe.with_overrides(
        sets=list(claim.sets) + list(sets) + entry_sets,
        epochs=epochs if epochs is not None else claim.epochs,
        seed=seed,
        **overrides,
    )


def check_claims(claims: Sequence[Any], sets: Sequence[str] = (), epochs: int | None = None,
                 overrides: Mapping[str, Any] | None = None) -> None:
    """Builds every run's recipe once (no Keras, no training), so a bad override fails before the first run.

    Raises:
        ValueError: an unknown recipe or setting, a value that does not parse, or data that is missing or
            unreadable (the message names the claim, the run and the fix).
    """
    from kerascl.recipe_data import check_data

    checked = set()
    for claim in claims:
        for entry in claim.runs():
            extra = list(sets) + (["prior=none"] if entry == claim.candidate and claim.prior_from else [])
            try:
                config = _claim_recipe(entry, claim, 1, extra, epochs, dict(overrides or {})).config
                data = (config.dataset, config.data_dir, config.tfds, config.eval_dir)
                if data not in checked:
                    check_data(config)
                    checked.add(data)
            except (ValueError, FileNotFoundError) as error:
                raise ValueError(f"Claim {claim.name!r}, run {entry!r}: {error}") from error


def _run_dir(out_dir: str, claim, entry: str, seed: int) -> str:
    """`out_dir/runs/<entry>/seed-<seed>`; a candidate with a prior is named after its prior too, so claims that
    give the same candidate different priors never share its run."""
    folder = _folder_name(entry)
    if entry == claim.candidate and claim.prior_from:
        folder += "_prior_" + _folder_name(claim.prior_from)
    return os.path.join(out_dir, "runs", folder, f"seed-{seed}")


def _short_baseline(baseline: str, candidate: str) -> str:
    """The baseline entry without the `@key=value` settings it shares with the candidate (e.g. both sides' heads)."""
    shared = set(candidate.split("@")[1:])
    name, *settings = baseline.split("@")
    return "@".join([name, *[s for s in settings if s not in shared]])


def reproduce_claims(claims: Sequence[Any], out_dir: str | os.PathLike, seeds: Sequence[int] = (1, 2),
                     sets: Sequence[str] = (), epochs: int | None = None, overrides: Mapping[str, Any] | None = None,
                     force: bool = False, resume: bool = False) -> dict:
    """Runs each claim's candidate and baselines at every seed and writes the paired comparison with verdicts.

    Runs go to `out_dir/runs/<entry>/seed-<seed>` (a candidate with a prior: `<entry>_prior_<prior entry>`), so a
    run two claims share (BYOL is paper 1's baseline and the source of paper 5's prior) trains once, and a stopped
    comparison continues where it was (`run_recipe` reuses finished runs with the same settings). Writes
    `reproductions.md` (`reproductions_table`), `reproductions.json` (every run's headline metrics per seed, every
    comparison) and `reproductions.png` (the paired differences with two standard errors).

    Args:
        claims: `kerascl.claims.Claim`s.
        out_dir: The comparison folder.
        seeds: The seeds; every run of a claim uses each.
        sets: `--set` strings for every run (after the claim's budget, before a run's own `@` overrides).
        epochs: Replaces every claim's epochs.
        overrides: `RecipeConfig` fields for every run (`data_dir`, `limit`, `probe_test_limit`, ...).
        force: Run every recipe again.
        resume: Only continue or reuse runs.

    Returns:
        `{"claims": [per-claim results], "failures": {run label: message}, "table": markdown, "files": {...}}`.
        A failed run does not stop the others; its comparisons are left out and its error shown in the table.
    """
    import json

    from kerascl import plots
    from kerascl.recipe_runner import run_recipe
    from kerascl.run_folder import atomic_path, write_text_atomic

    if not seeds:
        raise ValueError("A reproduction needs at least one seed (--seeds 2 or more for a standard error).")
    check_claims(claims, sets, epochs, overrides)
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    overrides = dict(overrides or {})
    finished: dict[tuple[str, int], dict[str, float]] = {}
    failed: dict[tuple[str, int], str] = {}
    results = []
    for claim in claims:
        runs: dict[str, dict[int, dict[str, float]]] = {}
        failures: dict[str, str] = {}
        budget = ""
        for seed in seeds:
            for entry in claim.runs():
                label = f"{entry} seed {seed}"
                run_dir = _run_dir(out_dir, claim, entry, seed)
                entry_sets = list(sets)
                if entry == claim.candidate and claim.prior_from:
                    prior_dir = _run_dir(out_dir, claim, claim.prior_from, seed)
                    entry_sets.append(f"prior={os.path.abspath(os.path.join(prior_dir, 'backbone.keras'))}")
                    if (claim.prior_from, seed) in failed:
                        failures[label] = f"its prior's run failed ({failed[(claim.prior_from, seed)]})"
                        continue
                key = (entry + "|" + "|".join(entry_sets), seed)
                if key not in finished and key not in failed:
                    try:
                        recipe = _claim_recipe(entry, claim, seed, entry_sets, epochs, overrides)
                        c = recipe.config
                        scaling = f" x batch / {c.lr_reference_batch}" if c.lr_reference_batch else ""
                        budget = (f"{c.epochs} epochs, batch {c.batch_size}, width {c.width}, {c.optimizer} "
                                  f"lr {c.learning_rate}{scaling}, training images {c.limit or 'all'}, probe "
                                  f"test images {c.probe_test_limit or 'all'}, seeds {', '.join(map(str, seeds))}")
                        print(f"\n=== {claim.name}: {label}", flush=True)
                        result = run_recipe(recipe, run_dir, print_table=False, force=force, resume=resume)
                        finished[key] = headline_metrics(result.metrics)
                    except Exception as error:  # one failed run must not throw away the others' results
                        failed[key] = f"{type(error).__name__}: {error}"
                        print(f"\nRun {label!r} failed: {failed[key]}", file=sys.stderr)
                if key in failed:
                    failed[(entry, seed)] = failed[key]
                    failures[label] = failed[key]
                else:
                    runs.setdefault(entry, {})[seed] = finished[key]
        results.append({
            "name": claim.name, "seeds": list(seeds), "paper": claim.paper, "reported": claim.reported,
            "candidate": claim.candidate,
            "baselines": list(claim.baselines), "budget": budget, "notes": claim.notes,
            "runs": {entry: {str(s): m for s, m in by_seed.items()} for entry, by_seed in runs.items()},
            "comparisons": summarise_claim(claim, runs), "failures": failures,
        })
    results = _merged_with_earlier(results, os.path.join(out_dir, "reproductions.json"))
    table = reproductions_table(results)
    write_text_atomic(os.path.join(out_dir, "reproductions.md"), table + "\n")
    write_text_atomic(os.path.join(out_dir, "reproductions.json"),
                      json.dumps(_finite({"claims": results}), indent=2) + "\n")
    files = {"table": "reproductions.md", "json": "reproductions.json"}
    bars = [(f"{r['name']}: {row['metric']}\nvs {_short_baseline(row['baseline'], r['candidate'])}", row["mean"],
             row["se"], row["verdict"])
            for r in results for row in r["comparisons"]
            if row["mean"] is not None and math.isfinite(row["mean"])]
    if bars:
        with atomic_path(os.path.join(out_dir, "reproductions.png")) as tmp:
            plots.plot_paired_differences(bars, tmp, title="candidate - baseline per claim, mean +- 2 SE over "
                                                          "the seeds")
        files["plot"] = "reproductions.png"
    _print_report(table, out_dir, files)
    failures = {label: message for r in results for label, message in r["failures"].items()}
    return {"claims": results, "failures": failures, "table": table, "files": files}


def _merged_with_earlier(results: list[dict], path: str) -> list[dict]:
    """This run's claim results after those of earlier runs into the same folder that it did not repeat.

    One folder thus collects claims run one command at a time, each with its own budget; a claim run again
    replaces its earlier result. Claims keep the order of `kerascl.claims.CLAIMS`.
    """
    import json

    from kerascl.claims import CLAIMS

    earlier = []
    if os.path.exists(path):
        try:
            with open(path) as handle:
                earlier = json.load(handle).get("claims", [])
        except (OSError, ValueError) as error:
            print(f"Not merging the unreadable {path} ({error}); it is replaced.", file=sys.stderr)
    names = {r["name"] for r in results}
    merged = [r for r in earlier if r.get("name") not in names] + results
    for result in merged:  # JSON turned NaN into null: back to NaN for the table's arithmetic
        for row in result.get("comparisons", []):
            for key in ("mean", "se", "candidate_mean", "baseline_mean", "random_init_mean"):
                if row.get(key) is None:
                    row[key] = math.nan
    order = list(CLAIMS)
    return sorted(merged, key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))


def _finite(value: Any) -> Any:
    """The value with every NaN or infinity replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
