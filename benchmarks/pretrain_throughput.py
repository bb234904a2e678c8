"""Where pretraining time goes: input pipeline alone, train step alone, end to end; kerascl and lightly.

For one shape (method, ResNet-18 width, image size, batch) this script times, each in its own process:

- `pipeline`: the input pipeline alone (kerascl: the `tf.data` pipeline with host views; lightly: the
  `DataLoader` with its transforms), batches per second turned into images per second;
- `step`: the train step alone, on one augmented batch repeated (no data loading, no augmentation);
- `end_to_end`: `kerascl.bench` end-to-end runs, over the knobs given (backend, placement, XLA, threads).

Every measurement prints one JSON line. The end-to-end lines are exactly those of `kerascl bench`.

Usage:
    python benchmarks/pretrain_throughput.py --method byol --width 0.25 --batch-size 128 \\
        [--parts pipeline step end_to_end] [--variants default xla_off xla_on device threads1]
    python benchmarks/pretrain_throughput.py --plot docs/benchmarks_throughput.png RESULTS.jsonl [...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # lightly_harness.py (the lightly side) sits beside this script
    sys.path.insert(0, HERE)
sys.path.insert(0, REPO)

from kerascl.bench import BenchConfig, machine_info, run_in_subprocess  # noqa: E402

#: End-to-end variants: name -> changes to the base configuration.
VARIANTS = {
    "default": {},
    "xla_on": {"jit_compile": True},
    "xla_off": {"jit_compile": False},
    "device": {"placement": "device"},
    "device_xla_off": {"placement": "device", "jit_compile": False},
    "threads1": {"intra_op_threads": 1, "inter_op_threads": 1},
    "data_threads1": {"data_threads": 1},
}


def _pipeline_kerascl(config: BenchConfig, batches: int) -> float:
    import tensorflow as tf

    from kerascl.augment import get_preset
    from kerascl.bench import load_images
    from kerascl.data import from_arrays

    ds = from_arrays(load_images(config), batch_size=config.batch_size, seed=config.seed,
                     augmenter=get_preset(config.method, image_size=config.image_size, seed=config.seed)).repeat()
    if config.data_threads:
        options = tf.data.Options()
        options.threading.private_threadpool_size = int(config.data_threads)
        ds = ds.with_options(options)
    iterator = iter(ds)
    for _ in range(config.warmup_steps):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return config.batch_size * batches / (time.perf_counter() - start)


def _pipeline_lightly(config: BenchConfig, batches: int) -> float:
    from kerascl.bench import load_images
    from lightly_harness import make_lightly_loader

    loader = make_lightly_loader(config, load_images(config))
    seen, start = 0, None
    while True:
        for _ in loader:
            seen += 1
            if seen == config.warmup_steps:
                start = time.perf_counter()
            if seen == config.warmup_steps + batches:
                return config.batch_size * batches / (time.perf_counter() - start)


def _step_kerascl(config: BenchConfig, steps: int) -> float:
    import keras
    import tensorflow as tf

    from kerascl.augment import get_preset
    from kerascl.bench import _StepTimer, build_method, learning_rate, load_images

    images = load_images(dataclasses.replace(config, num_images=config.batch_size)).astype("float32") / 255.0
    views = get_preset(config.method, image_size=config.image_size, seed=config.seed)(images, training=True)
    batch = {k: keras.ops.convert_to_numpy(v) for k, v in views.items()}
    ds = tf.data.Dataset.from_tensors(batch).repeat()
    model = build_method(config)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate(config.batch_size), momentum=0.9, weight_decay=5e-4),
                  jit_compile=config.jit_compile)
    total = config.warmup_steps + steps
    timer = _StepTimer(config.warmup_steps, total)
    model.fit(ds, epochs=1, steps_per_epoch=total, callbacks=[timer.callback], verbose=0)
    return config.batch_size * steps / (timer.end - timer.warm)


def _step_lightly(config: BenchConfig, steps: int) -> float:
    import torch
    from lightly.loss import NegativeCosineSimilarity

    from kerascl.bench import learning_rate
    from lightly_harness import build_lightly_model, lightly_train_step

    torch.manual_seed(config.seed)
    threads = config.lightly_threads or config.intra_op_threads
    if threads:
        torch.set_num_threads(int(threads))
    model = build_lightly_model(config.method, config.width)
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate(config.batch_size), momentum=0.9,
                                weight_decay=5e-4)
    views = [torch.rand(config.batch_size, 3, config.image_size, config.image_size) for _ in range(2)]
    criterion = NegativeCosineSimilarity()
    for _ in range(config.warmup_steps):
        float(lightly_train_step(model, optimizer, criterion, views, config.method, 0.99))
    start = time.perf_counter()
    for _ in range(steps):
        loss = lightly_train_step(model, optimizer, criterion, views, config.method, 0.99)
    float(loss)
    return config.batch_size * steps / (time.perf_counter() - start)


def _worker(part: str, library: str, config_json: str, count: int) -> None:
    config = BenchConfig.from_json(config_json)
    if config.intra_op_threads and library == "kerascl":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(config.intra_op_threads)
    fn = {("pipeline", "kerascl"): _pipeline_kerascl, ("pipeline", "lightly"): _pipeline_lightly,
          ("step", "kerascl"): _step_kerascl, ("step", "lightly"): _step_lightly}[(part, library)]
    print("RESULT " + json.dumps({"images_per_second": round(fn(config, count), 2)}), flush=True)


def _run_part(part: str, library: str, config: BenchConfig, count: int) -> dict:
    env = dict(os.environ, KERAS_BACKEND=config.backend, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", part, library, config.to_json(), str(count)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    found = [l[7:] for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    line = {"part": part, "library": library, "method": config.method, "width": config.width,
            "image_size": config.image_size, "batch_size": config.batch_size}
    if library == "kerascl" and part == "step":
        line.update(backend=config.backend, jit_compile=config.jit_compile)
    if found:
        line.update(json.loads(found[-1]))
    else:
        line["error"] = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return line


def throughput_bars(files: list[str]) -> dict[str, dict[str, float]]:
    """End-to-end images/s from saved `kerascl bench` lines: `{shape group: {library setting label: images/s}}`.

    A later line with the same group and label replaces an earlier one; lightly's figure from a `--compare` line is
    kept once per thread setting.
    """
    bars: dict[str, dict[str, float]] = {}
    for file in files:
        with open(file) as f:
            for raw in f:
                line = json.loads(raw) if raw.startswith("{") else {}
                if "images_per_second" not in line or "method" not in line or line.get("part", "end_to_end") != "end_to_end":
                    continue
                group = f"{line['method']}\nwidth {line.get('width')}, batch {line['batch_size']}"
                torch_threads = line.get("lightly_threads") or line.get("intra_op_threads") or "default"
                lightly_label = f"lightly, torch threads {torch_threads}"
                if line.get("library") == "lightly":
                    label = lightly_label
                else:
                    threads = line.get("intra_op_threads") or "default"
                    label = f"kerascl {line['backend']} {line.get('placement', 'host')}, threads {threads}"
                    if line.get("tf_onednn") is not None and line["backend"] == "tensorflow":
                        label += ", oneDNN " + ("on" if line["tf_onednn"] else "off")
                bars.setdefault(group, {})[label] = line["images_per_second"]
                if "lightly_images_per_second" in line:
                    bars[group].setdefault(lightly_label, line["lightly_images_per_second"])
    if not bars:
        raise SystemExit(f"No end-to-end result lines in {files}.")
    return bars


def plot(files: list[str], out: str) -> None:
    """Bar chart of end-to-end images/s (kerascl per backend and placement, lightly) from `kerascl bench` lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = throughput_bars(files)
    labels = sorted({k for g in bars.values() for k in g})
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        xs = [j + i * width for j in range(len(bars))]
        ax.bar(xs, [g.get(label, 0.0) for g in bars.values()], width, label=label)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(bars))], list(bars))
    ax.set_ylabel("images / s (end to end)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--plot":
        plot(sys.argv[3:], sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="byol", choices=["byol", "simsiam"])
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--backends", nargs="+", default=["jax", "tensorflow"])
    parser.add_argument("--parts", nargs="+", default=["pipeline", "step", "end_to_end"],
                        choices=["pipeline", "step", "end_to_end"])
    parser.add_argument("--variants", nargs="+", default=["default"], choices=sorted(VARIANTS))
    parser.add_argument("--lightly-workers", type=int, default=1)
    parser.add_argument("--lightly-threads", type=int, default=None, help="torch intra-op threads (lightly)")
    parser.add_argument("--compare", choices=["lightly"], default="lightly")
    args = parser.parse_args()
    print(json.dumps(machine_info()), flush=True)
    base = BenchConfig(method=args.method, width=args.width, image_size=args.image_size, batch_size=args.batch_size,
                       steps=args.steps, lightly_workers=args.lightly_workers, lightly_threads=args.lightly_threads)
    if "pipeline" in args.parts:
        for library in ("kerascl", "lightly") if args.compare else ("kerascl",):
            print(json.dumps(_run_part("pipeline", library, base, 4 * args.steps)), flush=True)
    if "step" in args.parts:
        for backend in args.backends:
            for variant in args.variants:
                config = dataclasses.replace(base, backend=backend, **VARIANTS[variant])
                print(json.dumps({**_run_part("step", "kerascl", config, args.steps), "variant": variant}),
                      flush=True)
        if args.compare:
            print(json.dumps(_run_part("step", "lightly", base, args.steps)), flush=True)
    if "end_to_end" in args.parts:
        for backend in args.backends:
            for variant in args.variants:
                config = dataclasses.replace(base, backend=backend, **VARIANTS[variant])
                line = {**run_in_subprocess(config, "kerascl"), "part": "end_to_end", "variant": variant}
                print(json.dumps(line), flush=True)
        if args.compare:
            for variant in [v for v in args.variants if v in ("default", "threads1")] or ["default"]:
                config = dataclasses.replace(base, **VARIANTS[variant])
                line = {**run_in_subprocess(config, "lightly"), "part": "end_to_end", "variant": variant}
                print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
