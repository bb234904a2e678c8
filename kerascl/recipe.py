"""Recipes: a method's whole training line with its numbers pinned, and the registry that finds them.

A recipe is a `Recipe`: a name, a one-line description, the source of its hyperparameters, a `RecipeConfig` (data,
backbone, optimiser, schedule, probes: the settings every recipe shares), an `options` dict (the method's own
keyword arguments) and a `build(backbone, config, options)` function returning the method (a `keras.Model`).
Each recipe lives in its own file of the repository's `recipes/` folder (installed as `kerascl.recipes`), which
defines a module-level `RECIPE`.

The command line only finds a recipe (`get_recipe`), applies overrides (`Recipe.with_overrides`, from
`--set KEY=VALUE` strings typed by the field they replace) and runs it (`kerascl.recipe_runner.run_recipe`).

This module imports neither Keras nor TensorFlow, so listing recipes is fast and the Keras backend can still be
chosen afterwards.

Examples:
    >>> from kerascl.recipe import get_recipe
    >>> recipe = get_recipe("shapes-partitioned")
    >>> recipe = recipe.with_overrides(epochs=1, sets=["width=0.125", "partition.size=0.25"])
    >>> partition = recipe.options["partition"]
    >>> recipe.config.epochs, partition.get("size")
    (1, 0.25)
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.util
import json
import math
import os
import pkgutil
import sys
import types
import typing
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

#: Data sets a recipe can name in `RecipeConfig.dataset`.
DATASETS = ("cifar10", "shapes", "folder")
#: Values of `RecipeConfig.shapes_attributes`: which of the shapes set's factors an attribute prior sees.
SHAPES_ATTRIBUTES = ("style", "descriptors", "style+descriptors")
#: Probe test images of a run with `limit` set and no `probe_test_limit` (more when `limit` is larger): enough for
#: a kNN accuracy with a standard error of about 1.5 points, so a smoke run's probes take seconds, not minutes.
SMOKE_PROBE_TEST_IMAGES = 1000
#: Optimisers a recipe can name in `RecipeConfig.optimizer`.
OPTIMIZERS = ("sgd", "l2sgd", "lars", "adam", "adamw")
#: The presets of `kerascl.augment.get_preset`, named here so that a `--set augmenter=...` typo is caught before
#: Keras is imported (tests/test_bad_inputs.py checks the list against `kerascl.augment.list_presets()`).
AUGMENTER_PRESETS = (
    "barlow_twins", "byol", "ddcl_baug", "ddcl_caug", "ddcl_caug_plus", "decoupled_uniformity",
    "hierarchical_stage_1", "hierarchical_stage_2", "hierarchical_stage_3", "hierarchical_stage_4", "iccl",
    "simclr", "simsiam",
)


@dataclasses.dataclass
class RecipeConfig:
    """The settings every recipe shares. Every field can be overridden with `--set FIELD=VALUE`.

    Attributes:
        dataset: `"cifar10"` (an image folder given with `--data-dir`, laid out `train/<class>/*` and
            `test/<class>/*`, or tfds's `cifar10` when prepared locally), `"shapes"` (the synthetic shapes set of
            `kerascl.data.shapes`, generated offline) or `"folder"` (any image folder with the same layout).
            `data_dir` or `tfds`, when given, replace the data set of a cifar10 / folder recipe (see
            `kerascl.recipe_data`).
        data_dir: The training data (`--data-dir`): a labeled folder (`DIR/train/<class>/*`, optionally
            `DIR/test/<class>/*`), any other folder of images (read unlabeled, nested folders included) or a `.npy`
            array file `(N, H, W, 3)`.
        tfds: A TensorFlow Datasets name to train on (`--tfds NAME`, e.g. `imagenette/160px`), read from a
            prepared copy; its `train` and `test` splits feed the probes when it has labels.
        tfds_split: The split of `tfds` to pretrain on (None: `train`; e.g. `unlabelled` for `stl10`).
        tfds_data_dir: Where the prepared tfds copy lives (None: `TFDS_DATA_DIR` or tfds's default).
        eval_dir: Labeled images for the probes (`--eval-dir`): `DIR/train/<class>/*` and `DIR/test/<class>/*`,
            or `DIR/<class>/*` alone (every 5th image of each class is then the test split). It replaces the
            probe data of the training source, so unlabeled training data can still be probed.
        skip_corrupt: Leave corrupt or unreadable image files of `data_dir` out (logged and counted) instead of
            stopping with an error naming them (`--skip-corrupt` or `--set skip_corrupt=true`).
        image_size: Side of the square images fed to the backbone.
        limit: Pretraining images to use (the first `limit` files of the balanced listing; for shapes the number of
            images generated). None uses all (shapes: `shapes_train`).
        shapes_train: Shapes images generated for pretraining and the probes' training split.
        shapes_test: Shapes images generated (another seed) for the probes' test split.
        shapes_scale: `(low, high)` range of the shapes' scale (radius or half side as a fraction of the image
            side, `0 < low <= high < 0.5`; `--set shapes_scale=0.25,0.4`); None keeps `make_shapes`'s default
            `(0.15, 0.3)`.
        shapes_attributes: The weak attributes the shapes set hands to an attribute prior: `"style"` (its style
            factors, which say nothing about the class), `"descriptors"` (its four binary shape descriptors, which
            describe the class as CUB-200's attributes describe a bird) or `"style+descriptors"`.
        shapes_descriptor_noise: Probability in [0, 0.5] that each shape descriptor of each image is flipped,
            so descriptors are noisy hints of the class, not its label (0.1: about a third of the images carry at
            least one wrong descriptor).
        augmenter: Preset name of `kerascl.augment.get_preset` making the views (a recipe may replace it with its
            own view maker, see `Recipe.augmenter`).
        crop_scale: `(low, high)` area range of the random resized crop in every view, replacing the preset's
            (`0 < low <= high <= 1`; `--set crop_scale=0.2,1.0`); None keeps the preset's.
        backbone: Name for `kerascl.backbones.get_backbone` (`resnet18` is the CIFAR-stem ResNet-18), or
            `keras_hub:PRESET` for a KerasHub preset (a local folder or a preset name; with `width=1`).
        width: Backbone width multiplier (1.0 = the standard ResNet-18, 512-d output).
        epochs: Pretraining epochs.
        batch_size: Global batch size of pretraining.
        optimizer: `"sgd"` (Keras's SGD, decoupled weight decay), `"l2sgd"` (`kerascl.optimizers.L2SGD`:
            `torch.optim.SGD`'s update, weight decay added to the gradient before the momentum), `"lars"`,
            `"adam"` or `"adamw"`.
        learning_rate: Base learning rate at `lr_reference_batch`; the peak rate is
            `learning_rate * batch_size / lr_reference_batch` (linear scaling rule; 0 disables scaling).
        lr_reference_batch: Batch size the base learning rate refers to.
        momentum: SGD / LARS momentum.
        weight_decay: Weight decay (LARS and L2SGD: in the gradient, LARS excluding biases and norms; SGD /
            AdamW: Keras's decoupled form, about 10x weaker per step than the coupled form at momentum 0.9).
        fixed_predictor_lr: Keep the predictors' learning rate at the peak rate (after the warm-up) while the rest
            follows the cosine decay, as the official SimSiam, DDCL and hierarchical code (`--fix-pred-lr`);
            needs `optimizer="l2sgd"` (`--set optimizer=l2sgd --set fixed_predictor_lr=true`, torch's SGD update
            as those codes use). Off unless a recipe turns it on (`cifar10-simsiam-1h` does).
        warmup_epochs: Linear warm-up epochs before the cosine decay (shortened to a tenth of the run when it
            would be as long as the run).
        end_learning_rate: Learning rate at the end of the cosine decay.
        seed: Seed of Keras, NumPy, the data order and the augmentations.
        max_train_minutes: Optional wall-clock budget of pretraining in minutes: the schedules are re-planned to
            end with it (`TrainingTimeLimit`, in steps) and training stops there even if epochs remain
            (`metrics.json` then says `stopped_by_time_limit: true`). None: no limit.
        deterministic: Make TensorFlow's ops and the `tf.data` pipeline deterministic
            (`tf.config.experimental.enable_op_determinism`), so a run with the same seed on the same machine and
            backend gives the same history. Off by default: the augmentation map then runs one batch at a time
            (see "Seeds and replayable runs" on the Recipes page).
        knn_every: Epochs between kNN-monitor evaluations during training (0 disables the monitor).
        monitor_samples: Labelled images in the kNN monitor's memory bank (half as many are classified).
        knn_k: k of the kNN probe and monitor.
        knn_temperature: Temperature of the weighted kNN vote.
        probe_train_limit: Training images for the offline probes (None: as many as the pretraining set); with
            `limit` set, at most `limit`.
        probe_test_limit: Test images for the offline probes (`--probe-limit`). None: all, or with `limit` set
            `max(SMOKE_PROBE_TEST_IMAGES, limit)` (1,000 for a smoke run), so `--limit` bounds the whole run.
        linear_epochs: Epochs of the offline linear probe (on cached features).
        few_shot_shots: The K of each 5-way K-shot setting.
        few_shot_episodes: Episodes per few-shot setting.
        floors: Run the floors beside the probes: the same kNN, linear and few-shot probes on a randomly initialised
            copy of the backbone and on raw pixels (`kerascl.probes.floor_probes`; `metrics.json`'s `floors`).
        robustness: Run the robustness probe (DDCL's table: linear accuracy under jitter, flip, rotation, elastic),
            on the probes' test images (the first `limit` of them when `limit` is set).
        color_probe: Run the colour-sensitivity probe (`kerascl.probes.color_sensitivity_probe`: held-out R^2 of a
            random colour jitter's four parameters read from the change it makes to each test image's features), on
            the same test images as the robustness probe, beside its floors.
        separability: Run the content / style separability probe (partitioned models).
        embedding_plot: `"auto"` (t-SNE when scikit-learn is installed, else PCA), `"pca"`, `"tsne"` or `"none"`.
        embedding_samples: Test images drawn in the 2-D embedding pictures (at most `limit` when it is set).
        verbose: Keras verbosity (1: progress bars).
    """

    dataset: str = "cifar10"
    data_dir: str | None = None
    tfds: str | None = None
    tfds_split: str | None = None
    tfds_data_dir: str | None = None
    eval_dir: str | None = None
    skip_corrupt: bool = False
    image_size: int = 32
    limit: int | None = None
    shapes_train: int = 10_000
    shapes_test: int = 2_000
    shapes_scale: tuple[float, float] | None = None
    shapes_attributes: str = "style"
    shapes_descriptor_noise: float = 0.1
    augmenter: str = "simclr"
    crop_scale: tuple[float, float] | None = None
    backbone: str = "resnet18"
    width: float = 1.0
    epochs: int = 200
    batch_size: int = 256
    optimizer: str = "sgd"
    learning_rate: float = 0.06
    lr_reference_batch: int = 256
    momentum: float = 0.9
    weight_decay: float = 5e-4
    fixed_predictor_lr: bool = False
    warmup_epochs: int = 0
    end_learning_rate: float = 0.0
    seed: int = 0
    max_train_minutes: float | None = None
    deterministic: bool = False
    knn_every: int = 1
    monitor_samples: int = 1000
    knn_k: int = 200
    knn_temperature: float = 0.1
    probe_train_limit: int | None = 10_000
    probe_test_limit: int | None = None
    linear_epochs: int = 50
    few_shot_shots: tuple[int, ...] = (1, 5)
    few_shot_episodes: int = 600
    floors: bool = True
    robustness: bool = False
    color_probe: bool = False
    separability: bool = False
    embedding_plot: str = "auto"
    embedding_samples: int = 1000
    verbose: int = 1

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raises `ValueError` naming the field when a setting is out of range."""
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset={self.dataset!r} is not known; choose one of {', '.join(DATASETS)}.")
        if self.data_dir is not None and self.tfds is not None:
            raise ValueError(f"Pass either --data-dir ({self.data_dir!r}) or --tfds ({self.tfds!r}), not both.")
        if self.dataset == "shapes" and (self.data_dir or self.tfds or self.eval_dir):
            given = "--data-dir" if self.data_dir else "--tfds" if self.tfds else "--eval-dir"
            raise ValueError(
                f"dataset='shapes' generates its own images, so {given} does not apply to this recipe. Train on "
                "your own images with a recipe that reads them, e.g. kerascl recipe cifar10-byol --data-dir DIR "
                "(kerascl recipes lists them)."
            )
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={self.optimizer!r} is not known; choose one of {', '.join(OPTIMIZERS)}.")
        if self.fixed_predictor_lr and self.optimizer != "l2sgd":
            raise ValueError(
                f"fixed_predictor_lr=true needs optimizer='l2sgd' (torch's SGD update, as the official codes that fix "
                f"the predictor's rate use); got optimizer={self.optimizer!r}. Add --set optimizer=l2sgd, or turn the "
                "fixed rate off with --set fixed_predictor_lr=false (in Python: fixed_predictor_lr=False)."
            )
        if self.augmenter not in AUGMENTER_PRESETS:
            raise ValueError(
                f"augmenter={self.augmenter!r} is not a preset.{_suggest(str(self.augmenter), AUGMENTER_PRESETS)} "
                f"Presets: {', '.join(AUGMENTER_PRESETS)}."
            )
        from kerascl.input_checks import keras_hub_preset

        if keras_hub_preset(self.backbone) is not None and float(self.width) != 1.0:
            raise ValueError(
                f"width={self.width} scales kerascl's own ResNets, but backbone={self.backbone!r} is a KerasHub "
                "preset, which fixes its architecture. Add --set width=1."
            )
        for name in ("image_size", "epochs", "batch_size", "shapes_train", "shapes_test", "few_shot_episodes",
                     "knn_k", "embedding_samples"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer; got {getattr(self, name)!r}.")
        for name in ("limit", "probe_train_limit", "probe_test_limit"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be a positive integer or None; got {value!r}.")
        if self.shapes_scale is not None:
            scale = tuple(self.shapes_scale)
            if len(scale) != 2 or not 0.0 < scale[0] <= scale[1] < 0.5:
                raise ValueError(f"shapes_scale must be (low, high) with 0 < low <= high < 0.5; got {scale!r}.")
        if self.crop_scale is not None:
            scale = tuple(self.crop_scale)
            if len(scale) != 2 or not 0.0 < scale[0] <= scale[1] <= 1.0:
                raise ValueError(f"crop_scale must be (low, high) with 0 < low <= high <= 1 (the fraction of the "
                                 f"image area a crop keeps, e.g. --set crop_scale=0.2,1.0); got {scale!r}.")
        if self.shapes_attributes not in SHAPES_ATTRIBUTES:
            raise ValueError(f"shapes_attributes={self.shapes_attributes!r} is not known; choose one of "
                             f"{', '.join(SHAPES_ATTRIBUTES)} (e.g. --set shapes_attributes=descriptors).")
        # Floats: NaN and infinity compare False with every bound, so finiteness is checked first.
        for name, low, high, low_open, high_open, rule in _FLOAT_RANGES:
            value = getattr(self, name)
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a number; got {value!r}.") from None
            below = number <= low if low_open else number < low
            above = high is not None and (number >= high if high_open else number > high)
            if not math.isfinite(number) or below or above:
                default = _FIELD_DEFAULTS[name]
                raise ValueError(f"{name} must be a finite number {rule}; got {value!r}. "
                                 f"Set it with --set {name}=VALUE (e.g. {name}={default}).")
        if self.warmup_epochs < 0 or self.knn_every < 0 or self.linear_epochs < 0:
            raise ValueError("warmup_epochs, knn_every and linear_epochs must be >= 0.")
        if self.max_train_minutes is not None and not 0 < float(self.max_train_minutes) < float("inf"):
            raise ValueError(f"max_train_minutes must be a positive number of minutes or None; "
                             f"got {self.max_train_minutes!r}.")
        if self.embedding_plot not in ("auto", "pca", "tsne", "none"):
            raise ValueError(f"embedding_plot must be 'auto', 'pca', 'tsne' or 'none'; got {self.embedding_plot!r}.")
        if not self.few_shot_shots or any(int(k) < 1 for k in self.few_shot_shots):
            raise ValueError(f"few_shot_shots must list positive integers; got {self.few_shot_shots!r}.")

    def probe_limits(self) -> tuple[int | None, int | None]:
        """The most training and test images the offline probes use (None: all there are).

        `limit` bounds the whole run: the probes' training split is at most `limit` images, and without an
        explicit `probe_test_limit` the test split is `max(SMOKE_PROBE_TEST_IMAGES, limit)` images.

        Returns:
            `(probe train images, probe test images)`, each an int or None.
        """
        train, test = self.probe_train_limit, self.probe_test_limit
        if self.limit is not None:
            train = min(train or self.limit, self.limit)
            if test is None:
                test = max(SMOKE_PROBE_TEST_IMAGES, int(self.limit))
        return train, test

    def smoke_cap(self, count: int) -> int:
        """`count` images, at most `limit` when it is set: the robustness and colour probes' test images and the
        2-D embedding pictures' samples, so a smoke run's stages that re-encode or embed images stay small."""
        return count if self.limit is None else min(count, int(self.limit))

    def peak_learning_rate(self) -> float:
        """The peak learning rate after the linear scaling rule."""
        if not self.lr_reference_batch:
            return float(self.learning_rate)
        return float(self.learning_rate) * self.batch_size / self.lr_reference_batch


#: (field, low, high or None, low excluded, high excluded, the rule in words) of the floats `validate` checks.
_FLOAT_RANGES: tuple[tuple[str, float, float | None, bool, bool, str], ...] = (
    ("width", 0.0, None, True, False, "> 0"),
    ("learning_rate", 0.0, None, True, False, "> 0"),
    ("end_learning_rate", 0.0, None, False, False, ">= 0"),
    ("weight_decay", 0.0, None, False, False, ">= 0"),
    ("momentum", 0.0, 1.0, False, True, "in [0, 1)"),
    ("knn_temperature", 0.0, None, True, False, "> 0"),
    ("shapes_descriptor_noise", 0.0, 0.5, False, False, "in [0, 0.5]"),
)
_FIELD_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RecipeConfig)}

BuildFn = Callable[[Any, RecipeConfig, dict], Any]


@dataclasses.dataclass
class Recipe:
    """A named, pinned training line: data, views, backbone, method, optimiser, probes.

    Attributes:
        name: The recipe name used on the command line (e.g. `cifar10-byol`).
        description: One line, shown by `kerascl recipes`.
        method: The method's name (e.g. `BYOL`), for tables.
        source: Where the hyperparameters come from (paper, official code or peer recipe), cited.
        config: The shared settings.
        options: The method's keyword arguments (nested dicts allowed, e.g. `partition`).
        build: `build(backbone, config, options) -> keras.Model`, the method to pretrain.
        reported: The figure the source reports, with the budget it needs (text for the docs table).
        augmenter: Optional `augmenter(config, options) -> callable` replacing the preset named in
            `config.augmenter` (e.g. the hierarchical method's four view pairs).
        partitioned: The model has content and style parts (`embed_parts`), so the separability probe and the
            content / style picture apply.
        extras: Optional `extras(model, run) -> dict` run after the probes (e.g. the VAE's swap grid); its dict is
            merged into `metrics.json` under `extras`.
        option_types: Types of options whose `--set` value is not read from the default's type, e.g.
            `{"fc_dim": int | None}` so that `--set fc_dim=null` gives None where the default is an integer.
    """

    name: str
    description: str
    method: str
    source: str
    config: RecipeConfig
    build: BuildFn
    options: dict = dataclasses.field(default_factory=dict)
    reported: str = "not found"
    augmenter: Callable[[RecipeConfig, dict], Any] | None = None
    partitioned: bool = False
    extras: Callable[[Any, Any], dict] | None = None
    option_types: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.strip() or " " in self.name:
            raise ValueError(f"A recipe name must be one word without spaces; got {self.name!r}.")
        if not callable(self.build):
            raise TypeError(f"Recipe {self.name!r}: build must be callable.")

    def with_overrides(self, sets: Sequence[str] = (), **fields: Any) -> "Recipe":
        """A copy with `--set KEY=VALUE` strings and typed keyword overrides applied (None values are skipped).

        Args:
            sets: `KEY=VALUE` strings; `KEY` is a `RecipeConfig` field or a key of `options` (dotted for nested
                dicts, e.g. `partition.size`); `VALUE` is parsed to the type of the value it replaces.
            **fields: `RecipeConfig` fields given as Python values (the CLI's typed options: `epochs`, `limit`, ...).

        Returns:
            A new `Recipe`; this one is unchanged.

        Raises:
            ValueError: unknown key (with close matches) or a value that does not parse as the field's type.
        """
        config = dataclasses.replace(self.config)
        options = json.loads(json.dumps(self.options)) if _jsonable(self.options) else _deep_copy(self.options)
        config_fields = {f.name for f in dataclasses.fields(RecipeConfig)}
        for key, value in fields.items():
            if value is None:
                continue
            if key not in config_fields:
                raise ValueError(f"Unknown recipe setting {key!r}.{_suggest(key, config_fields)}")
            setattr(config, key, value)
        for item in sets:
            key, raw = parse_set(item)
            if key == "augmenter" and self.augmenter is not None:
                raise ValueError(self._own_augmenter_message(raw, options))
            if key in config_fields:
                setattr(config, key, parse_value(raw, _config_type(key), getattr(config, key), key))
            else:
                _set_option(options, key, raw, known=sorted(config_fields) + _option_keys(options),
                            annotation=self.option_types.get(key))
        config.validate()
        return dataclasses.replace(self, config=config, options=options)

    def _own_augmenter_message(self, raw: str, options: Mapping) -> str:
        view_keys = [k for k in _option_keys(options) if k.startswith("views.")]
        how = (f"Change its views with --set {view_keys[0]}=... (its view settings: {', '.join(view_keys)})."
               if view_keys else "Its views are fixed; pick a recipe that uses a preset to compare augmentations.")
        return (
            f"Recipe {self.name!r} makes its views with its own augmenter, so --set augmenter={raw} would be "
            f"ignored. {how}"
        )

    def resolved(self) -> dict:
        """The resolved settings as a JSON-ready dict (what `config.json` holds)."""
        return {
            "recipe": self.name,
            "method": self.method,
            "description": self.description,
            "source": self.source,
            "config": _to_json(dataclasses.asdict(self.config)),
            "options": _to_json(self.options),
        }


# ----------------------------------------------------------------------------------------------------- overrides
def parse_set(item: str) -> tuple[str, str]:
    """Splits `KEY=VALUE` (the value may itself contain `=`).

    Raises:
        ValueError: no `=` or an empty key.
    """
    if not isinstance(item, str) or "=" not in item:
        raise ValueError(f"--set expects KEY=VALUE, e.g. --set epochs=5 or --set partition.size=0.25; got {item!r}.")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ValueError(f"--set {item!r} has an empty key.")
    return key, raw.strip()


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_NONE = {"none", "null", ""}


def parse_value(raw: str, annotation: Any = None, current: Any = None, key: str = "value") -> Any:
    """Parses the string `raw` to the type given by `annotation` (or, without one, by the `current` value).

    Booleans read `true/false/yes/no/on/off/1/0`; `none`/`null` gives None where the field allows it (a recipe
    option without a type that holds a string or None, e.g. `prior=none`, does); tuples and lists are
    comma-separated; a field holding None or a dict without a type reads the value as JSON when it parses, else
    keeps the string.

    Args:
        raw: The text after `=`.
        annotation: A type or typing annotation (`int`, `float | None`, `tuple[int, ...]`, ...).
        current: The value being replaced (its type is used when `annotation` is None).
        key: The field name, for error messages.

    Returns:
        The parsed value.

    Raises:
        ValueError: the text does not parse as the type, naming the key and the type.
    """
    if annotation is None:
        annotation = _type_of_value(current)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        allows_none = type(None) in args
        if allows_none and raw.lower() in _NONE:
            return None
        errors = []
        for arg in [a for a in args if a is not type(None)]:
            try:
                return parse_value(raw, arg, current, key)
            except ValueError as error:
                errors.append(str(error))
        raise ValueError(errors[0] if errors else f"{key}: cannot parse {raw!r}.")
    if origin in (tuple, list) or annotation in (tuple, list):
        element = args[0] if args else None
        parts = [p.strip() for p in raw.strip("()[]").split(",") if p.strip()]
        if element is None and current:
            element = type(next(iter(current)))
        values = [parse_value(p, element, None, key) for p in parts]
        return tuple(values) if (origin or annotation) is tuple else values
    if annotation is bool:
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"{key} is a boolean; write true or false, not {raw!r}.")
    if annotation is int:
        try:
            return int(raw)
        except ValueError:
            try:
                as_float = float(raw)
            except ValueError:
                as_float = None
            if as_float is not None and as_float.is_integer():
                return int(as_float)
            raise ValueError(f"{key} is an integer; got {raw!r}.") from None
    if annotation is float:
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{key} is a number; got {raw!r}.") from None
    if annotation is str:
        return raw
    # Unknown type (the current value is None or a dict): JSON when it parses, else the plain string.
    if raw.lower() in _NONE:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _type_of_value(value: Any) -> Any:
    if isinstance(value, bool):
        return bool
    if isinstance(value, int):
        return int
    if isinstance(value, float):
        return float | int
    if isinstance(value, str):
        # A method option holding a string usually also takes None (`prior`, `style_objective`, ...).
        return str | None
    if isinstance(value, tuple):
        return tuple
    if isinstance(value, list):
        return list
    return None


def _config_type(name: str) -> Any:
    return typing.get_type_hints(RecipeConfig)[name]


def _option_keys(options: Mapping, prefix: str = "") -> list[str]:
    keys = []
    for key, value in options.items():
        keys.append(prefix + key)
        if isinstance(value, Mapping):
            keys.extend(_option_keys(value, prefix + key + "."))
    return keys


def _set_option(options: dict, key: str, raw: str, known: Sequence[str], annotation: Any = None) -> None:
    parts = key.split(".")
    node = options
    for depth, part in enumerate(parts[:-1]):
        if not isinstance(node.get(part), dict):
            raise ValueError(f"Unknown recipe setting {key!r}.{_suggest(key, known)}")
        node = node[part]
    last = parts[-1]
    if last not in node:
        raise ValueError(
            f"Unknown recipe setting {key!r}.{_suggest(key, known)} Settings of this recipe: {', '.join(known)}."
        )
    value = parse_value(raw, annotation, node[last], key)
    # A method's own numbers (temperatures, loss weights, momenta, ...) are never meant to be NaN or infinite, and
    # the methods' range checks (`temperature <= 0`, ...) let NaN through: refuse them here, where the user typed them.
    numbers = value if isinstance(value, (list, tuple)) else [value]
    if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
        raise ValueError(f"{key} must be a finite number; got {raw!r}. Set it with --set {key}=VALUE "
                         f"(this recipe's value: {node[last]!r}).")
    node[last] = value


def _suggest(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _to_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


# ------------------------------------------------------------------------------------------------------ registry
#: The package recipes are installed as (the repository's `recipes/` folder, see pyproject.toml).
RECIPES_PACKAGE = "kerascl.recipes"


def checkout_recipes_dir() -> Path:
    """The `recipes/` folder of a source checkout: next to the `kerascl` package folder."""
    return Path(__file__).resolve().parent.parent / "recipes"


def _recipes_from_module(module: types.ModuleType) -> list[Recipe]:
    found = []
    recipe = getattr(module, "RECIPE", None)
    if recipe is not None:
        found.append(recipe)
    found.extend(getattr(module, "RECIPES", ()))
    for item in found:
        if not isinstance(item, Recipe):
            raise TypeError(f"{module.__name__}: RECIPE / RECIPES must hold kerascl.recipe.Recipe objects.")
    return found


def _load_package(package_name: str) -> list[Recipe] | None:
    """Recipes of an importable package (every module's `RECIPE`), or None when the package is missing."""
    try:
        package = importlib.import_module(package_name)
    except ModuleNotFoundError as error:
        if error.name and package_name.startswith(error.name):
            return None
        raise
    paths = getattr(package, "__path__", None)
    if not paths:
        return None
    recipes: list[Recipe] = []
    for info in sorted(pkgutil.iter_modules(paths), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        recipes.extend(_recipes_from_module(importlib.import_module(f"{package_name}.{info.name}")))
    return recipes


def _load_directory(directory: str | os.PathLike) -> list[Recipe] | None:
    """Recipes of the `*.py` files of a folder, imported by path, or None when the folder is missing."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    recipes: list[Recipe] = []
    for file in sorted(directory.glob("*.py")):
        if file.name.startswith("_"):
            continue
        module_name = f"_kerascl_recipes_{abs(hash(str(directory)))}.{file.stem}"
        if module_name in sys.modules:
            module = sys.modules[module_name]
        else:
            spec = importlib.util.spec_from_file_location(module_name, file)
            if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has a loader
                continue
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[module_name]
                raise
        recipes.extend(_recipes_from_module(module))
    return recipes


_REGISTERED: dict[str, Recipe] = {}
_CACHE: dict[str, Recipe] | None = None


def register_recipe(recipe: Recipe, overwrite: bool = False) -> None:
    """Adds a recipe defined in user code to the registry (so `get_recipe` and the CLI find it).

    Raises:
        ValueError: the name is taken and `overwrite` is False.
    """
    if not isinstance(recipe, Recipe):
        raise TypeError(f"register_recipe expects a kerascl.recipe.Recipe, got {type(recipe).__name__}.")
    if not overwrite and recipe.name in all_recipes():
        raise ValueError(f"A recipe named {recipe.name!r} exists; pass overwrite=True to replace it.")
    _REGISTERED[recipe.name] = recipe


def discover_recipes(
    package: str | None = RECIPES_PACKAGE,
    directory: str | os.PathLike | None = None,
) -> dict[str, Recipe]:
    """Finds the shipped recipes: the installed package first, then the checkout's `recipes/` folder by path.

    After a (non-editable) `pip install`, the repository's `recipes/` folder is the package `kerascl.recipes`; in a
    source checkout where that package is not importable, the files of `<checkout>/recipes/` are imported by path.

    Args:
        package: Package to read first (None skips it).
        directory: Folder to read when the package is missing (default `checkout_recipes_dir()`).

    Returns:
        `{name: Recipe}` sorted by name.

    Raises:
        FileNotFoundError: neither the package nor the folder exists.
        ValueError: two recipes share a name.
    """
    recipes = _load_package(package) if package else None
    if recipes is None:
        recipes = _load_directory(directory if directory is not None else checkout_recipes_dir())
    if recipes is None:
        raise FileNotFoundError(
            f"No recipes found: the package {package!r} is not installed and the folder "
            f"{os.fspath(directory or checkout_recipes_dir())!r} does not exist. Reinstall kerascl "
            "(pip install kerascl) or run from a source checkout."
        )
    table: dict[str, Recipe] = {}
    for recipe in recipes:
        if recipe.name in table:
            raise ValueError(f"Two recipes are named {recipe.name!r}.")
        table[recipe.name] = recipe
    return dict(sorted(table.items()))


def all_recipes() -> dict[str, Recipe]:
    """Every known recipe (shipped and registered), `{name: Recipe}` sorted by name."""
    global _CACHE
    if _CACHE is None:
        _CACHE = discover_recipes()
    return dict(sorted({**_CACHE, **_REGISTERED}.items()))


def list_recipes() -> list[str]:
    """The names of every known recipe, sorted."""
    return list(all_recipes())


class UnknownRecipeError(ValueError):
    """A recipe name that is not in the registry; the message lists close matches."""


def suggest_recipes(name: str, names: Sequence[str] | None = None, n: int = 3) -> list[str]:
    """Close matches of `name` among the recipe names (difflib, then substring matches)."""
    names = list(names if names is not None else list_recipes())
    close = difflib.get_close_matches(name, names, n=n, cutoff=0.5)
    for candidate in names:
        if len(close) >= n:
            break
        if name and name in candidate and candidate not in close:
            close.append(candidate)
    return close


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`.

    Raises:
        UnknownRecipeError: no such recipe; the message suggests close names and says how to list them.
    """
    recipes = all_recipes()
    if name in recipes:
        return recipes[name]
    close = suggest_recipes(name, list(recipes))
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownRecipeError(f"Unknown recipe {name!r}.{hint} Run `kerascl recipes` to list them all.")
