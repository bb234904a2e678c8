"""The seed papers' claims (`kerascl compare --claim`): paired statistics, verdicts, run wiring, one real claim."""

from __future__ import annotations

import dataclasses
import json
import math
import types

import numpy as np
import pytest
from click.testing import CliRunner

from kerascl import recipe_comparison
from kerascl.claims import CLAIMS, Claim, get_claims
from kerascl.cli import main
from tests.recipe_helpers import make_image_folder


def test_paired_difference_is_the_mean_and_standard_error_of_the_per_seed_differences():
    candidate, baseline = [0.41, 0.45, 0.40], [0.39, 0.42, 0.41]
    result = recipe_comparison.paired_difference(candidate, baseline)
    differences = np.subtract(candidate, baseline)
    np.testing.assert_allclose(result["differences"], differences)
    np.testing.assert_allclose(result["mean"], differences.mean())
    np.testing.assert_allclose(result["se"], differences.std(ddof=1) / np.sqrt(3))
    assert result["n"] == 3
    assert math.isnan(recipe_comparison.paired_difference([0.5], [0.4])["se"])
    with pytest.raises(ValueError, match="one baseline per candidate"):
        recipe_comparison.paired_difference([0.5, 0.6], [0.4])


@pytest.mark.parametrize("mean, se, n, learned, verdict", [
    (0.03, 0.01, 2, True, "reproduced"),
    (0.03, 0.02, 2, True, "inconclusive at this budget"),
    (-0.03, 0.01, 3, True, "not reproduced: the baseline is ahead"),
    (0.03, math.nan, 1, True, "inconclusive: fewer than 2 seeds"),
    (0.03, 0.001, 2, False, "inconclusive: no run above its random-init floor"),
    (0.03, 0.01, 2, None, "reproduced"),  # no floor measured (e.g. floors off): the statistics decide
])
def test_claim_verdict(mean, se, n, learned, verdict):
    assert recipe_comparison.claim_verdict(mean, se, n, learned) == verdict


def _metrics(knn, floor, linear, few_shot):
    return {"knn.top1": knn, "knn.top1 random init": floor, "linear.top1": linear, "linear.top1 random init": 0.3,
            "few_shot.5way_1shot": few_shot, "few_shot.5way_5shot": few_shot + 0.1}


def test_summary_pairs_seeds_expands_prefixes_and_checks_the_floor():
    claim = Claim(name="c", paper="p", reported="r", candidate="cand", baselines=("base",),
                  metrics=("linear.top1", "few_shot.*"))
    runs = {"cand": {1: _metrics(0.40, 0.30, 0.45, 0.50), 2: _metrics(0.41, 0.30, 0.47, 0.52),
                     3: _metrics(0.41, 0.30, 0.47, 0.52)},  # seed 3 has no baseline: left out of the pairs
            "base": {1: _metrics(0.39, 0.30, 0.43, 0.49), 2: _metrics(0.40, 0.30, 0.44, 0.50)}}
    rows = recipe_comparison.summarise_claim(claim, runs)
    assert [r["metric"] for r in rows] == ["linear.top1", "few_shot.5way_1shot", "few_shot.5way_5shot"]
    linear = rows[0]
    assert linear["seeds"] == [1, 2] and linear["n"] == 2
    np.testing.assert_allclose(linear["mean"], 0.025)
    np.testing.assert_allclose(linear["se"], 0.005)
    np.testing.assert_allclose(linear["random_init_mean"], 0.3)
    assert linear["verdict"] == "reproduced"
    # Both sides at their random-init kNN floor: nothing was learned, whatever the differences.
    flat = {side: {s: {**m, "knn.top1": 0.305} for s, m in by_seed.items()} for side, by_seed in runs.items()}
    assert {r["verdict"] for r in recipe_comparison.summarise_claim(claim, flat)} == {
        "inconclusive: no run above its random-init floor"}
    table = recipe_comparison.reproductions_table([{
        "name": "c", "paper": "p", "reported": "r", "candidate": "cand", "budget": "b", "notes": "",
        "comparisons": rows, "failures": {"base seed 3": "ValueError: x"}}])
    assert "| linear.top1 | `base` | 46.0 | 43.5 | 30.0 | +2.5 +- 0.5 | 2 | reproduced |" in table
    assert "failed: ValueError: x" in table


