"""KerasHub vision backbones as kerascl encoders.

`from_keras_hub` turns any `keras_hub` image backbone (ResNet, EfficientNet, MobileNet, DenseNet, ViT, DeiT,
DINOv2, ...), or a KerasHub preset, into a `KerasHubEncoder`: a functional model from kerascl images `(B, H, W, 3)`
in [0, 1] to feature vectors `(B, C)`, which every kerascl method, probe and export accepts. The encoder runs the
backbone's own layers (it shares their weights), so after pre-training the same backbone object holds the trained
weights and `kerascl.export.save_keras_hub_preset` writes it back as a KerasHub preset.

`keras_hub` is an optional dependency (`pip install "kerascl[hub]"`); it is imported only when a KerasHub backbone
is built or loaded.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

import keras
from keras import ops

from kerascl.backbones.resnet_backbone import _normalization_layer
from kerascl.backbones.stages import DEFAULT_STAGE_NAMES
from kerascl.keras_internals import run_functional_graph

#: Pooling modes of `from_keras_hub`.
POOLING_MODES: tuple[str, ...] = ("auto", "avg", "max", "cls", "none")

_INSTALL_HINT = 'KerasHub is not installed; install it with `pip install "kerascl[hub]"` (or `pip install keras-hub`).'


def import_keras_hub():
    """Imports `keras_hub`, or raises an ImportError that says how to install it.

    Returns:
        The `keras_hub` module.

    Examples:
        >>> keras_hub = import_keras_hub()
    """
    try:
        import keras_hub
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error
    return keras_hub


class _Untracked:
    """Holds an object outside Keras's attribute tracking (the backbone's layers are already the encoder's)."""

    def __init__(self, item):
        self.item = item


