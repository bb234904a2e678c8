"""Runs a recipe end to end: data, views, pretraining, probes, and the run folder.

`run_recipe(recipe, out_dir)` pretrains the recipe's method with `model.fit`, exports the backbone, runs the
probes and their floors (the same probes on a random-init backbone and on raw pixels), draws the pictures and writes
everything into one folder. It prints its plan first and one line per stage (`kerascl.run_stages`):

| file | what |
|---|---|
| `config.json` | the resolved recipe: every setting after overrides, the source of the hyperparameters |
| `history.csv` | one row per epoch: losses, method metrics, kNN monitor, collapse monitor, `epoch_seconds` (`kerascl.callbacks.HistoryCSVLogger`) |
| `metrics.json` | probe results under `probes`, their floors under `floors`, timing, backend (schema: Recipes page) |
| `backbone.keras` | the pretrained backbone (the model the probes read: the method's `evaluation_encoder()`), loadable with `keras.models.load_model` |
| `curves.png` | loss and kNN-monitor curves |
| `embedding.png` | 2-D picture of the backbone features of test images, coloured by class |
| `content_style.png` | partitioned models: content part and style part side by side |
| `backup/` | while training: the last epoch's state; an interrupted run resumes from it |
| `pretrained.weights.h5` | from the end of training until the probes finish: the whole trained method |
| `state.json` | the run's stage: `training`, `pretrained` or `complete` |
| `run.lock` | while a run uses the folder: its pid, host, start and command |
| `rerun/` | a forced rerun over finished results, until it has finished and replaced them |

Every file is written atomically and the folder is transactional; see `kerascl.run_folder`.

The Keras backend is whatever Keras was imported with; the CLI sets `KERAS_BACKEND` before importing it.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import time
from typing import Any

import numpy as np

from kerascl.recipe import Recipe, RecipeConfig
from kerascl.recipe_data import EVAL_LAYOUT, FOLDER_LAYOUT, DataSource, check_data, hold_out_test
from kerascl.run_stages import StageLog

#: The end of the one-line note of a run whose probes are skipped for want of labels.
EVAL_DIR_HINT = (
    "pass --eval-dir DIR with labeled images (DIR/train/<class>/ and DIR/test/<class>/, or DIR/<class>/) to probe "
    "the backbone"
)


@dataclasses.dataclass
class RunData:
    """The data of a run.

    Attributes:
        train: batched multi-view `tf.data.Dataset` for pretraining.
        num_train: pretraining images.
        probe_train: `(images, labels)` arrays for the probes' training split, or None without labels.
        probe_test: `(images, labels)` arrays for the probes' test split, or None.
        separability: multi-view dict batches of test images with recorded parameters and labels, or None.
        class_names: class names, or None.
        missing_labels: why the probes are skipped, or None.
        probe_test_features: backbone features of `probe_test`'s images once the probes have computed them (the
            embedding picture reuses them), else None.
        monitor_features: `{"train": (features, labels), "test": ...}`, the kNN monitor's features of the first
            images of the probes' two splits at the end of training, when it probed the evaluation encoder then
            (the probes encode only the rest), else empty.
        source: what the run trained and probed on (`metrics.json`'s `data`).
    """

    train: Any
    num_train: int
    probe_train: tuple[np.ndarray, np.ndarray] | None
    probe_test: tuple[np.ndarray, np.ndarray] | None
    separability: Any
    class_names: list[str] | None
    missing_labels: str | None = None
    probe_test_features: np.ndarray | None = None
    monitor_features: dict = dataclasses.field(default_factory=dict)
    source: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class RunResult:
    """What `run_recipe` returns: the run folder, the metrics dict (as in `metrics.json`) and the trained model."""

    run_dir: str
    metrics: dict
    model: Any = None


# ------------------------------------------------------------------------------------------------------- data
def _arrays(dataset, limit: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    images, labels = [], []
    count = 0
    for batch in dataset:
        if isinstance(batch, (tuple, list)):
            x, y = batch[0], batch[1]
            labels.append(np.asarray(y).reshape(-1))
        else:
            x = batch
        images.append(np.asarray(x, np.float32))
        count += len(images[-1])
        if limit is not None and count >= limit:
            break
    if not images:
        raise ValueError("The data set produced no images.")
    x = np.concatenate(images)[:limit]
    y = np.concatenate(labels).astype(np.int32)[:limit] if labels else None
    return x, y


def _views_of(dataset_arrays, augmenter, batch_size: int):
    from kerascl.data import from_arrays

    images, labels = dataset_arrays
    return from_arrays(images, labels, batch_size=batch_size, views=True, augmenter=augmenter, shuffle=False,
                       drop_remainder=False)


def make_augmenter(recipe: Recipe):
    """The recipe's view maker: its own `augmenter` function, or the preset named in `config.augmenter`."""
    config = recipe.config
    if recipe.augmenter is not None:
        if config.crop_scale is not None:
            raise ValueError(f"Recipe {recipe.name!r} makes its own views, so crop_scale={config.crop_scale!r} "
                             "cannot be applied to them; leave out --set crop_scale.")
        return recipe.augmenter(config, recipe.options)
    from kerascl.augment import get_preset

    return get_preset(config.augmenter, image_size=config.image_size, seed=config.seed, crop_scale=config.crop_scale)


def _folder_dirs(config: RecipeConfig) -> tuple[str, str | None]:
    root = os.fspath(config.data_dir)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"--data-dir {root!r} is not a folder. Expected layout: {FOLDER_LAYOUT}.")
    train = os.path.join(root, "train")
    test = os.path.join(root, "test")
    if not os.path.isdir(train):
        raise FileNotFoundError(
            f"--data-dir {root!r} has no 'train' subfolder. Expected layout: {FOLDER_LAYOUT}. (The shared CIFAR-10 "
            "copy unpacks to cifar10/train and cifar10/test: pass the cifar10 folder.)"
        )
    return train, (test if os.path.isdir(test) else None)