def test_plot_labels_drop_the_settings_both_sides_share():
    short = recipe_comparison._short_baseline
    assert short("cifar10-byol@hidden_dim=1024@x=1", "cifar10-partitioned@hidden_dim=1024") == "cifar10-byol@x=1"
    assert short("shapes-vae@gamma=0.0", "shapes-vae") == "shapes-vae@gamma=0.0"


def test_every_claim_names_runs_that_resolve_to_recipes(tmp_path):
    folder = make_image_folder(str(tmp_path / "cifar"), train_per_class=2, test_per_class=1)
    claims = get_claims(["all"])
    assert [c.name for c in claims] == list(CLAIMS)
    recipe_comparison.check_claims(claims, overrides={"data_dir": folder})
    for claim in claims:  # a probe a claim compares runs on every side, or the comparison has no pair
        if any(m.startswith("robustness") for m in claim.metrics):
            for entry in claim.runs():
                assert recipe_comparison._claim_recipe(entry, claim, 1, [], 1, {}).config.robustness, entry
        if any(m.startswith("color") for m in claim.metrics):
            for entry in claim.runs():
                assert recipe_comparison._claim_recipe(entry, claim, 1, [], 1, {}).config.color_probe, entry
    with pytest.raises(ValueError, match="Claim 'partitioned-byol', run 'cifar10-byol@hidden_dim=1024.*widht"):
        recipe_comparison.check_claims(claims[:1], sets=["widht=1"], overrides={"data_dir": folder})
    with pytest.raises(ValueError, match="Unknown claim 'ddlc'.*'ddcl'"):
        get_claims(["ddlc"])


def test_the_iccl_base_never_leaves_the_similarity_loss():
    from kerascl.methods.iccl import curriculum_weight
    from kerascl.recipe import get_recipe

    claim = CLAIMS["iccl"]
    base = recipe_comparison._claim_recipe(claim.baselines[0], claim, 1, [], 5, {})
    candidate = recipe_comparison._claim_recipe(claim.candidate, claim, 1, [], 5, {})
    e0, e1 = (base.options["curriculum_start"] * 5, base.options["curriculum_end"] * 5)
    assert [float(curriculum_weight(epoch, e0, e1)) for epoch in range(5)] == [0.0] * 5
    c0, c1 = (candidate.options["curriculum_start"] * 5, candidate.options["curriculum_end"] * 5)
    assert [float(curriculum_weight(epoch, c0, c1)) for epoch in range(5)] == [0.0, 0.0, 0.0, 1.0, 1.0]
    # Apart from the curriculum, the two sides are the same run.
    strip = {"curriculum_start", "curriculum_end"}
    assert {k: v for k, v in base.options.items() if k not in strip} == {
        k: v for k, v in candidate.options.items() if k not in strip}
    assert base.config == candidate.config
    # cifar10-simsiam-1h's update, heads and initialisation (the official small-data model is SimSiam's), with
    # PCA over every projected feature as the official 512 of 512.
    _assert_simsiam_1h_budget_and_heads([base, candidate], [base, candidate])
    assert candidate.options["variant"] == "plain"
    assert candidate.options["pca_dim"] == candidate.options["projection_dim"] == 128
    assert candidate.config.augmenter == "iccl"
    assert get_recipe("cifar10-iccl").config.optimizer == "lars"  # the recipe keeps the paper's setting


