"""Re-apply recorded augmentation parameters to the original images."""

from __future__ import annotations

from typing import Any

from kerascl.augment.view_augmentation import ViewAugmentation


def apply_params(images: Any, params: Any, pipeline: ViewAugmentation | None = None, image_size: int | None = None) -> Any:
    """Rebuild views from the original images and their recorded parameters.

    Every stage is deterministic given its recorded slots (the elastic transform rebuilds its displacement
    field from the recorded seed), so `apply_params(images, params_k)` equals `view_k` up to float rounding.
    Hyperparameters that are not recorded come from `pipeline`: the blur kernel size, the solarisation
    threshold, the colour-jitter order mode and the elastic kernel size. Without a pipeline the defaults are
    used (blur kernel of about a tenth of the side, threshold 0.5, random-order jitter, elastic kernel for
    sigma 5), which is right for every kerascl preset except `ddcl_caug_plus` at small sizes: pass the view's
    pipeline (`augmenter.views[k - 1]`) there.

    Args:
        images: the original `(B, H, W, 3)` float32 images in [0, 1].
        params: `(B, PARAM_SIZE)` recorded parameters of one view.
        pipeline: the `ViewAugmentation` that made the view, or None.
        image_size: output side when `pipeline` is None (default: the input height).

    Returns:
        The views, `(B, image_size, image_size, 3)` float32.

    Examples:
        >>> out = augmenter(images)
        >>> again = apply_params(images, out["params_2"], augmenter.views[1])
    """
    if pipeline is None:
        pipeline = ViewAugmentation(int(image_size or images.shape[-3]))
    return pipeline.apply_params(images, params)
