"""Trains every method case one step on 1 device and on 2 virtual CPU devices, and saves what came out.

Virtual devices must exist before the backend starts, so this runs in its own process:

    KERAS_BACKEND=jax python -m tests.distribute_runner OUT_DIR [case ...]

For each case and each device count it builds the case's model, sets the same deterministic weights, switches batch
normalisation to synchronised statistics (TensorFlow), runs one SGD step with learning rate 1 on the case's global
batch, and writes `OUT_DIR/<case>-<n>.npz` with the reported loss, every weight before (`init/<i>/<trainable|state>/<path>`) and
after the step (`after/...`). With learning rate 1, `init - after` is the gradient.
`tests/test_distribute.py` compares the files.
"""

from __future__ import annotations

import os
import sys

DEVICES = 2
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")

# Before any backend import: JAX reads XLA_FLAGS when it starts, TensorFlow fixes its devices on first use.
if BACKEND == "jax":
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={DEVICES}"
    ).strip()
elif BACKEND == "tensorflow":
    import tensorflow as tf

    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * DEVICES
    )

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerascl.distribute import configure_devices, synchronize_batch_norm  # noqa: E402
from tests.cases import all_cases  # noqa: E402
from tests.helpers import set_deterministic_weights  # noqa: E402

LEARNING_RATE = 1.0


def _arrays(model, prefix: str) -> dict:
    # Keyed by position: an EMA target shares its online network's variable paths.
    return {
        f"{prefix}/{i}/{'trainable' if w.trainable else 'state'}/{w.path}": np.asarray(keras.ops.convert_to_numpy(w))
        for i, w in enumerate(model.weights)
    }


def run_case(factory, num_devices: int) -> dict:
    setup = configure_devices(num_devices, device_type="cpu")
    try:
        with setup.scope():
            model, batch = factory()
            model(batch)  # build
            set_deterministic_weights(model, seed=0)
            synchronize_batch_norm(model)
            init = _arrays(model, "init")
            model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE), jit_compile=BACKEND == "jax")
            # fit, not train_on_batch: under tf.distribute (Keras 3.15) train_on_batch hands every replica the whole
            # batch instead of its share, which would hide a missing gather.
            size = len(next(iter(batch.values())))
            history = model.fit(batch, batch_size=size, epochs=1, shuffle=False, verbose=0)
        after = _arrays(model, "after")
        return {"loss": np.float64(history.history["loss"][-1]), "num_devices": np.int64(setup.num_devices), **init, **after}
    finally:
        keras.distribution.set_distribution(None) if BACKEND == "jax" else None


def main(out_dir: str, names: list[str]) -> None:
    cases = all_cases()
    for name in names or cases:
        for n in (1, DEVICES):
            keras.utils.clear_session()
            result = run_case(cases[name], n)
            np.savez(os.path.join(out_dir, f"{name}-{n}.npz"), **result)
            print(f"{name} devices={n} loss={float(result['loss']):.6f}", flush=True)
    if BACKEND == "tensorflow" and (not names or "simclr" in names):
        # Negative control: SimCLR with each replica using only its own negatives (no gather) must NOT match one
        # device, or the comparison could not catch a missing gather.
        from kerascl.losses import info_nce

        gather = info_nce.gather_global_batch
        info_nce.gather_global_batch = lambda *xs: tuple(keras.ops.cast(x, "float32") for x in xs)
        try:
            keras.utils.clear_session()
            result = run_case(cases["simclr"], DEVICES)
        finally:
            info_nce.gather_global_batch = gather
        np.savez(os.path.join(out_dir, f"simclr_local_negatives-{DEVICES}.npz"), **result)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
