"""`benchmarks/paired_run_folders.py`: run folders paired by seed, the paired difference and verdict of `kerascl compare`."""

import json
import os

import pytest

from tests.script_helpers import load_script, script_path

SCRIPT = script_path("paired_run_folders.py")


def _script():
    return load_script("paired_run_folders.py")


def _run_folder(path, seed, knn, linear, knn_floor=0.30, linear_floor=0.35):
    os.makedirs(path)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump({"config": {"seed": seed}, "options": {}}, f)
    metrics = {
        "probes": {"knn": {"top1": knn}, "linear": {"top1": linear}},
        "floors": {"random_init": {"knn": {"top1": knn_floor}, "linear": {"top1": linear_floor}},
                   "raw_pixels": {"knn": {"top1": 0.25}, "linear": {"top1": 0.32}}},
    }
    with open(os.path.join(path, "metrics.json"), "w") as f:
        json.dump(metrics, f)
    return str(path)


def test_pairs_by_seed_not_by_order(tmp_path):
    script = _script()
    # Given in opposite seed orders: pairing by position would give differences of 0.04 and 0.05.
    candidate = [_run_folder(tmp_path / "a1", 1, 0.50, 0.55), _run_folder(tmp_path / "a2", 2, 0.53, 0.56)]
    baseline = [_run_folder(tmp_path / "b2", 2, 0.46, 0.50), _run_folder(tmp_path / "b1", 1, 0.48, 0.53)]
    result = script.compare_run_folders("x", "with", candidate, "without", baseline, ["knn.top1", "linear.top1"])
    knn, linear = result["comparisons"]
    assert knn["metric"] == "knn.top1" and knn["seeds"] == [1, 2]
    assert knn["differences"] == pytest.approx([0.02, 0.07])
    assert knn["mean"] == pytest.approx(0.045)
    assert knn["se"] == pytest.approx(0.025)  # sample sd (ddof 1) 0.03536 / sqrt(2)
    assert knn["verdict"] == "inconclusive at this budget"  # 0.045 - 2 x 0.025 is not above 0
    assert linear["differences"] == pytest.approx([0.02, 0.06])
    assert "| knn.top1 | 51.5 | 47.0 | 30.0 | 25.0 | +4.5 +- 2.5 | +2.0 / +7.0 |" in result["table"]


def test_verdicts_follow_the_two_standard_error_rule_and_the_floor(tmp_path):
    script = _script()
    ahead = [_run_folder(tmp_path / "a1", 1, 0.50, 0.55), _run_folder(tmp_path / "a2", 2, 0.51, 0.56)]
    behind = [_run_folder(tmp_path / "b1", 1, 0.45, 0.50), _run_folder(tmp_path / "b2", 2, 0.47, 0.51)]
    assert script.compare_run_folders("x", "c", ahead, "b", behind, ["knn.top1"])["comparisons"][0]["verdict"] == \
        "reproduced"
    assert script.compare_run_folders("x", "c", behind, "b", ahead, ["knn.top1"])["comparisons"][0]["verdict"] == \
        "not reproduced: the baseline is ahead"
    # Both sides within 2 points of their random-init floor: nothing learned, no verdict on the difference.
    floor = [_run_folder(tmp_path / f"f{s}", s, 0.31, 0.36) for s in (1, 2)]
    floor_low = [_run_folder(tmp_path / f"g{s}", s, 0.29, 0.34) for s in (1, 2)]
    assert script.compare_run_folders("x", "c", floor, "b", floor_low, ["knn.top1"])["comparisons"][0]["verdict"] \
        == "inconclusive: no run above its random-init floor"


def test_main_writes_the_table_and_refuses_bad_folders(tmp_path, capsys):
    script = _script()
    a = [_run_folder(tmp_path / f"a{s}", s, 0.50 + s / 100, 0.55) for s in (1, 2)]
    b = [_run_folder(tmp_path / f"b{s}", s, 0.45, 0.50) for s in (1, 2)]
    out = tmp_path / "table.md"
    assert script.main(["--name", "n", "--candidate-label", "c", "--candidate", *a, "--baseline-label", "b",
                        "--baseline", *b, "--out", str(out)]) == 0
    assert "| linear.top1 | 55.0 | 50.0 |" in out.read_text()
    assert "### n" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="has no metrics.json"):
        os.makedirs(tmp_path / "empty")
        with open(tmp_path / "empty" / "config.json", "w") as f:
            json.dump({"config": {"seed": 1}}, f)
        script.main(["--name", "n", "--candidate-label", "c", "--candidate", str(tmp_path / "empty"),
                     "--baseline-label", "b", "--baseline", *b])
    with pytest.raises(SystemExit, match="No seed has a run on both sides"):
        script.main(["--name", "n", "--candidate-label", "c", "--candidate", a[0], "--baseline-label", "b",
                     "--baseline", b[1]])
    with pytest.raises(SystemExit, match="Two 'c' folders have seed 1"):
        script.main(["--name", "n", "--candidate-label", "c", "--candidate", a[0], a[0], "--baseline-label", "b",
                     "--baseline", *b])


def test_a_side_may_be_kerascl_probe_files_paired_by_their_backbones_run_seed(tmp_path):
    script = _script()
    candidate = [_run_folder(tmp_path / f"a{s}", s, 0.50, 0.55) for s in (1, 2)]
    probes = []
    for seed, knn in ((2, 0.49), (1, 0.47)):  # given in the other order: paired by the backbone's seed
        prior = _run_folder(tmp_path / f"prior{seed}", seed, 0.9, 0.9)  # its own metrics are not the probe's
        path = tmp_path / f"probe{seed}.json"
        metrics = json.loads(open(os.path.join(prior, "metrics.json")).read())
        metrics["probes"]["knn"]["top1"] = knn
        path.write_text(json.dumps({"backbone": os.path.join(prior, "backbone.keras"), **metrics}))
        probes.append(str(path))
    knn = script.compare_run_folders("x", "c", candidate, "prior alone", probes, ["knn.top1"])["comparisons"][0]
    assert knn["seeds"] == [1, 2] and knn["differences"] == pytest.approx([0.03, 0.01])
    loose = tmp_path / "loose.json"
    loose.write_text(json.dumps({"backbone": str(tmp_path / "nowhere" / "backbone.keras"), "probes": {}}))
    with pytest.raises(SystemExit, match="not in a run folder with a config.json"):
        script.compare_run_folders("x", "c", candidate, "b", [str(loose)], ["knn.top1"])
    (tmp_path / "other.json").write_text("[1, 2]")
    with pytest.raises(SystemExit, match="has no 'probes' and 'backbone'"):
        script.compare_run_folders("x", "c", candidate, "b", [str(tmp_path / "other.json")], ["knn.top1"])
