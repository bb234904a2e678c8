"""Downstream probes on a frozen encoder.

Every probe takes an encoder (a `keras.Model` mapping float32 images `(B, H, W, 3)` in `[0, 1]`
to features `(B, C)`) and labelled data (a `tf.data.Dataset` of `(images, labels)` batches or a
tuple of NumPy arrays), runs the encoder once to cache features, and returns a dict of results.
The `*_on_features` variants take cached features directly. `floor_probes` runs the same probes on an untrained
copy of the backbone and on raw pixels: the floors every accuracy is read against.
"""

from kerascl.probes.color_sensitivity import (
    COLOR_PARAMETERS,
    color_sensitivity_on_features,
    color_sensitivity_probe,
)
from kerascl.probes.features import (
    MissingLabelsError,
    extract_features,
    l2_normalize,
    standardize,
)
from kerascl.probes.floors import (
    FLOOR_NAMES,
    floor_probes,
    random_init_copy,
    raw_pixel_features,
)
from kerascl.probes.few_shot import (
    confidence_interval_95,
    few_shot_on_features,
    few_shot_probe,
)
from kerascl.probes.knn import knn_class_scores, knn_on_features, knn_probe
from kerascl.probes.linear import (
    LinearClassifier,
    linear_on_features,
    linear_probe,
    train_linear_classifier,
)
from kerascl.probes.robustness import (
    DDCL_DISTORTIONS,
    make_distortion,
    robustness_probe,
)
from kerascl.probes.run_all import probes_on_features, run_all_probes
from kerascl.probes.separability import (
    separability_probe,
    separability_probe_from_encoder,
)
from kerascl.probes.table import format_table, print_table

__all__ = [
    "COLOR_PARAMETERS",
    "DDCL_DISTORTIONS",
    "FLOOR_NAMES",
    "LinearClassifier",
    "MissingLabelsError",
    "color_sensitivity_on_features",
    "color_sensitivity_probe",
    "confidence_interval_95",
    "extract_features",
    "few_shot_on_features",
    "few_shot_probe",
    "floor_probes",
    "format_table",
    "knn_class_scores",
    "knn_on_features",
    "knn_probe",
    "l2_normalize",
    "linear_on_features",
    "linear_probe",
    "make_distortion",
    "print_table",
    "probes_on_features",
    "random_init_copy",
    "raw_pixel_features",
    "robustness_probe",
    "run_all_probes",
    "separability_probe",
    "separability_probe_from_encoder",
    "standardize",
    "train_linear_classifier",
]
