"""kerascl.data.from_image_folder: layouts, colour modes, corrupt files, output forms."""

from __future__ import annotations

import logging
import os

import keras
import numpy as np
import pytest
from PIL import Image

from kerascl import data
from tests.test_data_support import (
    TinyFlipViews,
    flip_noise_augmenter,
    make_labeled_folder,
    make_unlabeled_folder,
    unlabeled_folder_dataset,
    write_image,
)


def _all(ds):
    return list(ds.as_numpy_iterator())


def test_labeled_folder_plain_batches(tmp_path):
    root = make_labeled_folder(tmp_path / "set", classes=("cat", "dog", "emu"), per_class=3)
    ds = data.from_image_folder(root, image_size=8, batch_size=4, views=False)
    assert ds.class_names == ["cat", "dog", "emu"]
    assert data.num_examples(ds) == 9 and data.steps_per_epoch(ds) == 3
    batches = _all(ds)
    assert [len(b[1]) for b in batches] == [4, 4, 1]  # views=False keeps the last partial batch
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    assert images.shape == (9, 8, 8, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert labels.dtype == np.int32
    assert sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # Unshuffled order is round-robin over the classes.
    assert labels.tolist() == [0, 1, 2, 0, 1, 2, 0, 1, 2]
    assert ds.report.class_counts == {"cat": 3, "dog": 3, "emu": 3}


def test_labeled_folder_multi_view_batches(tmp_path):
    root = make_labeled_folder(tmp_path / "set", per_class=3)
    ds = data.from_image_folder(root, image_size=8, batch_size=4, augmenter=flip_noise_augmenter, seed=1)
    batches = _all(ds)
    assert len(batches) == 2 == data.steps_per_epoch(ds)  # drop_remainder for training batches
    batch = batches[0]
    assert set(batch) == {"view_1", "view_2", "params_1", "params_2", "label"}
    for key in ("view_1", "view_2"):
        assert batch[key].shape == (4, 8, 8, 3) and batch[key].dtype == np.float32
        assert 0.0 <= batch[key].min() and batch[key].max() <= 1.0
    assert batch["params_1"].shape == (4, 2) and batch["label"].shape == (4,)
    assert not np.allclose(batch["view_1"], batch["view_2"])


def test_keras_layer_augmenter_runs_in_the_pipeline(tmp_path):
    root = make_labeled_folder(tmp_path / "set", per_class=2)
    ds = data.from_image_folder(root, image_size=8, batch_size=3, augmenter=TinyFlipViews(seed=3), shuffle=False)
    plain = data.from_image_folder(root, image_size=8, batch_size=3, views=False, drop_remainder=True)
    for views, (images, labels) in zip(ds.as_numpy_iterator(), plain.as_numpy_iterator()):
        np.testing.assert_array_equal(views["label"], labels)
        for v in (1, 2):
            flipped = views[f"params_{v}"][:, 0] > 0
            expected = np.where(flipped[:, None, None, None], images[:, :, ::-1], images)
            np.testing.assert_allclose(views[f"view_{v}"], expected, atol=1e-6)


def test_unlabeled_flat_folder(tmp_path):
    root = make_unlabeled_folder(tmp_path / "flat", count=5)
    ds = data.from_image_folder(root, image_size=8, batch_size=2, views=False)
    assert ds.class_names is None
    batches = _all(ds)
    assert all(isinstance(b, np.ndarray) for b in batches)  # images only, no labels
    assert sum(len(b) for b in batches) == 5
    views = unlabeled_folder_dataset(tmp_path / "flat2", count=6, image_size=8, batch_size=3)
    batch = next(views.as_numpy_iterator())
    assert set(batch) == {"view_1", "view_2", "params_1", "params_2"}
    raw = data.from_image_folder(root, image_size=8, batch_size=2, views="device")
    assert set(next(raw.as_numpy_iterator())) == {"image"}


def test_device_form_of_labeled_folder(tmp_path):
    root = make_labeled_folder(tmp_path / "set", per_class=2)
    raw = data.from_image_folder(root, image_size=8, batch_size=4, views="device", seed=0)
    batches = _all(raw)
    assert len(batches) == 1
    assert set(batches[0]) == {"image", "label"}
    assert batches[0]["image"].shape == (4, 8, 8, 3)


def test_rgba_png_and_grayscale_jpg_become_rgb(tmp_path):
    root = tmp_path / "modes"
    root.mkdir()
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, size=(8, 8, 4), dtype=np.uint8)
    Image.fromarray(rgba, mode="RGBA").save(root / "a_rgba.png")
    gray = np.tile(np.linspace(0, 255, 8, dtype=np.uint8), (8, 1))
    Image.fromarray(gray, mode="L").save(root / "b_gray.jpg", quality=95)
    write_image(root / "c_gray_alpha.png", size=(8, 8), mode="LA", seed=2)
    ds = data.from_image_folder(root, image_size=8, batch_size=3, views=False)
    images = next(ds.as_numpy_iterator())
    assert images.shape == (3, 8, 8, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    np.testing.assert_allclose(images[0], rgba[..., :3] / 255.0, atol=1e-6)  # alpha dropped, colours exact
    for i in (1, 2):  # grayscale repeated to three equal channels
        np.testing.assert_allclose(images[i][..., 0], images[i][..., 1])
        np.testing.assert_allclose(images[i][..., 0], images[i][..., 2])
    np.testing.assert_allclose(images[1][..., 0], gray / 255.0, atol=0.05)


def test_mixed_sizes_are_resized(tmp_path):
    root = tmp_path / "sizes"
    root.mkdir()
    write_image(root / "wide.png", size=(40, 10))
    write_image(root / "tall.jpg", size=(9, 30))
    write_image(root / "tiny.bmp", size=(3, 3), fmt="BMP")
    write_image(root / "anim.gif", size=(12, 12), fmt="GIF")
    ds = data.from_image_folder(root, image_size=(6, 10), batch_size=4, views=False)
    assert next(ds.as_numpy_iterator()).shape == (4, 6, 10, 3)


def test_corrupt_file_is_named_or_skipped_and_counted(tmp_path, caplog):
    root = make_labeled_folder(tmp_path / "set", classes=("a", "b"), per_class=3)
    garbage = os.path.join(root, "a", "zz_garbage.jpg")
    with open(garbage, "wb") as handle:
        handle.write(b"this is not an image")
    good = os.path.join(root, "b", "000.jpg")
    truncated = os.path.join(root, "b", "zz_truncated.jpg")
    write_image(truncated, size=(32, 32), seed=7)
    with open(truncated, "rb") as handle:
        content = handle.read()
    with open(truncated, "wb") as handle:
        handle.write(content[: len(content) // 2])
    with pytest.raises(data.CorruptImageError) as info:
        data.from_image_folder(root, image_size=8, views=False)
    message = str(info.value)
    assert garbage in message and truncated in message and good not in message
    assert "skip_corrupt=True" in message

    with caplog.at_level(logging.WARNING, logger="kerascl.data"):
        ds = data.from_image_folder(root, image_size=8, batch_size=16, views=False, skip_corrupt=True)
    assert ds.report.num_skipped == 2 and ds.report.num_files == 8 and ds.report.num_used == 6
    assert {f for f, _ in ds.report.skipped} == {garbage, truncated}
    assert data.num_examples(ds) == 6
    images, labels = next(ds.as_numpy_iterator())
    assert images.shape == (6, 8, 8, 3) and sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1]
    assert "Skipped 2" in caplog.text


def test_header_check_alone_catches_non_images_and_empty_files(tmp_path):
    root = make_unlabeled_folder(tmp_path / "flat", count=3)
    empty = os.path.join(root, "empty.png")
    open(empty, "wb").close()
    with pytest.raises(data.CorruptImageError, match="empty.png"):
        data.from_image_folder(root, image_size=8, validate="header")
    bad = data.validate_files(sorted(os.path.join(root, f) for f in os.listdir(root)), level="header")
    assert list(bad.values()) == ["is empty (0 bytes)"]


def test_limit_takes_the_same_balanced_files(tmp_path):
    root = make_labeled_folder(tmp_path / "set", classes=("a", "b", "c"), per_class=4)
    first = data.from_image_folder(root, image_size=8, batch_size=5, views=False, limit=5)
    second = data.from_image_folder(root, image_size=8, batch_size=5, views=False, limit=5)
    (x1, y1), (x2, y2) = next(first.as_numpy_iterator()), next(second.as_numpy_iterator())
    assert y1.tolist() == [0, 1, 2, 0, 1] and data.num_examples(first) == 5
    np.testing.assert_array_equal(x1, x2)


def test_shuffle_seed_and_cache(tmp_path):
    root = make_unlabeled_folder(tmp_path / "flat", count=8)
    orders = []
    for cache in (False, True):
        ds = data.from_image_folder(root, image_size=8, batch_size=8, views="device", seed=5, cache=cache)
        epoch_1 = next(ds.as_numpy_iterator())["image"]
        epoch_2 = next(ds.as_numpy_iterator())["image"]
        assert not np.array_equal(epoch_1, epoch_2)  # reshuffled every epoch
        orders.append(np.sort(epoch_1.reshape(8, -1).sum(1)))
    np.testing.assert_allclose(orders[0], orders[1], rtol=1e-6)  # same images either way


def test_recursive_and_label_modes(tmp_path):
    root = tmp_path / "nested"
    make_unlabeled_folder(root / "2021", count=2)
    make_unlabeled_folder(root / "2022" / "june", count=3)
    auto = data.from_image_folder(root, image_size=8, views=False)  # subfolders with images -> classes
    assert auto.class_names == ["2021", "2022"] and data.num_examples(auto) == 2
    flat = data.from_image_folder(root, image_size=8, views=False, labels=None, recursive=True)
    assert flat.class_names is None and data.num_examples(flat) == 5
    with pytest.raises(FileNotFoundError, match="recursive=True"):
        data.from_image_folder(root, image_size=8, labels=None)
    with pytest.raises(FileNotFoundError, match="labels=None"):
        data.from_image_folder(root / "2021", image_size=8, labels="inferred")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.from_image_folder(tmp_path / "missing", image_size=8)


def test_bad_arguments(tmp_path):
    root = make_unlabeled_folder(tmp_path / "flat", count=2)
    with pytest.raises(ValueError, match="views="):
        data.from_image_folder(root, views="gpu")
    with pytest.raises(TypeError, match="augmenter"):
        data.from_image_folder(root, augmenter=3)
    with pytest.raises(ValueError, match="validate"):
        data.from_image_folder(root, validate="some")
    with pytest.raises(ValueError, match="image_size"):
        data.from_image_folder(root, image_size=(4, 4, 4))


@pytest.mark.slow
def test_byol_fits_one_step_on_an_unlabeled_folder(tmp_path):
    import kerascl.methods as methods
    from tests.helpers import tiny_backbone

    ds = unlabeled_folder_dataset(tmp_path / "flat", count=8, image_size=16, batch_size=4)
    model = methods.BYOL(tiny_backbone(16), projection_dim=8, hidden_dim=16, prediction_hidden_dim=16)
    model(next(iter(ds)))  # build eagerly (the methods' own tests do the same before fit)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    history = model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
