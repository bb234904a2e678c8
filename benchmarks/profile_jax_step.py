"""Where the JAX train step spends its time on a CPU: XLA's operations by kind, and each convolution of the backbone.

Two measurements, one JSON line each (the process's `XLA_FLAGS` recorded in every line):

- `--step`: traces `--steps` training steps of `kerascl bench`'s BYOL / SimSiam model (CIFAR ResNet-18, lightly's
  head sizes, host augmentation on random pixels) with JAX's profiler and sums the XLA operations' time over both
  worker threads, by kind (the operation's name without its number: `ynn_fusion`, `transpose_copy_fusion`, ...),
  and the mean loss of the traced steps (seeded, so two settings of `XLA_FLAGS` can be checked for equal numbers).
- `--convs`: times every 3x3 convolution shape of the CIFAR ResNet-18 at `--width` (two views of `--batch-size`
  images, as BYOL's online network sees them), forward and forward + backward, jitted alone, in JAX and in
  TensorFlow (`--library`).

`import kerascl` adds kerascl's XLA:CPU default to `XLA_FLAGS` (see `kerascl/cpu_defaults.py`); to profile XLA's
own default, run with `KERASCL_XLA_CPU_DEFAULTS=0`:

    KERASCL_XLA_CPU_DEFAULTS=0 python benchmarks/profile_jax_step.py --step --convs
    python benchmarks/profile_jax_step.py --step --convs
    python benchmarks/profile_jax_step.py --convs --library tensorflow

The trace needs TensorFlow's copy of the profiler's protobuf (`tensorflow.tsl.profiler.protobuf.xplane_pb2`).
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def conv_shapes(width: float, batch: int) -> list[tuple[int, int, int, int, int]]:
    """(images, side, channels in, channels out, stride) of each distinct 3x3 convolution of the CIFAR ResNet-18."""
    widths = [max(1, int(round(c * width))) for c in (64, 128, 256, 512)]
    shapes = [(batch, 32, 3, widths[0], 1), (batch, 32, widths[0], widths[0], 1)]
    side = 32
    for previous, channels in zip(widths, widths[1:]):
        shapes.append((batch, side, previous, channels, 2))
        side //= 2
        shapes.append((batch, side, channels, channels, 1))
    return shapes


def _best_milliseconds(run, wait, repeats: int = 3, calls: int = 10) -> float:
    wait(run())
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            out = run()
        wait(out)
        best = min(best, (time.perf_counter() - start) / calls * 1000)
    return best


def time_convs(library: str, width: float, batch: int) -> list[dict]:
    rows = []
    for images, side, c_in, c_out, stride in conv_shapes(width, batch):
        if library == "jax":
            import jax
            import jax.numpy as jnp

            x, w = jnp.ones((images, side, side, c_in)), jnp.full((3, 3, c_in, c_out), 0.01)

            def conv(w, x, stride=stride):
                return jax.lax.conv_general_dilated(x, w, (stride, stride), "SAME",
                                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))

            forward = jax.jit(conv)
            backward = jax.jit(jax.grad(lambda w, x: (conv(w, x) ** 2).sum(), argnums=(0, 1)))
            wait = jax.block_until_ready
        else:
            import tensorflow as tf

            x, w = tf.ones((images, side, side, c_in)), tf.fill((3, 3, c_in, c_out), 0.01)
            forward = tf.function(lambda w, x, stride=stride: tf.nn.conv2d(x, w, stride, "SAME"))

            @tf.function
            def backward(w, x, stride=stride):
                with tf.GradientTape() as tape:
                    tape.watch([w, x])
                    loss = tf.reduce_sum(tf.nn.conv2d(x, w, stride, "SAME") ** 2)
                return tape.gradient(loss, [w, x])

            def wait(out):
                return [t.numpy() for t in tf.nest.flatten(out)]
        rows.append({"shape": [images, side, side, c_in, c_out], "stride": stride,
                     "forward_ms": round(_best_milliseconds(lambda: forward(w, x), wait), 2),
                     "forward_backward_ms": round(_best_milliseconds(lambda: backward(w, x), wait), 2)})
    return rows


def op_time_by_kind(trace_dir: str, steps: int) -> tuple[float, list[tuple[str, float, float]]]:
    """Total XLA operation time per step (ms, summed over XLA's worker threads) and (kind, ms per step, calls per
    step) by kind, largest first, from the `.xplane.pb` JAX's profiler wrote under `trace_dir`."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    with open(glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True)[0], "rb") as f:
        space.ParseFromString(f.read())
    total, calls = collections.Counter(), collections.Counter()
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_XLA") or "PjRtCpuClient" in line.name:
                continue  # only the threads that run XLA's operations
            for event in line.events:
                name = names.get(event.metadata_id, "?")
                if name.startswith(("ThunkExecutor", "end:")):
                    continue
                kind = re.sub(r"[._]\d+$", "", name)
                total[kind] += event.duration_ps / 1e9
                calls[kind] += 1
    kinds = [(kind, ms / steps, calls[kind] / steps) for kind, ms in total.most_common()]
    return sum(total.values()) / steps, kinds


def profile_step(method: str, width: float, batch: int, steps: int) -> dict:
    os.environ["KERAS_BACKEND"] = "jax"
    import jax

    from kerascl.bench import BenchConfig, compiled_bench_model

    config = BenchConfig(method=method, backend="jax", batch_size=batch, width=width, seed=0)
    model, dataset = compiled_bench_model(config)
    model.fit(dataset, epochs=1, steps_per_epoch=5, verbose=0)  # compile and warm up outside the trace
    with tempfile.TemporaryDirectory() as trace_dir:
        start = time.perf_counter()
        jax.profiler.start_trace(trace_dir)
        history = model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
        jax.profiler.stop_trace()
        wall = (time.perf_counter() - start) / steps * 1000
        total, kinds = op_time_by_kind(trace_dir, steps)
    return {"measure": "step", "method": method, "width": width, "batch_size": batch, "steps": steps,
            "loss_after_steps": float(history.history["loss"][-1]),  # the same seed: compare across XLA_FLAGS
            "wall_ms_per_step_traced": round(wall, 1), "xla_op_ms_per_step": round(total, 1),
            "by_kind": [{"kind": k, "ms_per_step": round(ms, 2), "calls_per_step": round(n, 1)}
                        for k, ms, n in kinds[:15]]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step", action="store_true", help="profile the JAX train step by operation kind")
    parser.add_argument("--convs", action="store_true", help="time each convolution shape alone")
    parser.add_argument("--library", choices=["jax", "tensorflow"], default="jax", help="for --convs")
    parser.add_argument("--method", choices=["byol", "simsiam"], default="byol")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    if not (args.step or args.convs):
        parser.error("nothing to measure: pass --step, --convs or both")
    import kerascl  # noqa: F401  (kerascl's CPU defaults, before the backends start)
    from kerascl.bench import machine_info

    common = {"xla_flags": os.environ.get("XLA_FLAGS", ""), **machine_info()}
    if args.step:
        print(json.dumps({**profile_step(args.method, args.width, args.batch_size, args.steps), **common}),
              flush=True)
    if args.convs:
        rows = time_convs(args.library, args.width, 2 * args.batch_size)
        print(json.dumps({"measure": "convs", "library": args.library, "rows": rows,
                          "forward_ms": round(sum(r["forward_ms"] for r in rows), 1),
                          "forward_backward_ms": round(sum(r["forward_backward_ms"] for r in rows), 1),
                          **common}), flush=True)


if __name__ == "__main__":
    main()
