"""Data-parallel training on one or many devices, with Keras's own engines on TensorFlow and JAX.

kerascl builds no distribution layer of its own. `configure_devices(n)` picks the engine for the backend:

* JAX: `keras.distribution.DataParallel` over `n` devices. The compiled step sees the global batch as one array
  sharded along the batch axis, so batch-wide losses and batch normalisation statistics are global already.
* TensorFlow: `tf.distribute.MirroredStrategy` over `n` local devices (or `MultiWorkerMirroredStrategy` across
  hosts). Each replica runs the step on its share of the global batch; the gradients are summed across replicas.

A loss that compares samples within the batch (Barlow Twins' cross-correlation, SimCLR's negatives, ICCL's
cluster marginal, decoupled uniformity's pairs and kernel prior) must see the *global* batch on every replica.
The losses call `gather_global_batch` on their inputs, which on TensorFlow replicas all-gathers the embeddings,
and is a no-op on one device and on JAX. The rule that keeps the gradients right is:

1. every replica computes the global loss `L` from the gathered embeddings and returns `L / R` (R replicas;
   `Method.compute_loss` applies `scale_loss_for_replicas`);
2. the all-gather's backward pass sums the incoming gradient over the replicas and keeps the local rows (this is
   what `tf.distribute.ReplicaContext.all_gather` does; tests/test_distribute.py checks it numerically), so each
   replica's gradient with respect to its own embeddings is `sum_r (1/R) dL/dz_local = dL/dz_local`;
3. the strategy sums the weight gradients over the replicas: `sum_r dL/dz_r dz_r/dw = dL/dw`, the one-device
   gradient.

Per-sample losses (BYOL, SimSiam) need no gather: the local mean over `B/R` samples divided by `R` and summed over
replicas is the global mean.

On the torch backend kerascl trains on one device only: `configure_devices(1)` returns a plain setup and more
devices raise `NotImplementedError`.

Examples:
    >>> import kerascl
    >>> setup = kerascl.distribute.configure_devices(2)  # doctest: +SKIP
    >>> with setup.scope():  # doctest: +SKIP
    ...     model = kerascl.methods.SimCLR(kerascl.backbones.ResNet18())
    ...     model.compile(optimizer="adam")
    ...     model.fit(dataset, epochs=10)  # dataset batches are global batches
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Any, Iterator

import keras
from keras import ops

from kerascl.keras_internals import flatten_layers

__all__ = [
    "DeviceSetup",
    "available_devices",
    "configure_devices",
    "gather_global_batch",
    "initialize_multi_host",
    "num_replicas_in_sync",
    "scale_loss_for_replicas",
    "set_virtual_cpu_devices",
    "synchronize_batch_norm",
]


# ------------------------------------------------------------------------------------------------ replicas
def _tf_replica_context():
    """The TensorFlow replica context when inside a multi-replica step, else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if not tf.distribute.has_strategy():
        return None
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync <= 1:
        return None
    return context


def num_replicas_in_sync() -> int:
    """How many replicas each compute a share of the global batch in separate step calls.

    TensorFlow: the strategy's `num_replicas_in_sync` (1 without a strategy). JAX: always 1, because
    `keras.distribution` runs one program on the global batch (sharding is inside the compiled step).

    Returns:
        The number of replicas (an int >= 1).
    """
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def replica_id():
    """The index of the replica running this code (0 on one device and on JAX; a tensor on TensorFlow replicas).

    Randomness drawn per batch row (e.g. a VAE's reparameterisation noise) uses it to take this replica's rows of
    the noise of the global batch, so N devices draw the same numbers as one device.
    """
    if num_replicas_in_sync() == 1:
        return 0
    import tensorflow as tf

    return tf.distribute.get_replica_context().replica_id_in_sync_group


