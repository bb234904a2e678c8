"""EMATarget: the momentum-target component shared by BYOL, ICCL's momentum variant and hierarchical BYOL stages."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from kerascl.keras_internals import AutocastScope


class EMATarget:
    """Target networks that follow their online networks by exponential moving average, with BYOL's schedule.

    The component holds the `(online, target)` pairs, makes the target copies, updates them inside the compiled
    step, and owns the momentum schedule with its checks: the cosine ramp
    `m = final - (final - base) * (cos(pi * progress) + 1) / 2` from `base_momentum` at step 0 to
    `final_momentum` at the last planned step, the plan being a fixed `total_steps` or, by default, what `fit`
    will run. A method declares it once with `Method.use_ema_target(...)`; the base class then plans the
    steps and computes the momentum (`target_momentum()`), and the method puts `**self.ema.get_config()` in its
    own `get_config`.

    Targets are plain layers assigned to the method's attributes (`self.target_backbone = self.make_target(...)`),
    so Keras saves and loads them like any other layer; this object holds no weights of its own.

    Reference: Grill et al., "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning",
    NeurIPS 2020 (the schedule, Sec. 3.2).

    Args:
        base_momentum: Momentum at step 0 (0.99; 0.996 for ImageNet).
        final_momentum: Momentum at the end of training (1.0; equal to `base_momentum` for a constant momentum).
        total_steps: Steps of the schedule when fixed in advance; None (default) takes them from `fit`.

    Examples:
        >>> ema = EMATarget(base_momentum=0.99)
        >>> float(ema.momentum(0.5))  # half way: (0.99 + 1) / 2
        0.995
    """

    def __init__(self, base_momentum: float = 0.99, final_momentum: float = 1.0, total_steps: int | None = None):
        if not 0.0 <= base_momentum <= final_momentum <= 1.0:
            raise ValueError(
                f"Need 0 <= base_momentum <= final_momentum <= 1; got {base_momentum} and {final_momentum}."
            )
        if total_steps is not None and int(total_steps) < 0:
            raise ValueError(f"total_steps must be a positive number of steps, or None to plan from fit; "
                             f"got {total_steps}.")
        self.base_momentum = float(base_momentum)
        self.final_momentum = float(final_momentum)
        self.total_steps = int(total_steps) if total_steps else None
        self.pairs: list[tuple[Any, Any]] = []

    def momentum(self, progress):
        """The momentum at `progress` (the fraction of the planned steps done, in [0, 1])."""
        return cosine_ramp(self.base_momentum, self.final_momentum, progress)

    def track(self, online: keras.layers.Layer, input_shape: tuple | None) -> keras.layers.Layer:
        """Creates and returns a target copy of `online` (built on `input_shape` if not built yet).

        The copy's variables are non-trainable (no gradient, no optimizer), but the copy still runs its batch
        normalisation in training mode, as BYOL's target does.
        """
        from kerascl.methods.method import clone_layer

        target = clone_layer(online, name=f"target_{online.name}")
        if not target.built:
            target.build(input_shape)
        for variable in target.weights:
            variable.trainable = False
        self.pairs.append((online, target))
        return target

    def update(self, momentum, step) -> None:
        """`target <- m * target + (1 - m) * online` for every trainable online weight, inside the compiled step.

        At `step == 0` the momentum is taken as 0, which copies the online weights into the target, so training
        starts from `target == online` whatever the initialisation, on every backend.
        """
        momentum = ops.cast(ops.where(step > 0, momentum, 0.0), "float32")
        # Read the float32 weights as they are: under a mixed precision policy Keras would autocast them to the
        # half-precision compute dtype inside `call`, and an EMA in half precision loses the small (1 - m) updates.
        with AutocastScope(None):
            for online, target in self.pairs:
                for o, t in zip(online.weights, target.weights):
                    if o.trainable:
                        t.assign(momentum * t.value + (1.0 - momentum) * ops.stop_gradient(ops.cast(o.value, t.dtype)))

    def reset(self) -> None:
        """Copies the online weights into every target now (eagerly, outside a compiled step)."""
        # Through NumPy, so a target never shares a buffer with its online weight (JAX donates both to the step).
        for online, target in self.pairs:
            for o, t in zip(online.weights, target.weights):
                t.assign(ops.convert_to_numpy(o))

    def get_config(self) -> dict:
        return {"base_momentum": self.base_momentum, "final_momentum": self.final_momentum,
                "total_steps": self.total_steps}


def cosine_ramp(base: float, final: float, progress):
    """BYOL's schedule: `final - (final - base) * (cos(pi * progress) + 1) / 2`."""
    return final - (final - base) * (ops.cos(math.pi * ops.convert_to_tensor(progress, "float32")) + 1.0) / 2.0
