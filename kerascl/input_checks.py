"""Checks of user input shared by the data sources, the augmenters, the methods and the command line.

Each check returns or raises a message that names the problem and the fix a user can apply from where they are (a
Python argument or a command-line flag). docs/checks.md lists every check with its message; tests/test_bad_inputs.py
has one row per check.

This module imports neither Keras nor TensorFlow (the command line uses it before a backend is chosen).
"""

from __future__ import annotations

import math
import os
import zipfile

#: A backbone name `keras_hub:PRESET` names a KerasHub preset (a local preset folder, or a name KerasHub downloads),
#: e.g. `--set backbone=keras_hub:./my_preset`; `kerascl.backbones.get_backbone` builds it.
KERAS_HUB_PREFIX = "keras_hub:"
#: Float images whose largest value is above this were not scaled to [0, 1] (8-bit values 0..255).
SCALE_255_ABOVE = 1.5
#: Float images whose smallest value is below this hold negative values (e.g. normalised to [-1, 1]).
NEGATIVE_BELOW = -0.01
#: Float images whose largest value is positive but below this were divided by 255 twice (max at most 1/255).
DOUBLE_SCALED_BELOW = 0.02


#: The fix for each kind of badly scaled float images (the `kind` of `image_range_problem`).
RANGE_FIXES = {
    "scale_255": ("They look like 8-bit 0..255 values: divide by 255 (images.astype('float32') / 255), or pass "
                  "uint8 arrays to kerascl.data, which scales them."),
    "negative": ("They hold negative values, as images normalised to [-1, 1] (or standardised) do: pass the "
                 "unnormalised images, or map [-1, 1] back with (images + 1) / 2. The augmentations expect [0, 1]."),
    "double_scaled": ("The largest value is below 0.02, so the images look divided by 255 twice: divide by 255 "
                      "once (or not at all when they already are in [0, 1])."),
    "overshoot": ("Clip them to [0, 1] (numpy.clip(images, 0, 1)); small overshoots come from resizing or "
                  "interpolation."),
}


def keras_hub_preset(backbone_name: str) -> str | None:
    """The `PRESET` of a `keras_hub:PRESET` backbone name (case-insensitive prefix), or None for any other name."""
    name = str(backbone_name).strip()
    return name[len(KERAS_HUB_PREFIX):] if name.lower().startswith(KERAS_HUB_PREFIX) else None


def range_kind(low: float, high: float) -> str | None:
    """Which scaling mistake float images with values in `[low, high]` show (a key of `RANGE_FIXES`), or None.

    An all-zero (black) batch passes; NaN or infinite bounds give `"not_finite"`.
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        return "not_finite"
    if high > SCALE_255_ABOVE:
        return "scale_255"
    if low < NEGATIVE_BELOW:
        return "negative"
    if 0.0 < high < DOUBLE_SCALED_BELOW:
        return "double_scaled"
    if low < 0.0 or high > 1.0:
        return "overshoot"
    return None


def image_range_problem(low: float, high: float, where: str = "images") -> str | None:
    """The message for float images whose values are not in [0, 1], or None when they look right.

    Tells the usual mistakes apart, each with its own fix: 8-bit values left in 0..255 (divide by 255 once),
    values normalised to [-1, 1] or standardised (map them back to [0, 1]), values divided by 255 twice (largest
    value below 0.02), and small overshoots (clip). An all-zero (black) batch passes.

    Args:
        low: The smallest value of the batch or array.
        high: The largest value.
        where: What the values are, for the message (e.g. `"images"`, `"MultiViewAugmentation input"`).

    Returns:
        The message, or None.

    Examples:
        >>> "divide by 255" in image_range_problem(0.0, 255.0)
        True
        >>> image_range_problem(0.0, 1.0) is None
        True
    """
    kind = range_kind(low, high)
    if kind is None:
        return None
    if kind == "not_finite":
        return f"{where} contain NaN or infinite values; clean the data (e.g. numpy.nan_to_num) first."
    return f"{where} must be float values in [0, 1]; got values in [{low:.4g}, {high:.4g}]. {RANGE_FIXES[kind]}"


def zero_steps_message(num_examples: int | None, batch_size: int | None, what: str = "The training data") -> str:
    """The message for a pipeline that yields no batch, so `fit` would train nothing.

    Args:
        num_examples: Examples in the data, when known.
        batch_size: The batch size, when known.
        what: The data's name in the message.

    Returns:
        The message (the caller raises it).
    """
    if num_examples is not None and batch_size is not None:
        return (f"{what} has {num_examples} example(s) but batch_size={batch_size} with drop_remainder=True, so an "
                f"epoch has 0 steps and training would do nothing. Use batch_size={max(1, num_examples)} or less "
                "(--batch-size on the command line), more data, or drop_remainder=False.")
    return (f"{what} yields no batch (0 steps per epoch), so training would do nothing. Usually there are fewer "
            "examples than the batch size and the batches drop the remainder (.batch(n, drop_remainder=True)): use "
            "a smaller batch size, more data, or drop_remainder=False.")


def check_keras_archive(path: str | os.PathLike) -> None:
    """Raises unless `path` is a Keras model file `keras.models.load_model` can read (`.keras` zip or legacy `.h5`).

    Keras's own error for a file that is not a zip says "File not found", which misleads when the file is there.

    Args:
        path: The model file.

    Raises:
        FileNotFoundError: No file at `path`.
        ValueError: The file is not a `.keras` archive (or an HDF5 `.h5` file), saying what a valid one is.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model file at {path!r} (a recipe run writes RUN/backbone.keras).")
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return  # a legacy HDF5 model; load_model reads it
    fix = ("Pass the backbone.keras file a recipe run writes (RUN/backbone.keras), or a model saved with "
           "model.save('name.keras') / method.export_backbone('name.keras').")
    if not zipfile.is_zipfile(path):
        size = os.path.getsize(path)
        raise ValueError(f"{path!r} is not a Keras archive: a .keras file is a zip archive, and this file "
                         f"({size} bytes) is not one. {fix}")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    if "config.json" not in names:
        raise ValueError(f"{path!r} is a zip archive but not a Keras one (it has no config.json). {fix}")
