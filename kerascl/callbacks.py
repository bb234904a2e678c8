"""Training callbacks: kNN monitor, epoch-end linear probe, collapse monitor, NaN guard, resume, logs.

All callbacks are plain `keras.callbacks.Callback`s and run on the TensorFlow and JAX backends.
The monitors write their numbers into the epoch `logs` dict (`knn_top1`, `linear_top1`,
`feature_std`, `effective_rank`), so `History`, `CSVLogger`, `TensorBoard` and the progress bar
see them; place them before the CSV logger in the callback list (`default_callbacks` does).

The monitors probe the model's backbone: by default the attribute `model.backbone` that every
kerascl method exposes, or an explicit `encoder`.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import time
import warnings
from typing import Any, Callable

import keras
import numpy as np

from kerascl.probes.features import extract_features, iterate_batches
from kerascl.probes.knn import knn_on_features
from kerascl.probes.linear import linear_on_features


class EpochFeatures:
    """The encoder's features of the monitors' data at one epoch end, computed once and shared between monitors.

    `default_callbacks` hands one to every monitor it makes, so that the kNN monitor, the online linear probe and
    the collapse check run the backbone over each image set once per epoch, not once each. Share one only between
    monitors that probe the same encoder: entries are keyed by the data object (and hold it, so its `id` stays
    unique while cached). A monitor empties the cache when an epoch begins.
    """

    def __init__(self):
        self._epoch: int | None = None
        self._store: dict[int, tuple[Any, Any]] = {}

    def get(self, data: Any, epoch: int, compute: Callable[[], Any]) -> Any:
        """`compute()` for `data` at `epoch`, or the value already computed for them."""
        if epoch != self._epoch:
            self._epoch, self._store = epoch, {}
        key = id(data)
        if key not in self._store:
            self._store[key] = (data, compute())
        return self._store[key][1]

    def peek(self, data: Any, epoch: int) -> Any:
        """The value computed for `data` at `epoch`, or None."""
        entry = self._store.get(id(data)) if epoch == self._epoch else None
        return None if entry is None else entry[1]

    def latest(self, data: Any) -> tuple[int, Any] | None:
        """`(epoch, value)` of the last epoch that computed `data`'s value, or None; after `fit` returns it holds
        the features of the final weights when the last epoch ran the monitors."""
        entry = self._store.get(id(data))
        return None if entry is None else (self._epoch, entry[1])

    def clear(self) -> None:
        self._epoch, self._store = None, {}


class _BackboneMonitor(keras.callbacks.Callback):
    """Shared plumbing: which encoder to probe, on which epochs, and the features shared between monitors."""

    def __init__(
        self,
        encoder: Callable | None = None,
        backbone_attribute: str = "backbone",
        every: int = 1,
        features: EpochFeatures | None = None,
    ):
        super().__init__()
        if int(every) < 1:
            raise ValueError(f"every must be >= 1, got {every}.")
        self.encoder = encoder
        self.backbone_attribute = backbone_attribute
        self.every = int(every)
        self.features = features if features is not None else EpochFeatures()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.features.clear()  # the weights change while the epoch trains

    def _encoder(self) -> Callable:
        if self.encoder is not None:
            return self.encoder
        backbone = getattr(self.model, self.backbone_attribute, None)
        if backbone is None:
            raise AttributeError(
                f"{type(self).__name__}: the model has no attribute {self.backbone_attribute!r}. "
                "Pass encoder=<the keras.Model mapping images to features> or "
                "backbone_attribute=<the attribute that holds it>."
            )
        return backbone

    def _labelled_features(self, data: Any, epoch: int) -> tuple:
        """`(features, labels)` of the current encoder on `data`, shared with the other monitors of this epoch."""
        return self.features.get(
            data, epoch, lambda: extract_features(self._encoder(), data, self.batch_size, verbose=0)
        )

    def _train_and_test_features(self, epoch: int) -> tuple:
        """`(train_x, train_y, test_x, test_y)` of the current encoder on the monitor's two labelled sets."""
        train_x, train_y = self._labelled_features(self.train_data, epoch)
        test_x, test_y = self._labelled_features(self.test_data, epoch)
        return train_x, train_y, test_x, test_y

    def _due(self, epoch: int) -> bool:
        last = self.params.get("epochs") if self.params else None
        return (epoch + 1) % self.every == 0 or (last is not None and epoch + 1 == last)


