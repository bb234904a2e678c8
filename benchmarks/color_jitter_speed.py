"""Colour jitter and whole-view augmentation speed on the host path (TensorFlow ops, as `tf.data` runs them).

`RandomColorJitter` draws the order of its four adjustments per sample (torchvision's `ColorJitter`). A batched
exact version cannot run one op per position for every sample, since each position holds every op for some
sample. The straightforward form evaluates all four adjustments at each of the four positions and keeps each
sample's own (16 adjustments, four of them the RGB -> HSV -> RGB hue round trip). kerascl's form runs the cheap
adjustments before hue, hue once, then those after it, each position one fused step. This script times both on
the same images and factors, checks that they agree, and times the views of the presets that use the jitter
(one `MultiViewAugmentation` call per batch, inside `tf.function`, as in `tf.data`).

Usage:
    python benchmarks/color_jitter_speed.py [--batch-size 1024] [--repeats 10] [--rounds 2]

One JSON line per measurement (milliseconds per batch, best of `--rounds` rounds of `--repeats` calls), then the
ratios; the machine line comes first.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def all_positions_jitter(bk, layer, images, transformation):
    """The straightforward batched form: every active adjustment at every position, then a per-sample select."""
    from kerascl.augment import _image_ops
    from kerascl.augment.random_color_jitter import _ADJUST, PERMUTATIONS

    factors, order = transformation["factors"], transformation["order"]
    identity = bk.core.convert_to_tensor([1.0, 1.0, 1.0, 0.0], "float32")
    applied = bk.numpy.any(bk.numpy.not_equal(factors, identity[None, :]), axis=1)
    active = [s > 0 for s in (layer.brightness, layer.contrast, layer.saturation, layer.hue)]
    ops_at = bk.numpy.take(bk.core.convert_to_tensor(PERMUTATIONS, "int32"), order, axis=0)
    out = images
    for position in range(4):
        current = out
        for op in range(4):
            if active[op]:
                adjusted = _ADJUST[op](bk, current, factors[:, op])
                out = _image_ops.select(bk, ops_at[:, position] == op, adjusted, out)
    return _image_ops.select(bk, applied, out, images)


def _best_ms(fn, x, repeats: int, rounds: int) -> float:
    fn(x)  # tracing
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            out = fn(x)
        _ = (out["view_1"] if isinstance(out, dict) else out).numpy()
        best = min(best, (time.perf_counter() - start) / repeats * 1000.0)
    return round(best, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from kerascl.augment import RandomColorJitter, get_preset
    from kerascl.bench import machine_info
    from kerascl.methods.hierarchical import hierarchical_views

    print(json.dumps({**machine_info(), "tensorflow": tf.__version__}), flush=True)
    x = tf.constant(np.random.RandomState(0).rand(args.batch_size, args.image_size, args.image_size, 3), tf.float32)
    lines = []

    # The jitter alone, both forms on the same draws (SimSiam's strengths, p = 0.8).
    layer = RandomColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8, seed=0)
    bk = layer.backend
    transformation = layer.get_random_transformation(x)
    current = tf.function(lambda im: layer.transform_images(im, transformation))
    straightforward = tf.function(lambda im: all_positions_jitter(bk, layer, im, transformation))
    difference = float(tf.reduce_max(tf.abs(current(x) - straightforward(x))))
    for name, fn in (("jitter, all positions (16 adjustments)", straightforward), ("jitter, kerascl", current)):
        lines.append({"what": name, "ms_per_batch": _best_ms(fn, x, args.repeats, args.rounds)})
        print(json.dumps({**lines[-1], "batch_size": args.batch_size}), flush=True)
    print(json.dumps({"max_abs_difference": difference}), flush=True)

    # Whole views, per preset (the multi-view layer, 2 views; the hierarchical augmenter, 8), with the jitter in
    # either form: the straightforward one swapped in for `RandomColorJitter._random_order_batch`.
    kerascl_form = RandomColorJitter._random_order_batch

    def swapped(self, bk, images, factors, order, active):
        return all_positions_jitter(bk, self, images, {"factors": factors, "order": order})

    makers = {
        "simsiam views (2)": lambda: get_preset("simsiam", image_size=args.image_size, seed=0),
        "byol views (2)": lambda: get_preset("byol", image_size=args.image_size, seed=0),
        "hierarchical views (8)": lambda: hierarchical_views(4, image_size=args.image_size, seed=0),
    }
    for name, make in makers.items():
        timings = {}
        for form, method in (("all positions", swapped), ("kerascl", kerascl_form)):
            RandomColorJitter._random_order_batch = method
            augmenter = make()
            fn = tf.function(lambda im, a=augmenter: a(im, training=True))
            timings[form] = _best_ms(fn, x, args.repeats, args.rounds)
            print(json.dumps({"what": f"{name}, jitter {form}", "ms_per_batch": timings[form],
                              "batch_size": args.batch_size}), flush=True)
        RandomColorJitter._random_order_batch = kerascl_form
        lines.append({"what": name, **timings})
    ratio = lines[0]["ms_per_batch"] / lines[1]["ms_per_batch"]
    print(json.dumps({"ratio": "jitter all positions / kerascl", "value": round(ratio, 2)}), flush=True)
    for line in lines[2:]:
        print(json.dumps({"ratio": f"{line['what']}: all positions / kerascl",
                          "value": round(line["all positions"] / line["kerascl"], 2)}), flush=True)


if __name__ == "__main__":
    main()
