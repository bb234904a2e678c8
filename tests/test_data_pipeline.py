"""kerascl.data helpers: as_views, steps_per_epoch, views= resolution, preset names."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kerascl import data
from kerascl.data.pipeline import resolve_views


def test_as_views_from_pairs_and_labelled_pairs():
    rng = np.random.default_rng(0)
    x1, x2 = rng.random((2, 6, 4, 4, 3)).astype(np.float32)
    y = np.arange(6, dtype=np.int64)
    pairs = data.as_views(tf.data.Dataset.from_tensor_slices((x1, x2)).batch(3))
    batch = next(pairs.as_numpy_iterator())
    assert set(batch) == {"view_1", "view_2"}
    np.testing.assert_array_equal(batch["view_2"], x2[:3])
    labelled = data.as_views(tf.data.Dataset.from_tensor_slices(((x1, x2, x1), y)).batch(3))
    batch = next(labelled.as_numpy_iterator())
    assert set(batch) == {"view_1", "view_2", "view_3", "label"} and batch["label"].dtype == np.int32
    with pytest.raises(TypeError, match="Batch the dataset"):
        data.as_views(tf.data.Dataset.from_tensor_slices((x1, x2)))
    with pytest.raises(TypeError, match="dicts"):
        data.as_views(tf.data.Dataset.from_tensor_slices({"a": x1}).batch(2))


def test_steps_per_epoch_falls_back_to_cardinality():
    ds = tf.data.Dataset.range(10).batch(4)
    assert data.steps_per_epoch(ds) == 3
    assert data.steps_per_epoch(ds.repeat()) is None
    assert data.num_examples(ds) is None


def test_views_argument():
    assert resolve_views(True) == "host" == resolve_views("host")
    assert resolve_views(False) == "images" and resolve_views("device") == "device"
    with pytest.raises(ValueError, match="views='device'"):
        resolve_views("raw")


def test_augmenter_that_returns_no_views_is_reported():
    x = np.zeros((4, 8, 8, 3), dtype=np.float32)
    with pytest.raises(TypeError, match="view_1"):
        data.from_arrays(x, batch_size=2, augmenter=lambda images, training=True: images)


def test_preset_name_is_resolved_lazily():
    ds = data.from_shapes(8, image_size=16, batch_size=4, augmenter="simclr")
    batch = next(ds.as_numpy_iterator())
    assert batch["view_1"].shape == (4, 16, 16, 3) and batch["params_1"].shape[0] == 4
    assert {"view_2", "params_2", "label", "attributes"} <= set(batch)


@pytest.mark.parametrize("views", [True, False])
def test_pipelines_run_without_tf_data_autotuning(views):
    # An iterator's destructor can wait up to a minute for the autotuning thread (kerascl.data.pipeline_options).
    images = np.random.default_rng(0).random((8, 16, 16, 3), dtype=np.float32)
    dataset = data.from_arrays(images, np.arange(8) % 2, image_size=16, batch_size=4, views=views)
    assert dataset.options().autotune.enabled is False
    shapes = data.from_shapes(8, image_size=16, batch_size=4, views=views)
    assert shapes.options().autotune.enabled is False
    assert len(list(dataset)) == 2