class KNNMonitor(_BackboneMonitor):
    """Weighted kNN accuracy of the backbone at the end of training epochs.

    Runs `kerascl.probes.knn_on_features` (InstDisc-style weighted kNN on l2-normalised features,
    `exp(cos / temperature)` votes) with `train_data` as the memory bank and logs the top-1
    accuracy of `test_data` as `logs["knn_top1"]` (a fraction). On epochs it skips, the key is
    logged as NaN so CSV columns stay aligned. It logs no floor and no value before the first
    epoch: read the curve against `kerascl.probes.floor_probes` on the same data (a recipe run
    stores its floors in `metrics.json`).

    Args:
        train_data: labelled memory-bank data: `tf.data.Dataset` of `(images, labels)` batches
            or a tuple of arrays. Use un-augmented images.
        test_data: labelled data to classify.
        encoder: the model to probe; default `getattr(model, backbone_attribute)`.
        backbone_attribute: attribute of the trained model holding the backbone.
        every: evaluate every `every` epochs (and always after the last epoch).
        k: neighbours (default 200).
        temperature: vote temperature (default 0.1).
        batch_size: encoder batch size for array inputs.
        verbose: 1 prints the accuracy after each evaluation.
        features: An `EpochFeatures` shared with other monitors (default: a cache of its own).

    Examples:
        >>> model.fit(train_views, epochs=100,
        ...           callbacks=[KNNMonitor((x_train, y_train), (x_test, y_test), every=5)])
    """

    def __init__(
        self,
        train_data: Any,
        test_data: Any,
        encoder: Callable | None = None,
        backbone_attribute: str = "backbone",
        every: int = 1,
        k: int = 200,
        temperature: float = 0.1,
        batch_size: int = 256,
        verbose: int = 0,
        features: EpochFeatures | None = None,
    ):
        super().__init__(encoder, backbone_attribute, every, features)
        self.train_data, self.test_data = train_data, test_data
        self.k, self.temperature = int(k), float(temperature)
        self.batch_size, self.verbose = int(batch_size), int(verbose)
        self.results: list[dict[str, Any]] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        if not self._due(epoch):
            logs["knn_top1"] = float("nan")
            return
        train_x, train_y, test_x, test_y = self._train_and_test_features(epoch)
        result = knn_on_features(
            train_x, train_y, test_x, test_y, k=self.k, temperature=self.temperature
        )
        result["epoch"] = epoch + 1
        self.results.append(result)
        logs["knn_top1"] = result["top1"]
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: knn_top1 = {result['top1']:.4f} (k={result['k']}, T={self.temperature})")


class OnlineLinearProbe(_BackboneMonitor):
    """Epoch-end linear probe on frozen backbone features, logged as `linear_top1`.

    At the end of an epoch the backbone's features of `train_data` and `test_data` are computed
    once, a fresh linear softmax classifier is fitted on the training features for `epochs` quick
    epochs (`kerascl.probes.linear_on_features`), and its test top-1 accuracy (a fraction) is
    logged. It is an epoch-end probe on frozen features, not solo-learn's or lightly's online
    classifier trained concurrently with the backbone on augmented views; numbers are close to an
    offline linear probe of the same checkpoint with the same classifier budget.

    Args:
        train_data: labelled data to fit the classifier (un-augmented images).
        test_data: labelled data to score it.
        encoder: the model to probe; default `getattr(model, backbone_attribute)`.
        backbone_attribute: attribute of the trained model holding the backbone.
        every: probe every `every` epochs (and always after the last one); NaN is logged otherwise.
        epochs: classifier epochs per probe (default 10).
        learning_rate: classifier learning rate.
        batch_size: encoder batch size for array inputs.
        verbose: 1 prints the accuracy after each probe.
        features: An `EpochFeatures` shared with other monitors (default: a cache of its own).
    """

    def __init__(
        self,
        train_data: Any,
        test_data: Any,
        encoder: Callable | None = None,
        backbone_attribute: str = "backbone",
        every: int = 1,
        epochs: int = 10,
        learning_rate: float = 1e-2,
        batch_size: int = 256,
        verbose: int = 0,
        features: EpochFeatures | None = None,
    ):
        super().__init__(encoder, backbone_attribute, every, features)
        self.train_data, self.test_data = train_data, test_data
        self.epochs, self.learning_rate = int(epochs), float(learning_rate)
        self.batch_size, self.verbose = int(batch_size), int(verbose)
        self.results: list[dict[str, Any]] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        if not self._due(epoch):
            logs["linear_top1"] = float("nan")
            return
        train_x, train_y, test_x, test_y = self._train_and_test_features(epoch)
        result = linear_on_features(
            train_x,
            train_y,
            test_x,
            test_y,
            epochs=self.epochs,
            learning_rate=self.learning_rate,
            seed=epoch,
        )
        result["epoch"] = epoch + 1
        self.results.append(result)
        logs["linear_top1"] = result["top1"]
        if self.verbose:
            print(f"\nEpoch {epoch + 1}: linear_top1 = {result['top1']:.4f}")


