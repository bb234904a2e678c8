"""kNN accuracy after a short pretraining, kerascl and lightly side by side on the same CIFAR-10 images.

Both libraries train the same configuration (`kerascl.bench`): a CIFAR ResNet-18 of `--width`, lightly's CIFAR-10
head sizes, BYOL / SimSiam views at 32 px (kerascl presets; lightly's transforms with the same small-image
settings: no blur, jitter x 0.5, no normalisation), SGD (lr 0.06 * batch / 128, momentum 0.9, weight decay 5e-4)
with a cosine learning-rate decay over the run, BYOL's EMA momentum on the cosine schedule from 0.99 to 1. Then the
frozen backbone embeds the training images (the memory bank) and the test images, and the same weighted kNN
(`kerascl.probes.knn_on_features`, k = 200, T = 0.1, as lightly's and solo-learn's benchmarks) scores both.

Each (library, method) runs in its own process; the data are the first `--train-images` / `--test-images` files of
a fixed random order of the CIFAR-10 image folders (`/work/shared/data/cifar10-jpg.tar.gz`, unpacked).

Usage:
    python benchmarks/accuracy_side_by_side.py --data-dir /tmp/cifar/cifar10 \\
        [--methods byol simsiam] [--width 0.25] [--epochs 1] [--train-images 2560] [--test-images 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
    import keras

    from kerascl.augment import get_preset
    from kerascl.bench import BenchConfig, build_method, learning_rate
    from kerascl.data import from_arrays

    keras.utils.set_random_seed(args.seed)
    config = BenchConfig(method=args.method, backend=keras.backend.backend(), width=args.width,
                         batch_size=args.batch_size)
    steps = len(train_x) // args.batch_size
    dataset = from_arrays(train_x, batch_size=args.batch_size, augmenter=get_preset(args.method, 32, seed=args.seed),
                          seed=args.seed)
    model = build_method(config)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate(args.batch_size), steps * args.epochs)
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=5e-4))
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

    from kerascl.bench import BenchConfig, build_lightly_model, learning_rate, lightly_train_step, make_lightly_loader

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


def worker(args) -> None:
    sys.path.insert(0, REPO)
    train_x, train_y = _load_split(os.path.join(args.data_dir, "train"), args.train_images, args.seed)
    test_x, test_y = _load_split(os.path.join(args.data_dir, "test"), args.test_images, args.seed)
    run = _kerascl if args.library == "kerascl" else _lightly
    bank, test, seconds, loss = run(args, train_x, train_y, test_x)
    from kerascl.probes.knn import knn_on_features

    knn = knn_on_features(bank, train_y, test, test_y, k=200, temperature=0.1)
    print("RESULT " + json.dumps({"knn_top1": round(100 * knn["top1"], 2), "train_seconds": round(seconds, 1),
                                  "final_loss": round(loss, 4)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="unpacked cifar10 folder with train/ and test/")
    parser.add_argument("--methods", nargs="+", default=["byol", "simsiam"], choices=["byol", "simsiam"])
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--train-images", type=int, default=2560)
    parser.add_argument("--test-images", type=int, default=1000)
    parser.add_argument("--backend", default="jax", choices=["jax", "tensorflow"], help="kerascl's Keras backend")
    parser.add_argument("--lightly-workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--library", default="kerascl", help=argparse.SUPPRESS)
    parser.add_argument("--method", default="byol", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    for split in ("train", "test"):
        if not os.path.isdir(os.path.join(args.data_dir, split)):
            raise SystemExit(f"{args.data_dir!r} has no {split}/ folder; unpack cifar10-jpg.tar.gz and pass its "
                             "cifar10 folder.")
    rows = []
    for method in args.methods:
        for library in ("kerascl", "lightly"):
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--library", library, "--method", method]
            for key in ("data_dir", "width", "epochs", "batch_size", "train_images", "test_images",
                        "lightly_workers", "seed"):
                cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
            env = dict(os.environ, KERAS_BACKEND=args.backend, TF_CPP_MIN_LOG_LEVEL="3",
                       PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            found = [l[7:] for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
            row = {"method": method, "library": library if library == "lightly" else f"kerascl ({args.backend})",
                   "width": args.width, "epochs": args.epochs, "batch_size": args.batch_size,
                   "train_images": args.train_images, "test_images": args.test_images}
            if found:
                row.update(json.loads(found[-1]))
            else:
                row["error"] = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            print(json.dumps(row), flush=True)
            rows.append(row)
    print("\n| method | library | kNN top-1 (%) | train s | final loss |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['library']} | {r.get('knn_top1', r.get('error'))} | {r.get('train_seconds', '')} "
              f"| {r.get('final_loss', '')} |")


if __name__ == "__main__":
    main()