def load_data(recipe: Recipe, augmenter) -> RunData:
    """Builds the pretraining pipeline and the probe arrays of a recipe (see `RecipeConfig` for the settings).

    The training data is recognised by `kerascl.recipe_data.resolve_source`: the shapes set, tfds (`cifar10`, or
    `--tfds NAME`), a labeled folder (`DIR/train/<class>/`), any other folder of images (unlabeled, read
    recursively) or a `.npy` array (unlabeled). The probes use `eval_dir` when it is set, else the source's own
    labels; without labels `RunData.missing_labels` says why they are skipped.

    Raises:
        FileNotFoundError: missing data (the message names `--data-dir` and the forms it takes), or a tfds set
            that is not prepared here.
        ValueError: unusable data: an array of the wrong shape or dtype, an `--eval-dir` without labels, ...
    """
    config = recipe.config
    source = check_data(config)
    print(f"Data: {source.describe()}.")
    probes_here = config.eval_dir is None
    if source.kind == "shapes":
        data = _load_shapes(recipe, augmenter)
    elif source.kind == "tfds":
        data = _load_tfds(recipe, augmenter, source, probes_here)
    elif source.kind == "array":
        data = _load_array(recipe, augmenter, source)
    elif source.kind == "folder":
        data = _load_unlabeled_folder(recipe, augmenter, source)
    else:
        data = _load_labeled_folder(recipe, augmenter, source, probes_here)
    if not probes_here:
        _load_eval_dir(recipe, augmenter, data)
    data.source = {
        "source": source.kind,
        "location": source.location,
        "train_images": data.num_train,
        "probe_data": (None if data.probe_train is None else config.eval_dir or source.location),
    }
    return data


def _load_shapes(recipe: Recipe, augmenter) -> RunData:
    from kerascl.data import DESCRIPTOR_FACTORS, STYLE_FACTORS, from_shapes, make_shapes

    config = recipe.config
    n_train = config.limit or config.shapes_train
    factors = {"style": STYLE_FACTORS, "descriptors": DESCRIPTOR_FACTORS,
               "style+descriptors": STYLE_FACTORS + DESCRIPTOR_FACTORS}[config.shapes_attributes]
    train = from_shapes(n_train, image_size=config.image_size, seed=config.seed, batch_size=config.batch_size,
                        views=True, augmenter=augmenter, shuffle_seed=config.seed, scale_range=config.shapes_scale,
                        attribute_factors=factors, descriptor_noise=config.shapes_descriptor_noise)
    data = train.shapes_data
    probe_train_limit, probe_test_limit = config.probe_limits()
    n_probe = min(n_train, probe_train_limit or n_train)
    n_test = config.probe_test_limit or min(config.shapes_test, probe_test_limit or config.shapes_test)
    test = make_shapes(n_test, image_size=config.image_size, seed=config.seed + 1, scale_range=config.shapes_scale)
    probe_train = (data.images[:n_probe], data.labels[:n_probe])
    probe_test = (test.images, test.labels)
    return RunData(train, n_train, probe_train, probe_test, _views_of(probe_test, augmenter, 256),
                   list(data.class_names))


def _load_labeled_folder(recipe: Recipe, augmenter, source: DataSource, probes_here: bool) -> RunData:
    from kerascl.data import from_image_folder

    config = recipe.config
    train_dir, test_dir = source.train_dir, source.test_dir
    skip = config.skip_corrupt
    train = from_image_folder(train_dir, image_size=config.image_size, batch_size=config.batch_size, views=True,
                              augmenter=augmenter, limit=config.limit, seed=config.seed, cache=True,
                              skip_corrupt=skip)
    n_train = int(train.num_examples)
    names = train.class_names
    if names is None:
        return RunData(train, n_train, None, None, None, None,
                       missing_labels=f"{train_dir!r} holds no class subfolders, so there are no labels; "
                                      f"{EVAL_DIR_HINT}")
    if not probes_here:
        return RunData(train, n_train, None, None, None, names)
    if test_dir is None:
        return RunData(train, n_train, None, None, None, names,
                       missing_labels=f"{config.data_dir!r} has no 'test' subfolder ({FOLDER_LAYOUT}); "
                                      f"{EVAL_DIR_HINT}")
    probe_train_limit, probe_test_limit = config.probe_limits()
    # The pretraining listing was validated already; with skip_corrupt the probe listing must be checked again to
    # leave the same files out.
    probe_train = _arrays(from_image_folder(train_dir, image_size=config.image_size, batch_size=256, views=False,
                                            limit=probe_train_limit, validate="full" if skip else "none",
                                            skip_corrupt=skip))
    probe_test = _arrays(from_image_folder(test_dir, image_size=config.image_size, batch_size=256, views=False,
                                           limit=probe_test_limit, class_names=names, skip_corrupt=skip))
    separability = _views_of(probe_test, augmenter, 256) if recipe.partitioned else None
    return RunData(train, n_train, probe_train, probe_test, separability, names)


def _load_unlabeled_folder(recipe: Recipe, augmenter, source: DataSource) -> RunData:
    from kerascl.data import from_image_folder

    config = recipe.config
    train = from_image_folder(source.location, labels=None, recursive=True, image_size=config.image_size,
                              batch_size=config.batch_size, views=True, augmenter=augmenter, limit=config.limit,
                              seed=config.seed, cache=True, skip_corrupt=config.skip_corrupt)
    return RunData(train, int(train.num_examples), None, None, None, None,
                   missing_labels=f"{source.location!r} has no labels (no train/<class>/ layout); {EVAL_DIR_HINT}")


def _load_array(recipe: Recipe, augmenter, source: DataSource) -> RunData:
    from kerascl.data import check_image_array, from_arrays

    config = recipe.config
    images = np.load(source.location, mmap_mode="r", allow_pickle=False)
    if config.limit is not None:
        images = images[: int(config.limit)]
    try:
        images = check_image_array(images)  # values too (the header was checked before): 0..255 floats, ...
    except (ValueError, TypeError) as error:
        raise ValueError(f"--data-dir {source.location!r}: {error}") from error
    train = from_arrays(images, None, image_size=config.image_size, batch_size=config.batch_size, views=True,
                        augmenter=augmenter, seed=config.seed)
    return RunData(train, int(train.num_examples), None, None, None, None,
                   missing_labels=f"{source.location!r} is an array without labels; {EVAL_DIR_HINT}")


def _load_eval_dir(recipe: Recipe, augmenter, data: RunData) -> None:
    """Fills `data`'s probe arrays from `config.eval_dir` (`kerascl.recipe_data.EVAL_LAYOUT`)."""
    from kerascl.data import from_image_folder
    from kerascl.recipe_data import EVAL_TEST_EVERY, check_eval_dir

    config = recipe.config
    train_dir, test_dir = check_eval_dir(config.eval_dir)
    probe_train_limit, probe_test_limit = config.probe_limits()
    common = dict(image_size=config.image_size, batch_size=256, views=False, labels="inferred",
                  skip_corrupt=config.skip_corrupt)
    if test_dir is not None:
        load_limit = probe_train_limit
    else:  # the first files of the listing are balanced over the classes: hold the test split out of them
        load_limit = probe_train_limit + probe_test_limit if probe_train_limit and probe_test_limit else None
    listing = from_image_folder(train_dir, limit=load_limit, **common)
    names = listing.class_names
    images, labels = _arrays(listing)
    if test_dir is not None:
        probe_train = (images, labels)
        probe_test = _arrays(from_image_folder(test_dir, limit=probe_test_limit, class_names=names, **common))
    else:
        test = hold_out_test(labels)
        if not test.any() or test.all():
            raise ValueError(
                f"--eval-dir {config.eval_dir!r} is too small to hold out a test split: with class folders alone, "
                f"every {EVAL_TEST_EVERY}th image of a class is a test image, so a class needs at least "
                f"{EVAL_TEST_EVERY} images. Add images, or lay them out as {EVAL_LAYOUT}."
            )
        probe_train = (images[~test][:probe_train_limit], labels[~test][:probe_train_limit])
        probe_test = (images[test][:probe_test_limit], labels[test][:probe_test_limit])
    data.probe_train, data.probe_test, data.class_names = probe_train, probe_test, list(names)
    data.missing_labels = None
    data.separability = _views_of(probe_test, augmenter, 256) if recipe.partitioned else None


