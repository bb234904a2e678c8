"""Look up a backbone constructor by a string name, e.g. from a recipe or the command line."""

from __future__ import annotations

import difflib
from typing import Any, Callable

import keras

from kerascl.backbones.convnet import ConvNet
from kerascl.backbones.resnet_backbone import RESNET_STAGE_BLOCKS, VARIANTS, resnet
from kerascl.input_checks import keras_hub_preset

_REGISTRY: dict[str, Callable[..., keras.Model]] = {}


def register_backbone(name: str, builder: Callable[..., keras.Model], overwrite: bool = False) -> None:
    """Adds a backbone constructor to the registry used by `get_backbone`.

    Args:
        name: Lower-case name to register, e.g. `"my_convnet"`.
        builder: A callable taking keyword arguments and returning a `keras.Model` mapping images to `(B, C)`.
        overwrite: Replace an existing entry of the same name instead of raising.

    Raises:
        ValueError: the name is taken and `overwrite` is False, or the name is empty.
        TypeError: `builder` is not callable.

    Examples:
        >>> import keras
        >>> from kerascl.backbones import get_backbone, register_backbone
        >>> def tiny(input_shape=(16, 16, 3)):
        ...     return keras.Sequential([keras.Input(input_shape), keras.layers.Conv2D(4, 3),
        ...                              keras.layers.GlobalAveragePooling2D()])
        >>> register_backbone("tiny_doc_example", tiny, overwrite=True)
        >>> get_backbone("tiny_doc_example").output_shape
        (None, 4)
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"A backbone name must be a non-empty string, got {name!r}.")
    if not callable(builder):
        raise TypeError(f"`builder` must be callable, got {type(builder).__name__}.")
    key = name.strip().lower()
    if key in _REGISTRY and not overwrite:
        raise ValueError(f"A backbone named '{key}' is already registered; pass overwrite=True to replace it.")
    _REGISTRY[key] = builder


def available_backbones() -> list[str]:
    """Returns the registered backbone names, sorted.

    Examples:
        >>> from kerascl.backbones import available_backbones
        >>> "resnet18_cifar" in available_backbones()
        True
    """
    return sorted(_REGISTRY)


def get_backbone(name: str, **kwargs: Any) -> keras.Model:
    """Builds a backbone from its registered name.

    Names: `resnet18`, `resnet34`, `resnet50` (CIFAR stem unless `variant="imagenet"` is passed) and the explicit
    `resnet{18,34,50}_cifar` / `resnet{18,34,50}_imagenet`, `convnet` (the small `ConvNet`), plus anything added
    with `register_backbone`. Names are case-insensitive.

    `keras_hub:PRESET` builds a KerasHub backbone from a preset with its weights (a local preset folder, such as
    one `kerascl.export.save_keras_hub_preset` wrote, or a KerasHub preset name, downloaded by KerasHub) as a
    `KerasHubEncoder` (`from_keras_hub`); it takes `input_shape` (the views' size), and `width` only as None or 1
    (a preset fixes its architecture).

    Args:
        name: The registered name.
        **kwargs: Passed to the constructor, e.g. `width=0.5, input_shape=(64, 64, 3)`.

    Returns:
        A `keras.Model` mapping images to `(B, features)`.

    Raises:
        TypeError: `name` is not a string.
        ValueError: unknown name (the message suggests the closest registered names), or `variant` passed with a
            name that already fixes the variant to a different one.

    Examples:
        >>> from kerascl.backbones import get_backbone
        >>> get_backbone("resnet18_cifar", width=0.125).output_shape
        (None, 64)
    """
    if not isinstance(name, str):
        raise TypeError(f"A backbone name must be a string, got {type(name).__name__}.")
    preset = keras_hub_preset(name)
    if preset is not None:
        return _keras_hub_encoder(preset, **kwargs)
    key = name.strip().lower()
    if key not in _REGISTRY:
        close = difflib.get_close_matches(key, _REGISTRY.keys(), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown backbone '{name}'.{hint} Available: {', '.join(available_backbones())}.")
    return _REGISTRY[key](**kwargs)


def _keras_hub_encoder(preset: str, input_shape=None, width: float | None = None, **kwargs: Any) -> keras.Model:
    from kerascl.backbones.hub import from_keras_hub

    if not preset:
        raise ValueError("'keras_hub:' needs a preset after the colon: keras_hub:./my_preset_folder or "
                         "keras_hub:resnet_18_imagenet.")
    if width is not None and float(width) != 1.0:
        raise ValueError(f"width={width} scales kerascl's own ResNets; the KerasHub preset {preset!r} fixes its "
                         "architecture. Pass width=None (command line: --set width=1).")
    unknown = sorted(set(kwargs) - {"pooling", "normalization", "num_stages", "pyramid_keys", "load_weights"})
    if unknown:
        raise TypeError(f"Unexpected arguments {unknown} for the KerasHub backbone {preset!r}.")
    image_size = None if input_shape is None else tuple(int(s) for s in input_shape[:2])
    return from_keras_hub(preset, image_size=image_size, **kwargs)


def _resnet_builder(depth: int, fixed_variant: str | None) -> Callable[..., keras.Model]:
    def build(**kwargs: Any) -> keras.Model:
        if fixed_variant is not None:
            requested = kwargs.pop("variant", fixed_variant)
            if str(requested).lower() != fixed_variant:
                raise ValueError(
                    f"'resnet{depth}_{fixed_variant}' fixes variant='{fixed_variant}' but variant={requested!r} was "
                    f"passed; use 'resnet{depth}' with variant=... or 'resnet{depth}_{requested}'."
                )
            kwargs["variant"] = fixed_variant
        return resnet(depth, **kwargs)

    return build


for _depth in RESNET_STAGE_BLOCKS:
    register_backbone(f"resnet{_depth}", _resnet_builder(_depth, None))
    for _variant in VARIANTS:
        register_backbone(f"resnet{_depth}_{_variant}", _resnet_builder(_depth, _variant))

register_backbone("convnet", lambda **kwargs: ConvNet(**{k: v for k, v in kwargs.items() if k != "variant"}))
