"""Augmentation presets with each paper's defaults, and the small-image overrides peers use."""

from __future__ import annotations

import difflib
from typing import Any, Callable, Sequence

from kerascl.augment.keras_layer import KerasAugmentation
from kerascl.augment.multi_view import MultiViewAugmentation
from kerascl.augment.random_channel_permutation import RandomChannelPermutation
from kerascl.augment.random_color_jitter import RandomColorJitter
from kerascl.augment.random_elastic_transform import RandomElasticTransform
from kerascl.augment.random_gaussian_blur import RandomGaussianBlur
from kerascl.augment.random_grayscale import RandomGrayscale
from kerascl.augment.random_horizontal_flip import RandomHorizontalFlip
from kerascl.augment.random_resized_crop import RandomResizedCrop
from kerascl.augment.random_rotation import RandomRotation
from kerascl.augment.random_solarization import RandomSolarization
from kerascl.augment.view_augmentation import ViewAugmentation

SMALL_IMAGE_SIZE = 64
"""Presets built for `image_size <= SMALL_IMAGE_SIZE` use the small-image overrides by default."""

SMALL_IMAGE_JITTER_STRENGTH = 0.5
"""Jitter strengths are multiplied by this for small images (lightly's `cj_strength=0.5` for CIFAR)."""

HIERARCHICAL_BLUR_MIN_SIZE = 33
"""The hierarchical presets blur only views of at least this side: the official `simsiam_aug.py` sets the blur
probability to 0 for `image_size <= 32` (CIFAR) and keeps the full colour-jitter strength at every size."""

REFERENCE_SIZE = 224
"""The image side the papers' settings are given for."""

# A view spec: stage name -> keyword arguments (missing stage = not in the pipeline).
ViewSpec = dict[str, dict[str, Any]]

_SIMSIAM_JITTER = {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1, "p": 0.8}
_BYOL_JITTER = {"brightness": 0.4, "contrast": 0.4, "saturation": 0.2, "hue": 0.1, "p": 0.8}
_SIMCLR_JITTER = {"brightness": 0.8, "contrast": 0.8, "saturation": 0.8, "hue": 0.2, "p": 0.8}


def _simclr() -> list[ViewSpec]:
    view = {
        "crop": {"scale": (0.08, 1.0)},
        "flip": {"p": 0.5},
        "color_jitter": dict(_SIMCLR_JITTER),
        "grayscale": {"p": 0.2},
        "blur": {"p": 0.5, "sigma": (0.1, 2.0)},
    }
    return [view]


def _byol() -> list[ViewSpec]:
    common = {
        "crop": {"scale": (0.08, 1.0)},
        "flip": {"p": 0.5},
        "color_jitter": dict(_BYOL_JITTER),
        "grayscale": {"p": 0.2},
    }
    view_1 = {**common, "blur": {"p": 1.0, "sigma": (0.1, 2.0)}}
    view_2 = {**common, "blur": {"p": 0.1, "sigma": (0.1, 2.0)}, "solarize": {"p": 0.2, "threshold": 0.5}}
    return [view_1, view_2]


def _simsiam() -> list[ViewSpec]:
    return [
        {
            "crop": {"scale": (0.2, 1.0)},
            "flip": {"p": 0.5},
            "color_jitter": dict(_SIMSIAM_JITTER),
            "grayscale": {"p": 0.2},
            "blur": {"p": 0.5, "sigma": (0.1, 2.0)},
        }
    ]


def _ddcl_caug() -> list[ViewSpec]:
    view = _simsiam()[0]
    view["rotation"] = {"degrees": (-90.0, 90.0), "p": 1.0}
    return [view]


def _ddcl_caug_plus() -> list[ViewSpec]:
    view = _ddcl_caug()[0]
    view["elastic"] = {"alpha": 100.0, "sigma": 5.0, "p": 0.5}
    return [view]


def _hierarchical(stage: int) -> Callable[[], list[ViewSpec]]:
    def build() -> list[ViewSpec]:
        view: ViewSpec = {"crop": {"scale": (0.2, 1.0)}, "color_jitter": dict(_SIMSIAM_JITTER)}
        if stage >= 2:
            view["grayscale"] = {"p": 0.2}
        if stage >= 3:
            view["blur"] = {"p": 0.5, "sigma": (0.1, 2.0)}
        if stage >= 4:
            view["flip"] = {"p": 0.5}
        return [view]

    return build


def _iccl() -> list[ViewSpec]:
    # ICCL's views: BYOL's asymmetric pair, then a colour-channel permutation (p = 0.8) last, in both views.
    return [{**view, "channel_permutation": {"p": 0.8}} for view in _byol()]


