"""Data sources, the multi-view pipeline and the synthetic shapes set.

Every source returns a batched `tf.data.Dataset` whose form is chosen with `views=`:

* `views=True` (default): multi-view dicts `{"view_1", "view_2", "params_1", "params_2", "label", "attributes"}`
  made by an augmenter in the `tf.data` pipeline (host placement);
* `views="device"`: raw dicts `{"image", "label", "attributes"}` for a method that augments on the accelerator;
* `views=False`: plain `(images, labels)` batches (or `images` alone when unlabeled), for probes.

Images are float32 in [0, 1], NHWC.
"""

from kerascl.data.arrays import check_image_array, from_arrays
from kerascl.data.image_folder import (
    IMAGE_EXTENSIONS,
    CorruptImageError,
    FolderReport,
    from_image_folder,
    list_image_files,
    validate_files,
)
from kerascl.data.pipeline import DEFAULT_AUGMENTER, as_views, num_examples, pipeline_options, steps_per_epoch
from kerascl.data.shapes import (
    DEFAULT_SHAPES,
    DESCRIPTOR_FACTORS,
    SHAPE_DESCRIPTORS,
    SHAPE_NAMES,
    STYLE_FACTORS,
    ShapesData,
    encode_attributes,
    from_shapes,
    make_shapes,
)
from kerascl.data.tfds_source import DatasetUnavailableError, from_tfds

__all__ = [
    "DEFAULT_AUGMENTER",
    "DEFAULT_SHAPES",
    "DESCRIPTOR_FACTORS",
    "IMAGE_EXTENSIONS",
    "SHAPE_DESCRIPTORS",
    "SHAPE_NAMES",
    "STYLE_FACTORS",
    "CorruptImageError",
    "DatasetUnavailableError",
    "FolderReport",
    "ShapesData",
    "as_views",
    "check_image_array",
    "encode_attributes",
    "from_arrays",
    "from_image_folder",
    "from_shapes",
    "from_tfds",
    "list_image_files",
    "make_shapes",
    "num_examples",
    "pipeline_options",
    "steps_per_epoch",
    "validate_files",
]