def _load_tfds(recipe: Recipe, augmenter, source: DataSource, probes_here: bool) -> RunData:
    config = recipe.config
    name = source.location
    explicit = config.tfds is not None  # --tfds NAME; otherwise a cifar10 recipe without --data-dir
    split = (config.tfds_split or "train") if explicit else "train"
    from kerascl.data import DatasetUnavailableError, from_tfds

    where = dict(data_dir=config.tfds_data_dir, image_size=config.image_size)
    try:
        train = from_tfds(name, split, batch_size=config.batch_size, views=True, augmenter=augmenter,
                          limit=config.limit, seed=config.seed, **where)
        probe_train = probe_test = names = missing = None
        if probes_here:
            names, missing = _tfds_class_names(name, config.tfds_data_dir)
        if names is not None:
            probe_train_limit, probe_test_limit = config.probe_limits()
            try:
                probe_train = _arrays(from_tfds(name, "train", batch_size=256, views=False, limit=probe_train_limit,
                                                **where))
                probe_test = _arrays(from_tfds(name, "test", batch_size=256, views=False, limit=probe_test_limit,
                                               **where))
            except ValueError as error:  # no train or test split
                if not explicit:
                    raise
                probe_train = probe_test = None
                missing = f"tfds {name!r} has no labeled 'train' and 'test' splits ({str(error).splitlines()[0]})"
    except (DatasetUnavailableError, FileNotFoundError) as error:
        said = str(error).splitlines()[0]
        if not explicit:
            raise FileNotFoundError(
                f"Recipe {recipe.name!r} needs CIFAR-10 and tensorflow-datasets cannot provide it here (no network "
                f"and no prepared copy). Pass the images with --data-dir DIR, laid out as {FOLDER_LAYOUT}. "
                f"(tfds said: {said})"
            ) from error
        raise FileNotFoundError(
            f"--tfds {name!r}: tensorflow-datasets has no prepared copy of it here, and kerascl does not download. "
            f"Prepare it where there is network (tfds build {name}), copy the prepared folder here and pass it with "
            f"--set tfds_data_dir=DIR (or TFDS_DATA_DIR); or train on image files with --data-dir DIR. "
            f"(tfds said: {said})"
        ) from error
    except ValueError as error:
        if explicit:
            raise ValueError(f"--tfds {name!r}: {error}") from error
        raise
    n_train = int(getattr(train, "num_examples", 0) or 0)
    if n_train < 1:
        raise ValueError(f"tfds does not know how many images split {split!r} of {name!r} holds; pass --limit N "
                         "(the number of images to train on).")
    if names is None and probes_here and missing is None:
        missing = f"tfds {name!r} has no class labels"
    if missing:
        missing = f"{missing}; {EVAL_DIR_HINT}"
    separability = _views_of(probe_test, augmenter, 256) if recipe.partitioned and probe_test is not None else None
    return RunData(train, n_train, probe_train, probe_test, separability, names, missing_labels=missing)


def _tfds_class_names(name: str, data_dir: str | None) -> tuple[list[str] | None, str | None]:
    """The class names of a tfds set's `label` feature, or `(None, why not)`."""
    import tensorflow_datasets as tfds

    info = tfds.builder(name, data_dir=data_dir).info
    features = info.features
    label = features["label"] if "label" in features else None
    names = list(getattr(label, "names", None) or [])
    if not names:
        return None, f"tfds {name!r} has no 'label' feature with class names"
    splits = set(info.splits.keys())
    if splits and not {"train", "test"} <= splits:  # known splits (a prepared copy); unknown: try them
        return None, f"tfds {name!r} has no 'train' and 'test' splits (it has {', '.join(sorted(splits))})"
    return names, None


# ------------------------------------------------------------------------------------------------ optimisation
def schedule_steps(config: RecipeConfig, steps_per_epoch: int) -> tuple[int, int]:
    """`(total, warmup)` steps of the recipe's learning-rate schedule: the whole run, and its linear warm-up (a
    warm-up as long as the run, as in short test runs, is cut to a tenth of the run)."""
    total = max(1, config.epochs * steps_per_epoch)
    warmup = config.warmup_epochs * steps_per_epoch
    if warmup >= total:
        warmup = total // 10
    return total, warmup


def make_optimizer(config: RecipeConfig, steps_per_epoch: int):
    """The recipe's optimiser with a linear warm-up + cosine schedule over the whole run.

    The peak learning rate follows the linear scaling rule (`RecipeConfig.peak_learning_rate`). A warm-up as long
    as the run (short test runs) is cut to a tenth of the run.
    """
    import keras

    from kerascl.optimizers import LARS, L2SGD, PREDICTOR_PATTERNS, WarmupCosineDecay

    total, warmup = schedule_steps(config, steps_per_epoch)
    peak = config.peak_learning_rate()
    schedule = WarmupCosineDecay(peak=peak, total_steps=total, warmup_steps=warmup,
                                 end_value=min(config.end_learning_rate, peak))
    if config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(schedule, momentum=config.momentum, weight_decay=config.weight_decay or None)
    elif config.optimizer == "l2sgd":
        # The official `--fix-pred-lr`: the predictors keep the peak rate after the warm-up.
        fixed = PREDICTOR_PATTERNS if config.fixed_predictor_lr else None
        optimizer = L2SGD(schedule, momentum=config.momentum, weight_decay=config.weight_decay,
                          fixed_learning_rate_variables=fixed)
    elif config.optimizer == "lars":
        optimizer = LARS(schedule, momentum=config.momentum, weight_decay=config.weight_decay)
    elif config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
    else:
        optimizer = keras.optimizers.Adam(schedule)
    if config.max_train_minutes:
        # A time budget may shorten the plan while fit runs (TrainingTimeLimit): keep it in an optimizer variable.
        schedule.track_total_steps(optimizer)
        optimizer.kerascl_schedule = schedule
    return optimizer


