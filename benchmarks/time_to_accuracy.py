"""Time to accuracy: kNN top-1 on CIFAR-10 against training wall-clock, kerascl and lightly on the same machine.

One run pretrains one (library, recipe, backend, seed) on all the training images of an image folder (the shared
CIFAR-10 JPEG copy, read from the JPEG files as a user would: kerascl through `kerascl.data.from_image_folder`,
lightly through torchvision's `ImageFolder` and a `DataLoader`) with the settings of a kerascl recipe
(`cifar10-byol-1h`, `cifar10-simsiam-1h`: backbone width, heads, views, optimiser, schedule, batch). Every
`--every` minutes of *training* wall-clock it pauses, embeds the training set (the memory bank) and the test set
with the frozen backbone, and scores the weighted kNN (k = 200, T = 0.1, `kerascl.probes.knn_on_features`). The
evaluation time is measured separately and left out of the training clock. The first checkpoint (minute 0) is the
backbone at random initialisation: the random-init floor of that library's network. The raw-pixel floor (the same
kNN on the flattened pixels, same split) is computed once per seed.

The schedule (`--schedule`): `epochs` (default) runs the recipe's epochs, cut at `--minutes`, so every library
follows one learning-rate and momentum schedule in steps; `minutes` ends each library's schedule with its own
`--minutes` of training, re-planned in steps at each epoch end (`kerascl.callbacks.steps_that_fit`, the rule of the
recipes' `max_train_minutes`; the run may stop inside its last epoch), as a user running the one-hour recipe gets it.

Output: one JSON line per event in `--out` (`{"event": "start"|"checkpoint"|"floor"|"end", ...}`), and with
`--plot` a picture of kNN accuracy against training minutes (mean over seeds per library and backend, one line each,
the floors as horizontal lines). Each run is its own process (a Keras backend is fixed per process; lightly runs
with Keras on its torch backend so that TensorFlow is never loaded beside torch).

Usage (unpack /work/shared/data/cifar10-jpg.tar.gz first):
    python benchmarks/time_to_accuracy.py --data-dir /tmp/cifar/cifar10 --recipe cifar10-byol-1h \\
        --libraries kerascl lightly --backends tensorflow --seeds 1 2 --minutes 60 --every 5 \\
        --out benchmarks/results/ttA_byol.jsonl --plot docs/benchmarks_time_to_accuracy_byol.png
    python benchmarks/time_to_accuracy.py --from-results benchmarks/results/ttA_byol.jsonl --plot out.png
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # lightly_harness.py (the lightly side) sits beside this script
    sys.path.insert(0, HERE)
KNN_K = 200
KNN_TEMPERATURE = 0.1


# --------------------------------------------------------------------------------------------------------- data
def list_split(folder: str) -> tuple[list[str], list[int], list[str]]:
    """Sorted class folders of `folder` and every image file in them, with integer labels."""
    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    if not classes:
        raise FileNotFoundError(f"{folder!r} has no class subfolders; pass the unpacked cifar10 folder "
                                "(with train/<class>/ and test/<class>/).")
    files, labels = [], []
    for label, name in enumerate(classes):
        names = sorted(f for f in os.listdir(os.path.join(folder, name))
                       if f.lower().endswith((".jpg", ".jpeg", ".png")))
        files += [os.path.join(folder, name, f) for f in names]
        labels += [label] * len(names)
    return files, labels, classes


def load_split(folder: str, limit: int | None = None):
    """uint8 images `(N, 32, 32, 3)` and int labels of a class-folder split (for the kNN memory bank and queries)."""
    import numpy as np
    from PIL import Image

    files, labels, _ = list_split(folder)
    if limit is not None:
        order = np.random.RandomState(0).permutation(len(files))[:limit]
        files, labels = [files[i] for i in order], [labels[i] for i in order]
    images = np.stack([np.asarray(Image.open(f).convert("RGB").resize((32, 32))) for f in files])
    return images, np.asarray(labels, dtype=np.int64)


def knn_top1(train_features, train_labels, test_features, test_labels) -> float:
    from kerascl.probes.knn import knn_on_features

    return float(knn_on_features(train_features, train_labels, test_features, test_labels, k=KNN_K,
                                 temperature=KNN_TEMPERATURE)["top1"])


# ------------------------------------------------------------------------------------------------- the clock
class TrainingClock:
    """Training wall-clock that leaves out the evaluations: `exclude(seconds)` takes their time off `elapsed()`."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.excluded = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start - self.excluded

    def exclude(self, seconds: float) -> None:
        self.excluded += seconds


