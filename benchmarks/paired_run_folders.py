"""Paired comparison of finished run folders: candidate vs baseline per seed, with `kerascl compare`'s verdict rule.

`kerascl compare --claim NAME` trains both sides of a claim itself. This script compares runs that were trained
separately (e.g. decoupled uniformity with a prior from a `cifar10-byol-1h` run, which no claim trains) the same
way: each folder's `metrics.json` gives its headline metrics (`kerascl.recipe_comparison.headline_metrics`), each
folder's `config.json` its seed, runs are paired by seed, and each metric gets `kerascl compare`'s row (paired
difference, standard error over the seeds, random-init floor, verdict by the two-standard-error rule; a comparison
is judged only when a side's mean kNN is `LEARNED_MARGIN` above its random-init floor), with the raw-pixel floor
and the per-seed differences beside it. A side may also be given as the JSON files `kerascl probe BACKBONE --out
FILE.json` wrote (e.g. a frozen prior probed on the claim's split): its seed is then that of the run folder the
probed `backbone.keras` is in.

Usage:

    python benchmarks/paired_run_folders.py --name decoupled-uniformity-strong-prior \
        --candidate-label "prior: cifar10-byol-1h backbone" --candidate RUN_A_SEED1 RUN_A_SEED2 \
        --baseline-label "no prior" --baseline RUN_B_SEED1 RUN_B_SEED2 \
        --metric knn.top1 --metric linear.top1 [--out table.md]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys


def _read_run(run_dir: str) -> tuple[int, dict]:
    """(seed, headline metrics) of a finished run folder or a `kerascl probe` JSON; a clear error for neither."""
    from kerascl.recipe_comparison import headline_metrics

    if os.path.isfile(run_dir):
        return _read_probe_file(run_dir)
    paths = {name: os.path.join(run_dir, f"{name}.json") for name in ("config", "metrics")}
    for name, path in paths.items():
        if not os.path.isfile(path):
            raise SystemExit(f"{run_dir!r} has no {name}.json: pass the folder of a finished `kerascl recipe` run "
                             f"(rerun its command to finish it).")
    with open(paths["metrics"]) as f:
        return _run_seed(paths["config"]), headline_metrics(json.load(f))


def _run_seed(config_path: str) -> int:
    """The seed a run folder's `config.json` records."""
    with open(config_path) as f:
        return int(json.load(f)["config"]["seed"])


def _read_probe_file(path: str) -> tuple[int, dict]:
    """(seed, headline metrics) of a `kerascl probe --out` JSON, the seed from the probed backbone's run folder."""
    from kerascl.recipe_comparison import headline_metrics

    try:
        with open(path) as f:
            probe = json.load(f)
    except (OSError, ValueError) as error:
        raise SystemExit(f"{path!r} is not a readable JSON file ({error}): pass a run folder or the file "
                         "`kerascl probe BACKBONE --out FILE.json` wrote.") from error
    if not isinstance(probe, dict) or "probes" not in probe or "backbone" not in probe:
        raise SystemExit(f"{path!r} has no 'probes' and 'backbone': pass a run folder or the file `kerascl probe "
                         "BACKBONE --out FILE.json` wrote.")
    config = os.path.join(os.path.dirname(os.path.abspath(probe["backbone"])), "config.json")
    if not os.path.isfile(config):
        raise SystemExit(f"{path!r} probed {probe['backbone']!r}, which is not in a run folder with a config.json, "
                         "so its seed is unknown: probe the backbone.keras of a finished `kerascl recipe` run.")
    return _run_seed(config), headline_metrics(probe)


def compare_run_folders(name: str, candidate_label: str, candidate_dirs, baseline_label: str, baseline_dirs,
                        metrics) -> dict:
    """Pairs the folders by seed and returns `{"comparisons": [...], "table": markdown}`."""
    from kerascl.claims import Claim
    from kerascl.recipe_comparison import _percent, summarise_claim

    runs: dict[str, dict[int, dict]] = {candidate_label: {}, baseline_label: {}}
    for label, dirs in ((candidate_label, candidate_dirs), (baseline_label, baseline_dirs)):
        for run_dir in dirs:
            seed, row = _read_run(run_dir)
            if seed in runs[label]:
                raise SystemExit(f"Two {label!r} folders have seed {seed}; give one folder per seed and side.")
            runs[label][seed] = row
    seeds = sorted(set(runs[candidate_label]) & set(runs[baseline_label]))
    if not seeds:
        raise SystemExit("No seed has a run on both sides; the folders' config.json give seeds "
                         f"{sorted(runs[candidate_label])} (candidate) and {sorted(runs[baseline_label])} (baseline).")
    claim = Claim(name=name, paper="-", reported="-", candidate=candidate_label, baselines=(baseline_label,),
                  metrics=tuple(metrics))
    comparisons = summarise_claim(claim, runs)
    lines = [f"### {name}", "", f"Candidate: {candidate_label}; baseline: {baseline_label}; seeds "
             f"{', '.join(map(str, seeds))}. Values in % (x 100).", "",
             "| metric | candidate | baseline | random init | raw pixels | candidate - baseline (mean +- SE) | "
             "per seed | verdict |", "|---|---|---|---|---|---|---|---|"]
    for row in comparisons:
        raw = [runs[candidate_label][s].get(f"{row['metric']} raw pixels") for s in row["seeds"]]
        raw = [r for r in raw if r is not None]
        se = "" if not math.isfinite(row["se"]) else f" +- {100 * row['se']:.1f}"
        lines.append(f"| {row['metric']} | {_percent(row['candidate_mean'])} | {_percent(row['baseline_mean'])} | "
                     f"{_percent(row['random_init_mean'])} | {_percent(sum(raw) / len(raw) if raw else math.nan)} | "
                     f"{100 * row['mean']:+.1f}{se} | "
                     f"{' / '.join(f'{100 * d:+.1f}' for d in row['differences'])} | {row['verdict']} |")
    return {"comparisons": comparisons, "runs": runs, "table": "\n".join(lines)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="The comparison's name (the table's heading).")
    parser.add_argument("--candidate-label", required=True)
    parser.add_argument("--candidate", nargs="+", required=True,
                        help="Run folders (or `kerascl probe` JSON files) of the candidate, one per seed.")
    parser.add_argument("--baseline-label", required=True)
    parser.add_argument("--baseline", nargs="+", required=True,
                        help="Run folders (or `kerascl probe` JSON files) of the baseline, one per seed.")
    parser.add_argument("--metric", action="append", default=None,
                        help="Headline metric key (repeatable; default knn.top1 and linear.top1).")
    parser.add_argument("--out", help="Also write the markdown table to this file.")
    args = parser.parse_args(argv)
    if args.candidate_label == args.baseline_label:
        parser.error("--candidate-label and --baseline-label must differ.")
    result = compare_run_folders(args.name, args.candidate_label, args.candidate, args.baseline_label,
                                 args.baseline, args.metric or ["knn.top1", "linear.top1"])
    print(result["table"])
    if args.out:
        from kerascl.run_folder import write_text_atomic

        write_text_atomic(args.out, result["table"] + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