def _decoupled_uniformity() -> list[ViewSpec]:
    return [
        {
            "crop": {"scale": (0.08, 1.0)},
            "flip": {"p": 0.5},
            "color_jitter": dict(_SIMCLR_JITTER),
            "grayscale": {"p": 0.2},
        }
    ]


_PRESETS: dict[str, tuple[Callable[[], list[ViewSpec]], str]] = {
    "simclr": (_simclr, "SimCLR, Chen et al. 2020 (arXiv 2002.05709), colour distortion s = 1"),
    "byol": (_byol, "BYOL, Grill et al. 2020 (arXiv 2006.07733), asymmetric views"),
    "simsiam": (_simsiam, "SimSiam, Chen & He 2021 (arXiv 2011.10566), MoCo v2 augmentation"),
    "barlow_twins": (_byol, "Barlow Twins, Zbontar et al. 2021 (arXiv 2103.03230), BYOL's asymmetric views"),
    "ddcl_baug": (_simsiam, "DDCL BAug, Wang, Song et al. WACV 2024 (arXiv 2303.05066)"),
    "ddcl_caug": (_ddcl_caug, "DDCL CAug = BAug + rotation in [-90, 90] degrees"),
    "ddcl_caug_plus": (_ddcl_caug_plus, "DDCL CAug+ = CAug + elastic (alpha 100, sigma 5) p 0.5"),
    "hierarchical_stage_1": (_hierarchical(1), "Zhang & Ma CVPR 2022 (arXiv 2206.00227), stage 1: crop + jitter"),
    "hierarchical_stage_2": (_hierarchical(2), "Zhang & Ma CVPR 2022, stage 2: + grayscale"),
    "hierarchical_stage_3": (_hierarchical(3), "Zhang & Ma CVPR 2022, stage 3: + blur"),
    "hierarchical_stage_4": (_hierarchical(4), "Zhang & Ma CVPR 2022, stage 4: + flip"),
    "decoupled_uniformity": (_decoupled_uniformity, "Dufumier et al. ICML 2023 (arXiv 2206.01646), no blur"),
    "iccl": (_iccl, "ICCL, Ge et al. IEEE TIP 2023 (arXiv 2301.03041): BYOL's views + colour-channel permutation p 0.8"),
}


def list_presets() -> list[str]:
    """Names of the augmentation presets, sorted."""
    return sorted(_PRESETS)


def preset_source(name: str) -> str:
    """The paper a preset's defaults come from."""
    return _PRESETS[_check_name(name)][1]


def _check_name(name: str) -> str:
    if name not in _PRESETS:
        close = difflib.get_close_matches(str(name), list(_PRESETS), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"Unknown augmentation preset {name!r}.{hint} Available presets: {', '.join(list_presets())}.")
    return name


def _apply_small_image_overrides(name: str, view: ViewSpec, image_size: int) -> ViewSpec:
    view = {stage: dict(kwargs) for stage, kwargs in view.items()}
    if name.startswith("hierarchical"):
        # The official hierarchical code's own small-image rule: no blur at <= 32 px, jitter unchanged.
        if "blur" in view and image_size < HIERARCHICAL_BLUR_MIN_SIZE:
            del view["blur"]
        return view
    if "color_jitter" in view:
        for key in ("brightness", "contrast", "saturation", "hue"):
            view["color_jitter"][key] *= SMALL_IMAGE_JITTER_STRENGTH
    if "blur" in view:
        del view["blur"]
    if "elastic" in view:
        ratio = image_size / REFERENCE_SIZE
        view["elastic"]["sigma"] *= ratio
        view["elastic"]["alpha"] *= ratio * ratio
    return view


def _check_crop_scale(crop_scale: Sequence[float]) -> tuple[float, float]:
    """`crop_scale` as a `(low, high)` pair of floats with `0 < low <= high <= 1`, or a ValueError saying so."""
    try:
        low, high = (float(value) for value in crop_scale)
    except (TypeError, ValueError):
        raise ValueError(f"`crop_scale` must be two numbers (low, high), e.g. (0.2, 1.0); received {crop_scale!r}.") from None
    if not 0.0 < low <= high <= 1.0:
        raise ValueError(
            f"`crop_scale` must satisfy 0 < low <= high <= 1 (the fraction of the image area a crop keeps); "
            f"received {crop_scale!r}."
        )
    return low, high