def feature_std(features: np.ndarray) -> float:
    """Mean over dimensions of the per-dimension std of l2-normalised features.

    SimSiam (Chen & He, CVPR 2021, Fig. 2) tracks this number: it is about `1 / sqrt(dim)` when
    the normalised features spread over the sphere and drops to 0 when they collapse to a point.
    """
    features = np.asarray(features, np.float64)
    norm = np.linalg.norm(features, axis=1, keepdims=True)
    normalised = features / np.maximum(norm, 1e-12)
    return float(normalised.std(axis=0).mean())


def effective_rank(features: np.ndarray, eps: float = 1e-7) -> float:
    """RankMe effective rank (Garrido et al., ICML 2023): `exp` of the entropy of the
    normalised singular values of the `(N, C)` feature matrix; between 1 and `min(N, C)`."""
    singular = np.linalg.svd(np.asarray(features, np.float64), compute_uv=False)
    p = singular / (singular.sum() + eps) + eps
    return float(np.exp(-(p * np.log(p)).sum()))


class CollapseMonitor(_BackboneMonitor):
    """Collapse check on a fixed batch: feature std and effective rank at epoch end.

    Logs `feature_std` (see `feature_std`; healthy about `1 / sqrt(dim)`, collapsed 0) and, with
    `effective_rank=True`, `effective_rank` (RankMe). Warns with a `RuntimeWarning` when
    `feature_std * sqrt(dim)` (1 for isotropic features) falls below `warn_below`.

    Args:
        data: images to watch: an array `(N, H, W, 3)`, a tuple `(images, labels)` or a dataset;
            the first `num_samples` images are taken once and reused every epoch.
        encoder: the model to probe; default `getattr(model, backbone_attribute)`.
        backbone_attribute: attribute of the trained model holding the backbone.
        every: check every `every` epochs (NaN is logged otherwise).
        num_samples: size of the fixed batch (default 512).
        effective_rank: also log the effective rank.
        warn_below: warning threshold on `feature_std * sqrt(dim)` (default 0.05).
        features: An `EpochFeatures` shared with other monitors (default: a cache of its own).
        rows_of: A labelled `(images, labels)` tuple of another monitor whose first `num_samples` images are
            `data`'s: when that monitor ran this epoch, the check reads their features from `features` instead of
            running the encoder again.
    """

    def __init__(
        self,
        data: Any,
        encoder: Callable | None = None,
        backbone_attribute: str = "backbone",
        every: int = 1,
        num_samples: int = 512,
        effective_rank: bool = True,
        warn_below: float = 0.05,
        features: EpochFeatures | None = None,
        rows_of: tuple | None = None,
    ):
        super().__init__(encoder, backbone_attribute, every, features)
        self.rows_of = rows_of
        images = []
        count = 0
        for batch, _ in iterate_batches(data, batch_size=num_samples):
            images.append(batch)
            count += len(batch)
            if count >= num_samples:
                break
        if not images:
            raise ValueError("CollapseMonitor got no images to watch.")
        self.images = np.concatenate(images)[:num_samples].astype(np.float32)
        if len(self.images) < 2:
            raise ValueError("CollapseMonitor needs at least 2 images to measure a spread.")
        self.log_effective_rank = bool(effective_rank)
        self.warn_below = float(warn_below)
        self.history: list[dict[str, float]] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        keys = ["feature_std"] + (["effective_rank"] if self.log_effective_rank else [])
        if not self._due(epoch):
            logs.update({key: float("nan") for key in keys})
            return
        shared = self.features.peek(self.rows_of, epoch) if self.rows_of is not None else None
        if shared is not None:
            features = shared[0][: len(self.images)]
        else:
            features, _ = extract_features(
                self._encoder(), self.images, batch_size=256, verbose=0, require_labels=False
            )
        values = {"feature_std": feature_std(features)}
        if self.log_effective_rank:
            values["effective_rank"] = effective_rank(features)
        logs.update(values)
        self.history.append({"epoch": epoch + 1, **values})
        relative = values["feature_std"] * math.sqrt(features.shape[1])
        if relative < self.warn_below:
            warnings.warn(
                f"Epoch {epoch + 1}: the backbone features look collapsed: std of the "
                f"l2-normalised features is {values['feature_std']:.2e} "
                f"({relative:.3f} x the isotropic value 1/sqrt({features.shape[1]})).",
                RuntimeWarning,
                stacklevel=2,
            )


