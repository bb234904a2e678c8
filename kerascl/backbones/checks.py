"""Checks that a user's `keras.Model` can serve as a kerascl backbone, and its feature dimension."""

from __future__ import annotations

from typing import Sequence

import keras


def _check_image_shape(image_shape) -> tuple:
    try:
        shape = tuple(image_shape)
    except TypeError:
        raise TypeError(f"`image_shape` must be a (height, width, channels) tuple, got {image_shape!r}.") from None
    if len(shape) != 3 or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise ValueError(
            f"`image_shape` must be (height, width, channels) of positive ints without the batch dimension, "
            f"got {shape!r}; e.g. (32, 32, 3)."
        )
    return shape


def check_backbone(model: keras.Model, image_shape: Sequence[int]) -> int:
    """Checks that `model` maps an image batch `(B, *image_shape)` to a 2-D feature batch `(B, C)`.

    The check calls the model symbolically (no data is computed; a subclassed model gets built), so it is cheap
    even for large networks. Use it before handing your own network to a kerascl method; kerascl's methods and
    probes expect exactly this contract.

    Args:
        model: The candidate backbone, any `keras.Model` (functional, sequential or subclassed), e.g.
            `keras.applications.ResNet50(include_top=False, pooling="avg", weights=None)`.
        image_shape: `(height, width, channels)` of the images it will see.

    Returns:
        The feature dimension `C`.

    Raises:
        TypeError: `model` is not a `keras.Model`.
        ValueError: the model cannot be called on such images, returns several outputs, or returns something
            other than a `(B, C)` tensor (for example a `(B, H, W, C)` feature map because pooling was left out);
            the message says how to fix it.

    Examples:
        >>> import keras
        >>> from kerascl.backbones import check_backbone
        >>> net = keras.applications.ResNet50(
        ...     include_top=False, pooling="avg", weights=None, input_shape=(32, 32, 3))
        >>> check_backbone(net, (32, 32, 3))
        2048
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"A backbone must be a keras.Model, got {type(model).__name__}. Wrap layers in a model, e.g. "
            "keras.Sequential([keras.Input((32, 32, 3)), ..., keras.layers.GlobalAveragePooling2D()])."
        )
    shape = _check_image_shape(image_shape)
    name = getattr(model, "name", type(model).__name__)
    try:
        declared = model.input_shape  # functional and sequential models declare their input
    except (AttributeError, ValueError, TypeError):
        declared = None
    if declared is not None:
        if not (isinstance(declared, tuple) and all(d is None or isinstance(d, int) for d in declared)):
            raise ValueError(
                f"Backbone '{name}' takes several inputs {declared}; a backbone takes one image batch (B, H, W, C)."
            )
        if len(declared) != 4 or any(d is not None and d != i for d, i in zip(declared[1:], shape)):
            raise ValueError(
                f"Backbone '{name}' cannot be called on an image batch of shape (B, {', '.join(map(str, shape))}): "
                f"it was built for inputs of shape {declared}. Build it for these images (e.g. "
                f"input_shape={shape}, or (None, None, {shape[-1]}) to accept any size) or resize the images."
            )
    try:
        spec = model(keras.KerasTensor((2, *shape), dtype="float32"))  # symbolic: no data is computed
    except Exception as err:  # noqa: BLE001 - re-raised with context
        raise ValueError(
            f"Backbone '{name}' cannot be called on an image batch of shape (B, {', '.join(map(str, shape))}): "
            f"{type(err).__name__}: {err}\nBuild the backbone for these images (e.g. input_shape={shape}, or "
            "(None, None, channels) to accept any size) or resize the images to the size it expects."
        ) from err
    if isinstance(spec, dict) or isinstance(spec, (list, tuple)):
        count = len(spec)
        raise ValueError(
            f"Backbone '{name}' returns {count} outputs ({type(spec).__name__}); a backbone must return one "
            "(B, features) tensor. Build a model with a single output, e.g. keras.Model(net.inputs, net.outputs[-1])."
        )
    out_shape = tuple(spec.shape)
    if len(out_shape) == 4:
        raise ValueError(
            f"Backbone '{name}' returns a feature map of shape {out_shape} (B, H, W, C), not a feature vector "
            "(B, C). Pool it: for keras.applications models pass pooling='avg' (e.g. keras.applications.ResNet50("
            "include_top=False, pooling='avg', weights=None)); for your own model end it with "
            "keras.layers.GlobalAveragePooling2D()."
        )
    if len(out_shape) != 2:
        raise ValueError(
            f"Backbone '{name}' returns a tensor of shape {out_shape}; a backbone must return a 2-D (B, features) "
            "tensor. End it with keras.layers.GlobalAveragePooling2D() (feature maps) or keras.layers.Flatten()."
        )
    if out_shape[0] not in (2, None):
        raise ValueError(
            f"Backbone '{name}' maps a batch of 2 images to shape {out_shape}; the first axis must stay the batch."
        )
    if out_shape[1] is None:
        raise ValueError(
            f"Backbone '{name}' returns features of unknown size {out_shape}; the feature dimension must be fixed "
            "(e.g. end with a Dense layer or global pooling over a fixed number of channels)."
        )
    return int(out_shape[1])


def feature_dim(backbone: keras.Model, image_shape: Sequence[int] | None = None) -> int:
    """Returns the size `C` of the feature vectors `(B, C)` a backbone produces.

    For a functional model the size is read from its output; otherwise (or if the output is not `(B, C)`) the
    backbone is traced on `image_shape` with `check_backbone`, which raises a clear error if it does not produce
    feature vectors.

    Args:
        backbone: A `keras.Model` mapping images to `(B, C)`.
        image_shape: `(height, width, channels)`; needed only for models whose output size is not known before
            they are called (subclassed models). Defaults to the model's own input shape when it has one.

    Returns:
        The feature dimension as an int.

    Examples:
        >>> from kerascl.backbones import ResNet50, feature_dim
        >>> feature_dim(ResNet50(width=0.125))
        256
    """
    outputs = None
    try:
        outputs = backbone.outputs
    except (AttributeError, ValueError):
        pass
    if outputs is not None and len(outputs) == 1:
        shape = tuple(outputs[0].shape)
        if len(shape) == 2 and shape[1] is not None:
            return int(shape[1])
    if image_shape is None:
        try:
            input_shape = tuple(backbone.input_shape)
        except (AttributeError, ValueError, TypeError):
            input_shape = ()
        if len(input_shape) == 4 and all(d is not None for d in input_shape[1:]):
            image_shape = input_shape[1:]
        else:
            raise ValueError(
                f"Cannot tell the feature dimension of backbone '{getattr(backbone, 'name', backbone)}' without "
                "calling it; pass image_shape=(height, width, channels)."
            )
    return check_backbone(backbone, image_shape)
