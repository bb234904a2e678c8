"""kNN accuracy after a short pretraining, kerascl and lightly side by side on the same CIFAR-10 images.

Both libraries train the same configuration (`kerascl.bench`): a CIFAR ResNet-18 of `--width`, lightly's CIFAR-10
head sizes, BYOL / SimSiam views at 32 px (kerascl presets; lightly's transforms with the same small-image
settings: no blur, jitter x 0.5, no normalisation), SGD (lr 0.06 * batch / 128, momentum 0.9, weight decay 5e-4)
with a cosine learning-rate decay over the run, BYOL's EMA momentum on the cosine schedule from 0.99 to 1. Then the
frozen backbone embeds the training images (the memory bank) and the test images, and the same weighted kNN
(`kerascl.probes.knn_on_features`, k = 200, T = 0.1, as lightly's and solo-learn's benchmarks) scores both.

Each (library, method, seed) runs in its own process; the data are the first `--train-images` / `--test-images`
files of a random order of the CIFAR-10 image folders (`/work/shared/data/cifar10-jpg.tar.gz`, unpacked) drawn from
the seed, so both libraries see the same images for a seed. With several `--seeds` the summary gives each
library's mean kNN accuracy and the paired difference kerascl - lightly (mean over seeds and its standard error):
at a short schedule one run's accuracy moves by a few points from seed to seed, far more than the libraries differ.

Every accuracy stands beside its floors on the same split: before the libraries train, one more process per seed
scores the same kNN on a randomly initialised CIFAR ResNet-18 of `--width` (`kerascl.probes.random_init_copy`,
seeded by the seed) and on the raw pixels (`--no-floors` skips it). The floors are printed per seed, stored in each
row (`floor_random_init`, `floor_raw_pixels`, in percent) and averaged over the paired seeds in each summary
(`random_init_mean`, `raw_pixels_mean`): a library's accuracy means something only by how far it is above them.

Usage:
    python benchmarks/accuracy_side_by_side.py --data-dir /tmp/cifar/cifar10 \\
        [--methods byol simsiam] [--width 0.25] [--epochs 1] [--train-images 2560] [--test-images 1000] \\
        [--backend tensorflow] [--seeds 1 2 3] [--weight-decay coupled] [--head-init torch] [--plot accuracy.png]
    python benchmarks/accuracy_side_by_side.py --from-results run.log --plot accuracy.png   # replot a saved run
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # lightly_harness.py (the lightly side) sits beside this script
    sys.path.insert(0, HERE)


def _load_split(folder: str, n: int, seed: int):
    import numpy as np
    from PIL import Image

    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    if not classes:
        raise FileNotFoundError(f"{folder!r} has no class subfolders; pass the unpacked cifar10 folder.")
    files, labels = [], []
    for label, name in enumerate(classes):
        names = sorted(os.listdir(os.path.join(folder, name)))
        files += [os.path.join(folder, name, f) for f in names]
        labels += [label] * len(names)
    order = np.random.RandomState(seed).permutation(len(files))[:n]
    images = np.stack([np.asarray(Image.open(files[i]).convert("RGB").resize((32, 32))) for i in order])
    return images, np.asarray(labels, dtype=np.int64)[order]


def _kerascl(args, train_x, train_y, test_x):
    import kerascl  # noqa: F401  (first: its TensorFlow defaults apply only before TensorFlow loads)
    import keras

    from kerascl.augment import get_preset
    from kerascl.bench import BenchConfig, build_method, learning_rate
    from kerascl.data import from_arrays
    from kerascl.optimizers import L2SGD

    keras.utils.set_random_seed(args.seed)
    config = BenchConfig(method=args.method, backend=keras.backend.backend(), width=args.width,
                         batch_size=args.batch_size)
    steps = len(train_x) // args.batch_size
    dataset = from_arrays(train_x, batch_size=args.batch_size, augmenter=get_preset(args.method, 32, seed=args.seed),
                          seed=args.seed)
    model = build_method(config, head_init=args.head_init)
    # kerascl's BYOL loss (2 - 2 cos per direction, summed) has 4x the gradient of lightly's 0.5 (-cos - cos): with
    # `--match-byol-loss-scale`, lr / 4 and weight decay x 4 make kerascl's SGD updates exactly those of lightly's
    # loss scale (either form of weight decay is multiplied by the learning rate).
    scale = 4.0 if args.method == "byol" and args.match_byol_loss_scale else 1.0
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate(args.batch_size) / scale, steps * args.epochs)
    if args.weight_decay == "coupled":  # torch.optim.SGD's update, as the lightly side uses
        optimizer = L2SGD(schedule, momentum=0.9, weight_decay=5e-4 * scale)
    else:  # Keras's SGD: w -= lr * wd * w outside the momentum, about 10x weaker at momentum 0.9
        optimizer = keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=5e-4 * scale)
    model.compile(optimizer=optimizer)
    start = time.perf_counter()
    history = model.fit(dataset, epochs=args.epochs, verbose=0)
    seconds = time.perf_counter() - start

    def embed(x):
        return keras.ops.convert_to_numpy(model.backbone.predict(x.astype("float32") / 255.0, batch_size=256,
                                                                 verbose=0))

    return embed(train_x), embed(test_x), seconds, float(history.history["loss"][-1])


def _lightly(args, train_x, train_y, test_x):
    import numpy as np
    import torch
    from lightly.loss import NegativeCosineSimilarity
    from lightly.utils.scheduler import cosine_schedule

    from kerascl.bench import BenchConfig, learning_rate
    from lightly_harness import build_lightly_model, lightly_train_step, make_lightly_loader

    torch.manual_seed(args.seed)
    config = BenchConfig(method=args.method, width=args.width, batch_size=args.batch_size, seed=args.seed,
                         lightly_workers=args.lightly_workers)
    loader = make_lightly_loader(config, train_x)
    model = build_lightly_model(args.method, args.width)
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate(args.batch_size), momentum=0.9, weight_decay=5e-4)
    total = len(loader) * args.epochs
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total)
    criterion = NegativeCosineSimilarity()
    step, loss = 0, None
    model.train()
    start = time.perf_counter()
    for _ in range(args.epochs):
        for views in loader:
            momentum = cosine_schedule(step, total, 0.99, 1.0)
            loss = lightly_train_step(model, optimizer, criterion, views, args.method, momentum)
            scheduler.step()
            step += 1
    seconds = time.perf_counter() - start
    model.eval()

    @torch.no_grad()
    def embed(x):
        out = []
        for i in range(0, len(x), 256):
            batch = torch.from_numpy(x[i:i + 256]).permute(0, 3, 1, 2).float() / 255.0
            out.append(model.backbone(batch).numpy())
        return np.concatenate(out)

    return embed(train_x), embed(test_x), seconds, float(loss)


def _floors(args, train_x, train_y, test_x, test_y) -> dict:
    """kNN top-1 (%) of the same probe on a random-init CIFAR ResNet-18 of `--width` and on raw pixels."""
    import kerascl  # noqa: F401  (first: its TensorFlow defaults apply only before TensorFlow loads)

    from kerascl.backbones import ResNet18
    from kerascl.probes import extract_features, knn_on_features, random_init_copy, raw_pixel_features

    backbone = random_init_copy(ResNet18(variant="cifar", width=args.width, input_shape=(32, 32, 3)), seed=args.seed)
    train, test = train_x.astype("float32") / 255.0, test_x.astype("float32") / 255.0
    bank, _ = extract_features(backbone, train, verbose=0, require_labels=False)
    queries, _ = extract_features(backbone, test, verbose=0, require_labels=False)
    random_init = knn_on_features(bank, train_y, queries, test_y, k=200, temperature=0.1)
    raw = knn_on_features(raw_pixel_features(train), train_y, raw_pixel_features(test), test_y, k=200,
                          temperature=0.1)
    return {"random_init_knn_top1": round(100 * random_init["top1"], 2),
            "raw_pixels_knn_top1": round(100 * raw["top1"], 2)}


def attach_floors(rows: list[dict]) -> list[dict]:
    """Copies each seed's floors (rows with `library == "floors"`) into that seed's library rows as
    `floor_random_init` and `floor_raw_pixels` (kNN top-1, %); rows of a seed without floors are left as they are."""
    floors = {r["seed"]: r for r in rows if r.get("library") == "floors" and "random_init_knn_top1" in r}
    for r in rows:
        if r.get("library") != "floors" and r.get("seed") in floors:
            r.setdefault("floor_random_init", floors[r["seed"]]["random_init_knn_top1"])
            r.setdefault("floor_raw_pixels", floors[r["seed"]]["raw_pixels_knn_top1"])
    return rows


def paired_runs(rows: list[dict]) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """`(kerascl kNN, lightly kNN)` per seed, for each (method, kerascl label), in the order the rows came.

    Rows without `knn_top1` (a failed run) are left out, and so is a seed that lacks either side. Each kerascl label
    (e.g. `"kerascl (jax)"`) is paired with lightly's run of the same method and seed.
    """
    done = [r for r in rows if "knn_top1" in r and r.get("library") != "floors"]
    lightly = {(r["method"], r["seed"]): r["knn_top1"] for r in done if r["library"] == "lightly"}
    pairs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in done:
        if r["library"] != "lightly" and (r["method"], r["seed"]) in lightly:
            pairs.setdefault((r["method"], r["library"]), []).append((r["knn_top1"], lightly[(r["method"], r["seed"])]))
    return pairs


def paired_summary(rows: list[dict]) -> list[dict]:
    """Per method and kerascl setting: mean kNN top-1 over seeds and the paired kerascl - lightly difference.

    Args:
        rows: result rows with `method`, `library` (`"lightly"`, or a kerascl label such as `"kerascl (jax)"`),
            `seed` and `knn_top1`; paired as `paired_runs` pairs them.

    Returns:
        One dict per (method, kerascl label): `method`, `kerascl`, `seeds`, `kerascl_mean`, `lightly_mean`,
        `difference_mean` and `difference_se` (standard error of the mean paired difference; None with one seed);
        where every paired seed has its floors (a `library == "floors"` row), `random_init_mean` and
        `raw_pixels_mean` (the floors' mean kNN top-1 over those seeds).

    Examples:
        >>> paired_summary([{"method": "byol", "library": "kerascl (jax)", "seed": 1, "knn_top1": 25.0},
        ...                 {"method": "byol", "library": "lightly", "seed": 1, "knn_top1": 24.0}])[0]["difference_mean"]
        1.0
    """
    import math

    summary = []
    floors = {r["seed"]: r for r in rows if r.get("library") == "floors" and "random_init_knn_top1" in r}
    lightly_seeds = {(r["method"], r["seed"]) for r in rows if r.get("library") == "lightly" and "knn_top1" in r}
    for (method, label), pairs in paired_runs(rows).items():
        n = len(pairs)
        diffs = [k - l for k, l in pairs]
        mean = sum(diffs) / n
        se = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1) / n) if n > 1 else None
        entry = {"method": method, "kerascl": label, "seeds": n,
                 "kerascl_mean": round(sum(k for k, _ in pairs) / n, 2),
                 "lightly_mean": round(sum(l for _, l in pairs) / n, 2), "difference_mean": round(mean, 2),
                 "difference_se": None if se is None else round(se, 2)}
        seeds = [r["seed"] for r in rows if r.get("library") == label and r.get("method") == method
                 and "knn_top1" in r and (method, r["seed"]) in lightly_seeds]
        if seeds and all(seed in floors for seed in seeds):
            for key in ("random_init", "raw_pixels"):
                entry[f"{key}_mean"] = round(sum(floors[seed][f"{key}_knn_top1"] for seed in seeds) / len(seeds), 2)
        summary.append(entry)
    return summary


def read_rows(path: str) -> list[dict]:
    """The result rows (JSON lines with `knn_top1` or `error`) of a saved run's output; other lines are skipped."""
    rows = []
    with open(path) as f:
        for line in f:
            if line.startswith("{"):
                row = json.loads(line)
                if "method" in row and "library" in row and "seed" in row:
                    rows.append(row)
    if not rows:
        raise SystemExit(f"{path!r} holds no result rows (JSON lines printed by this script).")
    return rows


def plot(rows: list[dict], out: str) -> None:
    """kNN top-1 per seed (one line per seed joins the two libraries) and the mean, one panel per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = paired_summary(rows)
    if not summary:
        raise SystemExit("No seed has a result for both libraries; nothing to plot.")
    pairs = paired_runs(rows)
    fig, axes = plt.subplots(1, len(summary), figsize=(3.2 * len(summary), 3.2), sharey=True, squeeze=False)
    for ax, s in zip(axes[0], summary):
        for kerascl_knn, lightly_knn in pairs[(s["method"], s["kerascl"])]:
            ax.plot([0, 1], [kerascl_knn, lightly_knn], "o-", color="0.6", markersize=4)
        ax.plot([0, 1], [s["kerascl_mean"], s["lightly_mean"]], "s-", color="C3", markersize=8, label="mean")
        floors = (("random_init_mean", "--", "random-init floor"), ("raw_pixels_mean", ":", "raw-pixel floor"))
        for key, style, name in floors:
            if key in s:
                ax.axhline(s[key], color="0.3", linestyle=style, linewidth=1, label=name)
        ax.set_xticks([0, 1], ["kerascl", "lightly"])
        ax.set_xlim(-0.4, 1.4)
        se = "" if s["difference_se"] is None else f" ± {s['difference_se']}"
        ax.set_title(f"{s['method']}, {s['kerascl']}\n{s['difference_mean']:+}{se} points", fontsize=8)
    axes[0][0].set_ylabel("kNN top-1 (%)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def worker(args) -> None:
    sys.path.insert(0, REPO)
    train_x, train_y = _load_split(os.path.join(args.data_dir, "train"), args.train_images, args.seed)
    test_x, test_y = _load_split(os.path.join(args.data_dir, "test"), args.test_images, args.seed)
    if args.library == "floors":
        print("RESULT " + json.dumps(_floors(args, train_x, train_y, test_x, test_y)), flush=True)
        return
    run = _kerascl if args.library == "kerascl" else _lightly
    bank, test, seconds, loss = run(args, train_x, train_y, test_x)
    from kerascl.probes.knn import knn_on_features

    knn = knn_on_features(bank, train_y, test, test_y, k=200, temperature=0.1)
    print("RESULT " + json.dumps({"knn_top1": round(100 * knn["top1"], 2), "train_seconds": round(seconds, 1),
                                  "final_loss": round(loss, 4)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="unpacked cifar10 folder with train/ and test/ (required to train)")
    parser.add_argument("--methods", nargs="+", default=["byol", "simsiam"], choices=["byol", "simsiam"])
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--train-images", type=int, default=2560)
    parser.add_argument("--test-images", type=int, default=1000)
    parser.add_argument("--backend", default="tensorflow", choices=["jax", "tensorflow"], help="kerascl's Keras backend")
    parser.add_argument("--lightly-workers", type=int, default=1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="one run per seed and library; the seed picks the images, the initialisation and the views")
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--libraries", nargs="+", default=["kerascl", "lightly"], choices=["kerascl", "lightly"])
    parser.add_argument("--match-byol-loss-scale", action="store_true",
                        help="kerascl BYOL with lr / 4 and weight decay x 4: the SGD updates of lightly's loss scale")
    parser.add_argument("--no-floors", action="store_true",
                        help="skip the floors (kNN on a random-init backbone and on raw pixels of each seed's split)")
    parser.add_argument("--weight-decay", choices=["decoupled", "coupled"], default="decoupled",
                        help="kerascl's SGD weight decay: Keras's decoupled form (default) or torch's L2 in the "
                             "gradient (kerascl.optimizers.L2SGD), which the lightly side uses")
    parser.add_argument("--head-init", choices=["keras", "torch"], default="keras",
                        help="kerascl's head Dense layers: Keras's Glorot init (default) or torch's nn.Linear init")
    parser.add_argument("--plot", help="write a PNG of the per-seed accuracies to this path")
    parser.add_argument("--from-results", nargs="+",
                        help="read the rows of saved runs (their printed output) instead of training")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--library", default="kerascl", help=argparse.SUPPRESS)
    parser.add_argument("--method", default="byol", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.from_results:
        rows = [row for path in args.from_results for row in read_rows(path)]
        _print_tables(rows)
        if args.plot:
            plot(rows, args.plot)
        return
    if not args.data_dir:
        parser.error("--data-dir is required (or --from-results to replot a saved run)")
    for split in ("train", "test"):
        if not os.path.isdir(os.path.join(args.data_dir, split)):
            raise SystemExit(f"{args.data_dir!r} has no {split}/ folder; unpack cifar10-jpg.tar.gz and pass its "
                             "cifar10 folder.")
    rows = []
    jobs = list(itertools.product(args.seeds, args.methods, args.libraries))
    if not args.no_floors:  # one floor run per seed, before that seed's libraries
        jobs = [job for seed in args.seeds for job in [(seed, "-", "floors")] + [j for j in jobs if j[0] == seed]]
    for seed, method, library in jobs:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--library", library, "--method", method,
               "--seed", str(seed)]
        for key in ("data_dir", "width", "epochs", "batch_size", "train_images", "test_images",
                    "lightly_workers"):
            cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
        if args.match_byol_loss_scale:
            cmd.append("--match-byol-loss-scale")
        cmd += ["--weight-decay", args.weight_decay, "--head-init", args.head_init]
        env = dict(os.environ, KERAS_BACKEND=args.backend, TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        found = [l[7:] for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
        label = f"kerascl ({args.backend}{', BYOL loss / 4' if args.match_byol_loss_scale and method == 'byol' else ''}"
        label += (", L2 weight decay" if args.weight_decay == "coupled" else "") + (
            ", torch head init" if args.head_init == "torch" else "") + ")"
        row = {"method": method, "library": library if library in ("lightly", "floors") else label,
               "width": args.width, "epochs": args.epochs, "batch_size": args.batch_size,
               "train_images": args.train_images, "test_images": args.test_images, "seed": seed}
        if found:
            row.update(json.loads(found[-1]))
        else:
            row["error"] = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        rows.append(row)
        attach_floors(rows)
        print(json.dumps(row), flush=True)
    _print_tables(rows)
    if args.plot:
        plot(rows, args.plot)


def _print_tables(rows: list[dict]) -> None:
    attach_floors(rows)
    print("\n| method | library | seed | kNN top-1 (%) | random-init floor (%) | raw-pixel floor (%) | train s "
          "| final loss |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.get("library") == "floors":
            continue
        print(f"| {r['method']} | {r['library']} | {r['seed']} | {r.get('knn_top1', r.get('error'))} "
              f"| {r.get('floor_random_init', '-')} | {r.get('floor_raw_pixels', '-')} "
              f"| {r.get('train_seconds', '')} | {r.get('final_loss', '')} |")
    print("\n| method | kerascl | seeds | kerascl mean | lightly mean | kerascl - lightly (mean +- SE) |\n"
          "|---|---|---|---|---|---|")
    for s in paired_summary(rows):
        se = "" if s["difference_se"] is None else f" +- {s['difference_se']}"
        print(f"| {s['method']} | {s['kerascl']} | {s['seeds']} | {s['kerascl_mean']} | {s['lightly_mean']} "
              f"| {s['difference_mean']:+}{se} |")
        if "random_init_mean" in s:
            print(f"  floors, mean over the same seeds (kNN top-1 %): random init {s['random_init_mean']}, "
                  f"raw pixels {s['raw_pixels_mean']}")
        print("SUMMARY " + json.dumps(s), flush=True)


if __name__ == "__main__":
    main()
