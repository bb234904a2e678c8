"""Where a hierarchical-augmentation-invariance step's time goes, against SimSiam's, on the TensorFlow backend.

The method forwards view pair k only up to backbone stage k, then through a side branch (k < K), so a step of
K = 4 pairs runs the backbone's stem and first stages many times. This script times, at the `hierarchical` claim's
sizes (CIFAR ResNet-18 width 0.25, cifar10-simsiam-1h's heads, embeddings 128 wide):

- the whole training step (`fit` on one fixed batch, augmentation excluded) of SimSiam and of the method;
- forward + backward of each part for one view: the backbone up to stage 1, 2 and 3 (the taps) and whole, each side
  branch with and without its attention mask, and one projector.

A benchmark, not library code: the parts are timed with `tf.GradientTape` inside `tf.function`.
One JSON line per measurement (milliseconds), after a machine line.

Usage:
    python benchmarks/hierarchical_step_parts.py [--batch-size 128] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # kerascl from this checkout

import kerascl  # noqa: E402,F401  (before keras: kerascl's TensorFlow settings apply at import)

HEADS = dict(projection_dim=128, hidden_dim=512, prediction_hidden_dim=64, num_projector_layers=3, head_init="torch")


def _step_ms(model, batch, repeats: int) -> float:
    import keras
    import tensorflow as tf

    data = tf.data.Dataset.from_tensors(batch).repeat()
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    model.fit(data, steps_per_epoch=3, epochs=1, verbose=0)  # compiles
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=repeats * 2, epochs=1, verbose=0)
    return (time.perf_counter() - start) / (repeats * 2) * 1000.0


def _part_ms(fn, variables, inputs, repeats: int) -> float:
    import tensorflow as tf

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(fn(x)))
        return loss, tape.gradient(loss, variables)

    step(inputs)
    step(inputs)
    start = time.perf_counter()
    for _ in range(repeats):
        loss, _ = step(inputs)
    float(loss)
    return (time.perf_counter() - start) / repeats * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from kerascl.augment import get_preset
    from kerascl.backbones import ResNet18
    from kerascl.bench import machine_info
    from kerascl.methods import HierarchicalAugmentationInvariance, SimSiam, hierarchical_views
    from kerascl.methods.hierarchical_heads import StageSideBranch

    print(json.dumps({**machine_info(), "tensorflow": tf.__version__, "keras": keras.__version__}), flush=True)
    images = np.random.RandomState(0).rand(args.batch_size, 32, 32, 3).astype("float32")

    def emit(what: str, ms: float) -> None:
        print(json.dumps({"what": what, "ms": round(ms, 1), "batch_size": args.batch_size}), flush=True)

    def backbone():
        return ResNet18(variant="cifar", width=0.25, input_shape=(32, 32, 3))

    two_views = {k: keras.ops.convert_to_numpy(v) for k, v in
                 get_preset("hierarchical_stage_4", image_size=32, seed=0)(images).items()}
    simsiam_ms = _step_ms(SimSiam(backbone(), **HEADS), two_views, args.repeats)
    emit("SimSiam training step (2 views)", simsiam_ms)
    eight_views = {k: keras.ops.convert_to_numpy(v) for k, v in hierarchical_views(4, 32, seed=0)(images).items()}
    model = HierarchicalAugmentationInvariance(backbone(), embedding_dim=128, **HEADS)
    hierarchical_ms = _step_ms(model, eight_views, args.repeats)
    emit("hierarchical training step (4 pairs)", hierarchical_ms)
    print(json.dumps({"ratio": "hierarchical / SimSiam step", "value": round(hierarchical_ms / simsiam_ms, 2)}))

    x = tf.constant(images)
    variables = model.backbone.trainable_variables
    parts = 0.0
    for k, tap in enumerate(model._taps.items, start=1):
        ms = _part_ms(lambda im, tap=tap: tap(im, training=True), variables, x, args.repeats)
        parts += ms
        emit(f"backbone up to stage {k}, one view", ms)
    ms = _part_ms(lambda im: model.backbone(im, training=True), variables, x, args.repeats)
    parts += ms
    emit("whole backbone, one view", ms)
    for k, (tap, branch) in enumerate(zip(model._taps.items, model.branches), start=1):
        mapped = tap(x[:2])
        mapped = mapped[0] if isinstance(mapped, (list, tuple)) else mapped
        stage_map = tf.constant(np.random.RandomState(k).rand(args.batch_size, *mapped.shape[1:]).astype("float32"))
        ms = _part_ms(lambda m, b=branch: b(m, training=True), branch.trainable_variables, stage_map, args.repeats)
        parts += ms
        emit(f"side branch {k} {tuple(mapped.shape[1:])}, one view", ms)
        plain = StageSideBranch(branch.reduced_width, branch.num_downsamples, branch.output_dim, attention=False)
        plain.build(stage_map.shape)
        ms = _part_ms(lambda m, b=plain: b(m, training=True), plain.trainable_variables, stage_map, args.repeats)
        emit(f"side branch {k} without attention, one view", ms)
    features = tf.constant(np.random.RandomState(9).rand(args.batch_size, 256).astype("float32"))
    projector = model.projectors[-1]
    ms = _part_ms(lambda f: projector(f, training=True), projector.trainable_variables, features, args.repeats)
    parts += 4 * ms
    emit("one projector (of 4), one view", ms)
    print(json.dumps({"what": "parts above x 2 views (taps, backbone, 3 branches, 4 projectors)",
                      "ms": round(2 * parts, 1)}), flush=True)


if __name__ == "__main__":
    main()
