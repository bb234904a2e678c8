"""The plan and the stage lines a recipe run prints (kerascl.run_stages)."""

import io

import pytest

from kerascl.run_stages import (
    TARGET_COST_PER_VIEW,
    TRAIN_COST_PER_VIEW,
    StageLog,
    format_seconds,
    plan_lines,
    pretraining_estimate,
)


def test_stage_log_prints_start_and_end_and_keeps_the_seconds():
    stream = io.StringIO()
    stages = StageLog(stream)
    with stages("kNN probe", estimate=12.0):
        pass
    with stages("kNN probe"):  # a repeated stage adds up under one name
        pass
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[stage] kNN probe (estimate 12 s) ..."
    assert lines[1].startswith("[stage] kNN probe: done in ")
    assert lines[2] == "[stage] kNN probe ..."
    assert list(stages.seconds) == ["kNN probe"] and stages.seconds["kNN probe"] >= 0.0
    assert list(stages.cpu_seconds) == ["kNN probe"]
    assert "(CPU " in lines[1]


def test_a_failing_stage_says_where_it_stopped_and_reraises():
    stream = io.StringIO()
    stages = StageLog(stream)
    with pytest.raises(ValueError, match="boom"):
        with stages("linear probe"):
            raise ValueError("boom")
    assert "[stage] linear probe: stopped after" in stream.getvalue()
    assert "linear probe" not in stages.seconds


def test_plan_lines_align_the_stages_and_sum_the_estimates():
    lines = plan_lines([("pretraining", "1 epoch", 60.0), ("kNN / linear / few-shot", "cached features", None),
                        ("floors", "random init and raw pixels", 30.0)])
    assert lines[0] == "  pretraining              1 epoch, about 60 s"
    assert lines[1] == "  kNN / linear / few-shot  cached features"
    assert lines[-1].startswith("  total                    about 1.5 min")


def test_format_seconds():
    assert [format_seconds(s) for s in (2.5, 42, 150, 7200)] == ["2.5 s", "42 s", "2.5 min", "2.0 h"]


def test_pretraining_estimate_counts_the_target_network_and_stops_at_the_time_budget():
    plain, note = pretraining_estimate(10_000, inference_speed=1000.0, momentum_target=False)
    with_target, _ = pretraining_estimate(10_000, inference_speed=1000.0, momentum_target=True)
    assert plain == pytest.approx(10.0 * TRAIN_COST_PER_VIEW) and note == ""
    assert with_target == pytest.approx(10.0 * (TRAIN_COST_PER_VIEW + TARGET_COST_PER_VIEW))
    capped, note = pretraining_estimate(10_000_000, inference_speed=1000.0, momentum_target=True, max_train_minutes=60)
    assert capped == 3600.0 and "max_train_minutes=60" in note
    assert pretraining_estimate(100, inference_speed=1000.0, momentum_target=False, max_train_minutes=60)[1] == ""
    assert pretraining_estimate(100, inference_speed=0.0, momentum_target=False) == (None, "")