def gather_global_batch(*tensors, dtype: str | None = "float32"):
    """Concatenates each replica's rows into the global batch, with gradients that sum over replicas.

    Call it at the top of any loss that compares samples within the batch. On TensorFlow inside a
    `tf.distribute` replica step with more than one replica, every tensor is all-gathered along axis 0
    (replica order, so row `i` of two gathered tensors still belongs to the same image). The backward pass of
    `ReplicaContext.all_gather` all-reduces (sums) the incoming gradient and returns this replica's rows; together
    with the `1 / R` loss scaling of `scale_loss_for_replicas` the weight gradients equal the one-device
    gradients. On one device and on JAX (where the step already sees the global batch) it returns the tensors
    unchanged (apart from the cast).

    Args:
        *tensors: Tensors with the batch on axis 0 (`None` entries pass through).
        dtype: Cast every tensor to this dtype first (float32 by default, so losses under a mixed precision
            policy compute in float32); None keeps the dtype.

    Returns:
        One tensor when given one, else a tuple, in the order given.

    Examples:
        >>> import numpy as np
        >>> z1, z2 = gather_global_batch(np.ones((4, 8), "float32"), np.zeros((4, 8), "float32"))
    """
    if not tensors:
        raise ValueError("gather_global_batch needs at least one tensor.")
    out = []
    context = _tf_replica_context()
    for x in tensors:
        if x is None:
            out.append(None)
            continue
        x = ops.convert_to_tensor(x)
        if dtype is not None and keras.backend.standardize_dtype(x.dtype) != dtype:
            x = ops.cast(x, dtype)
        if context is not None:
            if len(x.shape) == 0:
                raise ValueError(
                    f"gather_global_batch gathers along the batch axis; got a scalar of dtype {x.dtype}."
                )
            x = context.all_gather(x, axis=0)
        out.append(x)
    return out[0] if len(out) == 1 else tuple(out)


def scale_loss_for_replicas(loss):
    """Divides the loss by the number of replicas on TensorFlow under `tf.distribute` (no-op elsewhere).

    `tf.distribute` sums the per-replica gradients, so each replica returns `1 / R` of the loss: for a
    per-sample loss the replicas' local means then add up to the global mean, and for a loss computed on the
    gathered global batch (`gather_global_batch`) the all-gather's summed backward pass restores the full
    gradient. Keras reports the loss multiplied back by `R`.

    Args:
        loss: Scalar loss tensor.

    Returns:
        The scaled loss.
    """
    replicas = num_replicas_in_sync()
    if replicas > 1:
        loss = ops.multiply(loss, ops.cast(1.0 / replicas, loss.dtype))
    return loss


# ---------------------------------------------------------------------------------------------- engines
@dataclasses.dataclass
class DeviceSetup:
    """What `configure_devices` returns: the engine for the backend and a scope to build and train in.

    Attributes:
        backend: `"tensorflow"`, `"jax"` or `"torch"` (one device only).
        num_devices: Devices the global batch is split over (all processes together).
        strategy: The `tf.distribute.Strategy` (TensorFlow), else None.
        distribution: The `keras.distribution.DataParallel` (JAX with more than one device), else None.
    """

    backend: str
    num_devices: int
    strategy: Any = None
    distribution: Any = None

    @contextlib.contextmanager
    def scope(self) -> Iterator["DeviceSetup"]:
        """Build, compile and fit the model inside this scope.

        TensorFlow needs the variables created under `strategy.scope()`; on JAX the distribution is already
        set globally by `configure_devices`, and the scope also enters it so a nested different setting cannot
        leak in.
        """
        if self.strategy is not None:
            with self.strategy.scope():
                yield self
        elif self.distribution is not None:
            with self.distribution.scope():
                yield self
        else:
            yield self

    def per_device_batch(self, global_batch_size: int) -> int:
        """The share of a global batch each device computes; raises when it does not divide evenly."""
        if global_batch_size % self.num_devices:
            raise ValueError(
                f"The global batch size {global_batch_size} does not split evenly over {self.num_devices} devices; "
                f"use a multiple of {self.num_devices} (and drop_remainder=True in tf.data)."
            )
        return global_batch_size // self.num_devices


def _accelerator_type(devices: list[str]) -> str:
    for kind in ("tpu", "gpu"):
        if any(kind in d.lower() for d in devices):
            return kind
    return "cpu"