def build_model(recipe: Recipe):
    """The backbone (from `config.backbone` and `config.width`) and the recipe's method around it."""
    from kerascl.backbones import get_backbone

    config = recipe.config
    backbone = get_backbone(config.backbone, width=config.width,
                            input_shape=(config.image_size, config.image_size, 3))
    return recipe.build(backbone, config, recipe.options)


# ------------------------------------------------------------------------------------------------------ running
def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _write_json(path: str, payload: dict) -> None:
    from kerascl.run_folder import write_json_atomic

    write_json_atomic(path, payload, default=_json_default)


def _device_summary() -> str:
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            return ", ".join(sorted({d.device_kind for d in jax.devices()}))
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_logical_devices("GPU")
            return ", ".join(d.name for d in gpus) if gpus else f"CPU ({os.cpu_count()} cores)"
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
            return f"CPU ({os.cpu_count()} cores)"
    except Exception as error:  # reporting only
        return f"unknown ({error})"
    return "unknown"


def enable_determinism() -> None:
    """Makes this process's TensorFlow ops and `tf.data` pipelines deterministic (it cannot be undone).

    Without it, the augmentations of a `tf.data` map running several batches in parallel draw their seeds in
    whatever order the threads reach the seed generator, so the views (and the history) change from run to run.
    `tf.data` runs on either Keras backend, so this applies on JAX too; XLA's CPU code is deterministic already.
    """
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


def run_recipe(recipe: Recipe, out_dir: str | os.PathLike | None = None, print_table: bool = True,
               devices: int = 1, force: bool = False, resume: bool = False) -> RunResult:
    """Pretrains a recipe's method, runs its probes and writes the run folder.

    The folder is locked while the run uses it (`run.lock`; a second run into it stops at once) and every result
    file is written atomically. What an existing folder leads to (`kerascl.run_folder.plan_run`): an interrupted
    run with the same settings continues (from the last finished epoch, or with the probes when training had
    finished); a finished run with the same settings is reused; other settings are refused with the differing
    keys listed unless `force` is given. A forced rerun over finished results runs in `out_dir/rerun` and
    replaces them only when it has finished, so a failed rerun leaves them as they were.

    Args:
        recipe: The recipe, overrides applied (`Recipe.with_overrides`).
        out_dir: The run folder (default `runs/<recipe name>`).
        print_table: Print the probe table at the end.
        devices: Train data-parallel on this many local devices (`kerascl.distribute.configure_devices`); the
            recipe's batch size stays the global batch.
        force: Start over: discard an interrupted run, or run a finished one again.
        resume: Only continue an interrupted run (or reuse a finished one with the same settings); never start
            a new one.

    Returns:
        A `RunResult` (run folder, metrics dict, trained model; `model` is None when finished results were
        reused).

    Raises:
        kerascl.run_folder.RunFolderError: the folder is in use, holds a run with other settings, or `resume`
            found nothing to continue (the message names the flag or folder that fixes it).

    Examples:
        >>> from kerascl.recipe import get_recipe
        >>> result = run_recipe(get_recipe("shapes-partitioned").with_overrides(epochs=1), "runs/quick")
        >>> probes = result.metrics["probes"]
        >>> probes.get("separability")
    """
    from kerascl import run_folder

    run_dir = os.fspath(out_dir or os.path.join("runs", recipe.name))
    with run_folder.RunLock(run_dir):  # before importing Keras, so a second run into the folder stops at once
        import keras

        settings = run_folder.run_settings(recipe.resolved(), keras.backend.backend())
        plan = run_folder.plan_run(run_dir, settings, force=force, resume=resume)
        for note in plan.notes:
            print(note)
        if plan.action == "reuse":
            return _reuse(recipe, plan, print_table)
        try:
            return _run(recipe, plan, print_table, devices)
        except BaseException as error:
            note = _stopped_note(plan, error)
            if note:
                print(note)
            raise


def _reuse(recipe: Recipe, plan, print_table: bool) -> RunResult:
    from kerascl.probes import format_table
    from kerascl.run_folder import METRICS_FILE, read_json

    metrics = read_json(os.path.join(plan.run_dir, METRICS_FILE)) or {}
    if print_table and metrics.get("probes") and "skipped" not in metrics["probes"]:
        print()
        print(format_table(metrics["probes"], title=f"{recipe.name}: probes (finished run) -> {plan.run_dir}"))
    return RunResult(run_dir=plan.run_dir, metrics=metrics, model=None)


def _stopped_note(plan, error: BaseException) -> str:
    """What a stopped run leaves for the next one ("" when nothing worth saying)."""
    from kerascl.run_folder import inspect_folder

    state = inspect_folder(plan.work_dir)
    kept = {"pretrained": "the finished training (backbone.keras and pretrained.weights.h5)",
            "training": "the last finished epoch (backup/)"}.get(state.stage or "", "")
    lines = []
    if state.progress and kept:
        lines.append(f"{plan.work_dir} keeps {kept}: run the same command again (or with --resume) to continue; "
                     "--force starts over.")
    if plan.staged:
        lines.append(f"The finished results in {plan.run_dir} are unchanged.")
    if not lines:
        return ""
    return " ".join(["Interrupted." if isinstance(error, KeyboardInterrupt) else "The run stopped."] + lines)


BUILD_IMAGES = 8


def _head_of_batch(batch, count: int = BUILD_IMAGES):
    """The first `count` examples of every array in a batch (enough to create a model's variables)."""
    import keras

    return keras.tree.map_structure(lambda x: x[:count] if getattr(x, "shape", None) else x, batch)


