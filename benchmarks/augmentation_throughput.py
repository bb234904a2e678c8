"""Augmentation throughput of the BYOL preset: host (tf.data) vs device (compiled call) placement.

Measures images per second of `kerascl.augment.get_preset("byol")` at 32 px (small-image overrides: no blur,
jitter x 0.5) and 96 px (paper settings), and of the mixed pipeline `byol_keras` (the same views with Keras's
`keras.layers.RandomFlip("horizontal")` and `keras.layers.RandomGrayscale(0.2)` in place of kerascl's flip and
grayscale stages, through `KerasAugmentation`), for

- host placement: the augmenter mapped over a batched `tf.data` pipeline (TensorFlow ops on the CPU, whatever
  the Keras backend);
- device placement: the augmenter called inside a compiled function, `jax.jit` on the JAX backend and
  `tf.function(jit_compile=True)` on the TensorFlow backend (on this machine's default device);
- torchvision, when `torch` and `torchvision` are importable: BYOL's two view transforms as lightly builds them
  (per-image PIL transforms in a DataLoader-style loop, one process), on the same images.

Each configuration prints one JSON line; the last lines give device / host ratios and byol_keras / byol ratios.
The device placements of the pipelines are timed batch by batch in turn, so that a change of load on a shared
machine affects all of them; the host pipelines (which prefetch in the background) are timed one after another.

Usage:
    python benchmarks/augmentation_throughput.py [--sizes 32 96] [--batch-size 256] [--batches 8]
        [--pipelines byol byol_keras]
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


def _augmenter(pipeline: str, size: int):
    """The BYOL preset, or (`byol_keras`) its views with Keras's flip and grayscale layers in place of kerascl's."""
    from kerascl.augment import get_preset

    augmenter = get_preset("byol", image_size=size, seed=0)
    if pipeline == "byol":
        return augmenter
    import keras

    from kerascl.augment import KerasAugmentation, MultiViewAugmentation, ViewAugmentation

    views = []
    for view in augmenter.views:
        stages = {name: layer for name, layer in view.stages.items() if name not in ("flip", "grayscale")}
        extra = [
            KerasAugmentation(keras.layers.RandomFlip("horizontal"), after="crop"),  # p = 0.5, like the preset
            KerasAugmentation(keras.layers.RandomGrayscale(factor=0.2), after="color_jitter"),
        ]
        views.append(ViewAugmentation(size, **stages, extra=extra))
    return MultiViewAugmentation(views, seed=0)


def _host(pipeline: str, size: int, batch_size: int, batches: int) -> dict:
    import tensorflow as tf

    images = _dataset_images(batch_size * (batches + 1), size)
    augmenter = _augmenter(pipeline, size)
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


def _device_step(pipeline: str, size: int, batch_size: int):
    """A function that augments one batch inside a compiled call and waits for it; compiled on its first call."""
    import keras

    images = (_dataset_images(batch_size, size).astype("float32") / 255.0)
    augmenter = _augmenter(pipeline, size)
    if keras.backend.backend() == "jax":
        import jax

        x = jax.device_put(images)
        state = [v.value for v in augmenter.non_trainable_variables]
        step = jax.jit(lambda s, x: augmenter.stateless_call([], s, x, training=True))

        def run():
            nonlocal state
            out, state = step(state, x)
            jax.block_until_ready(out)
    else:
        import tensorflow as tf

        x = tf.constant(images)
        step = tf.function(lambda x: augmenter(x, training=True), jit_compile=True)

        def run():
            _ = step(x)["view_1"].numpy()

    return run


def _device(pipelines: list[str], size: int, batch_size: int, batches: int) -> list[tuple[str, dict]]:
    """Device placement of each pipeline, their timed batches alternating (a load change hits all of them)."""
    runs = {pipeline: _device_step(pipeline, size, batch_size) for pipeline in pipelines}
    for run in runs.values():
        run()  # warm-up: compilation
    seconds = dict.fromkeys(runs, 0.0)
    for _ in range(batches):
        for pipeline, run in runs.items():
            start = time.perf_counter()
            run()
            seconds[pipeline] += time.perf_counter() - start
    return [
        (p, {"placement": "device (compiled call)", "seconds": seconds[p], "images": batch_size * batches})
        for p in pipelines
    ]


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
                results.append(("byol", tv))
        else:
            if args.host:
                # Sequential: a prefetching tf.data pipeline keeps working while another one is timed.
                for pipeline in args.pipelines:
                    results.append((pipeline, _host(pipeline, size, args.batch_size, args.batches)))
            results.extend(_device(args.pipelines, size, args.batch_size, args.batches))
        for pipeline, r in results:
            line = {
                "preset": pipeline,
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
    parser.add_argument("--pipelines", nargs="+", default=["byol", "byol_keras"], choices=["byol", "byol_keras"],
                        help="byol: the preset; byol_keras: Keras's RandomFlip and RandomGrayscale in its views")
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
               "--batch-size", str(args.batch_size), "--batches", str(args.batches),
               "--pipelines", *args.pipelines, *extra]
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
        for pipeline in args.pipelines:
            mine = [l for l in lines if l["image_size"] == size and l["preset"] == pipeline]
            host = [l for l in mine if l["placement"].startswith("host")]
            for other in (l for l in mine if not l["placement"].startswith("host")):
                if host:
                    ratio = other["images_per_s"] / host[0]["images_per_s"]
                    print(json.dumps({"image_size": size, "preset": pipeline,
                                      "ratio": f"{other['placement']} [{other['backend']}] / host",
                                      "value": round(ratio, 2)}), flush=True)
        # The mixed pipeline against the preset, placement by placement.
        for mixed in (l for l in lines if l["image_size"] == size and l["preset"] == "byol_keras"):
            base = [l for l in lines if l["image_size"] == size and l["preset"] == "byol"
                    and l["placement"] == mixed["placement"] and l["backend"] == mixed["backend"]]
            if base:
                print(json.dumps({"image_size": size, "ratio": f"byol_keras / byol, {mixed['placement']} "
                                  f"[{mixed['backend']}]", "value": round(mixed["images_per_s"] / base[0]["images_per_s"], 2)}),
                      flush=True)


if __name__ == "__main__":
    main()