def _assert_simsiam_1h_budget_and_heads(sides: list, with_heads: list) -> None:
    """Every side at cifar10-simsiam-1h's update for 5 epochs; `with_heads` also with its heads and initialisation
    (SimSiam's options exactly, a method's own options besides)."""
    from kerascl.recipe import get_recipe

    reference = get_recipe("cifar10-simsiam-1h")
    for side in sides:
        c = side.config
        assert (c.optimizer, c.fixed_predictor_lr, c.epochs) == ("l2sgd", True, 5)
        for field in ("width", "batch_size", "learning_rate", "lr_reference_batch", "momentum", "weight_decay",
                      "warmup_epochs", "end_learning_rate"):
            assert getattr(c, field) == getattr(reference.config, field), field
    heads = {k: reference.options[k] for k in
             ("projection_dim", "hidden_dim", "prediction_hidden_dim", "num_projector_layers", "head_init")}
    for side in with_heads:
        assert {k: side.options[k] for k in heads} == heads
        if side.name == "cifar10-simsiam":
            assert side.options == heads


def test_the_ddcl_claim_trains_every_side_as_cifar10_simsiam_1h_on_the_same_views():
    from kerascl.recipe import get_recipe

    claim = CLAIMS["ddcl"]
    sides = {entry: recipe_comparison._claim_recipe(entry, claim, 1, [], 5, {}) for entry in claim.runs()}
    ddcl = sides[claim.candidate]
    simsiam, barlow_twins = (sides[entry] for entry in claim.baselines)
    for side in sides.values():  # the shared budget: the 1-hour recipe's update, SimSiam's views, 5 epochs
        assert (side.config.augmenter, side.config.robustness) == ("simsiam", True)
    # DDCL and SimSiam with the 1-hour recipe's heads and torch's initialisation; only DDCL's split differs.
    _assert_simsiam_1h_budget_and_heads(list(sides.values()), [ddcl, simsiam])
    # DDCL's recipe adds the separability probe (its two parts); training is the same.
    assert dataclasses.replace(ddcl.config, separability=False) == simsiam.config
    # Barlow Twins with SimSiam's projector sizes and torch's initialisation (the recipe's 2048-wide projector
    # collapsed the backbone at this budget), the recipe's loss scale and off-diagonal weight.
    recipe_options = get_recipe("cifar10-barlow-twins").options
    assert barlow_twins.options == {**recipe_options, "projection_dim": simsiam.options["projection_dim"],
                                    "hidden_dim": simsiam.options["hidden_dim"],
                                    "num_projector_layers": simsiam.options["num_projector_layers"],
                                    "head_init": "torch"}
    assert recipe_options["projection_dim"] == 2048  # the recipe itself keeps solo-learn's projector
    # The recipes themselves keep the papers' settings for GPU users.
    assert get_recipe("cifar10-ddcl").config.augmenter == "ddcl_caug"
    assert get_recipe("cifar10-simsiam").options["head_init"] == "keras"


def test_the_hierarchical_claim_trains_both_sides_as_cifar10_simsiam_1h_on_the_last_stage_views():
    from kerascl.recipe import get_recipe

    claim = CLAIMS["hierarchical"]
    reference = get_recipe("cifar10-simsiam-1h")
    hierarchical = recipe_comparison._claim_recipe(claim.candidate, claim, 1, [], 5, {})
    (simsiam,) = (recipe_comparison._claim_recipe(entry, claim, 1, [], 5, {}) for entry in claim.baselines)
    _assert_simsiam_1h_budget_and_heads([hierarchical, simsiam], [hierarchical, simsiam])
    assert hierarchical.config.color_probe and simsiam.config.color_probe
    # The embeddings as wide as the pooled feature (512 x width), as the official 512 beside ResNet-18's 512.
    assert hierarchical.options["embedding_dim"] == int(512 * reference.config.width)
    # SimSiam sees the hierarchical run's last (full) view pair, colour jitter at full strength.
    assert simsiam.config.augmenter == hierarchical.config.augmenter == "hierarchical_stage_4"
    assert simsiam.config == hierarchical.config  # training settings, probes and all
    # The recipe keeps the paper's settings for GPU users.
    recipe = get_recipe("cifar10-hierarchical")
    assert (recipe.options["head_init"], recipe.options["embedding_dim"], recipe.options["hidden_dim"]) == (
        "keras", 512, 2048)


