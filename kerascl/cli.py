"""The `kerascl` command line (click).

Commands: `info`, `recipes`, `recipe NAME`, `probe BACKBONE.keras`, `compare NAME NAME ...`, `export SOURCE`. Keras (and with it
TensorFlow, JAX or torch) is imported only inside the commands that need it, after `--backend` has set
`KERAS_BACKEND`, so `kerascl --help` and `kerascl recipes` are fast.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the CLI output

import click  # noqa: E402

from kerascl import __version__  # noqa: E402

BACKENDS = ("tensorflow", "jax", "torch")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kerascl")
def main() -> None:
    """kerascl: self-supervised contrastive learning for Keras 3 (TensorFlow and JAX backends; torch experimental)."""


@main.command()
def info() -> None:
    """Print the Keras backend, the devices it sees and the library versions."""
    import keras

    import kerascl

    lines = [
        ("kerascl", kerascl.__version__),
        ("python", platform.python_version()),
        ("keras", keras.__version__),
        ("backend", keras.backend.backend()),
        ("KERAS_BACKEND", os.environ.get("KERAS_BACKEND", "(unset: keras config or tensorflow)")),
    ]
    for module in ("tensorflow", "jax", "torch", "tensorflow_datasets", "numpy"):
        lines.append((module, _version_of(module)))
    lines.append(("devices", ", ".join(_devices(keras.backend.backend()))))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        click.echo(f"{key:<{width}}  {value}")


def _version_of(module: str) -> str:
    if module in sys.modules or _importable(module):
        try:
            return getattr(__import__(module), "__version__", "installed")
        except Exception as error:  # a broken install is worth reporting, not crashing on
            return f"import failed: {error}"
    return "not installed"


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _devices(backend: str) -> list[str]:
    if backend == "jax":
        import jax

        return [f"{d.platform}:{d.id}" for d in jax.devices()]
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_logical_devices()]
    if backend == "torch":
        import torch

        return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return ["(unknown for this backend)"]


# ------------------------------------------------------------------------------------------------- backend choice
def _use_backend(backend: str | None) -> None:
    """Makes Keras use `backend`: sets `KERAS_BACKEND` before Keras is imported; if this process already imported
    Keras with another backend, runs the same command again in a fresh process with the variable set."""
    if backend is None:
        return
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = backend
        return
    import keras

    if keras.backend.backend() == backend:
        return
    env = dict(os.environ, KERAS_BACKEND=backend)
    completed = subprocess.run([sys.executable, "-m", "kerascl.cli", *sys.argv[1:]], env=env)
    raise SystemExit(completed.returncode)


def _fail(error: BaseException) -> None:
    raise click.ClickException(str(error)) from error


# ------------------------------------------------------------------------------------------------------ recipes
@main.command("recipes")
def recipes_command() -> None:
    """List the recipes, with one line each."""
    from kerascl.recipe import all_recipes

    table = all_recipes()
    width = max(len(name) for name in table)
    for name, recipe in table.items():
        click.echo(f"{name:<{width}}  {recipe.description}")


_RUN_OPTIONS = [
    click.option("--data-dir", type=click.Path(), default=None,
                 help="Your training data: DIR/train/<class>/* (+ DIR/test/<class>/*) is read with labels; any other "
                      "folder as unlabeled images, nested folders included; a .npy file as an unlabeled "
                      "(N, H, W, 3) array. Without labels the probes are skipped unless --eval-dir is given."),
    click.option("--tfds", default=None, metavar="NAME",
                 help="Train on a prepared TensorFlow Datasets set instead (e.g. imagenette/160px; --set "
                      "tfds_split=..., tfds_data_dir=...); its train/test splits feed the probes when labeled."),
    click.option("--eval-dir", type=click.Path(file_okay=False), default=None,
                 help="Labeled images for the probes: DIR/train/<class>/* and DIR/test/<class>/*, or DIR/<class>/* "
                      "(every 5th image of each class held out for testing)."),
    click.option("--epochs", type=click.IntRange(min=1), default=None, show_default="the recipe's",
                 help="Pretraining epochs."),
    click.option("--batch-size", type=click.IntRange(min=1), default=None, show_default="the recipe's",
                 help="Global batch size (the learning rate follows the recipe's linear scaling rule)."),
    click.option("--backend", type=click.Choice(BACKENDS), default=None,
                 help="Keras backend (default: KERAS_BACKEND or Keras's config)."),
    click.option("--limit", type=click.IntRange(min=1), default=None, show_default="all images",
                 help="Use only this many pretraining images (balanced over classes); it bounds the probes too: at "
                      "most N probe training images and max(1000, N) test images unless --probe-limit says otherwise."),
    click.option("--probe-limit", type=click.IntRange(min=1), default=None,
                 help="Test images of the probes and their floors (default: all, or max(1000, N) with --limit N)."),
    click.option("--seed", type=int, default=None, show_default="the recipe's",
                 help="Seed of weights, data order and augmentations; with it the run is replayable "
                      "(--deterministic is on unless --no-deterministic)."),
    click.option("--skip-corrupt", is_flag=True, default=None,
                 help="Leave corrupt or unreadable image files of --data-dir out (logged and counted) instead of "
                      "stopping with an error that names them."),
    click.option("--deterministic/--no-deterministic", default=None, show_default="on with --seed",
                 help="Replayable runs: the same --seed gives the same history on the same machine and backend "
                      "(TensorFlow op determinism; the data pipeline's random map runs serially, which cost 5 %, "
                      "within noise, on a 2-core machine and costs more with more cores: docs/recipes.md)."),
    click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                 help="Override any recipe setting, typed by the field, e.g. --set width=0.5 --set partition.size=0.25 "
                      "(repeatable)."),
]


def _run_options(function):
    for option in reversed(_RUN_OPTIONS):
        function = option(function)
    return function


_FOLDER_OPTIONS = [
    click.option("--force", is_flag=True, default=False,
                 help="Start over: discard an interrupted run in the run folder, or run a finished one again (its "
                      "results stay until the new run has finished)."),
    click.option("--resume", is_flag=True, default=False,
                 help="Only continue an interrupted run in the run folder (its settings must match); never start a "
                      "new one."),
]


def _folder_options(function):
    for option in reversed(_FOLDER_OPTIONS):
        function = option(function)
    return function


def _folder_flags(force: bool, resume: bool) -> None:
    if force and resume:
        raise click.UsageError("Pass either --force (start over) or --resume (continue), not both.")


def _configured(name: str, data_dir, epochs, batch_size, limit, seed, sets, skip_corrupt=None, deterministic=None,
                probe_limit=None, tfds=None, eval_dir=None):
    from kerascl.recipe import get_recipe

    if seed is not None and deterministic is None:  # a seed given on the command line asks for a replayable run
        deterministic = True
    try:
        recipe = get_recipe(name)
        return recipe.with_overrides(sets=sets, data_dir=data_dir, epochs=epochs, batch_size=batch_size,
                                     limit=limit, seed=seed, skip_corrupt=skip_corrupt or None,
                                     deterministic=deterministic, probe_test_limit=probe_limit, tfds=tfds,
                                     eval_dir=eval_dir)
    except ValueError as error:
        _fail(error)


@main.command("recipe")
@click.argument("name")
@_run_options
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run folder (default runs/NAME). An interrupted run in it with the same settings continues; a "
                   "finished one is reused; other settings are refused (see --force).")
@_folder_options
@click.option("--devices", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train data-parallel on N local devices (GPUs, or TPU cores); --batch-size stays global.")
@click.option("--virtual-cpus", type=click.IntRange(min=1), default=None,
              help="Split the host CPU into N virtual devices first, so that --devices N runs on a CPU-only host "
                   "(to try data-parallel training; it is not faster).")
def recipe_command(name, data_dir, tfds, eval_dir, epochs, batch_size, backend, limit, probe_limit, seed, skip_corrupt,
                   deterministic, sets, out, force, resume, devices, virtual_cpus) -> None:
    """Run recipe NAME: pretrain, probe, and write the run folder (config, history, metrics, backbone, plots).

    It prints its plan first (each stage, the images it touches, a rough time estimate), then one line per stage.
    Every probe accuracy stands beside its floors: the same probe on a random-init backbone and on raw pixels.
    Your own unlabeled images train the same way (--data-dir photos/ or images.npy); the probes then need
    --eval-dir, and are otherwise skipped with a one-line note.
    """
    recipe = _configured(name, data_dir, epochs, batch_size, limit, seed, sets, skip_corrupt, deterministic,
                         probe_limit, tfds, eval_dir)
    from kerascl.recipe_data import check_data

    try:
        check_data(recipe.config)  # before Keras loads: a wrong path or array fails at once
    except (FileNotFoundError, ValueError) as error:
        _fail(error)
    _folder_flags(force, resume)
    _use_backend(backend)
    if virtual_cpus:
        from kerascl.distribute import set_virtual_cpu_devices

        try:
            set_virtual_cpu_devices(virtual_cpus)
        except (RuntimeError, NotImplementedError) as error:
            _fail(error)
    from kerascl.callbacks import NonFiniteLossError
    from kerascl.recipe_runner import run_recipe

    try:
        result = run_recipe(recipe, out, devices=devices, force=force, resume=resume)
    except (FileNotFoundError, ValueError, NotImplementedError, NonFiniteLossError) as error:
        _fail(error)
    click.echo(f"\nRun folder: {result.run_dir}")


@main.command("probe")
@click.argument("backbone", type=click.Path(exists=True, dir_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False), required=True,
              help="Labelled image folder: DIR/train/<class>/* (probe training split) and DIR/test/<class>/*.")
@click.option("--image-size", type=click.IntRange(min=8), default=None,
              help="Image side (default: the backbone's input size, else 32).")
@click.option("--limit", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Training images for the probes.")
@click.option("--test-limit", type=click.IntRange(min=1), default=None, show_default="all", help="Test images.")
@click.option("--robustness/--no-robustness", default=True, show_default=True,
              help="Also run the robustness probe (linear accuracy under distortions).")
@click.option("--color/--no-color", default=False, show_default=True,
              help="Also run the colour-sensitivity probe (R^2 of a random colour jitter read from the change it "
                   "makes to each test image's features).")
@click.option("--linear-epochs", type=click.IntRange(min=1), default=50, show_default=True,
              help="Training epochs of the linear classifiers (linear and robustness probes).")
@click.option("--skip-corrupt", is_flag=True, default=False,
              help="Leave corrupt or unreadable image files out (logged and counted) instead of stopping.")
@click.option("--floors/--no-floors", default=True, show_default=True,
              help="Also run the same probes on a random-init copy of the backbone and on raw pixels (the floors).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the random-init floor, the linear probe, the few-shot episodes and the colour jitter.")
@click.option("--backend", type=click.Choice(BACKENDS), default=None, help="Keras backend.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write the results to this JSON file.")
def probe_command(backbone, data_dir, image_size, limit, test_limit, robustness, color, linear_epochs, skip_corrupt,
                  floors, seed, backend, out) -> None:
    """Run every probe (kNN, linear, few-shot, robustness; colour sensitivity with --color) on an exported BACKBONE
    (.keras) and print the table, each accuracy beside its floors (the same probe on a random-init copy of the
    backbone and on raw pixels).

    The probes need labels: a --data-dir without class subfolders in DIR/train is an error (exit 1).
    """
    _use_backend(backend)
    from kerascl.recipe_runner import probe_backbone

    try:
        probe_backbone(backbone, data_dir, image_size=image_size, limit=limit, test_limit=test_limit,
                       robustness=robustness, linear_epochs=linear_epochs, out=out, skip_corrupt=skip_corrupt,
                       floors=floors, seed=seed, color=color)
    except (FileNotFoundError, ValueError) as error:
        _fail(error)


@main.command("compare")
@click.argument("names", nargs=-1)
@_run_options
@click.option("--claim", "claims", multiple=True, metavar="CLAIM",
              help="Test a seed paper's claim instead of naming recipes: its candidate and baselines at the CPU "
                   "budget, every seed, paired differences and a verdict (repeatable; 'all' for every claim; "
                   "`kerascl compare --list-claims` lists them).")
@click.option("--seeds", type=click.IntRange(min=1), default=2, show_default=True,
              help="With --claim: how many seeds (from --seed, default 1); 2 or more give a standard error.")
@click.option("--list-claims", is_flag=True, default=False, help="List the claims and their runs, then exit.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for the runs and the table and plot (default runs/compare, or runs/reproductions with "
                   "--claim); finished runs in it with the same settings are reused.")
@_folder_options
def compare_command(names, data_dir, tfds, eval_dir, epochs, batch_size, backend, limit, probe_limit, seed,
                    skip_corrupt, deterministic, sets, claims, seeds, list_claims, out, force, resume) -> None:
    """Run recipes NAMES at one budget and write a markdown table and a plot of their probes.

    A name may carry its own overrides after '@' (repeatable), e.g. the prior ablation of decoupled uniformity:
    `kerascl compare shapes-decoupled-uniformity shapes-decoupled-uniformity@prior=none`. A run that fails does
    not stop the others: the table marks it failed with its error, and the command then exits 1.

    With --claim CLAIM (instead of NAMES) it tests a seed paper's claim: `kerascl compare --claim partitioned-byol
    --data-dir DIR` runs the candidate and its baselines at every seed and writes reproductions.md (reported
    claim, both sides, the random-init floor, the paired difference +- SE, a verdict) and reproductions.png.
    """
    from kerascl.claims import CLAIMS, get_claims

    if list_claims:
        for claim in CLAIMS.values():
            prior = f" with the prior from {claim.prior_from}" if claim.prior_from else ""
            click.echo(f"{claim.name}: {claim.candidate}{prior} vs {', '.join(claim.baselines)} "
                       f"({', '.join(claim.metrics)})")
        return
    _folder_flags(force, resume)
    if claims:
        if names:
            raise click.UsageError("Pass recipe NAMES or --claim, not both: a claim names its own runs.")
        try:
            chosen = get_claims(list(claims))
        except ValueError as error:
            raise click.UsageError(str(error)) from error
        first = 1 if seed is None else seed
        overrides = {"data_dir": data_dir, "tfds": tfds, "eval_dir": eval_dir, "batch_size": batch_size,
                     "limit": limit, "probe_test_limit": probe_limit, "skip_corrupt": skip_corrupt or None,
                     "deterministic": deterministic}
        from kerascl.recipe_comparison import check_claims

        try:  # every run's settings, before Keras loads: a bad --set stops here
            check_claims(chosen, sets=list(sets), epochs=epochs, overrides=overrides)
        except ValueError as error:
            _fail(error)
        _use_backend(backend)
        from kerascl.recipe_comparison import reproduce_claims

        out = out or os.path.join("runs", "reproductions")
        result = reproduce_claims(chosen, out, seeds=list(range(first, first + seeds)), sets=list(sets),
                                  epochs=epochs, overrides=overrides, force=force, resume=resume)
        if result["failures"]:
            raise click.ClickException(
                f"{len(result['failures'])} runs failed ({', '.join(result['failures'])}); the table in "
                f"{os.path.join(out, 'reproductions.md')} shows the others and each error."
            )
        return
    if len(names) < 2:
        raise click.UsageError("compare needs at least two recipe names (or --claim CLAIM).")
    out = out or os.path.join("runs", "compare")
    runs = []
    for entry in names:
        name, *extra_sets = entry.split("@")
        runs.append((entry, _configured(name, data_dir, epochs, batch_size, limit, seed, list(sets) + extra_sets,
                                        skip_corrupt, deterministic, probe_limit, tfds, eval_dir)))
    _use_backend(backend)
    from kerascl.callbacks import NonFiniteLossError
    from kerascl.recipe_comparison import compare_recipes

    try:
        result = compare_recipes(runs, out, force=force, resume=resume)
    except (FileNotFoundError, ValueError, NonFiniteLossError) as error:
        _fail(error)
    if result["failures"]:
        failed = ", ".join(result["failures"])
        raise click.ClickException(
            f"{len(result['failures'])} of {len(runs)} runs failed ({failed}); the table in "
            f"{os.path.join(out, 'comparison.md')} shows the others and each error."
        )


# ------------------------------------------------------------------------------------------------------- export
from kerascl.export import FORMATS as _EXPORT_FORMATS  # noqa: E402  (the module imports Keras only when it exports)


@main.command("export")
@click.argument("source", type=click.Path(exists=True))
@click.option("--format", "export_format", type=click.Choice(_EXPORT_FORMATS), default="keras", show_default=True,
              help="keras: a .keras file; saved_model: a TensorFlow SavedModel folder; onnx: an .onnx file (ONNX "
                   "Runtime); litert: a .tflite file (LiteRT / TFLite); keras_hub: a KerasHub preset folder (KerasHub "
                   "backbones only).")
@click.option("--out", type=click.Path(), default=None,
              help="Output path (default: RUN/export/backbone.<ext> for a run folder, else beside SOURCE).")
@click.option("--image-size", type=click.IntRange(min=8), default=None,
              help="Image side for a backbone that takes any size (LiteRT and the check need one; default 32).")
@click.option("--backend", type=click.Choice(BACKENDS), default="tensorflow", show_default=True,
              help="Keras backend that exports (a .keras file does not depend on the backend that trained it; JAX "
                   "cannot export litert).")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Load the artifact and compare its features with the source model's on a random batch.")
@click.option("--overwrite", is_flag=True, default=False, help="Replace an existing output.")
def export_command(source, export_format, out, image_size, backend, check, overwrite) -> None:
    """Export the encoder of SOURCE (a run folder, a .keras file or a KerasHub preset folder) for deployment.

    The exported model maps float32 images in [0, 1], (B, H, W, 3), to the encoder's features (B, C). With --check
    (the default) the command loads the artifact, runs it and the source on the same random images and prints the
    largest difference; a difference beyond tolerance exits 1.
    """
    _use_backend(backend)
    from kerascl.export import check_export, export_backbone

    try:
        path = export_backbone(source, export_format, out=out, image_size=image_size, overwrite=overwrite)
    except (FileNotFoundError, FileExistsError, ValueError, TypeError, ImportError) as error:
        _fail(error)
    click.echo(f"Exported {export_format}: {path}")
    if not check:
        return
    try:
        result = check_export(source, path, export_format, image_size=image_size)
    except (ValueError, ImportError) as error:
        _fail(error)
    line = (f"Check: features {tuple(result['shape'])}, largest difference from the source model "
            f"{result['max_abs_difference']:.3g} (features up to {result['max_abs_feature']:.3g})")
    if not result["ok"]:
        raise click.ClickException(line + ": beyond tolerance (1e-4 + 1e-3 x the largest feature).")
    click.echo(line + ".")


def _register_bench() -> None:
    from kerascl.bench import bench_command

    main.add_command(bench_command, name="bench")


_register_bench()

if __name__ == "__main__":  # pragma: no cover
    main()
