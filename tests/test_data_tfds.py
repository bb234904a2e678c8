"""kerascl.data.from_tfds: the offline error names the remedy; a mocked tfds set gives the documented batches."""

from __future__ import annotations

import time

import numpy as np
import pytest

from kerascl import data

tfds = pytest.importorskip("tensorflow_datasets")


def test_offline_without_a_prepared_copy_fails_fast_and_names_the_remedy(tmp_path):
    start = time.monotonic()
    with pytest.raises(data.DatasetUnavailableError) as info:
        data.from_tfds("cifar10", split="train", data_dir=str(tmp_path))
    message = str(info.value)
    assert "kerascl.data.from_image_folder(path)" in message and "--data-dir" in message
    assert str(tmp_path) in message
    assert isinstance(info.value, FileNotFoundError)
    assert time.monotonic() - start < 60  # no network wait (a generous bound, not a timing test)


def test_unknown_name_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="no_such_dataset_xyz"):
        data.from_tfds("no_such_dataset_xyz", data_dir=str(tmp_path))


def test_mocked_tfds_dataset_gives_the_documented_batches():
    with tfds.testing.mock_data(num_examples=10):
        plain = data.from_tfds("cifar10", split="test", image_size=8, batch_size=4, views=False)
        batches = list(plain.as_numpy_iterator())
        raw = data.from_tfds("cifar10", split="train", image_size=8, batch_size=4, views="device", seed=0)
        raw_batches = list(raw.as_numpy_iterator())
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    images, labels = batches[0]
    assert images.shape == (4, 8, 8, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and labels.dtype == np.int32
    assert len(plain.class_names) == 10
    assert len(raw_batches) == 2 and set(raw_batches[0]) == {"image", "label"}
