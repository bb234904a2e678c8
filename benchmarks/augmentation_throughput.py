"""Augmentation throughput of the BYOL preset: host (tf.data) vs device (compiled call) placement.

Measures images per second of `kerascl.augment.get_preset("byol")` at 32 px (small-image overrides: no blur,
jitter x 0.5) and 96 px (paper settings), for

- host placement: the augmenter mapped over a batched `tf.data` pipeline (TensorFlow ops on the CPU, whatever
  the Keras backend);
- device placement: the augmenter called inside a compiled function, `jax.jit` on the JAX backend and
  `tf.function(jit_compile=True)` on the TensorFlow backend (on this machine's default device);
- torchvision, when `torch` and `torchvision` are importable: BYOL's two view transforms as lightly builds them
  (per-image PIL transforms in a DataLoader-style loop, one process), on the same images.

Each configuration prints one JSON line; the last lines give device / host ratios.

Usage:
    python benchmarks/augmentation_throughput.py [--sizes 32 96] [--batch-size 256] [--batches 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _dataset_images(n: int, size: int, seed: int = 0):
    import numpy as np

    return np.random.RandomState(seed).randint(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def _host(size: int, batch_size: int, batches: int) -> dict:
    import tensorflow as tf

    from kerascl.augment import get_preset

    images = _dataset_images(batch_size * (batches + 1), size)
    augmenter = get_preset("byol", image_size=size, seed=0)
    ds = (
        tf.data.Dataset.from_tensor_slices(images)
        .map(lambda x: tf.cast(x, tf.float32) / 255.0, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size, drop_remainder=True)
        .map(augmenter, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    iterator = iter(ds)
    next(iterator)  # warm-up: tracing
    start = time.perf_counter()
    count = 0
    for batch in iterator:
        count += int(batch["view_1"].shape[0])
    return {"placement": "host (tf.data)", "seconds": time.perf_counter() - start, "images": count}


def _device(size: int, batch_size: int, batches: int) -> dict:
    import keras

    from kerascl.augment import get_preset

    images = (_dataset_images(batch_size, size).astype("float32") / 255.0)
    augmenter = get_preset("byol", image_size=size, seed=0)
    if keras.backend.backend() == "jax":
        import jax

        x = jax.device_put(images)
        state = [v.value for v in augmenter.non_trainable_variables]
        step = jax.jit(lambda s, x: augmenter.stateless_call([], s, x, training=True))

        def run(state):
            out, state = step(state, x)
            jax.block_until_ready(out)
            return state
    else:
        import tensorflow as tf

        x = tf.constant(images)
        step = tf.function(lambda x: augmenter(x, training=True), jit_compile=True)

        def run(state):
            out = step(x)
            _ = out["view_1"].numpy()
            return state

        state = None
    state = run(state)  # warm-up: compilation
    start = time.perf_counter()
    for _ in range(batches):
        state = run(state)
    return {"placement": "device (compiled call)", "seconds": time.perf_counter() - start, "images": batch_size * batches}


def _torchvision(size: int, batch_size: int, batches: int) -> dict | None:
    try:
        import torch  # noqa: F401
        import torchvision.transforms as T
        from PIL import Image
    except ImportError:
        return None
    small = size <= 64
    strength = 0.5 if small else 1.0

    def view(blur_p: float, solarize_p: float):
        ops = [
            T.RandomResizedCrop(size, scale=(0.08, 1.0)),
            T.RandomHorizontalFlip(0.5),
            T.RandomApply([T.ColorJitter(0.4 * strength, 0.4 * strength, 0.2 * strength, 0.1 * strength)], p=0.8),
            T.RandomGrayscale(0.2),
        ]
        if not small:
            ops.append(T.RandomApply([T.GaussianBlur(kernel_size=2 * int(0.1 * size / 2) + 1, sigma=(0.1, 2.0))], p=blur_p))
        ops += [T.RandomSolarize(threshold=128, p=solarize_p), T.ToTensor()]
        return T.Compose(ops)

    view_1, view_2 = view(1.0, 0.0), view(0.1, 0.2)
    images = [Image.fromarray(a) for a in _dataset_images(batch_size, size)]
    import torch

    def run():
        v1 = torch.stack([view_1(im) for im in images])
        v2 = torch.stack([view_2(im) for im in images])
        return v1, v2

    run()
    start = time.perf_counter()
    for _ in range(batches):
        run()
    return {"placement": "torchvision (per image, 1 process)", "seconds": time.perf_counter() - start, "images": batch_size * batches}


def worker(args: argparse.Namespace) -> None:
    sys.path.insert(0, REPO)
    if args.torchvision:
        # Its own process: torch loaded beside TensorFlow and JAX in one process can crash (seen: a segfault).
        backend = "torch"
    else:
        import keras

        backend = keras.backend.backend()
    for size in args.sizes:
        results = []
        if args.torchvision:
            tv = _torchvision(size, args.batch_size, args.batches)
            if tv is not None:
                results.append(tv)
        else:
            if args.host:
                results.append(_host(size, args.batch_size, args.batches))
            results.append(_device(size, args.batch_size, args.batches))
        for r in results:
            line = {
                "preset": "byol",
                "image_size": size,
                "batch_size": args.batch_size,
                "views": 2,
                "backend": "any (TensorFlow ops)" if r["placement"].startswith("host") else backend,
                "placement": r["placement"],
                "images_per_s": round(r["images"] / r["seconds"], 1),
            }
            print(json.dumps(line), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 96])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--batches", type=int, default=8, help="timed batches per configuration (after 1 warm-up)")
    parser.add_argument("--backends", nargs="+", default=["jax", "tensorflow"])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--torchvision", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    print(json.dumps({"machine": platform.platform(), "processor": platform.processor() or platform.machine(),
                      "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}), flush=True)
    lines = []
    runs = [(backend, ["--host"] if i == 0 else []) for i, backend in enumerate(args.backends)]
    runs.append((args.backends[0], ["--torchvision"]))  # skipped inside when torch is not importable
    for backend, extra in runs:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--sizes", *map(str, args.sizes),
               "--batch-size", str(args.batch_size), "--batches", str(args.batches), *extra]
        env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   TF_CPP_MIN_LOG_LEVEL="3")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            errors = [l for l in proc.stderr.strip().splitlines() if not l.startswith(("I0000", "W0000", "E0000"))]
            print(json.dumps({"backend": backend, "worker": extra, "exit_code": proc.returncode,
                              "error": errors[-1:]}), flush=True)
            continue
        for raw in proc.stdout.splitlines():
            if raw.startswith("{"):
                print(raw, flush=True)
                lines.append(json.loads(raw))
    for size in args.sizes:
        host = [l for l in lines if l["image_size"] == size and l["placement"].startswith("host")]
        for other in (l for l in lines if l["image_size"] == size and not l["placement"].startswith("host")):
            if host:
                ratio = other["images_per_s"] / host[0]["images_per_s"]
                print(json.dumps({"image_size": size, "ratio": f"{other['placement']} [{other['backend']}] / host",
                                  "value": round(ratio, 2)}), flush=True)


if __name__ == "__main__":
    main()
