"""Optimisation pieces that self-supervised recipes need and Keras lacks.

- `LARS`: SGD with momentum and a layer-wise trust ratio (You et al. 2017), as used by SimCLR, BYOL and Barlow
  Twins, with biases and normalisation weights excluded from adaptation and weight decay.
- `L2SGD`: SGD with momentum and PyTorch's (coupled, L2) weight decay, for runs that must match `torch.optim.SGD`;
  Keras's own `SGD(weight_decay=...)` decays the weights directly instead (decoupled), about `1 / (1 - momentum)`
  times less at the same coefficient. Its `fixed_learning_rate_variables` (e.g. `PREDICTOR_PATTERNS`) keeps some
  variables at a constant rate, SimSiam's fixed predictor learning rate.
- `WarmupCosineDecay`: linear warm-up followed by a cosine decay, the schedule of nearly every SSL recipe.
- `scaled_learning_rate`: the linear scaling rule `base_lr * batch_size / 256` in which recipes state their
  learning rates.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Sequence

import keras
from keras import ops

#: Variables excluded by default from LARS adaptation and weight decay (besides every 0-D/1-D variable):
#: regular expressions searched in `variable.path`.
DEFAULT_LARS_EXCLUDE_PATTERNS: tuple[str, ...] = (
    r"(^|/)bias$",
    r"(^|/)beta$",
    r"(^|/)gamma$",
    r"batch_normalization",
)

ExcludeSpec = Sequence[str] | Callable[[keras.Variable], bool] | None

#: The predictor heads of kerascl's methods (`predictor`, `style_predictor`, `predictor_1`, ...): regular
#: expressions searched in `variable.path`, for `L2SGD(fixed_learning_rate_variables=...)`.
PREDICTOR_PATTERNS: tuple[str, ...] = (r"(^|/)[^/]*predictor[^/]*/",)


def _compile_exclusion(spec, arg_name: str):
    """Turns an exclusion spec into a predicate `variable -> bool` (True = excluded)."""
    if spec is None:
        patterns = [re.compile(p) for p in DEFAULT_LARS_EXCLUDE_PATTERNS]

        def default_rule(variable) -> bool:
            return len(variable.shape) <= 1 or any(p.search(variable.path) for p in patterns)

        return default_rule
    if callable(spec):
        return lambda variable: bool(spec(variable))
    if isinstance(spec, str):
        spec = [spec]
    try:
        patterns = [re.compile(p) for p in spec]
    except (TypeError, re.error) as err:
        raise ValueError(
            f"`{arg_name}` must be None (default rule: 1-D variables and names matching bias/beta/gamma/"
            f"batch_normalization), a list of regular expressions searched in variable.path, or a callable "
            f"variable -> bool; got {spec!r} ({err})."
        ) from None
    return lambda variable: any(p.search(variable.path) for p in patterns)


def _serialize_exclusion(spec):
    if spec is None or isinstance(spec, str):
        return spec
    if callable(spec):
        return keras.saving.serialize_keras_object(spec)
    return list(spec)


def _deserialize_exclusion(spec):
    if isinstance(spec, dict):
        return keras.saving.deserialize_keras_object(spec)
    return spec


@keras.saving.register_keras_serializable(package="kerascl")
class LARS(keras.optimizers.Optimizer):
    """Layer-wise Adaptive Rate Scaling: SGD with momentum and a per-variable trust ratio.

    For every variable `w` with gradient `g` (lr is the learning rate at this step):

        g <- g + weight_decay * w                                   (unless w is excluded from weight decay)
        trust = eta * ||w|| / ||g||   if ||w|| > 0 and ||g|| > 0 else 1   (unless w is excluded from adaptation;
                                                                            excluded variables use trust = 1)
        v <- momentum * v + lr * trust * g
        w <- w - v                         (Nesterov: w <- w - (momentum * v + lr * trust * g))

    This is the variant of the SimCLR and BYOL reference code (the learning rate sits inside the momentum
    buffer, and the norm of the gradient includes the weight-decay term). Weight decay is applied inside the
    update as above, not decoupled as in Keras's `weight_decay` of other optimizers.

    By default biases and normalisation weights are excluded from both the trust ratio and weight decay: every
    variable with fewer than two dimensions, and every variable whose `path` matches `bias`, `beta`, `gamma` or
    `batch_normalization` (see `DEFAULT_LARS_EXCLUDE_PATTERNS`). Keras's own
    `optimizer.exclude_from_weight_decay(var_list=..., var_names=...)` is honoured on top of that.

    Reference: You, Gitman and Ginsburg, "Large Batch Training of Convolutional Networks", arXiv:1708.03888,
    2017.

    Args:
        learning_rate: A float, a `keras.optimizers.schedules.LearningRateSchedule` (e.g. `WarmupCosineDecay`)
            or a callable. Recipes give it as `base_lr * batch_size / 256` (see `scaled_learning_rate`).
        momentum: Momentum in [0, 1).
        weight_decay: L2 weight-decay coefficient added to the gradient before the trust ratio.
        eta: Trust coefficient (0.001 in the LARS paper and SimCLR).
        nesterov: Use Nesterov momentum.
        epsilon: Added to `||g||` in the trust ratio's denominator (0 reproduces the reference code).
        exclude_from_weight_decay: None for the default rule above; a list of regular expressions searched in
            `variable.path` (replaces the default rule; `[]` excludes nothing); or a callable `variable -> bool`
            returning True for variables to exclude. A callable survives `get_config` only if it is a
            module-level or `keras.saving.register_keras_serializable` function.
        exclude_from_adaptation: Same forms, for the trust ratio.
        name: Optimizer name.
        **kwargs: Other `keras.optimizers.Optimizer` arguments (`clipnorm`, `global_clipnorm`, `use_ema`,
            `gradient_accumulation_steps`, ...).

    Examples:
        >>> import keras
        >>> from kerascl.optimizers import LARS, WarmupCosineDecay, scaled_learning_rate
        >>> schedule = WarmupCosineDecay(peak=scaled_learning_rate(0.3, batch_size=512),
        ...                              total_steps=1000, warmup_steps=100)
        >>> optimizer = LARS(learning_rate=schedule, momentum=0.9, weight_decay=1e-6)
        >>> optimizer.get_config()["eta"]
        0.001
    """

    def __init__(
        self,
        learning_rate: float | keras.optimizers.schedules.LearningRateSchedule | Callable[[], float] = 0.1,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        eta: float = 0.001,
        nesterov: bool = False,
        epsilon: float = 0.0,
        exclude_from_weight_decay: ExcludeSpec = None,
        exclude_from_adaptation: ExcludeSpec = None,
        name: str = "lars",
        **kwargs: Any,
    ):
        # Keras's base-class `weight_decay` is decoupled (w -= lr * wd * w before the update); LARS needs it
        # inside the gradient, so the base class gets None and the coefficient is kept here.
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=None, **kwargs)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise ValueError(f"`momentum` must be a number in [0, 1), got {momentum!r}.")
        if weight_decay is None:
            weight_decay = 0.0
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or weight_decay < 0:
            raise ValueError(f"`weight_decay` must be a number >= 0, got {weight_decay!r}.")
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or eta <= 0:
            raise ValueError(f"`eta` (trust coefficient) must be a number > 0, got {eta!r}.")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon < 0:
            raise ValueError(f"`epsilon` must be a number >= 0, got {epsilon!r}.")
        self.momentum = float(momentum)
        self.lars_weight_decay = float(weight_decay)
        self.eta = float(eta)
        self.nesterov = bool(nesterov)
        self.epsilon = float(epsilon)
        self._exclude_wd_spec = _deserialize_exclusion(exclude_from_weight_decay)
        self._exclude_adapt_spec = _deserialize_exclusion(exclude_from_adaptation)
        self._is_excluded_from_wd = _compile_exclusion(self._exclude_wd_spec, "exclude_from_weight_decay")
        self._is_excluded_from_adaptation = _compile_exclusion(self._exclude_adapt_spec, "exclude_from_adaptation")

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = []
        if self.momentum != 0:
            self.momentums = self.add_optimizer_variables(variables, "momentum")
        # Static, per-variable decisions (Python bools), so the compiled update has no data-dependent branches.
        self._decay_flags = []
        self._adapt_flags = []
        for variable in variables:
            use_decay = self.lars_weight_decay > 0 and not self._is_excluded_from_wd(variable)
            base_rule = getattr(self, "_use_weight_decay", None)  # Keras's exclude_from_weight_decay()
            if use_decay and base_rule is not None:
                use_decay = bool(base_rule(variable))
            self._decay_flags.append(use_decay)
            self._adapt_flags.append(not self._is_excluded_from_adaptation(variable))

    def uses_weight_decay(self, variable) -> bool:
        """Whether `variable` receives weight decay (call after the optimizer is built)."""
        return self._decay_flags[self._get_variable_index(variable)]

    def uses_adaptation(self, variable) -> bool:
        """Whether `variable` gets the LARS trust ratio (call after the optimizer is built)."""
        return self._adapt_flags[self._get_variable_index(variable)]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        lr = ops.cast(learning_rate, dtype)
        grad = ops.cast(gradient, dtype)
        if self._decay_flags[index]:
            grad = ops.add(grad, ops.multiply(ops.cast(self.lars_weight_decay, dtype), variable))
        if self._adapt_flags[index]:
            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            g_norm = ops.sqrt(ops.sum(ops.square(grad)))
            safe_g_norm = ops.where(g_norm > 0, g_norm, ops.ones_like(g_norm))
            ratio = ops.cast(self.eta, dtype) * w_norm / (safe_g_norm + ops.cast(self.epsilon, dtype))
            trust = ops.where(ops.logical_and(w_norm > 0, g_norm > 0), ratio, ops.ones_like(ratio))
            lr = ops.multiply(lr, trust)
        step = ops.multiply(lr, grad)
        if self.momentum != 0:
            velocity = self.momentums[index]
            momentum = ops.cast(self.momentum, dtype)
            self.assign(velocity, ops.add(ops.multiply(velocity, momentum), step))
            if self.nesterov:
                self.assign_sub(variable, ops.add(ops.multiply(velocity, momentum), step))
            else:
                self.assign_sub(variable, velocity)
        else:
            self.assign_sub(variable, step)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "momentum": self.momentum,
                "weight_decay": self.lars_weight_decay,
                "eta": self.eta,
                "nesterov": self.nesterov,
                "epsilon": self.epsilon,
                "exclude_from_weight_decay": _serialize_exclusion(self._exclude_wd_spec),
                "exclude_from_adaptation": _serialize_exclusion(self._exclude_adapt_spec),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="kerascl")
class L2SGD(keras.optimizers.Optimizer):
    """SGD with momentum and L2 weight decay added to the gradient: the update of `torch.optim.SGD`.

    For every variable `w` with gradient `g` (lr is the learning rate at this step, `mu` the momentum):

        g <- g + weight_decay * w          (unless w is excluded from weight decay)
        b <- mu * b + g                    (b starts at 0, so the first step sets b = g, as torch does)
        w <- w - lr * b                    (Nesterov: w <- w - lr * (g + mu * b))

    The decay goes through the momentum buffer, so with momentum `mu` it acts about `1 / (1 - mu)` times as
    strongly as Keras's `SGD(weight_decay=...)` at the same coefficient (10x at `mu = 0.9`): Keras applies
    `w <- w - lr * weight_decay * w` once per step, outside the momentum. The buffer holds gradients, not
    learning-rate-scaled steps, so a scheduled learning rate scales the whole buffer as in torch (Keras's `SGD`
    stores `lr * g`; the two agree for a constant rate).

    Use it to reproduce PyTorch recipes (lightly's and solo-learn's SimSiam / BYOL benchmarks use `torch.optim.SGD`
    with `weight_decay=5e-4`). Like torch's SGD it decays every trainable variable by default, batch-norm scales
    and offsets and biases included; pass `exclude_from_weight_decay=None` to exclude those (`LARS`'s rule).

    `fixed_learning_rate_variables` reproduces SimSiam's fixed predictor learning rate (`--fix-pred-lr` in the
    official SimSiam, DDCL and hierarchical-augmentation code, a torch parameter group whose rate is reset to the
    initial rate every epoch): the matching variables are updated with a constant rate while the others follow
    the schedule. `PREDICTOR_PATTERNS` matches the predictor heads of kerascl's methods.

    Args:
        learning_rate: A float, a `keras.optimizers.schedules.LearningRateSchedule` or a callable.
        momentum: Momentum in [0, 1).
        weight_decay: L2 coefficient added to the gradient (torch's `weight_decay`).
        nesterov: Use Nesterov momentum (torch's `nesterov=True`).
        exclude_from_weight_decay: `()` (default) decays every variable, as torch does; None uses `LARS`'s rule
            (every variable with fewer than two dimensions, and paths matching bias/beta/gamma/
            batch_normalization); a list of regular expressions searched in `variable.path`; or a callable
            `variable -> bool` returning True for variables to exclude. Keras's
            `optimizer.exclude_from_weight_decay(var_names=...)` is honoured on top.
        fixed_learning_rate_variables: None (default: every variable follows `learning_rate`), a list of regular
            expressions searched in `variable.path` (e.g. `PREDICTOR_PATTERNS`) or a callable `variable -> bool`:
            the variables updated with the fixed rate instead of the schedule.
        fixed_learning_rate: The fixed rate. None takes it from `learning_rate`: a number is used as is, a
            `WarmupCosineDecay` gives its schedule during the warm-up and its `peak` after it (the official DDCL
            code warms every group up, then fixes the predictors at the initial rate), a Keras schedule its
            `initial_learning_rate`; any other schedule needs an explicit value.
        name: Optimizer name.
        **kwargs: Other `keras.optimizers.Optimizer` arguments (`clipnorm`, `global_clipnorm`, ...).

    Examples:
        >>> from kerascl.optimizers import L2SGD, PREDICTOR_PATTERNS, WarmupCosineDecay
        >>> optimizer = L2SGD(learning_rate=0.06, momentum=0.9, weight_decay=5e-4)   # torch.optim.SGD's update
        >>> optimizer.get_config()["weight_decay"]
        0.0005
        >>> schedule = WarmupCosineDecay(peak=0.05, total_steps=1000)
        >>> simsiam = L2SGD(schedule, momentum=0.9, weight_decay=1e-4,
        ...                 fixed_learning_rate_variables=PREDICTOR_PATTERNS)   # predictors stay at 0.05
    """

    def __init__(
        self,
        learning_rate: float | keras.optimizers.schedules.LearningRateSchedule | Callable[[], float] = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        exclude_from_weight_decay: ExcludeSpec = (),
        fixed_learning_rate_variables: ExcludeSpec = None,
        fixed_learning_rate: float | None = None,
        name: str = "l2_sgd",
        **kwargs: Any,
    ):
        # Keras's base-class `weight_decay` is the decoupled form; this optimizer adds its own to the gradient.
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=None, **kwargs)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise ValueError(f"`momentum` must be a number in [0, 1), got {momentum!r}.")
        if weight_decay is None:
            weight_decay = 0.0
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or weight_decay < 0:
            raise ValueError(f"`weight_decay` must be a number >= 0, got {weight_decay!r}.")
        if nesterov and momentum == 0:
            raise ValueError("`nesterov=True` needs a momentum > 0 (torch raises the same); pass e.g. momentum=0.9.")
        self.momentum = float(momentum)
        self.l2_weight_decay = float(weight_decay)
        self.nesterov = bool(nesterov)
        self._exclude_wd_spec = _deserialize_exclusion(exclude_from_weight_decay)
        self._is_excluded_from_wd = _compile_exclusion(self._exclude_wd_spec, "exclude_from_weight_decay")
        if fixed_learning_rate is not None and (
            isinstance(fixed_learning_rate, bool) or not isinstance(fixed_learning_rate, (int, float))
            or not 0 < fixed_learning_rate < float("inf")
        ):
            raise ValueError(f"`fixed_learning_rate` must be a positive number or None; got {fixed_learning_rate!r}.")
        self.fixed_learning_rate = None if fixed_learning_rate is None else float(fixed_learning_rate)
        self._fixed_lr_spec = _deserialize_exclusion(fixed_learning_rate_variables)
        self._is_fixed_lr = (
            None if self._fixed_lr_spec is None
            else _compile_exclusion(self._fixed_lr_spec, "fixed_learning_rate_variables")
        )
        if self._is_fixed_lr is not None and self.fixed_learning_rate is None:
            self._fixed_rate_rule()  # fails now, not at the first step, when no rate can be derived

    def _fixed_rate_rule(self) -> tuple[float | None, int]:
        """`(rate, warm-up steps)` of the fixed-rate variables: the schedule for the first steps, then `rate`
        (None: the optimizer's own rate, already constant)."""
        if self.fixed_learning_rate is not None:
            return self.fixed_learning_rate, 0
        schedule = self._learning_rate
        if isinstance(schedule, WarmupCosineDecay):
            return schedule.peak, schedule.warmup_steps
        if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            initial = getattr(schedule, "initial_learning_rate", None)
            if isinstance(initial, (int, float)) and not isinstance(initial, bool):
                return float(initial), 0
            raise ValueError(
                f"L2SGD cannot tell which constant rate the fixed-rate variables should keep from a "
                f"{type(schedule).__name__}; pass fixed_learning_rate=<rate> (the official code uses the initial rate)."
            )
        if callable(schedule) and not isinstance(schedule, keras.Variable):
            raise ValueError("With a callable learning rate, pass fixed_learning_rate=<rate> for the fixed-rate variables.")
        return None, 0

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = []
        if self.momentum != 0:
            self.momentums = self.add_optimizer_variables(variables, "momentum")
        self._fixed_lr_flags = [bool(self._is_fixed_lr(v)) if self._is_fixed_lr else False for v in variables]
        # Static per-variable decisions, so the compiled update has no data-dependent branch.
        self._decay_flags = []
        for variable in variables:
            use_decay = self.l2_weight_decay > 0 and not self._is_excluded_from_wd(variable)
            base_rule = getattr(self, "_use_weight_decay", None)  # Keras's exclude_from_weight_decay()
            if use_decay and base_rule is not None:
                use_decay = bool(base_rule(variable))
            self._decay_flags.append(use_decay)

    def uses_weight_decay(self, variable) -> bool:
        """Whether `variable` receives weight decay (call after the optimizer is built)."""
        return self._decay_flags[self._get_variable_index(variable)]

    def uses_fixed_learning_rate(self, variable) -> bool:
        """Whether `variable` is updated with the fixed rate (call after the optimizer is built)."""
        return self._fixed_lr_flags[self._get_variable_index(variable)]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        if self._fixed_lr_flags[index]:
            rate, warmup_steps = self._fixed_rate_rule()
            if rate is not None and warmup_steps:
                # `iterations` is the step the scheduled `learning_rate` was computed for.
                learning_rate = ops.where(ops.less(self.iterations, warmup_steps), learning_rate, rate)
            elif rate is not None:
                learning_rate = rate
        lr = ops.cast(learning_rate, dtype)
        grad = ops.cast(gradient, dtype)
        if self._decay_flags[index]:
            grad = ops.add(grad, ops.multiply(ops.cast(self.l2_weight_decay, dtype), variable))
        if self.momentum == 0:
            self.assign_sub(variable, ops.multiply(lr, grad))
            return
        buffer = self.momentums[index]
        momentum = ops.cast(self.momentum, dtype)
        self.assign(buffer, ops.add(ops.multiply(buffer, momentum), grad))
        direction = ops.add(grad, ops.multiply(buffer, momentum)) if self.nesterov else buffer
        self.assign_sub(variable, ops.multiply(lr, direction))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "momentum": self.momentum,
                "weight_decay": self.l2_weight_decay,
                "nesterov": self.nesterov,
                "exclude_from_weight_decay": _serialize_exclusion(self._exclude_wd_spec),
                "fixed_learning_rate_variables": _serialize_exclusion(self._fixed_lr_spec),
                "fixed_learning_rate": self.fixed_learning_rate,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="kerascl")
class WarmupCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to a peak learning rate, then cosine decay to a final value.

    With `W = warmup_steps` and `T = total_steps` (warm-up included):

        lr(s) = warmup_start + (peak - warmup_start) * s / W                          for s < W
        lr(s) = end_value + (peak - end_value) * (1 + cos(pi * (s - W) / (T - W))) / 2   for W <= s <= T
        lr(s) = end_value                                                               for s > T

    Reference: Loshchilov and Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017 (cosine);
    Goyal et al., "Accurate, Large Minibatch SGD", 2017 (linear warm-up).

    Args:
        peak: Learning rate reached at the end of the warm-up.
        total_steps: Total number of optimizer steps, warm-up included (e.g. `epochs * steps_per_epoch`).
        warmup_steps: Number of linear warm-up steps (0 for none); must be smaller than `total_steps`.
        warmup_start: Learning rate at step 0.
        end_value: Learning rate at `total_steps` and after.
        alpha: Alternative to `end_value`: the final rate as a fraction of `peak` (`end_value = alpha * peak`,
            as in `keras.optimizers.schedules.CosineDecay`). Give `end_value` or `alpha`, not both.
        name: Name of the schedule.

    Examples:
        >>> from kerascl.optimizers import WarmupCosineDecay
        >>> schedule = WarmupCosineDecay(peak=1.0, total_steps=100, warmup_steps=10)
        >>> tuple(round(float(schedule(s)), 4) for s in (0, 5, 10, 55, 100))
        (0.0, 0.5, 1.0, 0.5, 0.0)
    """

    def __init__(
        self,
        peak: float,
        total_steps: int,
        warmup_steps: int = 0,
        warmup_start: float = 0.0,
        end_value: float = 0.0,
        alpha: float | None = None,
        name: str = "warmup_cosine_decay",
    ):
        for arg, value in (("peak", peak), ("warmup_start", warmup_start), ("end_value", end_value)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"`{arg}` must be a number >= 0, got {value!r}.")
        for arg, value in (("total_steps", total_steps), ("warmup_steps", warmup_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"`{arg}` must be an int >= 0, got {value!r}.")
        if total_steps < 1:
            raise ValueError(f"`total_steps` must be >= 1, got {total_steps}.")
        if warmup_steps >= total_steps:
            raise ValueError(
                f"`warmup_steps` ({warmup_steps}) must be smaller than `total_steps` ({total_steps}); total_steps "
                "counts the warm-up too (e.g. epochs * steps_per_epoch)."
            )
        if alpha is not None:
            if end_value != 0:
                raise ValueError("Give either `end_value` or `alpha` (end_value = alpha * peak), not both.")
            if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha < 0:
                raise ValueError(f"`alpha` must be a number >= 0, got {alpha!r}.")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.warmup_start = float(warmup_start)
        self.end_value = float(end_value)
        self.alpha = None if alpha is None else float(alpha)
        self.name = name
        self.total_steps_variable = None

    def track_total_steps(self, optimizer):
        """Keeps `total_steps` in a variable of `optimizer`, so the plan can change between epochs.

        A callback may then shorten the schedule while `fit` runs (`TrainingTimeLimit` does, to end the cosine
        decay at a wall-clock budget) by assigning the variable; being an optimizer variable, its value reaches
        the compiled train step on every backend (JAX passes optimizer variables as state).

        Returns:
            The variable (float32 scalar, initialised to `total_steps`).
        """
        if self.total_steps_variable is None:
            self.total_steps_variable = optimizer.add_variable(
                shape=(), initializer=keras.initializers.Constant(float(self.total_steps)), dtype="float32",
                name="schedule_total_steps")
        return self.total_steps_variable

    @property
    def final_value(self) -> float:
        """The learning rate at and after `total_steps`."""
        return self.alpha * self.peak if self.alpha is not None else self.end_value

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = float(self.warmup_steps)
        end = self.final_value
        warm = self.warmup_start + (self.peak - self.warmup_start) * step / max(warmup, 1.0)
        total = float(self.total_steps) if self.total_steps_variable is None else self.total_steps_variable
        progress = ops.clip((step - warmup) / ops.maximum(total - warmup, 1.0), 0.0, 1.0)
        cosine = end + (self.peak - end) * 0.5 * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < warmup, warm, cosine)

    def get_config(self) -> dict:
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "warmup_start": self.warmup_start,
            "end_value": self.end_value,
            "alpha": self.alpha,
            "name": self.name,
        }


def scaled_learning_rate(base_lr: float, batch_size: int, reference: int = 256) -> float:
    """The linear scaling rule: `base_lr * batch_size / reference`.

    Recipes (SimCLR, BYOL, SimSiam, Barlow Twins) give the learning rate per 256 images, e.g. SimSiam's
    "lr = 0.05 * B / 256".

    Reference: Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017.

    Args:
        base_lr: Learning rate for a batch of `reference` images.
        batch_size: The batch size actually used.
        reference: The batch size `base_lr` refers to.

    Returns:
        The scaled learning rate.

    Examples:
        >>> from kerascl.optimizers import scaled_learning_rate
        >>> scaled_learning_rate(0.05, batch_size=512)
        0.1
    """
    if isinstance(base_lr, bool) or not isinstance(base_lr, (int, float)) or base_lr < 0:
        raise ValueError(f"`base_lr` must be a number >= 0, got {base_lr!r}.")
    for arg, value in (("batch_size", batch_size), ("reference", reference)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{arg}` must be a positive int, got {value!r}.")
    return float(base_lr) * batch_size / reference