def _now() -> float:
    """The clock of `TrainingTimeLimit` (a function of its own, so tests can replace it)."""
    return time.perf_counter()


def epochs_that_fit(epochs_run: int, remaining_seconds: float, last_epoch_seconds: float, planned: int,
                    asked: int, margin: float = 1.05) -> int:
    """The whole epochs a run plans for after an epoch ends, when its training time is budgeted.

    As many epochs as fit in the remaining budget at the pace of the epoch just finished, never fewer than those
    already run nor more than `asked`. A plan that was cut short (the first epoch also pays for compiling the step)
    is lengthened again only when the extra epochs fit with `margin` to spare, so that an epoch a little faster than
    the last does not flip the plan back and forth. `TrainingTimeLimit` plans a Keras `fit` with it; a training loop
    of its own (the lightly side of `benchmarks/time_to_accuracy.py`) can call it at each epoch end.

    Args:
        epochs_run: epochs finished so far.
        remaining_seconds: training budget left.
        last_epoch_seconds: duration of the epoch just finished.
        planned: the current plan, in epochs.
        asked: the epochs the run was asked for (the plan's ceiling).
        margin: factor on the epoch duration a lengthened plan must fit with.

    Returns:
        The new plan, in epochs.

    Examples:
        >>> epochs_that_fit(1, remaining_seconds=100, last_epoch_seconds=30, planned=13, asked=13)
        4
    """
    last = max(float(last_epoch_seconds), 1e-9)
    fitting = min(max(epochs_run + int(remaining_seconds // last), epochs_run), asked)
    if fitting >= planned and planned < asked:
        fitting = min(max(epochs_run + int(remaining_seconds // (margin * last)), epochs_run), asked)
        fitting = max(fitting, planned)
    return fitting


def steps_that_fit(steps_run: int, remaining_seconds: float, seconds_per_step: float, asked: int,
                   margin: float = 1.02) -> int:
    """The training steps a run plans for, when its training time is budgeted and it may stop inside an epoch.

    As many steps as fit in the remaining budget at `margin` times the pace measured last, never fewer than those
    already run nor more than `asked`. Planning in steps uses the whole budget, where whole epochs
    (`epochs_that_fit`) leave up to an epoch of it unused. The margin keeps the schedule's end just inside the
    budget when the pace varies a little, so the hard stop at the budget rarely cuts the schedule's last steps.
    Measure the pace with the work between epochs (a kNN monitor) included, as `TrainingTimeLimit` does.

    Args:
        steps_run: steps finished so far.
        remaining_seconds: training budget left.
        seconds_per_step: the pace, e.g. the seconds since the second epoch began over the steps since.
        asked: the steps the run was asked for (the plan's ceiling).
        margin: factor on the pace the plan must fit with.

    Returns:
        The new plan, in steps.

    Examples:
        >>> steps_that_fit(400, remaining_seconds=100.0, seconds_per_step=0.5, asked=5200)  # 100 // 0.51 = 196
        596
    """
    per_step = max(float(seconds_per_step), 1e-9)
    fitting = steps_run + int(max(float(remaining_seconds), 0.0) // (margin * per_step))
    return int(min(max(fitting, steps_run), asked))


class EpochTimer(keras.callbacks.Callback):
    """Adds `epoch_seconds`, the epoch's training time, to the epoch logs (and so to `history.csv`).

    The clock starts at `on_epoch_begin` and stops when this callback's `on_epoch_end` runs; put it before the
    monitors (as `default_callbacks` does) so their probes are not counted. The first epoch includes tracing and
    compilation, so compare later epochs when timing a setting (for example `--deterministic`).

    Examples:
        >>> model.fit(views, epochs=3, callbacks=[EpochTimer(), HistoryCSVLogger("history.csv")])
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._start = _now()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["epoch_seconds"] = _now() - self._start


def _header_columns(path: str) -> list[str] | None:
    """The column names in the first line of the CSV file at `path` (None when it is missing or empty)."""
    try:
        with open(path, newline="") as handle:
            first = handle.readline()
    except FileNotFoundError:
        return None
    return next(csv.reader([first])) if first.strip() else None


class HistoryCSVLogger(keras.callbacks.CSVLogger):
    """Keras's `CSVLogger` without its empty `val_*` columns, and aligned with the file it appends to.

    Keras's logger adds a `val_<name>` column for every logged value when `fit` has no validation data, each cell
    `NA`; this one writes the columns the epoch logs hold (with validation data, its `val_*` values too). When it
    appends to a file that already has a header (a resumed run), its rows follow that header, so a file begun by
    another version of the logger keeps its columns aligned; values that header has no column for are not written.

    Args:
        filename: The CSV file.
        separator: The column separator.
        append: Append to an existing file (its header kept) instead of overwriting it.

    Examples:
        >>> model.fit(views, epochs=3, callbacks=[HistoryCSVLogger("history.csv")])
    """

    def __init__(self, filename: str, separator: str = ",", append: bool = False):
        super().__init__(filename, separator=separator, append=append)
        self._columns: list[str] | None = None

    def on_train_begin(self, logs=None):
        self._columns = _header_columns(self.filename) if self.append else None
        super().on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None:  # Keras's logger would add the val_* columns here
            header = [c for c in self._columns or [] if c != "epoch"]
            self.keys = header or sorted((logs or {}).keys())
        super().on_epoch_end(epoch, logs)


class TrainingTimeLimit(keras.callbacks.Callback):
    """Ends `fit` within a wall-clock budget, and can shorten the schedules so they end with it.

    A time budget for runs whose schedule is planned in steps. Without `schedule`, training simply stops once
    `fit` has run `max_minutes` (checked after every batch). With `schedule` (a `WarmupCosineDecay` whose
    `track_total_steps` was called) and `steps_per_epoch`, at the end of each epoch the callback estimates, from
    the pace of the epoch just finished, how much more training fits in the budget; when that is less than `fit`
    was asked for, the learning-rate schedule's `total_steps` (and a kerascl method's step plan, which drives EMA
    momentum) are shortened to end there, and `fit` stops there. `plan="steps"` (the default) plans in steps
    (`steps_that_fit`), so the run may stop inside its last epoch and uses the whole budget; `plan="epochs"` plans
    whole epochs (`epochs_that_fit`) and leaves up to an epoch of the budget unused. The first epoch also pays for
    compiling the step, so a plan made then can be too short: later epochs lengthen it again, never beyond what
    `fit` was asked for. On a machine fast enough for the asked epochs nothing changes. After `fit`,
    `stopped_early` says whether the budget ended the run, `epochs_run` how many epochs began (the last one partial
    when the run stopped inside it), `steps_run` the steps, `planned_steps` / `planned_epochs` where the schedules
    ended, and `seconds` the training time measured.

    Args:
        max_minutes: the budget in minutes of `fit` wall-clock (from `on_train_begin`).
        schedule: optional learning-rate schedule with a `total_steps_variable` to shorten.
        steps_per_epoch: steps per epoch (needed with `schedule`).
        clock: optional `clock() -> seconds` to measure the budget with (default: wall-clock). A benchmark that
            pauses training to evaluate passes a clock that leaves those pauses out.
        plan: "steps" (end the schedules at the last step that fits) or "epochs" (at the last whole epoch).

    Examples:
        >>> limit = TrainingTimeLimit(60)
        >>> model.fit(views, epochs=9, callbacks=[limit])
        >>> limit.stopped_early
    """

    PLANS = ("steps", "epochs")

    def __init__(self, max_minutes: float, schedule: Any = None, steps_per_epoch: int | None = None,
                 clock: Callable[[], float] | None = None, plan: str = "steps"):
        super().__init__()
        if not (isinstance(max_minutes, (int, float)) and 0 < max_minutes < float("inf")):
            raise ValueError(f"max_minutes must be a positive number of minutes; got {max_minutes!r}.")
        if schedule is not None and (getattr(schedule, "total_steps_variable", None) is None or not steps_per_epoch):
            raise ValueError("TrainingTimeLimit(schedule=...) needs a schedule whose track_total_steps(optimizer) "
                             "was called, and steps_per_epoch.")
        if plan not in self.PLANS:
            raise ValueError(f"plan must be one of {self.PLANS}; got {plan!r}.")
        self.max_seconds = float(max_minutes) * 60.0
        self.schedule = schedule
        self.steps_per_epoch = int(steps_per_epoch or 0)
        self.clock = clock
        self.plan = plan
        self.stopped_early = False
        self.epochs_run = 0
        self.steps_run = 0
        self.seconds = 0.0
        self._start = self._epoch_start = None
        self._epoch_first_step = 0
        self._paced_from: tuple[float, int] | None = None
        self._asked_steps = 0
        self._planned_steps: int | None = None
        self._printed_steps: int | None = None

    @property
    def planned_steps(self) -> int | None:
        """The step the schedules now end at (the steps `fit` was asked for until the budget shortens them)."""
        return self._planned_steps

    @property
    def planned_epochs(self) -> int | None:
        """The epochs the schedules now reach, the last one partial when they end inside it."""
        if self._planned_steps is None or not self.steps_per_epoch:
            return None
        return -(-self._planned_steps // self.steps_per_epoch)

    def _time(self) -> float:
        return self.clock() if self.clock is not None else _now()

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._start = self._time()
        self.stopped_early = False
        self.epochs_run = 0
        self.steps_run = 0
        self._paced_from = None
        asked_epochs = int((self.params or {}).get("epochs") or 0)
        self._asked_steps = asked_epochs * self.steps_per_epoch
        self._planned_steps = self._asked_steps if self.steps_per_epoch and asked_epochs else None
        self._printed_steps = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = self._time()
        if self._paced_from is None and self.epochs_run > 0:  # an epoch of this fit (the compiling one) has ended
            self._paced_from = (self._epoch_start, epoch * self.steps_per_epoch)
        # Steps count from the epoch fit starts at, so a run resumed at epoch k plans as the optimizer counts.
        self._epoch_first_step = epoch * self.steps_per_epoch if self.steps_per_epoch else self.steps_run
        self.steps_run = self._epoch_first_step

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.steps_run = self._epoch_first_step + batch + 1
        self.seconds = self._time() - self._start
        planned_end = self._planned_steps is not None and self._planned_steps < self._asked_steps
        if self.seconds >= self.max_seconds or (planned_end and self.steps_run >= self._planned_steps):
            self.stopped_early = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epochs_run = epoch + 1
        if self.schedule is None or self._planned_steps is None or self.model.stop_training:
            return
        now = self._time()
        last_epoch = max(now - self._epoch_start, 1e-9)
        remaining = self.max_seconds - (now - self._start)
        spe = self.steps_per_epoch
        if self.plan == "steps":
            # The pace over every epoch since the first (which compiles the step), the work between epochs (a kNN
            # monitor) included: a whole budget's plan must leave room for it.
            since, first_step = self._paced_from or (self._epoch_start, self._epoch_first_step)
            pace = (now - since) / max(self.steps_run - first_step, 1)
            fitting = steps_that_fit(self.steps_run, remaining, pace, self._asked_steps)
        else:
            fitting = spe * epochs_that_fit(self.epochs_run, remaining, last_epoch, self.planned_epochs,
                                            self._asked_steps // spe)
        if fitting != self._planned_steps:
            # Say so when the plan moved 2 % from the one last printed (small steps add up over a run).
            printed = self._printed_steps or self._asked_steps
            changed = abs(fitting - printed) / max(printed, 1)
            self._planned_steps = fitting
            total = float(fitting)
            self.schedule.total_steps_variable.assign(total)
            if hasattr(self.model, "total_steps") and hasattr(self.model.total_steps, "assign"):
                self.model.total_steps.assign(total)  # a kerascl method's plan (EMA momentum schedule)
            if changed > 0.02 or self.plan == "epochs":
                self._printed_steps = fitting
                print(f"\nTime budget: about {last_epoch:.0f} s per epoch, so the schedules now end at step "
                      f"{fitting} (epoch {fitting / spe:.2f} of {self._asked_steps // spe}) to fit "
                      f"max_train_minutes={self.max_seconds / 60:g}.")
        if self._planned_steps < self._asked_steps and self.steps_run >= self._planned_steps:
            self.stopped_early = True
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._start is not None:
            self.seconds = self._time() - self._start
        if self.stopped_early:
            print(f"Training stopped by its time budget after {self.steps_run} steps ({self.epochs_run} epoch(s), "
                  f"the last one partial if it stopped inside), {self.seconds / 60:.1f} minutes "
                  f"(max_train_minutes={self.max_seconds / 60:g}).")


class NonFiniteLossError(FloatingPointError):
    """Training stopped because the loss (or, at an epoch end, a weight) became NaN or infinite."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops `fit` at the first batch whose loss is NaN or infinite, with an error naming where and what to do.

    Unlike Keras's `TerminateOnNaN`, which ends `fit` normally (so a script goes on to export and probe a broken
    model), this raises `NonFiniteLossError`. `fit` then ends without its `on_train_end`, so a
    `BackupAndRestore` checkpoint (`checkpoint_dir`) stays on disk with the last completed epoch; the message
    names it. At each epoch end the trainable weights are checked too, so a non-finite weight is caught before that
    epoch's checkpoint is written (place this callback first; `default_callbacks` does).

    Args:
        checkpoint_dir: The `BackupAndRestore` folder whose last checkpoint the message names, or None.
        monitor: The log entry to check after every batch.
        max_loss: A finite loss beyond this (in absolute value) stops training too, as diverged. kerascl's losses
            stay far below the default 1e8 when training works (BYOL's is at most 8, Barlow Twins' about its
            projection width); None turns the check off.

    Examples:
        >>> model.fit(ds, epochs=10, callbacks=[StopOnNonFiniteLoss("runs/byol/backup")])
        NonFiniteLossError: The loss became nan at epoch 2, step 7 of the epoch ...
    """

    def __init__(self, checkpoint_dir: str | os.PathLike | None = None, monitor: str = "loss",
                 max_loss: float | None = 1e8):
        super().__init__()
        self.checkpoint_dir = None if checkpoint_dir is None else os.fspath(checkpoint_dir)
        self.monitor = monitor
        self.max_loss = max_loss
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        value = float(np.asarray(value))
        if self.max_loss is not None and math.isfinite(value) and abs(value) > self.max_loss:
            raise NonFiniteLossError(
                f"The {self.monitor} reached {value:.3g} at epoch {self._epoch + 1}, step {batch + 1} of the epoch, "
                f"beyond {self.max_loss:g}: training diverged and stopped there. {self._checkpoint_note()} Lower the "
                "learning rate (--set learning_rate=... on the command line) and train again."
            )
        if not math.isfinite(value):
            raise NonFiniteLossError(
                f"The {self.monitor} became {value} at epoch {self._epoch + 1}, step {batch + 1} of the epoch; "
                f"training stopped there. {self._checkpoint_note()} Lower the learning rate (--set "
                "learning_rate=... on the command line), check the inputs for NaN/Inf values, or lower the batch "
                "size, then train again."
            )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for variable in self.model.trainable_variables:
            if not np.all(np.isfinite(keras.ops.convert_to_numpy(variable))):
                raise NonFiniteLossError(
                    f"The weight {variable.path!r} became NaN or infinite during epoch {epoch + 1} (the loss was "
                    f"still finite); training stopped before this epoch was checkpointed. {self._checkpoint_note()} "
                    "Lower the learning rate (--set learning_rate=...) and train again."
                )

    def _checkpoint_note(self) -> str:
        if self.checkpoint_dir is None:
            return "No checkpoint folder was given to this callback."
        metadata = os.path.join(self.checkpoint_dir, "training_metadata.json")
        if not os.path.exists(metadata):
            return f"No epoch was completed in this session, so {self.checkpoint_dir!r} holds no checkpoint yet."
        try:
            with open(metadata) as handle:
                done = int(json.load(handle)["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            done = None
        after = f"after epoch {done}" if done is not None else "of the last completed epoch"
        return (f"The last good checkpoint, {after}, is kept in {self.checkpoint_dir!r}: training with the same "
                "run folder resumes from it.")


def resume_callback(
    run_dir: str | os.PathLike,
    save_freq: str | int = "epoch",
    delete_checkpoint: bool = True,
) -> keras.callbacks.BackupAndRestore:
    """`keras.callbacks.BackupAndRestore` writing to `run_dir/backup`.

    At the end of every epoch the model's weights, its optimizer state (iterations, momenta) and
    the epoch counter are saved; a later `fit` with the same callback (in a new process, with a
    freshly built model) restores them and continues from the last completed epoch, ending with
    the same weights as an uninterrupted run when the data order is deterministic. The backup is
    deleted when `fit` completes (`delete_checkpoint=True`).

    The model must be built before `fit` (call it on a batch, or let a kerascl method build
    itself); give the second `fit` the same arguments as the first.

    Args:
        run_dir: the run folder; the backup lives in `run_dir/backup`.
        save_freq: `"epoch"` or a number of batches.
        delete_checkpoint: delete the backup when training completes.

    Returns:
        The `BackupAndRestore` callback.

    Examples:
        >>> model.fit(ds, epochs=100, callbacks=[resume_callback("runs/byol")])
    """
    return keras.callbacks.BackupAndRestore(
        backup_dir=os.path.join(os.fspath(run_dir), "backup"),
        save_freq=save_freq,
        delete_checkpoint=delete_checkpoint,
    )


def default_callbacks(
    run_dir: str | os.PathLike,
    train_data: Any = None,
    test_data: Any = None,
    collapse_data: Any = None,
    knn_every: int = 1,
    knn_k: int = 200,
    knn_temperature: float = 0.1,
    online_linear: bool = False,
    linear_every: int = 1,
    linear_epochs: int = 10,
    tensorboard: bool = False,
    resume: bool = True,
    stop_on_non_finite: bool = True,
    backbone_attribute: str = "backbone",
    encoder: Callable | None = None,
) -> list[keras.callbacks.Callback]:
    """The callbacks of a kerascl run, in the order they must run.

    `StopOnNonFiniteLoss` first, `EpochTimer` (the `epoch_seconds` column), then the monitors (they write into
    the epoch logs), `BackupAndRestore` (`run_dir/backup`), `HistoryCSVLogger` (`run_dir/history.csv`, appending when
    resuming so the file holds every epoch)
    and, optionally, `TensorBoard` (`run_dir/tensorboard`). Keras adds `History` and the progress
    bar itself.

    Args:
        run_dir: the run folder (created if missing).
        train_data: labelled un-augmented training data for the kNN monitor / linear probe.
        test_data: labelled test data for them; both must be given for the monitors to be added.
        collapse_data: images for the `CollapseMonitor` (default: `train_data` if given).
        knn_every: kNN monitor period in epochs.
        knn_k: kNN neighbours. knn_temperature: kNN temperature.
        online_linear: add the epoch-end `OnlineLinearProbe`.
        linear_every: its period. linear_epochs: its classifier epochs.
        tensorboard: add a `TensorBoard` callback (needs the `tensorboard` package; an
            `ImportError` saying so is raised here, not mid-training, when it is missing).
        resume: add `BackupAndRestore` so an interrupted `fit` resumes.
        stop_on_non_finite: add `StopOnNonFiniteLoss` (first in the list): a NaN / Inf loss raises
            `NonFiniteLossError` at once, naming the step and the checkpoint kept in `run_dir/backup`.
        backbone_attribute: attribute of the trained model holding the backbone.
        encoder: explicit model to probe instead of the attribute.

    Returns:
        The list of callbacks to pass to `fit`.

    Examples:
        >>> callbacks = default_callbacks("runs/byol", (x_tr, y_tr), (x_te, y_te), knn_every=5)
        >>> method.fit(views, epochs=100, callbacks=callbacks)
    """
    run_dir = os.fspath(run_dir)
    if tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ImportError(
            "default_callbacks(tensorboard=True) needs the `tensorboard` package, which is not "
            "installed: `pip install tensorboard`, or pass tensorboard=False (history.csv is "
            "written either way)."
        )
    os.makedirs(run_dir, exist_ok=True)
    monitor_args = dict(encoder=encoder, backbone_attribute=backbone_attribute, features=EpochFeatures())
    callbacks: list[keras.callbacks.Callback] = []
    if (train_data is None) != (test_data is None):
        raise ValueError("Give both train_data and test_data for the kNN / linear monitors, or neither.")
    if train_data is not None:
        callbacks.append(
            KNNMonitor(train_data, test_data, every=knn_every, k=knn_k, temperature=knn_temperature, **monitor_args)
        )
        if online_linear:
            callbacks.append(
                OnlineLinearProbe(train_data, test_data, every=linear_every, epochs=linear_epochs, **monitor_args)
            )
    rows_of = None
    if collapse_data is None:
        collapse_data = train_data
        # The kNN memory bank's first images: their features come from the kNN monitor's pass.
        rows_of = train_data if isinstance(train_data, tuple) else None
    if collapse_data is not None:
        callbacks.append(CollapseMonitor(collapse_data, rows_of=rows_of, **monitor_args))
    callbacks.insert(0, EpochTimer())  # before the monitors, so their probes are not timed
    if stop_on_non_finite:  # first: a NaN weight is caught before the monitors run on it or the backup saves it
        callbacks.insert(0, StopOnNonFiniteLoss(os.path.join(run_dir, "backup") if resume else None))
    if resume:
        callbacks.append(resume_callback(run_dir))
    callbacks.append(HistoryCSVLogger(os.path.join(run_dir, "history.csv"), append=resume))
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=os.path.join(run_dir, "tensorboard")))
    return callbacks