class KNNCheckpoints:
    """Scores the kNN of the current backbone at a checkpoint and keeps that time out of the training clock.

    Args:
        features: `features(uint8 images) -> (N, C)` array of the frozen backbone.
        splits: `(train images, train labels, test images, test labels)`; the training images are the memory bank.
        batch_size: training batch size (for `images_seen`).
        emit_line: writes one result line.
    """

    def __init__(self, features, splits, batch_size: int, emit_line) -> None:
        self.features, self.splits = features, splits
        self.batch_size, self.emit_line = batch_size, emit_line
        self.clock: TrainingClock | None = None  # set when training starts; minute 0 is before it

    def evaluate(self, epoch: float, step: int, minute: float | None = None) -> None:
        """One kNN checkpoint. `minute` is the grid minute the checkpoint was scheduled for (None at the end of a
        schedule that finished before the budget): the paired tables key checkpoints by it."""
        train_x, train_y, test_x, test_y = self.splits
        train_seconds = self.clock.elapsed() if self.clock else 0.0
        begin = time.perf_counter()
        accuracy = knn_top1(self.features(train_x), train_y, self.features(test_x), test_y)
        eval_seconds = time.perf_counter() - begin
        if self.clock:
            self.clock.exclude(eval_seconds)
        self.emit_line({"event": "checkpoint", "train_seconds": round(train_seconds, 2), "epoch": epoch,
                        "step": step, "images_seen": step * self.batch_size, "knn_top1": accuracy,
                        "eval_seconds": round(eval_seconds, 2), "checkpoint_minute": minute})


def emit(handle, payload: dict) -> None:
    line = json.dumps(payload)
    print(line, flush=True)
    if handle is not None:
        handle.write(line + "\n")
        handle.flush()


