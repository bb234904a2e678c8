"""Where `model.fit` spends time outside the train steps: per-batch timestamps of a short kerascl fit.

Trains one method on the accuracy benchmark's setting (CIFAR ResNet-18 of `--width`, lightly's head sizes, the
method's 32 px preset on the host, SGD with cosine decay) for `--epochs` epochs over `--images` random-pixel images,
recording the time of every batch end, epoch start and end, and train end with a callback. It prints one JSON line:
the first step (tracing included), the median step, the slowest step and its index, and the time from the last
batch to `on_train_end` and from `on_train_end` to `fit` returning. With `--pipeline-only` it iterates the same
`tf.data` pipeline for the same epochs instead, sleeping `--sleep` seconds per batch in place of a step, and reports
each epoch's first batch and how long deleting the iterator took.

Usage:
    KERAS_BACKEND=tensorflow python benchmarks/fit_overhead.py --method simsiam --images 5120 --epochs 2
    KERAS_BACKEND=tensorflow python benchmarks/fit_overhead.py --method simsiam --images 5120 --epochs 2 --repeat
    KERAS_BACKEND=tensorflow python benchmarks/fit_overhead.py --images 5120 --epochs 2 --pipeline-only
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import kerascl  # noqa: E402,F401  (before keras: its TensorFlow defaults)


def _data(args):
    import numpy as np

    from kerascl.augment import get_preset
    from kerascl.data import from_arrays

    images = (np.random.RandomState(args.seed).rand(args.images, 32, 32, 3) * 255).astype("uint8")
    return from_arrays(images, batch_size=args.batch_size, augmenter=get_preset(args.method, 32, seed=args.seed),
                       seed=args.seed)


def pipeline_only(args) -> dict:
    """Iterates the pipeline alone: first batch per epoch and iterator deletion, in seconds."""
    dataset = _data(args)
    epochs = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        iterator, first, batches = iter(dataset), None, 0
        for _batch in iterator:
            first = time.perf_counter() - start if first is None else first
            batches += 1
            time.sleep(args.sleep)
        loop_end = time.perf_counter()
        del iterator
        gc.collect()
        epochs.append({"first_batch_s": round(first, 2), "batches": batches,
                       "delete_iterator_s": round(time.perf_counter() - loop_end, 2)})
    return {"part": "pipeline_only", "epochs": epochs}


def fit(args) -> dict:
    """Per-batch timing of `model.fit`."""
    import keras
    import numpy as np

    from kerascl.bench import BenchConfig, build_method, learning_rate

    keras.utils.set_random_seed(args.seed)
    dataset = _data(args)
    steps_per_epoch = args.images // args.batch_size
    if args.repeat:
        dataset = dataset.repeat()
    model = build_method(BenchConfig(method=args.method, backend=keras.backend.backend(), width=args.width,
                                     batch_size=args.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate(args.batch_size), steps_per_epoch * args.epochs)
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=5e-4))
    batch_ends, events = [], {}
    callback = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs=None: batch_ends.append(time.perf_counter()),
        on_train_end=lambda logs=None: events.setdefault("train_end", time.perf_counter()),
    )
    start = time.perf_counter()
    model.fit(dataset, epochs=args.epochs, steps_per_epoch=steps_per_epoch if args.repeat else None, verbose=0,
              callbacks=[callback])
    returned = time.perf_counter()
    steps = np.diff(batch_ends)
    return {
        "part": "fit", "backend": keras.backend.backend(), "method": args.method, "images": args.images,
        "epochs": args.epochs, "repeat": args.repeat, "steps": len(batch_ends),
        "first_step_s": round(batch_ends[0] - start, 2), "median_step_s": round(float(np.median(steps)), 3),
        "slowest_step_s": round(float(steps.max()), 2), "slowest_step_index": int(steps.argmax()) + 1,
        "last_batch_to_train_end_s": round(events["train_end"] - batch_ends[-1], 2),
        "train_end_to_return_s": round(returned - events["train_end"], 2), "total_s": round(returned - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="simsiam", choices=["byol", "simsiam"])
    parser.add_argument("--images", type=int, default=5120)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--repeat", action="store_true", help="`.repeat()` the data and pass steps_per_epoch")
    parser.add_argument("--pipeline-only", action="store_true", help="iterate the tf.data pipeline alone")
    parser.add_argument("--sleep", type=float, default=0.6, help="seconds per batch in place of a step")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    if args.images < args.batch_size:
        parser.error(f"--images ({args.images}) must be at least one batch ({args.batch_size}).")
    print(json.dumps(pipeline_only(args) if args.pipeline_only else fit(args)), flush=True)


if __name__ == "__main__":
    main()