def test_reproduction_wires_the_prior_shares_runs_and_survives_a_failed_run(tmp_path, monkeypatch):
    from kerascl import recipe_runner

    folder = make_image_folder(str(tmp_path / "cifar"), train_per_class=2, test_per_class=1)
    calls = []

    def fake_run(recipe, out, **kwargs):
        calls.append((recipe.name, dict(recipe.options), str(out)))
        if recipe.name == "cifar10-partitioned" and recipe.config.seed == 2:
            raise ValueError("diverged")
        shift = 0.02 if recipe.options.get("prior") or "partition" in recipe.options else 0.0
        seed = recipe.config.seed
        metrics = {"probes": {"knn": {"top1": 0.40 + shift + 0.001 * seed}, "linear": {"top1": 0.45 + shift}},
                   "floors": {"random_init": {"knn": {"top1": 0.3}}}}
        return types.SimpleNamespace(metrics=metrics)

    monkeypatch.setattr(recipe_runner, "run_recipe", fake_run)
    claims = get_claims(["partitioned-byol", "decoupled-uniformity-prior"])
    result = recipe_comparison.reproduce_claims(claims, tmp_path / "out", seeds=[1, 2], epochs=1,
                                                overrides={"data_dir": folder})
    names = [name for name, _, _ in calls]
    assert names.count("cifar10-byol") == 2  # one per seed, shared by paper 1 and paper 5's prior
    for seed in (1, 2):
        byol = next(out for name, _, out in calls if name == "cifar10-byol" and out.endswith(f"seed-{seed}"))
        with_prior = [opts for name, opts, out in calls
                      if name == "cifar10-decoupled-uniformity" and out.endswith(f"seed-{seed}")
                      and opts["prior"] is not None]
        assert len(with_prior) == 1 and with_prior[0]["prior"].endswith(f"seed-{seed}/backbone.keras")
        assert with_prior[0]["prior"].startswith(str((tmp_path / "out" / "runs").resolve()))
        assert byol.startswith(str(tmp_path / "out" / "runs"))
    assert set(result["failures"]) == {f"{CLAIMS['partitioned-byol'].candidate} seed 2"}
    paper1, paper5 = result["claims"]
    assert {r["metric"]: r["n"] for r in paper1["comparisons"]} == {"linear.top1": 1}
    assert {r["metric"]: r["verdict"] for r in paper5["comparisons"]} == {
        "knn.top1": "reproduced", "linear.top1": "reproduced"}
    saved = json.loads((tmp_path / "out" / "reproductions.json").read_text())
    assert saved["claims"][0]["seeds"] == [1, 2] and saved["claims"][0]["comparisons"][0]["se"] is None  # NaN
    assert (tmp_path / "out" / "reproductions.png").exists()
    assert "failed: ValueError: diverged" in (tmp_path / "out" / "reproductions.md").read_text()
    # A later command into the same folder adds its claim; the earlier ones stay, in the registry's order.
    recipe_comparison.reproduce_claims(get_claims(["iccl"]), tmp_path / "out", seeds=[3], epochs=1,
                                       overrides={"data_dir": folder})
    saved = json.loads((tmp_path / "out" / "reproductions.json").read_text())
    assert [c["name"] for c in saved["claims"]] == ["partitioned-byol", "iccl", "decoupled-uniformity-prior"]
    table = (tmp_path / "out" / "reproductions.md").read_text()
    assert "| iccl |" in table and "| partitioned-byol |" in table and "failed: ValueError: diverged" in table


