"""What a recipe run does and for about how long: the plan printed at its start and one line per stage.

A run prints its plan once the data are loaded and the model is built: every stage (pretraining, kNN monitor,
probe features, kNN / linear / few-shot probes, floors, robustness, separability, pictures) with the images it
touches and, for the stages that run the backbone, a time estimate. The estimates come from one timed inference
batch of the backbone on this machine (`measure_inference_speed`); a training image is counted as
`TRAIN_COST_PER_VIEW` inference passes per view (forward and backward, heads and augmentation), plus
`TARGET_COST_PER_VIEW` for a method with a momentum target network; a recipe's `max_train_minutes` caps the
estimate. The pretraining estimate stays rough (first-step compilation comes on top; the ratio of training to
inference speed differs between machines). Each stage then prints its start and its duration
(`StageLog`), and the durations go into `metrics.json` under `timing.stages`.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, Iterator, TextIO

import numpy as np

#: Inference passes one training image costs per view: forward and backward in training mode, the heads and the
#: augmentation (a forward and a backward pass alone would be 3). On a 2-core AVX-512 CPU (CIFAR ResNet-18 width
#: 0.25, batch 128) SimSiam trained at 3.8 (docs/benchmarks.md, run T8's seed 2 against run T10's inference speed).
TRAIN_COST_PER_VIEW = 4.0
#: Extra inference passes per view of a momentum target network (BYOL-style: its forward pass and the EMA update);
#: BYOL trained at 5.2-5.5 passes per view on the machine above (runs T9 and T10).
TARGET_COST_PER_VIEW = 1.5


def format_seconds(seconds: float) -> str:
    """`42 s`, `3.5 min` or `1.2 h`."""
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class StageLog:
    """Prints `[stage] NAME ...` when a stage starts and `[stage] NAME: done in T` when it ends; keeps the times.

    Use it as `with stages("kNN probe", estimate=3.0): ...`. It is also the `stage` hook of
    `kerascl.probes.run_all_probes` and `floor_probes`.

    Args:
        stream: where the lines go (default stdout).

    Attributes:
        seconds: `{stage name: wall-clock seconds}` of the stages run so far (a repeated name adds up).
        cpu_seconds: `{stage name: CPU seconds of this process}` (all threads): on a machine shared with other jobs
            the wall-clock time says little, the CPU time stays close to what the stage costs.
    """

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}

    def _print(self, line: str) -> None:
        print(line, file=self.stream or sys.stdout, flush=True)

    @contextlib.contextmanager
    def __call__(self, name: str, estimate: float | None = None) -> Iterator[None]:
        hint = f" (estimate {format_seconds(estimate)})" if estimate else ""
        self._print(f"[stage] {name}{hint} ...")
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            yield
        except BaseException:
            self._print(f"[stage] {name}: stopped after {format_seconds(time.perf_counter() - start)}")
            raise
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        self.seconds[name] = round(self.seconds.get(name, 0.0) + elapsed, 3)
        self.cpu_seconds[name] = round(self.cpu_seconds.get(name, 0.0) + cpu, 3)
        self._print(f"[stage] {name}: done in {format_seconds(elapsed)} (CPU {format_seconds(cpu)})")


def measure_inference_speed(backbone: Any, images: np.ndarray, batch_size: int = 64) -> float:
    """Images per second of `backbone.predict_on_batch` on this machine (one warm-up batch, one timed batch).

    Args:
        backbone: the `keras.Model` the probes will run.
        images: a few images of the run (the first `batch_size` are used).
        batch_size: images per timed batch.

    Returns:
        Images per second (0.0 when it could not be measured).
    """
    batch = np.asarray(images[:batch_size], np.float32)
    if len(batch) == 0:
        return 0.0
    backbone.predict_on_batch(batch)  # compiles / traces: not timed
    start = time.perf_counter()
    backbone.predict_on_batch(batch)
    elapsed = time.perf_counter() - start
    return len(batch) / elapsed if elapsed > 0 else 0.0


def pretraining_estimate(view_images: float, inference_speed: float, momentum_target: bool,
                         max_train_minutes: float | None = None) -> tuple[float | None, str]:
    """Rough seconds of pretraining and a note for the plan when a time budget caps them.

    Args:
        view_images: Augmented views the schedule trains on (epochs x steps x batch x views).
        inference_speed: Backbone inference images per second on this machine (0: not measured).
        momentum_target: Whether the method runs a momentum target network (BYOL-style).
        max_train_minutes: The recipe's training time budget, if any.

    Returns:
        `(seconds or None, note)`; the note is empty unless the budget stops training before the schedule ends.
    """
    if inference_speed <= 0:
        return None, ""
    cost = TRAIN_COST_PER_VIEW + (TARGET_COST_PER_VIEW if momentum_target else 0.0)
    seconds = view_images * cost / inference_speed
    if max_train_minutes and seconds > max_train_minutes * 60.0:
        return max_train_minutes * 60.0, f", stopped by max_train_minutes={max_train_minutes:g} if it runs longer"
    return seconds, ""


def plan_lines(plan: list[tuple[str, str, float | None]]) -> list[str]:
    """Lines of a plan: `(stage, what it runs, estimated seconds or None)` -> aligned text with a total."""
    width = max(len(name) for name, _, _ in plan)
    lines = []
    total = 0.0
    for name, what, seconds in plan:
        estimate = f", about {format_seconds(seconds)}" if seconds else ""
        total += seconds or 0.0
        lines.append(f"  {name:<{width}}  {what}{estimate}")
    lines.append(f"  {'total':<{width}}  about {format_seconds(total)} for the estimated stages, plus compilation "
                 "and the stages on cached features")
    return lines