def _run(recipe: Recipe, plan, print_table: bool, devices: int) -> RunResult:
    """The run itself, in `plan.work_dir` (see `run_recipe`)."""
    import keras

    from kerascl import run_folder
    from kerascl.callbacks import default_callbacks
    from kerascl.probes import format_table

    config = recipe.config
    stages = StageLog()
    run_dir = plan.work_dir
    backup_dir = os.path.join(run_dir, run_folder.BACKUP_DIR)
    history_path = os.path.join(run_dir, run_folder.HISTORY_FILE)
    weights_path = os.path.join(run_dir, run_folder.PRETRAINED_WEIGHTS)
    trained = plan.action == "probes"  # training finished in an earlier session
    resuming = plan.action == "resume"
    _write_json(os.path.join(run_dir, "config.json"), {**recipe.resolved(), "backend": keras.backend.backend()})
    if plan.action == "fresh":
        run_folder.write_state(run_dir, "training")
    elif resuming:
        note = run_folder.align_history(history_path, run_folder.backup_epoch(run_dir))
        if note:
            print(note)

    start = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        enable_determinism()
    augmenter = make_augmenter(recipe)
    with stages("loading data"):
        data = load_data(recipe, augmenter)
    steps = int(data.num_train // config.batch_size)
    if steps < 1:
        raise ValueError(
            f"batch_size={config.batch_size} is larger than the {data.num_train} pretraining images; lower "
            "--batch-size or raise --limit."
        )
    from kerascl.distribute import configure_devices

    setup = configure_devices(devices)  # data-parallel over `devices` (global batch); one device: a no-op scope
    with setup.scope():
        model = build_model(recipe)
        model.compile(optimizer=make_optimizer(config, steps))
    # BackupAndRestore needs built weights (and a built optimizer) to restore into: run a few images of one batch
    # through the model in inference mode, which creates every variable without training anything (a whole batch
    # builds nothing more and, with 8 views of 256 images, costs seconds of CPU: benchmarks/step_times.py).
    model(_head_of_batch(next(iter(data.train))), training=False)
    model.optimizer.build(model.trainable_variables)

    if trained:
        model.load_weights(weights_path)
        training = dict(plan.state.get("training") or {})
        setup_seconds = time.perf_counter() - start
    else:
        monitor_train = monitor_test = None
        if data.probe_train is not None and config.knn_every > 0:
            n = min(config.monitor_samples, len(data.probe_train[0]))
            monitor_train = (data.probe_train[0][:n], data.probe_train[1][:n])
            m = max(1, min(config.monitor_samples // 2, len(data.probe_test[0])))
            monitor_test = (data.probe_test[0][:m], data.probe_test[1][:m])
        # With the kNN monitor on, the collapse check watches the first images of its memory bank and reads their
        # features from the monitor's pass (default_callbacks), so each epoch end runs the backbone once per set.
        collapse = data.probe_train[0][:512] if data.probe_train is not None else None
        if monitor_train is not None and len(monitor_train[0]) >= len(collapse):
            collapse = None
        callbacks = default_callbacks(
            run_dir,
            train_data=monitor_train,
            test_data=monitor_test,
            collapse_data=collapse,
            knn_every=max(1, config.knn_every),
            knn_k=min(config.knn_k, len(monitor_train[0])) if monitor_train else config.knn_k,
            knn_temperature=config.knn_temperature,
            resume=True,
        )
        for callback in callbacks:  # the backup goes only once the trained weights are on disk (below)
            if isinstance(callback, keras.callbacks.BackupAndRestore):
                callback.delete_checkpoint = False
        time_limit = None
        if config.max_train_minutes:
            from kerascl.callbacks import TrainingTimeLimit

            schedule = getattr(model.optimizer, "kerascl_schedule", None)
            time_limit = TrainingTimeLimit(config.max_train_minutes, schedule=schedule,
                                           steps_per_epoch=steps if schedule is not None else None)
            callbacks.insert(0, time_limit)
        start_epoch = run_folder.backup_epoch(run_dir)
        print_plan(recipe, model, data, steps, epochs_left=config.epochs - start_epoch)
        setup_seconds = time.perf_counter() - start
        fit_start = time.perf_counter()
        with stages("pretraining"):
            history = model.fit(data.train, epochs=config.epochs, callbacks=callbacks, verbose=config.verbose)
        pretrain_seconds = time.perf_counter() - fit_start
        data.monitor_features = _final_monitor_features(callbacks, model, history.epoch, monitor_train, monitor_test)
        epochs_now = len(history.epoch)
        # A time budget may end the run inside its last epoch: count the steps that ran.
        steps_now = time_limit.steps_run - start_epoch * steps if time_limit else epochs_now * steps
        images_seen = steps_now * config.batch_size
        final = {k: float(v[-1]) for k, v in history.history.items() if v} or _last_history_row(history_path)
        training = {
            "epochs_this_session": epochs_now,
            "steps_this_session": steps_now,
            "resumed_from_epoch": config.epochs - epochs_now if resuming else 0,
            "pretrain_seconds": round(pretrain_seconds, 3),
            "images_per_second": round(images_seen / pretrain_seconds, 2) if pretrain_seconds > 0 else None,
            "final": final,
            "stopped_by_time_limit": bool(time_limit and time_limit.stopped_early),
        }
        with run_folder.atomic_path(os.path.join(run_dir, "backbone.keras")) as tmp:
            model.evaluation_encoder().save(tmp)
        with run_folder.atomic_path(weights_path) as tmp:
            model.save_weights(tmp)
        run_folder.write_state(run_dir, "pretrained", training=training)
        shutil.rmtree(backup_dir, ignore_errors=True)
    files = {"config": "config.json", "history": "history.csv", "metrics": "metrics.json", "backbone": "backbone.keras"}

    probe_start = time.perf_counter()
    probes, floors = run_probes(recipe, model, data, stages)
    probe_seconds = time.perf_counter() - probe_start

    with stages("pictures"):
        files.update(_draw(recipe, model, data, run_dir, history_path))
    extras = recipe.extras(model, {"run_dir": run_dir, "data": data, "config": config}) if recipe.extras else {}
    files.update(extras.pop("files", {}) if isinstance(extras, dict) else {})

    metrics = {
        "recipe": recipe.name,
        "method": recipe.method,
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "device": _device_summary(),
        "python": platform.python_version(),
        "dataset": config.dataset,
        "data": data.source,
        "epochs": config.epochs,
        "epochs_this_session": 0 if trained else training["epochs_this_session"],
        "steps_this_session": 0 if trained else training.get("steps_this_session"),
        "resumed_from_epoch": config.epochs if trained else training["resumed_from_epoch"],
        "batch_size": config.batch_size,
        "steps_per_epoch": steps,
        "train_images": data.num_train,
        "probe_train_images": 0 if data.probe_train is None else len(data.probe_train[0]),
        "probe_test_images": 0 if data.probe_test is None else len(data.probe_test[0]),
        **({"robustness_test_images": config.smoke_cap(len(data.probe_test[0]))} if "robustness" in probes else {}),
        "final": training.get("final", {}),
        "train_seconds": training.get("pretrain_seconds"),
        "max_train_minutes": config.max_train_minutes,
        "stopped_by_time_limit": bool(training.get("stopped_by_time_limit", False)),
        "timing": {
            "setup_seconds": round(setup_seconds, 3),
            "pretrain_seconds": training.get("pretrain_seconds"),
            "probe_seconds": round(probe_seconds, 3),
            "total_seconds": round(time.perf_counter() - start, 3),
            "images_per_second": training.get("images_per_second"),
            "stages": dict(stages.seconds),
            "stages_cpu": dict(stages.cpu_seconds),
        },
        "probes": probes,
        **({"floors": floors} if floors is not None else {}),
        "extras": extras,
        "files": files,
    }
    _write_json(os.path.join(run_dir, "metrics.json"), metrics)
    run_folder.write_state(run_dir, "complete", training=training)
    for leftover in (weights_path, backup_dir):
        if os.path.isdir(leftover):
            shutil.rmtree(leftover, ignore_errors=True)
        elif os.path.exists(leftover):
            os.remove(leftover)
    run_folder.publish(plan)
    if print_table and "skipped" not in probes:  # skipped probes: their one-line note was printed already
        print()
        print(format_table(probes, floors=floors,
                           title=f"{recipe.name}: probes ({_epochs_text(metrics)}, batch {config.batch_size}, "
                                 f"{keras.backend.backend()}) -> {plan.run_dir}"))
    return RunResult(run_dir=plan.run_dir, metrics=metrics, model=model)


def _epochs_text(metrics: dict) -> str:
    """The epochs a run trained, for its probe table's title: "13 epochs", or "10.4 of 13 epochs (time budget)"
    when its budget ended it (inside an epoch, as `TrainingTimeLimit` plans in steps)."""
    if not metrics.get("stopped_by_time_limit") or not metrics.get("steps_per_epoch"):
        return f"{metrics['epochs']} epochs"
    done = metrics["resumed_from_epoch"] + (metrics.get("steps_this_session") or 0) / metrics["steps_per_epoch"]
    return f"{done:.1f} of {metrics['epochs']} epochs (time budget)"


def _final_monitor_features(callbacks, model, epochs_run: list[int], monitor_train, monitor_test) -> dict:
    """The kNN monitor's features of its two image sets (the first images of the probes' splits) at the end of
    training, when the last epoch ran it on the encoder the probes read; see `RunData.monitor_features`."""
    from kerascl.callbacks import KNNMonitor

    monitor = next((c for c in callbacks if isinstance(c, KNNMonitor)), None)
    if monitor is None or not epochs_run or monitor.encoder is not None:
        return {}
    if not _probes_read_the_monitored_encoder(model, monitor.backbone_attribute):
        return {}
    cached = {}
    for split, arrays in (("train", monitor_train), ("test", monitor_test)):
        entry = monitor.features.latest(arrays)
        if entry is not None and entry[0] == epochs_run[-1]:
            cached[split] = entry[1]
    return cached


def _probes_read_the_monitored_encoder(model, backbone_attribute: str = "backbone") -> bool:
    """Whether the probes encode with the model the kNN monitor probes (not so for decoupled uniformity's
    backbone + fc), so that the monitor's features can serve them."""
    return getattr(model, backbone_attribute, None) is model.evaluation_encoder()


def _probe_features(encoder, arrays: tuple[np.ndarray, np.ndarray], head: tuple | None, verbose: int) -> tuple:
    """`extract_features` of `arrays`, encoding only the images after `head`, the known `(features, labels)` of
    their first images."""
    from kerascl.probes import extract_features

    if head is None:
        return extract_features(encoder, arrays, verbose=verbose)
    head_x, head_y = head
    images, labels = arrays
    if len(head_x) >= len(images):
        return head_x[:len(images)], head_y[:len(images)]
    rest_x, rest_y = extract_features(encoder, (images[len(head_x):], labels[len(head_x):]), verbose=verbose)
    return np.concatenate([head_x, rest_x]), np.concatenate([head_y, rest_y])


def _last_history_row(history_path: str) -> dict:
    """The last epoch's values in `history.csv` (a resumed run whose backup already held every epoch)."""
    from kerascl import plots

    if not os.path.exists(history_path):
        return {}
    return {k: float(v[-1]) for k, v in plots.read_history(history_path).items() if v and k != "epoch"}


def probe_settings(config: RecipeConfig, num_probe_train: int) -> dict[str, Any]:
    """The settings of the kNN, linear and few-shot probes of a run; its floors use the same ones."""
    return {
        "knn": {"k": min(config.knn_k, num_probe_train), "temperature": config.knn_temperature},
        "linear": {"epochs": config.linear_epochs, "seed": config.seed},
        "few_shot": {"episodes": config.few_shot_episodes, "seed": config.seed},
        "few_shot_shots": tuple(int(k) for k in config.few_shot_shots),
    }


def run_probes(recipe: Recipe, model, data: RunData, stages: StageLog | None = None) -> tuple[dict, dict | None]:
    """Every probe of a run on the trained backbone, and the floors beside them.

    Args:
        recipe: The recipe (its `config` says which probes run and with which settings).
        model: The trained method (its `evaluation_encoder()` is probed: the backbone, or what the method's
            official evaluation reads).
        data: The run's data (`probe_train`, `probe_test`, `separability`).
        stages: Prints and times one line per stage (default: a new `StageLog`).

    Returns:
        `(probes, floors)`: `probes` as in `metrics.json` (`{"skipped": reason}` without labels); `floors` the dict
        of `kerascl.probes.floor_probes` (random init, raw pixels), or None when `config.floors` is off or there are
        no labels.
    """
    from kerascl.probes import color_sensitivity_probe, floor_probes, probes_on_features
    from kerascl.probes.color_sensitivity import MIN_IMAGES

    config = recipe.config
    stages = stages or StageLog()
    if data.probe_train is None:
        message = f"Skipping probes: {data.missing_labels}."
        print(message)
        return {"skipped": message}, None
    settings = probe_settings(config, len(data.probe_train[0]))
    encoder = model.evaluation_encoder()
    with stages("probe features (trained backbone)"):
        # The kNN monitor encoded the first images of both splits with the final weights: only the rest are new.
        train_x, train_y = _probe_features(encoder, data.probe_train, data.monitor_features.get("train"),
                                           config.verbose)
        test_x, test_y = _probe_features(encoder, data.probe_test, data.monitor_features.get("test"), config.verbose)
    data.probe_test_features = test_x
    probes: dict[str, Any] = probes_on_features(train_x, train_y, test_x, test_y, **settings, stage=stages)
    # Each distortion re-encodes the test images: a smoke run (`limit`) distorts at most `limit` of them.
    n_robust = config.smoke_cap(len(test_x))
    run_color = config.color_probe and n_robust >= MIN_IMAGES
    floors = None
    if config.floors:
        robustness_floor = ({"num_test": n_robust, "epochs": config.linear_epochs, "seed": config.seed}
                            if config.robustness else None)
        color_floor = {"num_test": n_robust, "seed": config.seed} if run_color else None
        floors = floor_probes(encoder, data.probe_train, data.probe_test, **settings, seed=config.seed,
                              verbose=config.verbose, stage=stages, robustness=robustness_floor, color=color_floor)
    if config.robustness:
        from kerascl.probes import robustness_probe

        test_images, test_labels = data.probe_test
        with stages("robustness probe"):
            probes["robustness"] = robustness_probe(encoder, data.probe_train,
                                                    (test_images[:n_robust], test_labels[:n_robust]),
                                                    epochs=config.linear_epochs, seed=config.seed,
                                                    verbose=config.verbose, train_features=(train_x, train_y),
                                                    clean_test_features=(test_x[:n_robust], test_y[:n_robust]))
    if config.color_probe and not run_color:
        message = (f"Skipping the colour-sensitivity probe: it needs at least {MIN_IMAGES} test images and the run "
                   f"has {n_robust}; raise --limit or --probe-limit.")
        print(message)
        probes["color"] = {"skipped": message}
    elif run_color:
        with stages("colour-sensitivity probe"):
            probes["color"] = color_sensitivity_probe(encoder, data.probe_test[0][:n_robust], seed=config.seed,
                                                      verbose=config.verbose, original_features=test_x[:n_robust])
    if recipe.partitioned and config.separability and data.separability is not None:
        from kerascl.probes import separability_probe_from_encoder

        with stages("separability probe"):
            probes["separability"] = separability_probe_from_encoder(
                _representation(model), data.separability, split=model.split_features, verbose=config.verbose,
                seed=config.seed,
            )
    return probes, floors


def _num_views(dataset) -> int:
    spec = getattr(dataset, "element_spec", None)
    if isinstance(spec, dict):
        return max(1, sum(1 for key in spec if str(key).startswith("view_")))
    return 2


def has_momentum_target(model) -> bool:
    """Whether a built method trains momentum target copies (its `EMATarget` component tracks any)."""
    ema = getattr(model, "ema", None)
    return ema is not None and bool(ema.pairs)


def print_plan(recipe: Recipe, model, data: RunData, steps: int, epochs_left: int) -> None:
    """Prints what the run will do and roughly how long each backbone stage takes (see `kerascl.run_stages`).

    Args:
        recipe: The recipe.
        model: The built method (its backbone is timed on one inference batch).
        data: The run's data.
        steps: Pretraining steps per epoch.
        epochs_left: Epochs still to train (fewer when resuming).
    """
    from kerascl.run_stages import measure_inference_speed, plan_lines, pretraining_estimate

    config = recipe.config
    images = data.probe_train[0] if data.probe_train is not None else None
    speed = measure_inference_speed(model.backbone, images) if images is not None else 0.0

    def estimate(count: float) -> float | None:
        return count / speed if speed > 0 else None

    views = _num_views(data.train)
    trained_images = epochs_left * steps * config.batch_size
    pretraining, budget_note = pretraining_estimate(trained_images * views, speed, has_momentum_target(model),
                                                    config.max_train_minutes)
    what = (f"{epochs_left} epoch(s) x {steps} step(s) of {config.batch_size} images x {views} views on "
            f"{data.num_train} images{budget_note}")
    plan = [("pretraining", what, pretraining)]
    if data.probe_train is not None:
        n_train, n_test = len(data.probe_train[0]), len(data.probe_test[0])
        reused = 0
        if config.knn_every > 0:
            evaluations = -(-epochs_left // max(1, config.knn_every))
            monitored = min(config.monitor_samples, n_train) + max(1, min(config.monitor_samples // 2, n_test))
            plan.append(("kNN monitor", f"{evaluations} evaluation(s) on {monitored} images",
                         estimate(evaluations * monitored)))
            if epochs_left > 0 and _probes_read_the_monitored_encoder(model):
                reused = monitored  # the last evaluation's features serve the probes (_final_monitor_features)
        note = f" ({reused} of them from the kNN monitor's last evaluation)" if reused else ""
        plan.append(("probe features", f"{n_train} train + {n_test} test images{note}",
                     estimate(n_train + n_test - reused)))
        plan.append(("kNN / linear / few-shot", f"k={min(config.knn_k, n_train)}, {config.linear_epochs} linear "
                     f"epochs, {len(config.few_shot_shots)} x {config.few_shot_episodes} episodes, on cached features",
                     None))
        if config.floors:
            plan.append(("floors", f"the same probes on a random-init backbone ({n_train + n_test} images) and "
                                   "on raw pixels", estimate(n_train + n_test)))
        if config.robustness:
            n_robust = config.smoke_cap(n_test)
            plan.append(("robustness probe", f"4 distortions x {n_robust} test images",
                         estimate(4 * n_robust)))
            if config.floors:
                plan.append(("robustness floors", "the same on a random-init backbone and on raw pixels",
                             estimate(4 * n_robust)))
        if config.color_probe:
            n_color = config.smoke_cap(n_test)
            # The jittered copies only (the originals' features are the probes'), on the trained and the random-init
            # backbone; raw pixels cost no encoding.
            encoders = 2 if config.floors else 1
            plan.append(("colour-sensitivity probe", f"{n_color} jittered test images, R^2 of the jitter"
                         + (" (and its two floors)" if config.floors else ""), estimate(encoders * n_color)))
        if recipe.partitioned and config.separability:
            plan.append(("separability probe", f"{n_test} test views", estimate(n_test)))
    else:
        plan.append(("probes", f"skipped: {data.missing_labels}", None))
    if config.embedding_plot != "none" and data.probe_test is not None:
        plan.append(("pictures", f"curves and the 2-D embedding ({config.embedding_plot}) of "
                                 f"{config.smoke_cap(min(config.embedding_samples, len(data.probe_test[0])))} "
                                 "test images", None))
    speed_note = f"{speed:.0f} images/s backbone inference measured here" if speed > 0 else "no timing"
    print(f"Plan of {recipe.name} ({speed_note}; estimates are rough):")
    for line in plan_lines(plan):
        print(line)


def _representation(model):
    """The features at the partition's split point as a callable: the backbone through its compiled inference
    function (an eager call of a full-width ResNet is about twice as slow), then what follows it."""
    backbone = model.backbone
    return lambda images: model.representation_of_features(backbone.predict_on_batch(images), training=False)


def _draw(recipe: Recipe, model, data: RunData, run_dir: str, history_path: str) -> dict:
    import keras

    from kerascl import plots
    from kerascl.probes import extract_features
    from kerascl.run_folder import atomic_path

    config = recipe.config
    files = {}
    if os.path.exists(history_path):
        history = plots.read_history(history_path)
        if "loss" in history:
            with atomic_path(os.path.join(run_dir, "curves.png")) as tmp:
                plots.plot_history(history, tmp, title=recipe.name)
            files["curves"] = "curves.png"
    if config.embedding_plot == "none" or data.probe_test is None:
        return files
    n = config.smoke_cap(min(config.embedding_samples, len(data.probe_test[0])))
    images, labels = data.probe_test[0][:n], data.probe_test[1][:n]
    if data.probe_test_features is not None and len(data.probe_test_features) >= n:
        features = data.probe_test_features[:n]  # computed by the probes from the same backbone and images
    else:
        features, _ = extract_features(model.evaluation_encoder(), (images, labels), verbose=0)
    with atomic_path(os.path.join(run_dir, "embedding.png")) as tmp:
        plots.plot_embedding(features, labels, tmp, method=config.embedding_plot, class_names=data.class_names,
                             title=f"{recipe.name}: backbone features", seed=config.seed)
    files["embedding"] = "embedding.png"
    if recipe.partitioned and hasattr(model, "embed_parts"):
        # The parts follow from the features at hand (no second backbone pass) when they are the backbone's own.
        from_features = model.evaluation_encoder() is model.backbone
        contents, styles = [], []
        for begin in range(0, n, 256):
            if from_features:
                representation = model.representation_of_features(features[begin:begin + 256], training=False)
                content, style = model.split_features(representation)
            else:
                parts = model.embed_parts(images[begin:begin + 256], training=False)
                content, style = parts["content"], parts["style"]
            contents.append(keras.ops.convert_to_numpy(content))
            styles.append(keras.ops.convert_to_numpy(style))
        with atomic_path(os.path.join(run_dir, "content_style.png")) as tmp:
            plots.plot_content_style(np.concatenate(contents), np.concatenate(styles), labels, tmp,
                                     method=config.embedding_plot, class_names=data.class_names, seed=config.seed)
        files["content_style"] = "content_style.png"
    return files


# ------------------------------------------------------------------------------------------------ probe command
def probe_backbone(
    backbone_path: str | os.PathLike,
    data_dir: str | os.PathLike,
    image_size: int | None = None,
    limit: int | None = 10_000,
    test_limit: int | None = None,
    robustness: bool = True,
    linear_epochs: int = 50,
    knn_k: int = 200,
    knn_temperature: float = 0.1,
    few_shot_episodes: int = 600,
    out: str | os.PathLike | None = None,
    verbose: int = 1,
    skip_corrupt: bool = False,
    floors: bool = True,
    seed: int = 0,
    color: bool = False,
) -> dict:
    """Every probe on an exported backbone over a labelled image folder; prints the table.

    Args:
        backbone_path: a `.keras` file written by a recipe run (`backbone.keras`) or any saved image -> features
            model.
        data_dir: `DIR/train/<class>/*` (probe training split) and `DIR/test/<class>/*` (test split).
        image_size: image side (default: the backbone's input size, else 32).
        limit: training images used. test_limit: test images used (None: all).
        robustness: also run the robustness probe.
        linear_epochs: linear probe epochs. knn_k, knn_temperature: kNN settings.
        few_shot_episodes: episodes per few-shot setting.
        out: optional JSON file for the results (`probes`, and `floors` beside them).
        verbose: 1 shows progress bars.
        skip_corrupt: leave corrupt image files out (logged, counted) instead of raising.
        floors: also run the same kNN, linear and few-shot probes on a random-init copy of the backbone and on raw
            pixels (`kerascl.probes.floor_probes`), shown beside each accuracy.
        seed: seed of the random-init floor, the linear probe, the few-shot episodes and the colour jitter.
        color: also run the colour-sensitivity probe on the test images (`kerascl.probes.color_sensitivity_probe`).

    Returns:
        `{"knn", "linear", "few_shot", ["robustness"], ["color"], ["floors"]}`: the probes as in `metrics.json`'s
        `probes`, and with `floors` their floors (as in `metrics.json`'s `floors`).

    Raises:
        FileNotFoundError: missing backbone file or data folder (with the expected layout).
        ValueError: the file is not a Keras archive, or `data_dir/train` has no class subfolders (the probes need
            labels).
    """
    import keras

    from kerascl.data import from_image_folder, list_image_files
    from kerascl.probes import color_sensitivity_probe, floor_probes, format_table, robustness_probe, run_all_probes
    from kerascl.probes.color_sensitivity import MIN_IMAGES

    from kerascl.input_checks import check_keras_archive

    backbone_path = os.fspath(backbone_path)
    train_dir, test_dir = _folder_dirs(RecipeConfig(dataset="folder", data_dir=os.fspath(data_dir)))
    if test_dir is None:
        raise FileNotFoundError(f"{os.fspath(data_dir)!r} has no 'test' subfolder. Expected layout: {FOLDER_LAYOUT}.")
    check_keras_archive(backbone_path)
    if list_image_files(train_dir)[2] is None:  # before loading the model: the probes need labels
        raise ValueError(
            f"{train_dir!r} holds no class subfolders, so there are no labels and no probe can run. Lay the images "
            f"out as {FOLDER_LAYOUT} (one subfolder per class in train/ and test/)."
        )
    backbone = keras.models.load_model(backbone_path, compile=False)
    if image_size is None:
        shape = getattr(backbone, "input_shape", None)
        image_size = shape[1] if shape and len(shape) == 4 and shape[1] else 32
    train_ds = from_image_folder(train_dir, image_size=image_size, batch_size=256, views=False, limit=limit,
                                 skip_corrupt=skip_corrupt)
    train = _arrays(train_ds)
    test = _arrays(from_image_folder(test_dir, image_size=image_size, batch_size=256, views=False, limit=test_limit,
                                     class_names=train_ds.class_names, skip_corrupt=skip_corrupt))
    if color and len(test[0]) < MIN_IMAGES:  # before any probe runs, so no result is computed and then lost
        raise ValueError(f"The colour-sensitivity probe needs at least {MIN_IMAGES} test images; {test_dir!r} gave "
                         f"{len(test[0])}. Raise --test-limit, add test images, or drop --color.")
    settings = {"knn": {"k": min(knn_k, len(train[0])), "temperature": knn_temperature},
                "linear": {"epochs": linear_epochs, "seed": seed},
                "few_shot": {"episodes": few_shot_episodes, "seed": seed}}
    stages = StageLog()
    results = run_all_probes(backbone, train, test, **settings, verbose=verbose, stage=stages)
    floor_results = (floor_probes(backbone, train, test, **settings, seed=seed, verbose=verbose, stage=stages,
                                  robustness={"epochs": linear_epochs, "seed": seed} if robustness else None,
                                  color={"seed": seed} if color else None)
                     if floors else None)
    if robustness:
        with stages("robustness probe"):
            results["robustness"] = robustness_probe(backbone, train, test, epochs=linear_epochs, seed=seed,
                                                     verbose=verbose)
    if color:
        with stages("colour-sensitivity probe"):
            results["color"] = color_sensitivity_probe(backbone, test[0], seed=seed, verbose=verbose)
    print()
    print(format_table(results, floors=floor_results,
                       title=f"probes of {backbone_path} on {os.fspath(data_dir)} "
                             f"({len(train[0])} train / {len(test[0])} test images)"))
    if out:
        payload = {"backbone": backbone_path, "data_dir": os.fspath(data_dir), "probes": results}
        if floor_results is not None:
            payload["floors"] = floor_results
        _write_json(os.fspath(out), payload)
    if floor_results is not None:
        results = {**results, "floors": floor_results}
    return results