@keras.saving.register_keras_serializable(package="kerascl")
class TokenPooling(keras.layers.Layer):
    """Pools a token sequence `(B, T, D)` of a vision transformer into one vector `(B, D)`.

    Args:
        mode: `"cls"`: the class token (token 0); `"avg"` / `"max"`: the mean / maximum over the patch tokens, i.e.
            every token after the first `num_prefix_tokens` (class, distillation and register tokens).
        num_prefix_tokens: How many tokens precede the patch tokens.
        **kwargs: Passed to `keras.layers.Layer`.

    Examples:
        >>> import numpy as np
        >>> tokens = np.arange(24, dtype="float32").reshape(1, 3, 8)
        >>> TokenPooling("cls", num_prefix_tokens=1)(tokens).shape
        (1, 8)
    """

    def __init__(self, mode: str = "cls", num_prefix_tokens: int = 1, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("cls", "avg", "max"):
            raise ValueError(f"TokenPooling mode must be 'cls', 'avg' or 'max'; got {mode!r}.")
        if mode == "cls" and int(num_prefix_tokens) < 1:
            raise ValueError("mode='cls' needs a class token (num_prefix_tokens >= 1); use mode='avg'.")
        self.mode = mode
        self.num_prefix_tokens = int(num_prefix_tokens)

    def call(self, tokens):
        if self.mode == "cls":
            return tokens[:, 0]
        patches = tokens[:, self.num_prefix_tokens:]
        return ops.mean(patches, axis=1) if self.mode == "avg" else ops.max(patches, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode, "num_prefix_tokens": self.num_prefix_tokens}


@keras.saving.register_keras_serializable(package="kerascl")
class TokensToGrid(keras.layers.Layer):
    """Drops the prefix tokens of a `(B, T, D)` token sequence and lays the patch tokens out as a `(B, h, w, D)` map.

    This is how a vision transformer's intermediate layers serve as stage maps (the hierarchical method's side
    branches are convolutional). It has no weights.

    Args:
        grid: `(h, w)`, the patch grid; `T` must equal `num_prefix_tokens + h * w`.
        num_prefix_tokens: Tokens before the patch tokens (class, distillation, register tokens).
        **kwargs: Passed to `keras.layers.Layer`.

    Examples:
        >>> import numpy as np
        >>> TokensToGrid((2, 2), num_prefix_tokens=1)(np.zeros((1, 5, 8), "float32")).shape
        (1, 2, 2, 8)
    """

    def __init__(self, grid: Sequence[int], num_prefix_tokens: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.grid = tuple(int(g) for g in grid)
        self.num_prefix_tokens = int(num_prefix_tokens)

    def call(self, tokens):
        patches = tokens[:, self.num_prefix_tokens:]
        return ops.reshape(patches, (-1, self.grid[0], self.grid[1], patches.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.grid[0], self.grid[1], input_shape[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "grid": list(self.grid), "num_prefix_tokens": self.num_prefix_tokens}


def _image_input(backbone) -> tuple[Any, Any]:
    """The backbone's input structure and its one image tensor; raises for backbones with other inputs."""
    structure = backbone.input
    if isinstance(structure, dict):
        tensors = list(structure.values())
    elif isinstance(structure, (list, tuple)):
        tensors = list(structure)
    else:
        tensors = [structure]
    if len(tensors) != 1 or len(tensors[0].shape) != 4:
        raise ValueError(
            f"KerasHub backbone '{backbone.name}' ({type(backbone).__name__}) takes the inputs {structure}; a kerascl "
            "encoder needs a backbone with a single image input (B, H, W, 3), such as ResNetBackbone, ViTBackbone, "
            "DINOV2Backbone, EfficientNetBackbone or MobileNetBackbone."
        )
    return structure, tensors[0]


def _patch_grid(backbone, height: int | None, width: int | None) -> tuple[int, int] | None:
    patch = getattr(backbone, "patch_size", None)
    if patch is None or height is None or width is None:
        return None
    ph, pw = (patch, patch) if isinstance(patch, int) else tuple(int(p) for p in patch)
    return height // ph, width // pw


def _prefix_tokens(backbone, num_tokens: int | None, grid: tuple[int, int] | None) -> int:
    """How many tokens precede the patch tokens: class, distillation and register tokens."""
    if num_tokens is not None and grid is not None:
        return max(0, num_tokens - grid[0] * grid[1])
    return 0 if getattr(backbone, "use_class_token", True) is False else 1


def _sorted_pyramid(backbone) -> list[tuple[str, Any]]:
    """The backbone's pyramid outputs, shallowest first (P1, P2, ... or stem, stage1, stage2, ...)."""
    pyramid = dict(getattr(backbone, "pyramid_outputs", None) or {})

    def order(item):
        key = item[0]
        digits = "".join(c for c in key if c.isdigit())
        return (0 if key == "stem" else 1, int(digits) if digits else -1, key)

    return sorted(pyramid.items(), key=order)


@keras.saving.register_keras_serializable(package="kerascl")
class KerasHubEncoder(keras.Model):
    """A KerasHub vision backbone as a kerascl encoder: images `(B, H, W, 3)` in [0, 1] to features `(B, C)`.

    A functional model made of the backbone's own layers (shared, not copied), an optional input normalisation in
    front, and a pooling layer at the end: global average (or max) pooling of a feature map, the class token or the
    mean of the patch tokens of a vision transformer. Build it with `from_keras_hub`.

    The stage maps the hierarchical method taps come from the backbone's `pyramid_outputs`: `stage_tensors()` maps
    `stage_1` ... `stage_K` to them (the last stage is the backbone's output; transformer tokens are laid out as a
    patch grid), and `kerascl.backbones.stage_outputs` uses them.

    Saved with `save("x.keras")`, it loads with `keras.models.load_model` when `kerascl` and `keras_hub` are
    importable; `kerascl.export.save_keras_hub_preset` writes its backbone as a KerasHub preset.

    Args:
        backbone: A `keras_hub.models.Backbone` with one image input (or its serialized config).
        pooling: `"auto"` (average pooling of a feature map; the class token of a transformer, or the mean of the
            patch tokens when it has none), `"avg"`, `"max"`, `"cls"`, or `"none"` for a backbone whose output is
            already `(B, C)`.
        image_shape: `(height, width, channels)` of the images; None takes the backbone's input shape.
        normalization: Per-channel standardisation of the [0, 1] images inside the encoder: None, a name of
            `kerascl.backbones.NORMALIZATION_STATS` (`"imagenet"`, ...) or a `(mean, std)` pair.
        num_stages: How many stages to expose for the hierarchical method (fewer when the backbone has fewer
            pyramid levels).
        pyramid_keys: Keys of `backbone.pyramid_outputs` to use as stages 1 .. K-1, shallowest first; None picks
            the deepest `num_stages - 1` levels before the output (evenly spaced layers for a transformer).
        name: Model name (default `BACKBONENAME_encoder`).
        **kwargs: Passed to `keras.Model` (e.g. `trainable`).

    Examples:
        >>> import keras_hub
        >>> hub = keras_hub.models.ResNetBackbone(
        ...     input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 8, 8, 8],
        ...     stackwise_num_blocks=[1, 1, 1, 1], stackwise_num_strides=[1, 2, 2, 2], block_type="basic_block")
        >>> encoder = KerasHubEncoder(hub, image_shape=(32, 32, 3))   # what from_keras_hub(hub, image_size=32) builds
        >>> encoder.output_shape, list(encoder.stage_tensors())
        ((None, 8), ['stage_1', 'stage_2', 'stage_3', 'stage_4'])
    """

    def __init__(
        self,
        backbone,
        pooling: str = "auto",
        image_shape: Sequence[int | None] | None = None,
        normalization: str | tuple | None = None,
        num_stages: int = 4,
        pyramid_keys: Sequence[str] | None = None,
        name: str | None = None,
        **kwargs,
    ):
        if isinstance(backbone, dict):
            import_keras_hub()  # registers KerasHub's classes before the config is read
            backbone = keras.saving.deserialize_keras_object(backbone)
        keras_hub = import_keras_hub()
        if not isinstance(backbone, keras_hub.models.Backbone):
            raise TypeError(
                f"from_keras_hub needs a keras_hub.models.Backbone or a preset; got {type(backbone).__name__}. For a "
                "plain keras.Model use it directly as the backbone (kerascl.backbones.check_backbone checks it)."
            )
        if getattr(backbone, "data_format", "channels_last") == "channels_first":
            raise ValueError(
                f"KerasHub backbone '{backbone.name}' is channels_first; kerascl images are (B, H, W, 3). Build it "
                "with data_format='channels_last'."
            )
        if pooling not in POOLING_MODES:
            raise ValueError(f"pooling must be one of {POOLING_MODES}; got {pooling!r}.")
        structure, image = _image_input(backbone)
        declared = tuple(image.shape[1:])
        shape = _resolve_image_shape(backbone, declared, image_shape)

        inputs = keras.Input(shape, name="images")
        x = inputs
        taken = {layer.name for layer in backbone.layers}
        norm = _normalization_layer(normalization, shape[-1], name=_free_name("input_normalization", taken))
        if norm is not None:
            x = norm(x)
        feed = {key: x for key in structure} if isinstance(structure, dict) else x
        pyramid = _sorted_pyramid(backbone)
        # One graph for the output and every pyramid level, so that the levels off the output's path (a
        # transformer's normalised side outputs) are computed too; its layers are the backbone's own.
        graph = keras.Model(structure, [backbone.output] + [tensor for _, tensor in pyramid])
        outputs = run_functional_graph(graph, feed)
        features, levels = outputs[0], dict(zip([key for key, _ in pyramid], outputs[1:]))

        rank = len(features.shape)
        grid = _patch_grid(backbone, shape[0], shape[1]) if rank == 3 else None
        prefix = _prefix_tokens(backbone, features.shape[1], grid) if rank == 3 else 0
        mode = _pooling_mode(backbone, pooling, rank, prefix)
        pool_name = _free_name("pool", taken)
        if mode == "none":
            pooled = features
        elif rank == 4:
            layer = keras.layers.GlobalAveragePooling2D if mode == "avg" else keras.layers.GlobalMaxPooling2D
            pooled = layer(name=pool_name)(features)
        else:
            pooled = TokenPooling(mode, num_prefix_tokens=prefix, name=pool_name)(features)

        super().__init__(inputs=inputs, outputs=pooled, name=name or f"{backbone.name}_encoder", **kwargs)

        self._hub = _Untracked(backbone)
        self._stages = _Untracked(_stage_tensors(features, levels, rank, grid, prefix, num_stages, pyramid_keys))
        self.pooling = pooling
        self.pooling_mode = mode
        self.image_shape = shape
        self.normalization = _config_normalization(normalization)
        self.num_stages = int(num_stages)
        self.pyramid_keys = None if pyramid_keys is None else [str(k) for k in pyramid_keys]

    def keras_hub_backbone(self):
        """The `keras_hub.models.Backbone` whose layers this encoder runs (it holds the encoder's weights)."""
        return self._hub.item

    def stage_tensors(self) -> dict:
        """`{"stage_1": tensor, ...}`: the symbolic stage maps `(B, h, w, c)` of this encoder's graph, shallowest
        first; empty when the backbone has no pyramid outputs (the hierarchical method then cannot use it)."""
        return dict(self._stages.item)

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.keras_hub_backbone()),
            "pooling": self.pooling,
            "image_shape": list(self.image_shape),
            "normalization": self.normalization,
            "num_stages": self.num_stages,
            "pyramid_keys": self.pyramid_keys,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        return cls(**config)


def _free_name(name: str, taken: set) -> str:
    while name in taken:
        name = f"kerascl_{name}"
    return name


def _config_normalization(normalization):
    if normalization is None or isinstance(normalization, str):
        return normalization
    mean, std = normalization
    return [[float(m) for m in mean], [float(s) for s in std]]


def _resolve_image_shape(backbone, declared: tuple, image_shape) -> tuple:
    channels = declared[-1] or 3
    if image_shape is None:
        return tuple(declared[:2]) + (channels,)
    shape = tuple(image_shape)
    if len(shape) == 2:
        shape = shape + (channels,)
    if len(shape) != 3 or not all(d is None or (isinstance(d, int) and d > 0) for d in shape):
        raise ValueError(f"image_shape must be (height, width, channels) of positive ints; got {image_shape!r}.")
    fixed = [(d, s) for d, s in zip(declared[:2], shape[:2]) if d is not None]
    if any(d != s for d, s in fixed) or (declared[-1] is not None and declared[-1] != shape[-1]):
        kind = type(backbone).__name__
        size = "x".join(str(d) for d in declared[:2])
        wanted = "x".join(str(s) for s in shape[:2])
        raise ValueError(
            f"KerasHub backbone '{backbone.name}' ({kind}) takes {size} images: its input size is fixed when it is "
            f"built (a vision transformer has one position embedding per patch of that size), but the views are "
            f"{wanted}. Either make the views {size} px (image_size={declared[0]} in kerascl.data / --set "
            f"image_size={declared[0]}), or build the backbone for {wanted} px: keras_hub.models.{kind}(..., "
            f"image_shape={shape}), or {kind}.from_preset(preset, image_shape={shape}) where the model supports it."
        )
    return shape


def _pooling_mode(backbone, pooling: str, rank: int, prefix: int) -> str:
    name = f"KerasHub backbone '{backbone.name}' ({type(backbone).__name__})"
    if rank == 2:
        if pooling not in ("auto", "none"):
            raise ValueError(f"{name} already returns feature vectors (B, C); pass pooling='auto' or 'none'.")
        return "none"
    if pooling == "none":
        raise ValueError(
            f"{name} returns a {'feature map (B, H, W, C)' if rank == 4 else 'token sequence (B, T, D)'}; a kerascl "
            "encoder must return (B, C). Pass pooling='auto', 'avg', 'max'" + (" or 'cls'." if rank == 3 else ".")
        )
    if rank == 4:
        if pooling == "cls":
            raise ValueError(f"{name} returns a feature map, which has no class token; pass pooling='avg' or 'max'.")
        return "avg" if pooling == "auto" else pooling
    if rank == 3:
        if pooling == "cls" and prefix < 1:
            raise ValueError(f"{name} has no class token (use_class_token=False); pass pooling='avg' or 'max'.")
        if pooling == "auto":
            return "cls" if prefix >= 1 else "avg"
        return pooling
    raise ValueError(f"{name} returns outputs of rank {rank}; a kerascl encoder needs a feature map or tokens.")


def _stage_tensors(features, levels: dict, rank: int, grid, prefix: int, num_stages: int, pyramid_keys) -> dict:
    """`stage_1` ... `stage_K`: K-1 pyramid levels, then the backbone's output, as 4-D maps."""
    if pyramid_keys is not None:
        missing = [k for k in pyramid_keys if k not in levels]
        if missing:
            raise ValueError(f"pyramid_keys {missing} are not pyramid outputs of the backbone; it has {list(levels)}.")
        chosen = list(pyramid_keys)
    else:
        candidates = [k for k in levels if k != "stem"]
        # A CNN's deepest level is its output; a transformer's last layer is the output too.
        if candidates:
            candidates = candidates[:-1]
        wanted = max(0, int(num_stages) - 1)
        if wanted == 0:
            chosen = []
        elif len(candidates) <= wanted:
            chosen = candidates
        elif rank == 3:  # evenly spaced transformer layers, the deepest last
            step = len(candidates) / wanted
            chosen = [candidates[int(round(step * (i + 1))) - 1] for i in range(wanted)]
        else:
            chosen = candidates[-wanted:] if wanted else []
    if not chosen:
        return {}
    maps = [levels[k] for k in chosen] + [features]
    if rank == 3:
        if grid is None:
            return {}
        maps = [TokensToGrid(grid, prefix, name=f"stage_{i}_grid")(m) for i, m in enumerate(maps, start=1)]
    if any(len(m.shape) != 4 for m in maps):
        return {}
    return {f"stage_{i}": m for i, m in enumerate(maps, start=1)}


def is_keras_hub_preset(path: str | os.PathLike) -> bool:
    """Whether `path` is a local KerasHub preset directory (a `config.json` naming a KerasHub class).

    Args:
        path: A directory.

    Returns:
        True for a preset directory.

    Examples:
        >>> is_keras_hub_preset("runs/shapes-partitioned")   # a run folder is not a preset
        False
    """
    config = os.path.join(os.fspath(path), "config.json")
    if not os.path.isfile(config):
        return False
    try:
        with open(config) as handle:
            registered = json.load(handle).get("registered_name", "")
    except (OSError, ValueError):
        return False
    return str(registered).startswith("keras_hub>")


def preset_normalization(preset: str) -> tuple | None:
    """The `(mean, std)` on [0, 1] images equivalent to a KerasHub preset's image converter, or None without one.

    A KerasHub image converter computes `x * scale + offset` on [0, 255] images; on kerascl's [0, 1] images that is
    a standardisation with `std = 1 / (255 * scale)` and `mean = -offset * std`.

    Args:
        preset: A preset name, handle or local directory.

    Returns:
        `(mean, std)` per channel, or None when the preset has no converter or it only rescales to [0, 1].

    Examples:
        >>> preset_normalization("byol_resnet_preset")     # a preset saved with ImageNet statistics
        ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    """
    keras_hub = import_keras_hub()
    try:
        converter = keras_hub.layers.ImageConverter.from_preset(preset)
    except (ValueError, FileNotFoundError, KeyError, TypeError):
        return None
    scale, offset = getattr(converter, "scale", None), getattr(converter, "offset", None)
    if scale is None and offset is None:
        return None
    scale = [float(s) for s in ops.convert_to_numpy(scale if scale is not None else 1.0).reshape(-1)]
    offset = [float(o) for o in ops.convert_to_numpy(offset if offset is not None else 0.0).reshape(-1)]
    channels = max(len(scale), len(offset), 3)
    scale = scale * channels if len(scale) == 1 else scale
    offset = offset * channels if len(offset) == 1 else offset
    std = [1.0 / (255.0 * s) for s in scale]
    mean = [-o * sd for o, sd in zip(offset, std)]
    if all(abs(m) < 1e-7 for m in mean) and all(abs(sd - 1.0) < 1e-6 for sd in std):
        return None  # the converter only maps [0, 255] to [0, 1], which kerascl images already are
    return (mean, std)


def from_keras_hub(
    backbone,
    pooling: str = "auto",
    image_size: int | Sequence[int] | None = None,
    normalization: str | tuple | None = "auto",
    num_stages: int = 4,
    pyramid_keys: Sequence[str] | None = None,
    load_weights: bool = True,
    name: str | None = None,
    **preset_kwargs: Any,
) -> KerasHubEncoder:
    """Makes a kerascl encoder of a KerasHub vision backbone or preset.

    The result maps kerascl images `(B, H, W, 3)` in [0, 1] to `(B, C)` and works with every kerascl method, probe
    and export: pooled feature maps for CNNs, the class token (or the mean patch token) for vision transformers,
    and the backbone's `pyramid_outputs` as the stages of the hierarchical method.

    Args:
        backbone: A `keras_hub.models.Backbone` instance (e.g. `keras_hub.models.ResNetBackbone(...)`), a local
            preset directory (one written by `Backbone.save_to_preset` or `kerascl.export.save_keras_hub_preset`),
            or a preset name/handle (`"resnet_50_imagenet"`, `"hf://..."`; downloaded by KerasHub).
        pooling: `"auto"`, `"avg"`, `"max"`, `"cls"` or `"none"` (see `KerasHubEncoder`).
        image_size: Side (or `(height, width)`) of the views the encoder will see. None keeps the backbone's input
            size (any size for most CNNs). A backbone built for a fixed size (a ViT) raises a ValueError that names
            both sizes and the fix when they differ.
        normalization: Standardisation of the [0, 1] images inside the encoder. `"auto"` (default): the preset's
            own image converter when `backbone` is a preset (what its pretrained weights expect), none for a
            backbone instance. Or None, `"imagenet"`, `"cifar10"`, `"cifar100"`, or a `(mean, std)` pair.
        num_stages: Stages exposed to the hierarchical method (default 4).
        pyramid_keys: Keys of `pyramid_outputs` for stages 1 .. K-1 (None: chosen automatically).
        load_weights: For a preset: load its weights (True) or start from random weights.
        name: Name of the encoder.
        **preset_kwargs: For a preset: passed to `Backbone.from_preset` (e.g. `image_shape=(64, 64, 3)`).

    Returns:
        A `KerasHubEncoder`.

    Raises:
        ImportError: `keras_hub` is not installed (the message says how to install it).
        TypeError: `backbone` is neither a KerasHub backbone nor a preset.
        ValueError: the backbone cannot serve: a fixed input size other than `image_size`, no single image input,
            a pooling mode the output does not allow.

    Examples:
        >>> import keras_hub, numpy as np
        >>> from kerascl.backbones import from_keras_hub
        >>> hub = keras_hub.models.ViTBackbone(image_shape=(32, 32, 3), patch_size=8, num_layers=2,
        ...                                    num_heads=2, hidden_dim=16, mlp_dim=32)
        >>> encoder = from_keras_hub(hub)                    # the class token
        >>> tuple(encoder(np.zeros((2, 32, 32, 3), "float32")).shape)
        (2, 16)
    """
    keras_hub = import_keras_hub()
    from_preset = isinstance(backbone, (str, os.PathLike))
    if from_preset:
        preset = os.fspath(backbone)
        if normalization == "auto":
            normalization = preset_normalization(preset)
        backbone = keras_hub.models.Backbone.from_preset(preset, load_weights=load_weights, **preset_kwargs)
    elif preset_kwargs:
        raise TypeError(f"Unexpected arguments {sorted(preset_kwargs)}: they are for a preset (Backbone.from_preset).")
    elif normalization == "auto":
        normalization = None
    if image_size is not None:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        image_shape = (*size, 3)
    else:
        image_shape = None
    return KerasHubEncoder(backbone, pooling=pooling, image_shape=image_shape, normalization=normalization,
                           num_stages=num_stages, pyramid_keys=pyramid_keys, name=name)
