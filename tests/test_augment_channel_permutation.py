"""ICCL's colour-channel permutation: a per-sample channel order, recorded in one column, replayable, on every
backend, in tf.data and in a compiled step; the `iccl` preset and the `cifar10-iccl` recipe use it."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascl import augment as A
from kerascl.augment.random_channel_permutation import CHANNEL_PERMUTATIONS
from tests.helpers import compiled_augmenter_call

SIZE = 8


def _images(batch, seed=0):
    return np.random.RandomState(seed).rand(batch, SIZE, SIZE, 3).astype("float32")


def _orders(images, out):
    """For each sample, the index in CHANNEL_PERMUTATIONS of the order that maps `images` to `out` (-1: none)."""
    found = []
    for x, y in zip(images, out):
        match = [i for i, order in enumerate(CHANNEL_PERMUTATIONS) if np.array_equal(x[..., list(order)], y)]
        found.append(match[0] if len(match) == 1 else -1)
    return np.array(found)


def test_each_sample_gets_one_of_the_six_orders_with_probability_p():
    x = _images(1200)
    out = keras.ops.convert_to_numpy(A.RandomChannelPermutation(p=0.8, seed=1)(x, training=True))
    orders = _orders(x, out)
    assert (orders >= 0).all()  # an exact permutation of the channels, no mixing
    counts = np.bincount(orders, minlength=6) / len(orders)
    # Identity: 0.2 (not applied) + 0.8 / 6 (drawn); every other order 0.8 / 6. 4 standard errors at n = 1200.
    expected = np.array([0.2 + 0.8 / 6] + [0.8 / 6] * 5)
    assert np.all(np.abs(counts - expected) < 4 * np.sqrt(expected * (1 - expected) / len(orders))), counts
    never = keras.ops.convert_to_numpy(A.RandomChannelPermutation(p=0.0, seed=1)(x[:50], training=True))
    np.testing.assert_array_equal(never, x[:50])
    inference = keras.ops.convert_to_numpy(A.RandomChannelPermutation(p=1.0, seed=1)(x[:50], training=False))
    np.testing.assert_array_equal(inference, x[:50])
    with pytest.raises(ValueError, match="p"):
        A.RandomChannelPermutation(p=1.5)


def test_in_a_view_it_is_recorded_in_one_column_and_replays():
    layer = A.RandomChannelPermutation(p=0.8, name="channel_permutation")
    view = A.ViewAugmentation(SIZE, flip=A.RandomHorizontalFlip(), extra=[A.KerasAugmentation(layer, record=True)],
                              seed=0)
    assert view.replayable and view.param_size == A.PARAM_SIZE + 1
    assert view.param_layout["channel_permutation.permutation"] == slice(A.PARAM_SIZE, A.PARAM_SIZE + 1)
    x = _images(64)
    images, params = (keras.ops.convert_to_numpy(v) for v in view.augment(x))
    recorded = params[:, A.PARAM_SIZE].astype(int)
    flipped = np.where(params[:, A.param_slice("flip").start, None, None, None] > 0.5, x[:, :, ::-1], x)
    np.testing.assert_array_equal(_orders(flipped, images), recorded)  # the column says which order ran
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(view.apply_params(x, params)), images)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(view))
    assert restored.param_layout == view.param_layout and restored.extra[0].layer.p == 0.8


def _permuting_view(seed=0):
    layer = A.RandomChannelPermutation(p=0.8)
    return A.ViewAugmentation(SIZE, flip=A.RandomHorizontalFlip(), extra=[A.KerasAugmentation(layer)], seed=seed)


def test_host_and_compiled_step_draw_the_same_orders():
    """kerascl's counter-based draws: for the same seed, the same orders (and views) in tf.data and in a compiled
    step of the active backend (a small view, so the compile stays quick)."""
    x = _images(16)

    def augmenter():
        return A.MultiViewAugmentation([_permuting_view(), _permuting_view()], seed=3)

    host = next(iter(tf.data.Dataset.from_tensors(x).map(augmenter()).as_numpy_iterator()))
    device = compiled_augmenter_call(augmenter())(x)
    device = {k: keras.ops.convert_to_numpy(v) for k, v in device.items()}
    for key in ("params_1", "params_2", "view_1", "view_2"):
        np.testing.assert_allclose(host[key], device[key], atol=1e-6)
    assert len(np.unique(host["params_1"][:, A.PARAM_SIZE])) > 1


def test_iccl_preset_is_byol_plus_the_permutation():
    """The `iccl` preset: BYOL's asymmetric views with the permutation last in both; its views replay from their
    parameters, and adding the permutation leaves the BYOL stages' draws as they were."""
    iccl = A.get_preset("iccl", image_size=SIZE, seed=3)
    assert iccl.param_size == A.PARAM_SIZE + 1 and iccl.replayable
    x = _images(16)
    host = next(iter(tf.data.Dataset.from_tensors(x).map(iccl).as_numpy_iterator()))
    plain = next(iter(tf.data.Dataset.from_tensors(x).map(A.get_preset("byol", SIZE, seed=3)).as_numpy_iterator()))
    for v in (1, 2):
        images, params = host[f"view_{v}"], host[f"params_{v}"]
        assert params.shape == (16, A.PARAM_SIZE + 1)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(iccl.apply_params(x, params, view=v)), images, atol=1e-5)
        np.testing.assert_allclose(params[:, : A.PARAM_SIZE], plain[f"params_{v}"], atol=1e-6)
    assert len(np.unique(host["params_1"][:, A.PARAM_SIZE])) > 1


def test_cifar10_iccl_recipe_uses_the_iccl_views():
    from kerascl.recipe import get_recipe

    assert get_recipe("cifar10-iccl").config.augmenter == "iccl"