# ------------------------------------------------------------------------------------------------------ kerascl
def run_kerascl(args, recipe, emit_line) -> None:
    import keras
    import numpy as np

    from kerascl.data import from_image_folder
    from kerascl.recipe_runner import build_model, make_augmenter, make_optimizer

    from kerascl.backbones import get_backbone

    config = recipe.config
    keras.utils.set_random_seed(args.seed)
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    train_x, train_y = load_split(os.path.join(args.data_dir, "train"), args.bank_limit)
    test_x, test_y = load_split(os.path.join(args.data_dir, "test"), args.test_limit)
    augmenter = make_augmenter(recipe)
    # Host views: made in the tf.data pipeline. Device views: raw images go to the step, which augments them.
    dataset = from_image_folder(os.path.join(args.data_dir, "train"), image_size=config.image_size,
                                batch_size=config.batch_size, views="device" if args.device_views else True,
                                augmenter=None if args.device_views else augmenter, seed=args.seed,
                                cache=True, limit=args.train_limit)
    steps = int(dataset.num_examples) // config.batch_size
    if args.device_views:
        backbone = get_backbone(config.backbone, width=config.width,
                                input_shape=(config.image_size, config.image_size, 3))
        model = recipe.build(backbone, config, {**recipe.options, "augmentation": augmenter})
    else:
        model = build_model(recipe)
    model.compile(optimizer=make_optimizer(config, steps))

    def features(x):
        return np.asarray(keras.ops.convert_to_numpy(
            model.backbone.predict(x.astype("float32") / 255.0, batch_size=512, verbose=0)))

    checkpoints = KNNCheckpoints(features, (train_x, train_y, test_x, test_y), config.batch_size, emit_line)

    model(next(iter(dataset)), training=False)  # builds every variable, so minute 0 is the random init
    checkpoints.evaluate(0, 0, minute=0.0)
    state = {"step": 0, "epoch": 0, "next": args.every * 60.0, "stopped": False}

    class Checkpoints(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            checkpoints.clock = TrainingClock()

        def on_epoch_begin(self, epoch, logs=None):
            state["epoch"] = epoch

        def on_train_batch_end(self, batch, logs=None):
            state["step"] += 1
            if checkpoints.clock.elapsed() < state["next"]:
                return
            float(logs["loss"])  # waits for the step (JAX dispatches asynchronously)
            if not np.isfinite(float(logs["loss"])):
                raise FloatingPointError(f"loss is {float(logs['loss'])} at step {state['step']}")
            # On JAX, fit keeps the live weights in its own state and clears the variables between epochs;
            # copy them back before the backbone is read mid-epoch.
            sync = getattr(self.model, "jax_state_sync", None)
            if sync is not None:
                sync()
            checkpoints.evaluate(state["epoch"] + (batch + 1) / steps, state["step"], minute=state["next"] / 60.0)
            state["next"] += args.every * 60.0
            if checkpoints.clock.elapsed() >= args.minutes * 60.0:
                self.model.stop_training = state["stopped"] = True

    callbacks = [Checkpoints()]
    limit = None
    if args.schedule == "minutes":
        # The recipe's time budget (`max_train_minutes`): the cosine and the EMA plan end with the budget, re-planned
        # at each epoch end on the training clock (evaluations left out).
        from kerascl.callbacks import TrainingTimeLimit

        limit = TrainingTimeLimit(args.minutes, schedule=model.optimizer.kerascl_schedule, steps_per_epoch=steps,
                                  clock=lambda: checkpoints.clock.elapsed())
        callbacks.append(limit)
    model.fit(dataset, epochs=config.epochs, callbacks=callbacks, verbose=0)
    epochs_run = state["epoch"] + 1  # begun; the last one partial when the budget stopped the run inside it
    if not state["stopped"]:
        checkpoints.evaluate(state["step"] / steps, state["step"])  # the end of the schedule
    emit_line({"event": "end", "train_seconds": round(checkpoints.clock.elapsed(), 2), "steps": state["step"],
               "epochs_planned": config.epochs, "epochs_run": epochs_run, "steps_per_epoch": steps,
               "schedule": args.schedule,
               "schedule_epochs": limit.planned_epochs if limit is not None else config.epochs,
               "schedule_steps": limit.planned_steps if limit is not None else config.epochs * steps})


# ------------------------------------------------------------------------------------------------------ lightly
def run_lightly(args, recipe, emit_line) -> None:
    """The same recipe in lightly on PyTorch: same backbone, heads, views (lightly's transforms), optimiser."""
    import math

    import numpy as np
    import torch
    import torchvision
    from lightly.loss import NegativeCosineSimilarity
    from lightly.utils.scheduler import cosine_schedule

    from lightly_harness import build_lightly_model, lightly_train_step, lightly_transform

    from kerascl.callbacks import steps_that_fit
    from kerascl.recipe_runner import schedule_steps

    config, options = recipe.config, recipe.options
    method = recipe.method.lower()
    if method not in ("byol", "simsiam"):
        raise ValueError(f"the lightly side covers BYOL and SimSiam; recipe {recipe.name!r} is {recipe.method}.")
    torch.manual_seed(args.seed)
    train_x, train_y = load_split(os.path.join(args.data_dir, "train"), args.bank_limit)
    test_x, test_y = load_split(os.path.join(args.data_dir, "test"), args.test_limit)
    transform = lightly_transform(method, config.image_size, config.crop_scale)
    dataset = torchvision.datasets.ImageFolder(os.path.join(args.data_dir, "train"), transform=transform)
    if args.train_limit:
        dataset = torch.utils.data.Subset(dataset, list(range(min(args.train_limit, len(dataset)))))
    workers = args.lightly_workers
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, shuffle=True, drop_last=True,
                                         num_workers=workers, persistent_workers=workers > 0,
                                         generator=torch.Generator().manual_seed(args.seed))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = build_lightly_model(method, config.width, head_sizes=_head_sizes(options)).to(device)
    peak = config.peak_learning_rate()
    # kerascl's BYOL loss (2 - 2 cos per direction, summed) has 4x the gradient of lightly's
    # 0.5 * (-cos - cos); the recipe's learning rate and weight decay are for kerascl's form.
    scale = 4.0 if method == "byol" else 1.0
    # `fixed_predictor_lr` (the official `--fix-pred-lr`): the predictor in a group of its own that leaves the
    # cosine after the warm-up and keeps the peak rate, as kerascl's L2SGD does with PREDICTOR_PATTERNS.
    predictor = list(model.prediction_head.parameters()) if config.fixed_predictor_lr else []
    predictor_ids = {id(p) for p in predictor}
    groups = [{"params": [p for p in model.parameters() if id(p) not in predictor_ids], "fixed_lr": False}]
    if predictor:
        groups.append({"params": predictor, "fixed_lr": True})
    optimizer = torch.optim.SGD(groups, lr=peak * scale, momentum=config.momentum,
                                weight_decay=_torch_weight_decay(config) / scale)
    steps = len(loader)
    total, warmup = schedule_steps(config, steps)  # kerascl's make_optimizer plans with the same rule

    def learning_rate(step: int) -> float:
        if step < warmup:
            return peak * scale * (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return (config.end_learning_rate + (peak - config.end_learning_rate) * 0.5 * (1 + math.cos(math.pi * progress))) * scale

    @torch.no_grad()
    def features(x):
        model.eval()
        out = [model.backbone(torch.from_numpy(x[i:i + 512]).to(device).permute(0, 3, 1, 2).float() / 255.0)
               .float().cpu().numpy() for i in range(0, len(x), 512)]
        model.train()
        return np.concatenate(out)

    checkpoints = KNNCheckpoints(features, (train_x, train_y, test_x, test_y), config.batch_size, emit_line)

    checkpoints.evaluate(0, 0, minute=0.0)
    criterion = NegativeCosineSimilarity()
    base_momentum = float(options.get("base_momentum", 0.99))
    final_momentum = float(options.get("final_momentum", 1.0))
    clock = checkpoints.clock = TrainingClock()
    step, next_checkpoint, stopped = 0, args.every * 60.0, False
    model.train()
    for epoch in range(config.epochs):
        epoch_start, epoch_first_step = clock.elapsed(), step
        for views, _ in loader:
            if step >= total:  # the time budget's plan ended inside this epoch
                break
            for group in optimizer.param_groups:
                group["lr"] = peak * scale if group["fixed_lr"] and step >= warmup else learning_rate(step)
            momentum = cosine_schedule(step, total, base_momentum, final_momentum)
            views = [v.to(device, non_blocking=True) for v in views]
            with torch.autocast(device, dtype=torch.bfloat16, enabled=bool(args.mixed_precision)):
                loss = lightly_train_step(model, optimizer, criterion, views, method, momentum)
            step += 1
            if clock.elapsed() >= next_checkpoint:
                if not math.isfinite(loss.item()):
                    raise FloatingPointError(f"loss is {loss.item()} at step {step}")
                checkpoints.evaluate(epoch + (step - epoch * steps) / steps, step, minute=next_checkpoint / 60.0)
                next_checkpoint += args.every * 60.0
                if clock.elapsed() >= args.minutes * 60.0:
                    stopped = True
                    break
        if stopped or step >= total:
            break
        if args.schedule == "minutes":  # the same re-planning as kerascl's TrainingTimeLimit (in steps)
            now = clock.elapsed()
            pace = (now - epoch_start) / max(step - epoch_first_step, 1)
            total = steps_that_fit(step, args.minutes * 60.0 - now, pace, config.epochs * steps)
            # total is read by learning_rate() and the momentum schedule from the next step on
            if step >= total:
                break
    epochs_run = epoch + 1  # begun; the last one partial when the budget stopped the run inside it
    if not stopped:
        checkpoints.evaluate(step / steps, step)
    emit_line({"event": "end", "train_seconds": round(clock.elapsed(), 2), "steps": step,
               "epochs_planned": config.epochs, "epochs_run": epochs_run, "steps_per_epoch": steps,
               "schedule": args.schedule, "schedule_epochs": -(-total // steps), "schedule_steps": total})


def _head_sizes(options: dict) -> tuple[int, int, int]:
    """(projector hidden, projection, predictor hidden) of a recipe's options."""
    return (int(options["hidden_dim"]), int(options["projection_dim"]), int(options["prediction_hidden_dim"]))


def _torch_weight_decay(config) -> float:
    """The recipe's weight decay, for torch's SGD.

    The value is the same; the form is the same for `l2sgd` (kerascl's copy of torch's update) and not for `sgd`:
    torch adds it to the gradient (before momentum), Keras's SGD applies it decoupled, about 10x weaker at momentum
    0.9 (docs/benchmarks.md, "Why SimSiam learned less per epoch").
    """
    if config.optimizer not in ("sgd", "l2sgd"):
        raise ValueError(f"the lightly side runs SGD; the recipe uses {config.optimizer!r}.")
    return float(config.weight_decay)


# ------------------------------------------------------------------------------------------------ orchestration
def worker(args) -> None:
    from kerascl.recipe import get_recipe

    recipe = get_recipe(args.recipe)
    if args.epochs:
        recipe = recipe.with_overrides(epochs=args.epochs)
    if args.sets:
        recipe = recipe.with_overrides(sets=args.sets)
    if args.schedule == "minutes":
        recipe = recipe.with_overrides(sets=[f"max_train_minutes={args.minutes:g}"])
    handle = open(args.out, "a") if args.out else None
    import platform

    import keras

    from kerascl.bench import backend_environment, machine_info

    label = "lightly" if args.library == "lightly" else f"kerascl ({keras.backend.backend()})"
    base = {"library": label, "recipe": recipe.name, "seed": args.seed}

    def emit_line(payload: dict) -> None:
        emit(handle, {**base, **payload})

    resolved = recipe.resolved()
    emit_line({"event": "start", **machine_info(), "python": platform.python_version(),
               **(backend_environment() if args.library == "kerascl" else {"tf_onednn": None, "xla_flags": None}),
               "config": resolved["config"], "options": resolved["options"],
               "minutes": args.minutes, "every": args.every, "schedule": args.schedule})
    try:
        if args.library == "kerascl":
            run_kerascl(args, recipe, emit_line)
        else:
            run_lightly(args, recipe, emit_line)
    except Exception as error:  # the run is reported as failed, the other runs go on
        emit_line({"event": "error", "error": f"{type(error).__name__}: {error}"})
        raise


def raw_pixel_floor(args, seed: int) -> dict:
    train_x, train_y = load_split(os.path.join(args.data_dir, "train"), args.bank_limit)
    test_x, test_y = load_split(os.path.join(args.data_dir, "test"), args.test_limit)
    flat = lambda x: x.reshape(len(x), -1).astype("float32") / 255.0  # noqa: E731
    return {"event": "floor", "floor": "raw_pixels", "seed": seed,
            "knn_top1": knn_top1(flat(train_x), train_y, flat(test_x), test_y)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="the unpacked cifar10 folder (train/<class>/, test/<class>/)")
    parser.add_argument("--recipe", default="cifar10-byol-1h")
    parser.add_argument("--libraries", nargs="+", default=["kerascl", "lightly"], choices=["kerascl", "lightly"])
    parser.add_argument("--backends", nargs="+", default=["tensorflow"], choices=["tensorflow", "jax"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--minutes", type=float, default=60.0, help="training wall-clock budget per run")
    parser.add_argument("--every", type=float, default=5.0, help="minutes of training between kNN checkpoints")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs (its schedule)")
    parser.add_argument("--schedule", choices=["epochs", "minutes"], default="epochs",
                        help="epochs: the recipe's epochs, cut at --minutes (every library on one schedule in steps); "
                             "minutes: each library's schedule ends with its own --minutes of training, re-planned "
                             "in steps at each epoch end as the recipes' max_train_minutes does")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="recipe override KEY=VALUE")
    parser.add_argument("--train-limit", type=int, default=None, help="pretraining images (default: all)")
    parser.add_argument("--bank-limit", type=int, default=None, help="kNN memory-bank images (default: all)")
    parser.add_argument("--test-limit", type=int, default=None, help="kNN test images (default: all)")
    parser.add_argument("--lightly-workers", type=int, default=1)
    parser.add_argument("--device-views", action="store_true",
                        help="kerascl: augment inside the compiled step (accelerators) instead of in tf.data")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="bfloat16 mixed precision (Keras mixed_bfloat16; torch autocast to bfloat16): GPUs, and CPUs with "
                             "AMX or AVX-512 BF16 units")
    parser.add_argument("--no-floor", action="store_true", help="skip the raw-pixel floor")
    parser.add_argument("--out", help="JSON-lines file to append to")
    parser.add_argument("--plot", help="PNG of kNN accuracy against training minutes")
    parser.add_argument("--from-results", nargs="+", help="replot saved JSON-lines files (no training)")
    parser.add_argument("--target", type=float, default=None, help="draw a target accuracy line (a fraction)")
    parser.add_argument("--labels", nargs="+", default=None,
                        help="with --from-results: one label per results file, replacing its runs' library label "
                             "(to tell apart runs of one library under different settings); '-' keeps a file's labels")
    parser.add_argument("--paired", nargs=2, metavar=("LIBRARY_A", "LIBRARY_B"),
                        help="with --from-results: print A - B at each checkpoint, mean and SE over the seeds both "
                             "ran (library labels as in the results, e.g. 'kerascl (tensorflow)' 'lightly'), and per "
                             "seed the minute at which A reaches B's last accuracy, as a ratio of B's time, and A - B at "
                             "B's checkpoint steps (learning per step, apart from speed)")
    parser.add_argument("--worker", choices=["kerascl", "lightly"], help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        args.library = args.worker
        worker(args)
        return
    if args.from_results:
        if args.labels and len(args.labels) != len(args.from_results):
            parser.error(f"--labels takes one label per --from-results file: {len(args.from_results)} file(s), "
                         f"{len(args.labels)} label(s)")
        rows = read_results(args.from_results, args.labels)
        if not args.plot and not args.paired:
            parser.error("--from-results needs --plot or --paired")
        if args.paired:
            print(format_paired(paired_differences(rows, *args.paired, every=args.every), *args.paired))
            print()
            print(format_time_to_reach(time_to_reach(rows, *args.paired), *args.paired))
            print()
            print(format_paired_at_equal_steps(paired_at_equal_steps(rows, *args.paired, every=args.every),
                                               *args.paired))
        if args.plot:
            plot_curves(rows, args.plot, args.target)
            print(f"wrote {args.plot}")
        return
    if not args.data_dir or not os.path.isdir(os.path.join(args.data_dir, "train")):
        parser.error(f"--data-dir {args.data_dir!r} must be the unpacked cifar10 folder with train/ and test/ "
                     "(tar xzf cifar10-jpg.tar.gz -C DIR; pass DIR/cifar10).")
    out = args.out
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    for seed in args.seeds:
        if not args.no_floor:
            line = raw_pixel_floor(args, seed)
            emit(open(out, "a") if out else None, line)
        for library in args.libraries:
            for backend in (args.backends if library == "kerascl" else ["torch"]):
                cmd = [sys.executable, os.path.abspath(__file__), "--worker", library, "--seed", str(seed),
                       "--recipe", args.recipe, "--data-dir", args.data_dir, "--minutes", str(args.minutes),
                       "--every", str(args.every), "--lightly-workers", str(args.lightly_workers),
                       "--schedule", args.schedule]
                for flag in ("epochs", "train_limit", "bank_limit", "test_limit"):
                    if getattr(args, flag) is not None:
                        cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
                for item in args.sets:
                    cmd += ["--set", item]
                cmd += [flag for flag, on in (("--device-views", args.device_views),
                                              ("--mixed-precision", args.mixed_precision)) if on]
                if out:
                    cmd += ["--out", out]
                env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                           PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
                print(f"--- {library} ({backend}), seed {seed}, recipe {args.recipe}", flush=True)
                code = subprocess.call(cmd, env=env)
                if code:
                    print(f"--- {library} ({backend}) seed {seed} failed with exit code {code}", flush=True)
    if args.plot and out:
        rows = [json.loads(line) for line in open(out) if line.strip()]
        plot_curves([r for r in rows if r.get("recipe") in (None, args.recipe)], args.plot, args.target)
        print(f"wrote {args.plot}")


# ------------------------------------------------------------------------------------------------------ summary
def read_results(paths: list[str], labels: list[str] | None = None) -> list[dict]:
    """The rows of JSON-lines result files; with `labels`, each file's rows that name a library take its label
    (`"-"`: the file keeps its own labels)."""
    rows = []
    for index, path in enumerate(paths):
        with open(path) as handle:
            for line in handle:
                if line.strip():
                    row = json.loads(line)
                    if labels and labels[index] != "-" and "library" in row:
                        row["library"] = labels[index]
                    rows.append(row)
    return rows


def _curves_by_seed(rows: list[dict]) -> dict[str, dict[int, list[tuple[float, float]]]]:
    """`{library label: {seed: [(minute, kNN top-1), ...] sorted by minute}}` from result rows."""
    out: dict[str, dict[int, list[tuple[float, float]]]] = {}
    for row in rows:
        if row.get("event") == "checkpoint":
            out.setdefault(row["library"], {}).setdefault(row["seed"], []).append(
                (row["train_seconds"] / 60.0, row["knn_top1"]))
    return {label: {seed: sorted(points) for seed, points in seeds.items()} for label, seeds in out.items()}


def curves(rows: list[dict]) -> dict[str, list[list[tuple[float, float]]]]:
    """`{library label: [[(minute, kNN top-1), ...] per seed]}` from result rows."""
    return {label: [points for _, points in sorted(seeds.items())] for label, seeds in _curves_by_seed(rows).items()}


def floors(rows: list[dict]) -> dict[str, float]:
    """Mean floors: `raw pixels` and `random init (<library>)` (each library's minute-0 checkpoint)."""
    import numpy as np

    values: dict[str, list[float]] = {}
    for row in rows:
        if row.get("event") == "floor":
            values.setdefault("raw pixels", []).append(row["knn_top1"])
        elif row.get("event") == "checkpoint" and row.get("step") == 0:
            values.setdefault(f"random init ({row['library']})", []).append(row["knn_top1"])
    return {name: float(np.mean(v)) for name, v in values.items()}


def floor_lines(rows: list[dict]) -> list[tuple[str, float]]:
    """The floors to draw, `(name, value)` sorted by name: runs with the same random-init floor (one seed's initial
    weights under several settings) share one line named `random init`; the raw-pixel floor is always its own."""
    lines, random_init = [], {}
    for name, value in floors(rows).items():
        if name.startswith("random init ("):
            random_init.setdefault(round(value, 4), []).append(name)
        else:
            lines.append((name, value))
    lines += [(names[0] if len(names) == 1 else "random init", value) for value, names in random_init.items()]
    return sorted(lines)


def _seeds_in_both(points: dict[tuple[str, int], object], library_a: str, library_b: str) -> list[int]:
    """The seeds that both libraries ran, of `{(library, seed): ...}`."""
    return sorted({seed for library, seed in points if library == library_a}
                  & {seed for library, seed in points if library == library_b})


def _difference_entry(minute: float, seeds: list[int], differences: list[float]) -> dict:
    """One row of a paired table: the per-seed differences, their mean and standard error (None with one seed)."""
    import numpy as np

    values = np.array(differences)
    se = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None
    return {"minute": minute, "seeds": seeds, "differences": values.tolist(), "mean": float(values.mean()), "se": se}


def _difference_cells(entry: dict) -> tuple[str, str, str]:
    """A paired row's per-seed differences, mean and SE as table cells, in percentage points."""
    per_seed = ", ".join(f"{100 * d:+.1f}" for d in entry["differences"])
    se = "-" if entry["se"] is None else f"{100 * entry['se']:.1f}"
    return per_seed, f"{100 * entry['mean']:+.1f}", se


def checkpoint_minute(row: dict, every: float) -> float:
    """The minute a checkpoint row is tabulated under: the grid minute it was scheduled for; a checkpoint at the end
    of a schedule that finished early keeps its own minute (to 0.1), so it never replaces the grid checkpoint
    before it. Rows written before checkpoints recorded their grid minute are rounded to the grid of `every`."""
    if "checkpoint_minute" not in row:
        return round(row["train_seconds"] / 60.0 / every) * every
    if row["checkpoint_minute"] is None:
        return round(row["train_seconds"] / 60.0, 1)
    return float(row["checkpoint_minute"])


def paired_differences(rows: list[dict], library_a: str, library_b: str, every: float = 5.0) -> list[dict]:
    """`library_a - library_b` kNN top-1 at each checkpoint (keyed by `checkpoint_minute`), for every
    seed both libraries ran: `[{"minute", "seeds", "differences", "mean", "se", "held"}, ...]`; `se` is the
    standard error of the mean over seeds (None with one seed).

    A run whose schedule ended before a minute the other library reached holds the accuracy of its last checkpoint
    there: training is over, so that model is what its user has at that wall-clock minute. `held` lists those
    `(library, seed, end minute)`; without it a run that finishes early would drop out of the late checkpoints."""
    points: dict[tuple[str, int], dict[float, float]] = {}
    ended: dict[tuple[str, int], tuple[float, float]] = {}
    for row in rows:
        if row.get("event") == "checkpoint" and row.get("library") in (library_a, library_b):
            minute = checkpoint_minute(row, every)
            key = (row["library"], row["seed"])
            points.setdefault(key, {})[minute] = row["knn_top1"]
            if "checkpoint_minute" in row and row["checkpoint_minute"] is None:
                ended[key] = (minute, row["knn_top1"])
    seeds = _seeds_in_both(points, library_a, library_b)

    def accuracy_at(key: tuple[str, int], minute: float) -> tuple[float | None, bool]:
        if minute in points[key]:
            return points[key][minute], False
        if key in ended and ended[key][0] < minute:
            return ended[key][1], True
        return None, False

    table = []
    minutes = sorted({m for seed in seeds for library in (library_a, library_b) for m in points[(library, seed)]})
    for minute in minutes:
        pairs, held = [], []
        for seed in seeds:
            (value_a, held_a), (value_b, held_b) = (accuracy_at((library, seed), minute)
                                                    for library in (library_a, library_b))
            if value_a is None or value_b is None or (held_a and held_b):
                continue
            pairs.append((seed, value_a - value_b))
            held += [(library, seed, ended[(library, seed)][0])
                     for library, was_held in ((library_a, held_a), (library_b, held_b)) if was_held]
        if pairs:
            table.append({**_difference_entry(minute, [s for s, _ in pairs], [d for _, d in pairs]), "held": held})
    return table


def paired_at_equal_steps(rows: list[dict], library_a: str, library_b: str, every: float = 5.0) -> list[dict]:
    """`library_a - library_b` kNN top-1 at equal training steps: at each of `library_b`'s checkpoints,
    `library_a`'s accuracy interpolated linearly in steps between its own checkpoints, minus `library_b`'s. This
    separates learning per step from steps per minute (a faster library is ahead at equal minutes even when it
    learns the same per step). Checkpoints past `library_a`'s last step are left out. Rows as in
    `paired_differences`, keyed by `library_b`'s minute, with `steps_b` (per seed)."""
    import numpy as np

    points: dict[tuple[str, int], list[tuple[int, float, float]]] = {}
    for row in rows:
        if row.get("event") == "checkpoint" and row.get("library") in (library_a, library_b):
            points.setdefault((row["library"], row["seed"]), []).append(
                (row["step"], checkpoint_minute(row, every), row["knn_top1"]))
    seeds = _seeds_in_both(points, library_a, library_b)
    by_minute: dict[float, list[tuple[int, int, float]]] = {}
    for seed in seeds:
        steps_a, _, accuracy_a = (np.array(column) for column in zip(*sorted(points[(library_a, seed)])))
        for step, minute, accuracy in sorted(points[(library_b, seed)]):
            if step > steps_a[-1]:
                continue
            difference = float(np.interp(step, steps_a, accuracy_a)) - accuracy
            by_minute.setdefault(minute, []).append((seed, step, difference))
    return [{**_difference_entry(minute, [s for s, _, _ in entries], [d for _, _, d in entries]),
             "steps_b": [n for _, n, _ in entries]} for minute, entries in sorted(by_minute.items())]


def format_paired_at_equal_steps(table: list[dict], library_a: str, library_b: str) -> str:
    """A Markdown table of `paired_at_equal_steps`, in percentage points."""
    lines = [f"| {library_b}'s minute | seeds | {library_b}'s steps | {library_a} - {library_b} at those steps "
             "(points) | mean | SE |", "|---|---|---|---|---|---|"]
    for entry in table:
        per_seed, mean, se = _difference_cells(entry)
        lines.append(f"| {entry['minute']:g} | {', '.join(map(str, entry['seeds']))} | "
                     f"{', '.join(f'{n:,}' for n in entry['steps_b'])} | {per_seed} | {mean} | {se} |")
    return "\n".join(lines)


def format_paired(table: list[dict], library_a: str, library_b: str) -> str:
    """A Markdown table of `paired_differences`, in percentage points; a difference that uses a held end-of-schedule
    accuracy is marked `(held)`, with a note under the table."""
    lines = [f"| minute | seeds | {library_a} - {library_b} per seed (points) | mean | SE |", "|---|---|---|---|---|"]
    notes = []
    for entry in table:
        per_seed, mean, se = _difference_cells(entry)
        held_seeds = {seed for _, seed, _ in entry.get("held", [])}
        if held_seeds:
            per_seed = ", ".join(cell + (" (held)" if seed in held_seeds else "")
                                 for cell, seed in zip(per_seed.split(", "), entry["seeds"]))
            notes += [f"{library} seed {seed} (schedule ended at minute {end:g})"
                      for library, seed, end in entry["held"]]
        lines.append(f"| {entry['minute']:g} | {', '.join(map(str, entry['seeds']))} | {per_seed} | {mean} | {se} |")
    if notes:
        lines += ["", "(held): the accuracy at the end of the schedule, kept after it: "
                  + "; ".join(dict.fromkeys(notes)) + "."]
    return "\n".join(lines)


def time_to_reach(rows: list[dict], library_a: str, library_b: str) -> list[dict]:
    """For every seed both libraries ran: the training minute at which `library_a` first reaches `library_b`'s
    accuracy at `library_b`'s last checkpoint, interpolated linearly between `library_a`'s checkpoints, and its ratio
    to `library_b`'s minute there (the issue's "<= 0.8x lightly's time"). `minute_a` and `ratio` are None when
    `library_a` never reaches it within its run: `[{"seed", "target", "minute_b", "minute_a", "ratio"}, ...]`."""
    by_seed = _curves_by_seed(rows)
    runs_a, runs_b = by_seed.get(library_a, {}), by_seed.get(library_b, {})
    table = []
    for seed in sorted(runs_a.keys() & runs_b.keys()):
        minute_b, target = runs_b[seed][-1]
        minute_a = None
        previous = None
        for minute, accuracy in runs_a[seed]:
            if accuracy >= target:
                if previous is None or previous[1] >= target:
                    minute_a = minute
                else:  # the crossing lies between the two checkpoints
                    fraction = (target - previous[1]) / (accuracy - previous[1])
                    minute_a = previous[0] + fraction * (minute - previous[0])
                break
            previous = (minute, accuracy)
        table.append({"seed": seed, "target": target, "minute_b": minute_b, "minute_a": minute_a,
                      "ratio": None if minute_a is None or minute_b <= 0 else minute_a / minute_b})
    return table


def format_time_to_reach(table: list[dict], library_a: str, library_b: str) -> str:
    """A Markdown table of `time_to_reach`."""
    lines = [f"| seed | {library_b}'s last checkpoint | {library_a} reaches it at | time ratio |", "|---|---|---|---|"]
    for entry in table:
        reached = "not within its run" if entry["minute_a"] is None else f"minute {entry['minute_a']:.1f}"
        ratio = "-" if entry["ratio"] is None else f"{entry['ratio']:.2f}x"
        lines.append(f"| {entry['seed']} | {100 * entry['target']:.1f} % at minute {entry['minute_b']:.1f} | "
                     f"{reached} | {ratio} |")
    return "\n".join(lines)


def plot_curves(rows: list[dict], path: str, target: float | None = None) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.5, 4.5))
    for label, runs in sorted(curves(rows).items()):
        for i, points in enumerate(runs):
            minutes, accuracy = zip(*points)
            ax.plot(minutes, [100 * a for a in accuracy], marker="o", markersize=3, alpha=0.85,
                    label=f"{label}" + (f" seed {i + 1}" if len(runs) > 1 else ""))
    styles = iter(["--", ":", "-.", (0, (1, 3))])
    for name, value in floor_lines(rows):
        ax.axhline(100 * value, color="grey", linestyle=next(styles, "--"), linewidth=1,
                   label=f"floor: {name} {100 * value:.1f} %")
    if target is not None:
        ax.axhline(100 * target, color="tab:red", linestyle=":", linewidth=1, label=f"target {100 * target:.0f} %")
    ax.set_xlabel("training wall-clock (minutes, evaluation excluded)")
    ax.set_ylabel("kNN top-1 (%), k=200, T=0.1, 10,000 test images")
    recipe = next((r["recipe"] for r in rows if r.get("recipe")), "")
    # Results of several runs may come from several machines: name each (a pair is compared on one machine).
    machines = sorted({(r.get("cpu", ""), r.get("cpus", ""), r.get("date", "")[:10]) for r in rows
                       if r.get("event") == "start"})
    where = "; ".join(f"{cpu}, {cpus} cores, {date}" for cpu, cpus, date in machines)
    ax.set_title(f"{recipe}: time to accuracy ({where})", fontsize=9 if len(machines) < 2 else 8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the axes: never over a curve
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