def test_a_prior_at_its_own_budget_ignores_the_claims_budget_and_gets_its_own_candidate_folder(tmp_path,
                                                                                               monkeypatch):
    from kerascl import recipe_runner

    folder = make_image_folder(str(tmp_path / "cifar"), train_per_class=2, test_per_class=1)
    calls = []

    def fake_run(recipe, out, **kwargs):
        calls.append((recipe, str(out)))
        metrics = {"probes": {"knn": {"top1": 0.4}, "linear": {"top1": 0.45}},
                   "floors": {"random_init": {"knn": {"top1": 0.3}}}}
        return types.SimpleNamespace(metrics=metrics)

    monkeypatch.setattr(recipe_runner, "run_recipe", fake_run)
    claims = get_claims(["decoupled-uniformity-prior", "decoupled-uniformity-strong-prior"])
    recipe_comparison.reproduce_claims(claims, tmp_path / "out", seeds=[2], epochs=1, sets=["batch_size=32"],
                                       overrides={"data_dir": folder, "probe_test_limit": 7, "deterministic": True})
    by_folder = {out.split("/runs/")[1]: recipe for recipe, out in calls}
    prior = by_folder["cifar10-byol-1h_max_train_minutes_none/seed-2"]
    # The recipe's own budget and probes, the entry's setting, the command line's seed, data and determinism.
    assert (prior.config.epochs, prior.config.batch_size, prior.config.max_train_minutes) == (13, 64, None)
    assert prior.config.probe_test_limit is None and prior.config.optimizer == "l2sgd"
    assert (prior.config.seed, prior.config.data_dir, prior.config.deterministic) == (2, folder, True)
    # The two claims' candidates differ only in their prior, so each has its own folder; the baseline is shared.
    weak = by_folder["cifar10-decoupled-uniformity_prior_cifar10-byol_hidden_dim_1024_prediction_hidden_dim_1024"
                     "/seed-2"]
    strong = by_folder["cifar10-decoupled-uniformity_prior_cifar10-byol-1h_max_train_minutes_none/seed-2"]
    assert strong.options["prior"].endswith("runs/cifar10-byol-1h_max_train_minutes_none/seed-2/backbone.keras")
    assert weak.options["prior"].endswith(
        "runs/cifar10-byol_hidden_dim_1024_prediction_hidden_dim_1024/seed-2/backbone.keras")
    assert (strong.config.epochs, strong.config.batch_size, strong.config.probe_test_limit) == (1, 32, 7)
    assert [out for _, out in calls].count(str(tmp_path / "out" / "runs" / "cifar10-decoupled-uniformity_prior_none"
                                               / "seed-2")) == 1
    assert len(calls) == 5
    with pytest.raises(ValueError, match="prior_budget must be one of"):
        Claim(name="x", paper="p", reported="r", candidate="a", baselines=("b",), metrics=(), prior_budget="mine")


def test_compare_claim_command_line_errors():
    runner = CliRunner()
    both = runner.invoke(main, ["compare", "cifar10-byol", "--claim", "ddcl"])
    assert both.exit_code == 2 and "not both" in both.output
    unknown = runner.invoke(main, ["compare", "--claim", "vea-swap"])
    assert unknown.exit_code == 2 and "'vae-swap'" in unknown.output
    listed = runner.invoke(main, ["compare", "--list-claims"])
    assert listed.exit_code == 0 and all(name in listed.output for name in CLAIMS)
    alone = runner.invoke(main, ["compare", "cifar10-byol"])
    assert alone.exit_code == 2 and "--claim" in alone.output


def test_the_vae_claim_runs_end_to_end_from_the_command_line(tmp_path):
    out = tmp_path / "repro"
    args = ["compare", "--claim", "vae-swap", "--seeds", "2", "--epochs", "1", "--out", str(out),
            "--set", "shapes_train=128", "--set", "shapes_test=64", "--set", "probe_train_limit=128",
            "--set", "linear_epochs=1", "--set", "few_shot_episodes=2", "--set", "embedding_plot=none",
            "--set", "batch_size=64"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "reproductions.json").read_text())
    rows = saved["claims"][0]["comparisons"]
    assert [r["metric"] for r in rows] == ["separability.class_gap", "separability.augmentation_gap",
                                           "swap.content_retrieval", "swap.style_retrieval"]
    assert all(r["n"] == 2 and r["se"] is not None for r in rows)
    assert (out / "runs" / "shapes-vae" / "seed-2" / "swap.png").exists()
    assert (out / "runs" / "shapes-vae_gamma_0.0" / "seed-1" / "metrics.json").exists()
    assert "| vae-swap |" in (out / "reproductions.md").read_text()
