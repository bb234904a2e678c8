"""The recorded-parameter layout: what each slot of a view's parameter vector means.

Every view made by kerascl comes with a float32 vector of length `PARAM_SIZE` per sample. The slots are laid
out as below, in this order; an augmentation that was skipped (not drawn, or not in the pipeline) records its
identity value, so vectors from different presets are comparable slot by slot.

| name | size | slots | meaning | identity |
|---|---|---|---|---|
| `crop` | 4 | 0-3 | crop box `(y0, x0, h, w)` as fractions of the input image | `(0, 0, 1, 1)` |
| `flip` | 1 | 4 | 1 if flipped horizontally | 0 |
| `color_jitter` | 4 | 5-8 | brightness, contrast, saturation factors and hue shift | `(1, 1, 1, 0)` |
| `color_jitter_order` | 1 | 9 | index of the order the four jitter ops ran in, divided by 23 | 0 |
| `grayscale` | 1 | 10 | 1 if converted to grayscale | 0 |
| `blur_sigma` | 1 | 11 | Gaussian blur sigma in output pixels | 0 |
| `solarize` | 1 | 12 | 1 if solarised | 0 |
| `rotation` | 1 | 13 | rotation angle in degrees divided by 180 (counter-clockwise positive) | 0 |
| `elastic` | 4 | 14-17 | applied (0/1), alpha and sigma in output pixels, displacement seed / 2**24 | `(0, 0, 0, 0)` |
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

PARAM_LAYOUT: "OrderedDict[str, slice]" = OrderedDict()
_SIZES = (
    ("crop", 4),
    ("flip", 1),
    ("color_jitter", 4),
    ("color_jitter_order", 1),
    ("grayscale", 1),
    ("blur_sigma", 1),
    ("solarize", 1),
    ("rotation", 1),
    ("elastic", 4),
)
_start = 0
for _name, _size in _SIZES:
    PARAM_LAYOUT[_name] = slice(_start, _start + _size)
    _start += _size

PARAM_SIZE: int = _start
"""Length of every recorded-parameter vector."""

IDENTITY_PARAMS: np.ndarray = np.zeros((PARAM_SIZE,), dtype="float32")
IDENTITY_PARAMS[PARAM_LAYOUT["crop"]] = (0.0, 0.0, 1.0, 1.0)
IDENTITY_PARAMS[PARAM_LAYOUT["color_jitter"]] = (1.0, 1.0, 1.0, 0.0)

# Slots that identify random draws rather than describe the image (the elastic displacement seed); a model
# that regresses the augmentation from a representation should leave them out, see `feature_mask`.
_SEED_SLOTS = (PARAM_LAYOUT["elastic"].start + 3,)


def param_slice(name: str) -> slice:
    """The slice of the recorded-parameter vector that holds `name`.

    Args:
        name: one of `PARAM_LAYOUT`'s keys (`"crop"`, `"flip"`, `"color_jitter"`, ...).

    Returns:
        A `slice`, e.g. `params[:, param_slice("color_jitter")]` is the `(B, 4)` jitter factors.

    Examples:
        >>> param_slice("color_jitter")
        slice(5, 9, None)
    """
    if name not in PARAM_LAYOUT:
        raise ValueError(
            f"Unknown parameter name {name!r}. Known names: {', '.join(PARAM_LAYOUT)}."
        )
    return PARAM_LAYOUT[name]


def feature_mask() -> np.ndarray:
    """Boolean mask `(PARAM_SIZE,)` of the slots that describe the image (all but the elastic seed).

    Returns:
        `np.ndarray` of bool; use `params[:, feature_mask()]` as regression targets.
    """
    mask = np.ones((PARAM_SIZE,), dtype=bool)
    mask[list(_SEED_SLOTS)] = False
    return mask
