"""A multi-output view of a functional backbone that returns its intermediate stage maps."""

from __future__ import annotations

import difflib
from typing import Sequence

import keras

#: The stage names of kerascl's ResNets, first to last.
DEFAULT_STAGE_NAMES: tuple[str, ...] = ("stage_1", "stage_2", "stage_3", "stage_4")


def stage_outputs(backbone: keras.Model, names: Sequence[str] = DEFAULT_STAGE_NAMES) -> keras.Model:
    """Builds a model that returns the outputs of the named layers of a functional backbone.

    The new model shares its layers (and therefore its weights) with `backbone`: training one trains the
    other. Hierarchical methods use it to tap every stage of a ResNet.

    Args:
        backbone: A functional or sequential `keras.Model`, e.g. one of kerascl's ResNets, whose stages are
            layers named `stage_1` ... `stage_4`, or any functional model with its own layer names. A model with a
            `stage_tensors()` method (a `KerasHubEncoder`) names its stages there instead: `stage_1` ... `stage_K`
            are its backbone's pyramid outputs.
        names: Names of the layers whose outputs to return, in order.

    Returns:
        A functional `keras.Model` taking the backbone's inputs and returning a list with one tensor per name.

    Raises:
        TypeError: `backbone` is not a functional/sequential `keras.Model` (a subclassed model has no layer
            graph to tap).
        ValueError: `names` is empty or a name is not a layer of `backbone` (the message lists the layer names).

    Examples:
        >>> import numpy as np
        >>> from kerascl.backbones import ResNet18, stage_outputs
        >>> taps = stage_outputs(ResNet18(width=0.125))
        >>> for tap in taps(np.zeros((1, 32, 32, 3), "float32")):
        ...     print(tuple(tap.shape))
        (1, 32, 32, 8)
        (1, 16, 16, 16)
        (1, 8, 8, 32)
        (1, 4, 4, 64)
    """
    if not isinstance(backbone, keras.Model):
        raise TypeError(f"`backbone` must be a keras.Model, got {type(backbone).__name__}.")
    if isinstance(names, str):
        names = (names,)
    names = tuple(names)
    if not names:
        raise ValueError("`names` is empty; give at least one layer name, e.g. ('stage_1', 'stage_4').")
    try:
        inputs = backbone.input  # the structure the backbone was built with
    except (AttributeError, ValueError):
        inputs = None
    if inputs is None:
        raise TypeError(
            f"Backbone '{backbone.name}' ({type(backbone).__name__}) is not a functional model, so its intermediate "
            "outputs cannot be tapped. Build it with the functional API (keras.Model(inputs, outputs)) or "
            "keras.Sequential with a keras.Input, or use kerascl.backbones.ResNet18/34/50."
        )
    tensors = _declared_stages(backbone)
    if tensors is not None:
        missing = [n for n in names if n not in tensors]
        if missing:
            raise ValueError(
                f"Backbone '{backbone.name}' has no stage named {', '.join(repr(n) for n in missing)}; its stages are "
                f"{list(tensors) or 'none'}. "
                + ("Pass stage_names from these." if tensors else
                   "It has no pyramid outputs to tap: use a backbone with pyramid outputs (e.g. KerasHub's ResNet, "
                   "EfficientNet, DenseNet, CSPNet or DINOv2 backbones) or a method without per-stage branches.")
            )
        return keras.Model(inputs, [tensors[n] for n in names], name=f"{backbone.name}_stages")
    layer_names = [layer.name for layer in backbone.layers]
    missing = [n for n in names if n not in layer_names]
    if missing:
        hints = []
        for n in missing:
            close = difflib.get_close_matches(n, layer_names, n=3)
            if close:
                hints.append(f"'{n}': did you mean {', '.join(repr(c) for c in close)}?")
        raise ValueError(
            f"Backbone '{backbone.name}' has no layer named {', '.join(repr(n) for n in missing)}. "
            + (" ".join(hints) + " " if hints else "")
            + f"Its layers are: {', '.join(layer_names)}."
        )
    outputs = []
    for n in names:
        try:
            outputs.append(backbone.get_layer(n).output)
        except (AttributeError, ValueError) as err:
            raise ValueError(
                f"Layer '{n}' of backbone '{backbone.name}' has no single symbolic output to tap ({err}). "
                "Tap a layer that is called exactly once in the functional graph."
            ) from err
    return keras.Model(inputs, outputs, name=f"{backbone.name}_stages")


def _declared_stages(backbone: keras.Model) -> dict | None:
    """The `{name: symbolic map}` a backbone declares with a `stage_tensors()` method (KerasHub encoders), or None."""
    method = getattr(backbone, "stage_tensors", None)
    return dict(method()) if callable(method) else None
