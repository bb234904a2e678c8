"""Two views in one backbone call or two: the train step's backbone part alone, on the active Keras backend.

A Siamese method runs its backbone once per view (per-view batch-norm statistics, as lightly and the papers' code
do). One call on the concatenated views would give the convolutions a batch twice as large; this times the
backbone's forward and backward pass (CIFAR ResNet-18, width 0.25, 32 px, SGD update) both ways, alternated, to see
whether that is worth a batch norm that keeps per-view statistics.

Usage:
    KERAS_BACKEND=tensorflow python benchmarks/views_in_one_call.py --rounds 4
    KERAS_BACKEND=jax python benchmarks/views_in_one_call.py --rounds 4
"""

from __future__ import annotations

import argparse
import json
import time

import kerascl  # noqa: F401  (kerascl's CPU defaults: oneDNN for TensorFlow, the XLA:CPU flags for JAX)
import keras
import numpy as np


def make_step(backbone, optimizer, one_call: bool):
    """`step(view_1, view_2)`: forward, backward and update of the backbone on a mean-square loss of its features."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def step(a, b):
            with tf.GradientTape() as tape:
                if one_call:
                    loss = tf.reduce_mean(tf.square(backbone(tf.concat([a, b], 0), training=True)))
                else:
                    loss = (tf.reduce_mean(tf.square(backbone(a, training=True)))
                            + tf.reduce_mean(tf.square(backbone(b, training=True))))
            grads = tape.gradient(loss, backbone.trainable_variables)
            optimizer.apply_gradients(zip(grads, backbone.trainable_variables))
            return loss

        return step
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in backbone.trainable_variables]
        non_trainable = [v.value for v in backbone.non_trainable_variables]

        def loss_fn(trainable, non_trainable, a, b):
            if one_call:
                y, non_trainable = backbone.stateless_call(trainable, non_trainable, jnp.concatenate([a, b], 0),
                                                           training=True)
                return jnp.mean(y ** 2), non_trainable
            y1, non_trainable = backbone.stateless_call(trainable, non_trainable, a, training=True)
            y2, non_trainable = backbone.stateless_call(trainable, non_trainable, b, training=True)
            return jnp.mean(y1 ** 2) + jnp.mean(y2 ** 2), non_trainable

        grad_fn = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))

        def step(a, b):  # the gradient is what the step costs; the SGD update is a few elementwise ops
            (loss, _), grads = grad_fn(trainable, non_trainable, a, b)
            return jax.block_until_ready(grads)[0]

        return step
    raise SystemExit(f"backend {backend!r}: run with KERAS_BACKEND=tensorflow or jax")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=64, help="images per view")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per configuration and round")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)

    from kerascl.backbones import get_backbone

    backbone = get_backbone("resnet18", width=args.width, input_shape=(32, 32, 3))
    optimizer = keras.optimizers.SGD(0.01)
    rng = np.random.default_rng(0)
    views = [rng.random((args.batch_size, 32, 32, 3), dtype=np.float32) for _ in range(2)]
    for index in range(args.rounds):
        for one_call in (False, True):
            step = make_step(backbone, optimizer, one_call)
            for _ in range(3):  # compile and warm up
                step(*views)
            start = time.perf_counter()
            for _ in range(args.steps):
                out = step(*views)
            float(np.asarray(out).ravel()[0])  # waits for the last step
            ms = (time.perf_counter() - start) / args.steps * 1000.0
            print(json.dumps({"backend": keras.backend.backend(), "round": index,
                              "views": "one call" if one_call else "two calls", "batch_per_view": args.batch_size,
                              "width": args.width, "ms_per_step": round(ms, 1)}), flush=True)


if __name__ == "__main__":
    main()
