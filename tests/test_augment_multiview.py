"""Tests of the multi-view augmenter, recorded parameters, placement and presets (both backends)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascl import augment as A
from tests.helpers import XLA, compiled_augmenter_call

SIZE = 16


def _augmenter(seed=0):
    # One configuration for most tests: it has every stage kind but blur (off for small images), and
    # compiled programs are shared between augmenters with the same configuration, which keeps JAX fast.
    return A.get_preset("ddcl_caug_plus", image_size=SIZE, seed=seed)


def _images(batch=8, seed=0):
    return np.random.RandomState(seed).rand(batch, SIZE, SIZE, 3).astype("float32")


def _np(tree):
    return {k: keras.ops.convert_to_numpy(v) for k, v in tree.items()}



def test_output_dict_shapes_dtypes_and_range():
    out = _np(_augmenter()(_images(), training=True))
    assert sorted(out) == ["params_1", "params_2", "view_1", "view_2"]
    for i in (1, 2):
        assert out[f"view_{i}"].shape == (8, SIZE, SIZE, 3) and out[f"view_{i}"].dtype == np.float32
        assert out[f"params_{i}"].shape == (8, A.PARAM_SIZE) and out[f"params_{i}"].dtype == np.float32
        assert 0.0 <= out[f"view_{i}"].min() and out[f"view_{i}"].max() <= 1.0 + 1e-6


def test_output_size_differs_from_input_size():
    x = np.random.RandomState(0).rand(2, 24, 24, 3).astype("float32")
    view = keras.ops.convert_to_numpy(A.ViewAugmentation(SIZE, flip=A.RandomHorizontalFlip(), seed=0)(x))
    assert view.shape == (2, SIZE, SIZE, 3)


def test_images_of_one_batch_get_different_parameters():
    out = _np(_augmenter(seed=1)(_images()))
    params = out["params_1"]
    assert len({tuple(row) for row in params.round(6)}) == 8
    assert len(np.unique(params[:, A.param_slice("crop")][:, 2])) == 8
    # The two views of one image differ too.
    assert not np.allclose(out["params_1"], out["params_2"])


def test_recorded_parameters_reproduce_the_view():
    augmenter = _augmenter(seed=4)
    x = _images()
    out = _np(augmenter(x))
    for i in (1, 2):
        again = keras.ops.convert_to_numpy(augmenter.apply_params(x, out[f"params_{i}"], view=i))
        np.testing.assert_allclose(again, out[f"view_{i}"], atol=1e-5)
    # A different image's parameters give a different view (the test can fail).
    swapped = keras.ops.convert_to_numpy(augmenter.apply_params(x, out["params_1"][::-1], view=1))
    assert not np.allclose(swapped, out["view_1"], atol=1e-3)


def test_module_level_apply_params():
    augmenter = _augmenter(seed=2)
    x = _images()
    out = _np(augmenter(x))
    again = keras.ops.convert_to_numpy(A.apply_params(x, out["params_2"], augmenter.views[1]))
    np.testing.assert_allclose(again, out["view_2"], atol=1e-5)


def test_host_and_device_placement_agree_for_a_fixed_seed():
    x = _images()
    host = _augmenter(seed=7)
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(4, drop_remainder=True).map(host)  # static batch size
    host_batches = list(dataset.as_numpy_iterator())
    device = compiled_augmenter_call(_augmenter(seed=7))
    for i, batch in enumerate(host_batches):
        on_device = _np(device(x[4 * i : 4 * i + 4]))
        for key in batch:
            np.testing.assert_allclose(batch[key], on_device[key], atol=1e-4, err_msg=key)
    assert not np.allclose(host_batches[0]["params_1"], host_batches[1]["params_1"])


def test_same_seed_same_views_and_calls_advance():
    x = _images()
    a = _augmenter(seed=11)
    b = _augmenter(seed=11)
    first_a, first_b = _np(a(x)), _np(b(x))
    np.testing.assert_allclose(first_a["view_1"], first_b["view_1"], atol=1e-6)
    second_a = _np(a(x))
    assert not np.allclose(first_a["params_1"], second_a["params_1"])


def test_inference_gives_resized_images_and_identity_parameters():
    x = _images()
    out = _np(_augmenter()(x, training=False))
    np.testing.assert_allclose(out["view_2"], x, atol=1e-6)
    np.testing.assert_allclose(out["params_1"], np.tile(A.IDENTITY_PARAMS, (8, 1)))


def test_serialisation_round_trip_keeps_the_views():
    three = A.get_preset("ddcl_caug_plus", image_size=SIZE, num_views=3, seed=5)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(three))
    assert isinstance(restored, A.MultiViewAugmentation) and restored.num_views == 3
    assert restored.get_config()["views"][2]["config"]["elastic"] is not None
    augmenter = _augmenter(seed=5)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(augmenter))
    x = _images()
    a, b = _np(augmenter(x)), _np(restored(x))
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-6)
    view = augmenter.views[0]
    assert type(view).from_config(view.get_config()).describe() == view.describe()


def test_augmentation_inside_a_compiled_model_fit():
    views = [A.ViewAugmentation(SIZE, crop=A.RandomResizedCrop(SIZE, SIZE), flip=A.RandomHorizontalFlip()) for _ in "ab"]
    augmenter = A.MultiViewAugmentation(views, seed=0)

    class TwoViewModel(keras.Model):
        def __init__(self):
            super().__init__()
            self.augmenter = augmenter
            self.pool = keras.layers.GlobalAveragePooling2D()
            self.dense = keras.layers.Dense(4)

        def call(self, images, training=False):
            views = self.augmenter(images, training=True)
            za = self.dense(self.pool(views["view_1"]))
            zb = self.dense(self.pool(views["view_2"]))
            return za - zb

    model = TwoViewModel()
    model.compile(optimizer="sgd", loss="mse", jit_compile=XLA)
    history = model.fit(_images(), np.zeros((8, 4), "float32"), batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and history.history["loss"][0] > 0


def test_bad_input_and_arguments():
    augmenter = _augmenter()
    with pytest.raises(ValueError, match="rank"):
        augmenter(np.zeros((2, SIZE, SIZE, 3, 1), "float32"))
    with pytest.raises(ValueError, match="3 channels"):
        augmenter(np.zeros((2, SIZE, SIZE, 1), "float32"))
    with pytest.raises(TypeError, match="float32"):
        augmenter(np.zeros((2, SIZE, SIZE, 3), "int32"))
    with pytest.raises(ValueError, match="at least 2"):
        A.MultiViewAugmentation([augmenter.views[0]])
    with pytest.raises(ValueError, match="columns"):
        augmenter.apply_params(_images(), np.zeros((8, 5), "float32"))


# --- presets and layout --------------------------------------------------------------------------------------


def test_list_presets_and_unknown_name():
    names = A.list_presets()
    expected = {
        "simclr", "byol", "simsiam", "barlow_twins", "ddcl_baug", "ddcl_caug", "ddcl_caug_plus",
        "hierarchical_stage_1", "hierarchical_stage_2", "hierarchical_stage_3", "hierarchical_stage_4",
        "decoupled_uniformity", "iccl",
    }
    assert set(names) == expected
    with pytest.raises(ValueError, match="Did you mean 'byol'"):
        A.get_preset("byl")


def test_preset_settings_and_small_image_overrides():
    big = A.get_preset("byol", image_size=96, seed=0)
    v1, v2 = (v.describe() for v in big.views)
    stage = lambda d, name: next((s for s in d if s["stage"] == name), None)  # noqa: E731
    assert stage(v1, "blur")["p"] == 1.0 and stage(v2, "blur")["p"] == 0.1
    assert stage(v1, "solarize") is None and stage(v2, "solarize")["p"] == 0.2
    assert stage(v1, "color_jitter")["brightness"] == 0.4
    small = A.get_preset("byol", image_size=32)
    s1, s2 = (v.describe() for v in small.views)
    assert stage(s1, "blur") is None and stage(s2, "blur") is None
    assert stage(s1, "color_jitter")["brightness"] == pytest.approx(0.2)
    assert stage(A.get_preset("decoupled_uniformity", image_size=96).views[0].describe(), "blur") is None
    # The official hierarchical rule: blur only above 32 px, full jitter strength at every size.
    hierarchical = [len(A.get_preset(f"hierarchical_stage_{k}", image_size=32).views[0].describe()) for k in (1, 2, 3, 4)]
    assert hierarchical == [2, 3, 3, 4]
    for size, blurred in ((32, False), (33, True), (64, True), (96, True)):
        view = A.get_preset("hierarchical_stage_4", image_size=size).views[0].describe()
        assert (stage(view, "blur") is not None) == blurred, size
        assert stage(view, "color_jitter")["brightness"] == pytest.approx(0.4)
    three = A.get_preset("byol", image_size=32, num_views=3)
    assert three.num_views == 3 and three.views[2].describe() == three.views[0].describe()


def test_parameter_layout_slices():
    assert A.param_slice("crop") == slice(0, 4)
    assert A.param_slice("color_jitter").stop - A.param_slice("color_jitter").start == 4
    covered = sorted(i for sl in A.PARAM_LAYOUT.values() for i in range(sl.start, sl.stop))
    assert covered == list(range(A.PARAM_SIZE))
    assert A.feature_mask().sum() == A.PARAM_SIZE - 1
    with pytest.raises(ValueError, match="Known names"):
        A.param_slice("colour")


def test_crop_scale_replaces_every_views_crop_area_range():
    stage = lambda d, name: next((s for s in d if s["stage"] == name), None)  # noqa: E731
    default = A.get_preset("byol", image_size=SIZE)
    assert [tuple(stage(v.describe(), "crop")["scale"]) for v in default.views] == [(0.08, 1.0)] * 2
    narrow = A.get_preset("byol", image_size=SIZE, seed=0, crop_scale=(0.5, 0.6))
    assert [tuple(stage(v.describe(), "crop")["scale"]) for v in narrow.views] == [(0.5, 0.6)] * 2
    out = _np(narrow(_images(batch=64)))
    for key in ("params_1", "params_2"):
        y0, x0, h, w = out[key][:, A.param_slice("crop")].T
        area = h * w
        # Sampled areas lie in the range; a box that did not fit falls back to a centre crop of the whole side.
        assert np.mean((area > 0.5 - 1e-3) & (area < 0.6 + 1e-3)) > 0.8, area
    for bad in ((0.0, 1.0), (0.6, 0.5), (0.2, 1.5), (0.2,), "wide"):
        with pytest.raises(ValueError, match="crop_scale"):
            A.get_preset("byol", image_size=SIZE, crop_scale=bad)