def available_devices(device_type: str | None = None) -> list[str]:
    """The local devices Keras can use on this backend, accelerators first (e.g. `["gpu:0", "gpu:1"]`).

    Args:
        device_type: `"cpu"`, `"gpu"` or `"tpu"`, or None for the best kind present.

    Returns:
        Device names as `keras.distribution.list_devices` spells them on JAX, TensorFlow logical device
        names (`"/device:GPU:0"`) on TensorFlow, or torch device names (`"cuda:0"`, `"cpu:0"`) on torch.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        return keras.distribution.list_devices(device_type)
    if backend == "tensorflow":
        import tensorflow as tf

        kinds = [device_type.upper()] if device_type else ["TPU", "GPU", "CPU"]
        for kind in kinds:
            devices = [d.name for d in tf.config.list_logical_devices(kind)]
            if devices:
                return devices
        return []
    if backend == "torch":
        import torch

        if device_type in (None, "gpu") and torch.cuda.is_available():
            return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        return [] if device_type in ("gpu", "tpu") else ["cpu:0"]
    raise NotImplementedError(f"kerascl.distribute supports the tensorflow and jax backends, not {backend!r}.")


def configure_devices(
    num_devices: int | None = None,
    *,
    device_type: str | None = None,
    multi_worker: bool = False,
) -> DeviceSetup:
    """Chooses and configures Keras's data-parallel engine for the current backend.

    What `kerascl recipe NAME --devices N` calls. `num_devices=1` (or None with a single device) gives a plain
    setup whose scope does nothing.

    * JAX: `keras.distribution.DataParallel` over the first `num_devices` local devices (or over every device of
      every process for `multi_worker=True`, after `keras.distribution.initialize()`), set globally with
      `keras.distribution.set_distribution`.
    * TensorFlow: `tf.distribute.MirroredStrategy` over the first `num_devices` local devices, or
      `tf.distribute.MultiWorkerMirroredStrategy` (cluster from the `TF_CONFIG` environment variable) for
      `multi_worker=True`.

    Args:
        num_devices: Devices to use on this host; None uses every accelerator found (or 1 CPU).
        device_type: `"gpu"`, `"tpu"` or `"cpu"`; None picks accelerators when present.
        multi_worker: Train across several hosts (see docs/distributed.md for the launch).

    Returns:
        A `DeviceSetup`; build, compile and fit inside `setup.scope()`.

    Raises:
        ValueError: When `num_devices` is not a positive integer or exceeds the devices present.

    Examples:
        >>> setup = configure_devices(1)
        >>> with setup.scope():
        ...     pass  # build, compile and fit the model here
    """
    backend = keras.backend.backend()
    if num_devices is not None and (isinstance(num_devices, bool) or not isinstance(num_devices, int)):
        raise TypeError(f"num_devices must be a positive int or None; got {num_devices!r}.")
    if num_devices is not None and num_devices < 1:
        raise ValueError(f"num_devices must be >= 1; got {num_devices}.")
    if backend == "jax":
        return _configure_jax(num_devices, device_type, multi_worker)
    if backend == "tensorflow":
        return _configure_tensorflow(num_devices, device_type, multi_worker)
    if backend == "torch":
        return _configure_torch(num_devices, multi_worker)
    raise NotImplementedError(f"kerascl.distribute supports the tensorflow and jax backends, not {backend!r}.")


def _configure_torch(num_devices, multi_worker) -> DeviceSetup:
    # Keras's torch backend trains on one device (the first GPU when there is one); kerascl has no data-parallel
    # engine for it yet, so anything but one device is refused rather than silently run on one.
    if multi_worker or (num_devices is not None and num_devices != 1):
        raise NotImplementedError(
            "On the torch backend kerascl trains on one device only (multi-device and multi-worker training are "
            "not supported yet); use --devices 1, or the jax or tensorflow backend."
        )
    return DeviceSetup("torch", 1)


def _pick(devices: list[str], num_devices: int | None, what: str) -> list[str]:
    if not devices:
        raise ValueError(f"No {what} devices found.")
    if num_devices is None:
        return devices if _accelerator_type(devices) != "cpu" else devices[:1]
    if num_devices > len(devices):
        raise ValueError(
            f"Asked for {num_devices} devices but this host has {len(devices)} {what} device(s): {devices}. "
            f"Lower --devices (e.g. --devices {len(devices)}), or to try data-parallel training on a CPU-only host "
            f"split the CPU into virtual devices: `kerascl recipe ... --devices {num_devices} --virtual-cpus "
            f"{num_devices}` on the command line, kerascl.distribute.set_virtual_cpu_devices({num_devices}) in "
            "Python before the backend starts (on JAX, XLA_FLAGS=--xla_force_host_platform_device_count="
            f"{num_devices} in the environment works too)."
        )
    return devices[:num_devices]


def _configure_jax(num_devices, device_type, multi_worker) -> DeviceSetup:
    import jax

    if multi_worker:
        devices = jax.devices(device_type) if device_type else jax.devices()
        if num_devices is not None and num_devices != jax.local_device_count():
            raise ValueError(
                f"With multi_worker=True each JAX process uses all its {jax.local_device_count()} local devices; "
                f"got num_devices={num_devices}."
            )
        distribution = keras.distribution.DataParallel(devices=devices)
        keras.distribution.set_distribution(distribution)
        return DeviceSetup("jax", len(devices), distribution=distribution)
    devices = _pick(keras.distribution.list_devices(device_type), num_devices, device_type or "local")
    if len(devices) == 1:
        keras.distribution.set_distribution(None)
        return DeviceSetup("jax", 1)
    distribution = keras.distribution.DataParallel(devices=devices)
    keras.distribution.set_distribution(distribution)
    return DeviceSetup("jax", len(devices), distribution=distribution)


def _configure_tensorflow(num_devices, device_type, multi_worker) -> DeviceSetup:
    import tensorflow as tf

    if multi_worker:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        return DeviceSetup("tensorflow", int(strategy.num_replicas_in_sync), strategy=strategy)
    devices = _pick(available_devices(device_type), num_devices, device_type or "local")
    if len(devices) == 1:
        return DeviceSetup("tensorflow", 1)  # the default strategy: no replicas, nothing to configure
    cross_device_ops = None
    if _accelerator_type(devices) == "cpu":
        # NCCL (the default on GPUs) has no CPU kernel.
        cross_device_ops = tf.distribute.ReductionToOneDevice()
    strategy = tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=cross_device_ops)
    return DeviceSetup("tensorflow", len(devices), strategy=strategy)


def initialize_multi_host(
    coordinator_address: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> None:
    """Joins a multi-host JAX job (`keras.distribution.initialize`); call it first thing in every process.

    With no arguments JAX reads the cluster from the environment (Cloud TPU pods, SLURM). On TensorFlow the
    cluster comes from `TF_CONFIG` and this function is not needed (use `configure_devices(multi_worker=True)`).

    Args:
        coordinator_address: `"host:port"` of process 0.
        num_processes: Processes in the job.
        process_id: This process's rank, `0 .. num_processes - 1`.
    """
    if keras.backend.backend() != "jax":
        raise ValueError(
            "initialize_multi_host is for the JAX backend; on TensorFlow set TF_CONFIG on every worker and call "
            "configure_devices(multi_worker=True)."
        )
    keras.distribution.initialize(coordinator_address, num_processes, process_id)


# --------------------------------------------------------------------------------------------- batch norm
def synchronize_batch_norm(model: keras.layers.Layer, synchronized: bool = True) -> int:
    """Switches every `BatchNormalization` layer in `model` to cross-replica (synchronised) statistics.

    On TensorFlow with more than one replica, batch normalisation normally uses each replica's share of the batch;
    synchronised, it all-reduces the sums so every replica normalises with the global batch's mean and variance
    (as SimCLR and BYOL did on TPUs). On JAX with `keras.distribution` the statistics are global already and this
    function changes nothing (Keras rejects `synchronized=True` there). Call it after building the model and before
    the first training step. The flag is part of each layer's config: to load a saved model on JAX, set it back
    with `synchronize_batch_norm(model, False)` before saving.

    Args:
        model: Any layer or model (e.g. a kerascl method: backbone, heads and EMA targets are all covered).
        synchronized: True to synchronise, False to go back to per-replica statistics.

    Returns:
        The number of BatchNormalization layers switched (0 on JAX).
    """
    if keras.backend.backend() != "tensorflow":
        return 0
    count = 0
    layers = [model] + list(flatten_layers(model))
    for layer in layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = bool(synchronized)
            count += 1
    return count


# ---------------------------------------------------------------------------------------- virtual devices
def set_virtual_cpu_devices(n: int) -> None:
    """Splits the host CPU into `n` virtual devices, to try multi-device training without accelerators.

    Must run before the backend starts: on JAX before `jax` is imported (it sets
    `XLA_FLAGS=--xla_force_host_platform_device_count=n`), on TensorFlow before TensorFlow initialises its devices
    (it calls `tf.config.set_logical_device_configuration`).

    Args:
        n: Number of virtual CPU devices (>= 1).

    Raises:
        RuntimeError: When the backend has already started with a different number of devices.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}.")
    backend = keras.backend.backend()
    if backend == "jax":
        flag = f"--xla_force_host_platform_device_count={n}"
        flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "xla_force_host_platform_device_count" not in f]
        os.environ["XLA_FLAGS"] = " ".join(flags + [flag])
        import jax

        found = len(jax.devices("cpu"))
        if found != n:
            raise RuntimeError(
                f"JAX already started with {found} CPU device(s); call set_virtual_cpu_devices({n}) (or set "
                f"XLA_FLAGS={flag}) before jax is first imported."
            )
        return
    if backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
        except RuntimeError as error:
            found = len(tf.config.list_logical_devices("CPU"))
            if found != n:
                raise RuntimeError(
                    f"TensorFlow already initialised {found} CPU device(s); call set_virtual_cpu_devices({n}) "
                    "before running any TensorFlow op."
                ) from error
        return
    raise NotImplementedError(f"kerascl.distribute supports the tensorflow and jax backends, not {backend!r}.")