def preset_views(
    name: str,
    image_size: int = 32,
    num_views: int = 2,
    small_images: bool | None = None,
    crop_scale: Sequence[float] | None = None,
) -> list[ViewSpec]:
    """The per-view stage settings of a preset (what `get_preset` builds), after overrides.

    Args:
        name: preset name (see `list_presets()`).
        image_size: output side in pixels.
        num_views: number of views; asymmetric presets cycle through their view settings.
        small_images: apply the small-image overrides; None means `image_size <= 64`.
        crop_scale: `(low, high)` area range of the random resized crop in every view, replacing the preset's
            (e.g. `(0.2, 1.0)`, the CIFAR setting of SimSiam's paper, where BYOL's preset has `(0.08, 1.0)`);
            None keeps the preset's.

    Returns:
        A list of `num_views` dicts `{stage: keyword arguments}`.
    """
    builder = _PRESETS[_check_name(name)][0]
    if int(num_views) < 2:
        raise ValueError(f"`num_views` must be at least 2; received {num_views}.")
    if small_images is None:
        small_images = int(image_size) <= SMALL_IMAGE_SIZE
    specs = builder()
    if small_images:
        specs = [_apply_small_image_overrides(name, spec, int(image_size)) for spec in specs]
    if crop_scale is not None:
        scale = _check_crop_scale(crop_scale)
        specs = [{**spec, "crop": {**spec["crop"], "scale": scale}} for spec in specs]
    return [specs[i % len(specs)] for i in range(int(num_views))]


def _build_view(spec: ViewSpec, image_size: int) -> ViewAugmentation:
    layers: dict[str, Any] = {}
    extra = []
    for stage, kwargs in spec.items():
        kwargs = dict(kwargs)
        if stage == "channel_permutation":  # a Keras layer run last, recorded after the PARAM_SIZE slots
            extra.append(KerasAugmentation(RandomChannelPermutation(**kwargs), record=True))
        elif stage == "crop":
            layers[stage] = RandomResizedCrop(image_size, image_size, **kwargs)
        elif stage == "flip":
            layers[stage] = RandomHorizontalFlip(**kwargs)
        elif stage == "color_jitter":
            layers[stage] = RandomColorJitter(**kwargs)
        elif stage == "grayscale":
            layers[stage] = RandomGrayscale(**kwargs)
        elif stage == "blur":
            layers[stage] = RandomGaussianBlur(**kwargs)
        elif stage == "solarize":
            layers[stage] = RandomSolarization(**kwargs)
        elif stage == "rotation":
            layers[stage] = RandomRotation(**kwargs)
        elif stage == "elastic":
            layers[stage] = RandomElasticTransform(**kwargs)
    return ViewAugmentation(image_size, extra=extra, **layers)


def get_preset(
    name: str,
    image_size: int = 32,
    num_views: int = 2,
    small_images: bool | None = None,
    seed: int | None = None,
    crop_scale: Sequence[float] | None = None,
) -> MultiViewAugmentation:
    """Build the multi-view augmenter of a paper.

    Args:
        name: one of `list_presets()`: `simclr`, `byol`, `simsiam`, `barlow_twins`, `ddcl_baug`, `ddcl_caug`,
            `ddcl_caug_plus`, `hierarchical_stage_1` ... `hierarchical_stage_4`, `decoupled_uniformity`, `iccl`
            (BYOL's views with ICCL's colour-channel permutation, recorded in one column after the `PARAM_SIZE`
            slots).
        image_size: side of the square views in pixels.
        num_views: number of views (>= 2); BYOL and Barlow Twins alternate their view 1 and view 2 settings.
        small_images: apply the small-image overrides (blur off, jitter strength x 0.5, elastic scaled to the
            image side; the hierarchical presets follow their official code instead: blur off at <= 32 px,
            jitter unchanged); None means `image_size <= 64`.
        seed: integer seed of the augmenter.
        crop_scale: `(low, high)` area range of every view's random resized crop, replacing the preset's (every
            preset has a crop); None keeps the preset's.

    Returns:
        A `MultiViewAugmentation`.

    Raises:
        ValueError: unknown name (the message lists close matches), bad sizes, or a bad `crop_scale`.

    Examples:
        >>> augmenter = get_preset("byol", image_size=32)
        >>> out = augmenter(np.random.rand(4, 32, 32, 3).astype("float32"))
        >>> out["view_1"].shape, out["params_1"].shape
        ((4, 32, 32, 3), (4, 18))
    """
    if int(image_size) < 8:
        raise ValueError(f"`image_size` must be at least 8 pixels; received {image_size}.")
    specs = preset_views(name, image_size=image_size, num_views=num_views, small_images=small_images,
                         crop_scale=crop_scale)
    views = [_build_view(spec, int(image_size)) for spec in specs]
    return MultiViewAugmentation(views, seed=seed, name=f"{name}_augmentation")
