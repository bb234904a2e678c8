"""Keras (and KerasCV) image augmentation layers inside kerascl views: recording, replay, placement, errors (both
backends). Tiny images and batches; layers whose probe is enough are only probed (eager TensorFlow, no compile)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascl import augment as A
from tests.helpers import compiled_augmenter_call

SIZE = 16


def _images(batch=4, seed=0):
    return np.random.RandomState(seed).rand(batch, SIZE, SIZE, 3).astype("float32")


def _np(tree):
    return {k: keras.ops.convert_to_numpy(v) for k, v in tree.items()}



def _contrast_view(seed=0):
    contrast = keras.layers.RandomContrast(0.5, value_range=(0, 1), name="contrast")
    return A.ViewAugmentation(
        SIZE,
        crop=A.RandomResizedCrop(SIZE, SIZE, scale=(0.3, 1.0)),
        flip=A.RandomHorizontalFlip(),
        extra=[A.KerasAugmentation(contrast, after="flip")],
        seed=seed,
    )


def test_a_recorded_keras_layer_appends_its_values_and_replays():
    view = _contrast_view()
    assert view.extra[0].recorded and view.replayable
    assert view.param_size == A.PARAM_SIZE + 1
    assert view.param_layout["contrast.contrast_factor"] == slice(A.PARAM_SIZE, A.PARAM_SIZE + 1)
    x = _images()
    images, params = (keras.ops.convert_to_numpy(v) for v in view.augment(x))
    assert images.shape == (4, SIZE, SIZE, 3) and params.shape == (4, A.PARAM_SIZE + 1)
    factors = params[:, A.PARAM_SIZE]
    assert len(np.unique(factors)) == 4 and np.all((factors >= 0.5) & (factors <= 1.5))  # per sample, 1 -+ 0.5
    again = keras.ops.convert_to_numpy(view.apply_params(x, params))
    np.testing.assert_allclose(again, images, atol=1e-5)
    changed = params.copy()
    changed[:, A.PARAM_SIZE] = 1.0  # contrast factor 1: identity, so the replay must differ
    assert not np.allclose(keras.ops.convert_to_numpy(view.apply_params(x, changed)), images, atol=1e-3)
    # The configuration round trip keeps the Keras layer and its place.
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(view))
    assert restored.describe() == view.describe() and restored.param_layout == view.param_layout
    assert [d["stage"] for d in view.describe()] == ["crop", "flip", "keras"]


def test_host_and_device_agree_on_kerascl_stages_and_views_are_padded():
    """An asymmetric augmenter (the Keras layer in view 1 only): the kerascl slots are identical in tf.data and in
    a compiled step for the same seed (the Keras layer's own draws come from the backend's generators there)."""
    plain = A.ViewAugmentation(SIZE, crop=A.RandomResizedCrop(SIZE, SIZE, scale=(0.3, 1.0)), flip=A.RandomHorizontalFlip())
    augmenter = A.MultiViewAugmentation([_contrast_view(), plain], seed=3)
    assert augmenter.param_size == A.PARAM_SIZE + 1 and augmenter.replayable
    x = _images()

    def host_batch(augmenter):
        return next(iter(tf.data.Dataset.from_tensors(x).map(augmenter).as_numpy_iterator()))

    host = host_batch(augmenter)
    device = _np(compiled_augmenter_call(A.MultiViewAugmentation([_contrast_view(), plain], seed=3))(x))
    for batch in (host, device):
        assert batch["params_1"].shape == batch["params_2"].shape == (4, A.PARAM_SIZE + 1)
        np.testing.assert_array_equal(batch["params_2"][:, A.PARAM_SIZE], 0.0)  # padding of the shorter view
    for key in ("params_1", "params_2"):
        np.testing.assert_allclose(host[key][:, : A.PARAM_SIZE], device[key][:, : A.PARAM_SIZE], atol=1e-5)
    np.testing.assert_allclose(host["view_2"], device["view_2"], atol=1e-4)
    # Adding a Keras layer does not change the kerascl stages' draws (salted apart).
    without = host_batch(A.MultiViewAugmentation([plain, plain], seed=3))
    np.testing.assert_allclose(without["params_1"], host["params_1"][:, : A.PARAM_SIZE], atol=1e-6)
    # The padded vector of view 2 replays through the augmenter.
    again = keras.ops.convert_to_numpy(augmenter.apply_params(x, device["params_2"], view=2))
    np.testing.assert_allclose(again, device["view_2"], atol=1e-5)


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda: keras.layers.RandomColorJitter(value_range=(0, 1), brightness_factor=0.2), "while transforming"),
        (lambda: keras.layers.RandomGaussianBlur(value_range=(0, 1)), "whole batch"),
        (lambda: keras.layers.RandomErasing(value_range=(0, 1)), "MAX_AUTO_COLUMNS"),
    ],
)
def test_layers_that_cannot_be_recorded_are_marked_unrecorded(make, reason):
    wrapped = A.KerasAugmentation(make())
    view = A.ViewAugmentation(SIZE, extra=[wrapped])
    assert wrapped.recorded is False and reason in wrapped.unrecorded_reason
    assert view.param_size == A.PARAM_SIZE and not view.replayable
    assert view.describe()[-1]["recorded"] is False
    with pytest.raises(ValueError, match="not recorded"):
        view.apply_params(_images(), np.zeros((4, A.PARAM_SIZE), "float32"))


def test_record_true_and_false():
    with pytest.raises(ValueError, match="record=True"):
        A.ViewAugmentation(SIZE, extra=[A.KerasAugmentation(keras.layers.RandomGaussianBlur(value_range=(0, 1)), record=True)])
    off = A.KerasAugmentation(keras.layers.RandomContrast(0.5, value_range=(0, 1)), record=False)
    view = A.ViewAugmentation(SIZE, extra=[off])
    assert off.recorded is False and view.param_size == A.PARAM_SIZE


def test_unrecorded_keras_layer_runs_in_tf_data():
    view = A.ViewAugmentation(SIZE, extra=[keras.layers.RandomColorJitter(value_range=(0, 1), brightness_factor=0.5)])
    augmenter = A.MultiViewAugmentation([view, view], seed=0)
    x = _images()
    batch = next(iter(tf.data.Dataset.from_tensors(x).map(augmenter).as_numpy_iterator()))
    assert batch["params_1"].shape == (4, A.PARAM_SIZE)
    assert not np.allclose(batch["view_1"], x, atol=1e-3) and not np.allclose(batch["view_1"], batch["view_2"])


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="a compiled JAX step is where this layer cannot run")
def test_a_layer_that_cannot_be_compiled_on_jax_gives_a_clear_error():
    # Keras's elastic transform sizes its kernel from a drawn sigma, which a JAX trace cannot make concrete.
    view = A.ViewAugmentation(SIZE, extra=[keras.layers.RandomElasticTransform(value_range=(0, 1))])
    with pytest.raises(ValueError, match="cannot run inside a compiled JAX function.*tf.data"):
        view.augment(_images())


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="XLA on the TensorFlow backend")
def test_a_layer_xla_cannot_compile_gives_a_clear_error_and_runs_without_xla():
    view = A.ViewAugmentation(SIZE, extra=[keras.layers.RandomRotation(0.1)])
    with pytest.raises(ValueError, match="XLA has no kernel.*jit_compile=False"):
        tf.function(lambda x: view(x, training=True), jit_compile=True)(_images())
    out = tf.function(lambda x: view(x, training=True))(_images())
    assert tuple(out.shape) == (4, SIZE, SIZE, 3)


def test_clear_errors_for_layers_a_view_cannot_take():
    with pytest.raises(TypeError, match="not an image augmentation layer"):
        A.KerasAugmentation(keras.layers.Dense(3))
    with pytest.raises(ValueError, match=r"value_range=\(0, 1\)"):
        A.KerasAugmentation(keras.layers.RandomContrast(0.2))
    with pytest.raises(ValueError, match="mixes each image"):
        A.KerasAugmentation(keras.layers.MixUp())
    with pytest.raises(ValueError, match="changes the image shape"):
        A.ViewAugmentation(SIZE, extra=[keras.layers.RandomCrop(8, 8)])
    with pytest.raises(ValueError, match="names no stage"):
        A.ViewAugmentation(SIZE, extra=[A.KerasAugmentation(keras.layers.RandomFlip(), after="colour")])
    with pytest.raises(TypeError, match=r"extra=\["):
        A.ViewAugmentation(SIZE, flip=keras.layers.RandomFlip("horizontal"))


def test_keras_flip_and_grayscale_do_what_kerascl_layers_do_per_sample():
    """The equivalence the Views page relies on when it explains why the presets keep kerascl's two layers."""
    x = _images()
    gray = keras.ops.convert_to_numpy(keras.layers.RandomGrayscale(factor=1.0)(x, training=True))
    np.testing.assert_allclose(gray, keras.ops.convert_to_numpy(A.RandomGrayscale(p=1.0)(x)), atol=1e-6)
    flip = keras.layers.RandomFlip("horizontal")
    t = flip.get_random_transformation(x)
    mask = keras.ops.convert_to_numpy(t["flips"]).reshape(-1)
    out = keras.ops.convert_to_numpy(flip.transform_images(x, t))
    np.testing.assert_allclose(out, np.where(mask[:, None, None, None], x[:, :, ::-1], x), atol=0)


@pytest.mark.slow
def test_keras_cv_layer_in_a_view():
    keras_cv = pytest.importorskip("keras_cv")
    layer = keras_cv.layers.RandomColorDegeneration(0.5)
    view = A.ViewAugmentation(SIZE, extra=[layer])
    assert view.extra[0].recorded is False and "KerasCV" in view.extra[0].unrecorded_reason
    augmenter = A.MultiViewAugmentation([view, view], seed=0)
    x = _images()
    batch = next(iter(tf.data.Dataset.from_tensors(x).map(augmenter).as_numpy_iterator()))
    assert batch["view_1"].shape == (4, SIZE, SIZE, 3) and batch["params_1"].shape == (4, A.PARAM_SIZE)
    if keras.backend.backend() in ("jax", "torch"):
        with pytest.raises(ValueError, match="KerasCV layer.*tf.data"):
            view.augment(x)
    else:
        images, params = view.augment(x)
        assert tuple(images.shape) == (4, SIZE, SIZE, 3)
    with pytest.raises(ValueError, match="record=None or False"):
        A.KerasAugmentation(layer, record=True)


def test_views_page_keras_section_runs():
    import pathlib
    import re

    text = (pathlib.Path(__file__).resolve().parent.parent / "docs" / "views.md").read_text()
    section = text.split("## Keras and KerasCV layers in a view\n", 1)[1].split("\n## ", 1)[0]
    namespace: dict = {}
    for block in re.findall(r"```python\n(.*?)```", section, flags=re.S):
        exec(compile(block, "views.md", "exec"), namespace)
    batch = {k: keras.ops.convert_to_numpy(v) for k, v in namespace["batch"].items()}
    assert batch["params_1"].shape == (4, A.PARAM_SIZE + 1)
    np.testing.assert_array_equal(batch["params_2"][:, A.PARAM_SIZE], 0.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(namespace["again"]), batch["view_1"], atol=1e-5)
    assert namespace["augmenter"].param_layout(view=1)["sharpness.factor"] == slice(18, 19)
    assert namespace["jitter"].recorded is False and not namespace["unrecorded"].replayable
