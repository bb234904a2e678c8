"""Strided 1x1 convolutions: the subsample-then-convolve form gives the same numbers, the batch policy uses it only
when a batch may be odd, and training on odd batch sizes no longer crashes TensorFlow's oneDNN kernels (a
subprocess, as a crash is a signal)."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerascl.backbones import subsample_strided_pointwise_convs
from kerascl.backbones.strided_pointwise import avoid_faulty_onednn_kernels, batches_are_even, onednn_enabled

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("padding,size", [("valid", 9), ("same", 8), ("same", 7)])
def test_subsampled_convolution_equals_the_strided_one(padding, size):
    x = np.random.default_rng(0).random((3, size, size, 5), dtype=np.float32)
    strided = keras.layers.Conv2D(4, 1, strides=2, padding=padding, name="down")
    expected = keras.ops.convert_to_numpy(strided(x))
    assert subsample_strided_pointwise_convs(strided) == ["down"]
    assert subsample_strided_pointwise_convs(strided) == []  # already changed
    np.testing.assert_allclose(keras.ops.convert_to_numpy(strided(x)), expected, rtol=1e-5, atol=1e-6)


def test_only_strided_pointwise_convolutions_change():
    net = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(4, 3, strides=2, name="three_by_three"),
        keras.layers.Conv2D(4, 1, name="pointwise"),
        keras.layers.Conv2D(4, 1, strides=2, name="down"),
    ])
    assert subsample_strided_pointwise_convs(keras.Sequential([net])) == ["down"]


def test_batch_policy_tells_even_batches():
    images = np.zeros((20, 8, 8, 3), "float32")
    assert batches_are_even(images, batch_size=8)  # 8, 8, 4
    assert batches_are_even(images, batch_size=6)  # 6, 6, 6, 2
    assert not batches_are_even(images, batch_size=15)
    assert not batches_are_even({"view_1": images[:15], "view_2": images[:15]}, batch_size=32)
    assert batches_are_even(tf.data.Dataset.from_tensor_slices(images).batch(4, drop_remainder=True))
    assert not batches_are_even(tf.data.Dataset.from_tensor_slices(images).batch(4))  # the last batch may be odd
    assert not batches_are_even(tf.data.Dataset.from_tensor_slices(images).batch(5, drop_remainder=True))
    assert not batches_are_even(images, batch_size=2, replicas=2)  # one image per replica


def test_policy_changes_the_model_only_for_batches_that_may_be_odd():
    def model():
        return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 1, strides=2, name="down")])

    images = np.zeros((16, 8, 8, 3), "float32")
    even, odd = model(), model()
    assert avoid_faulty_onednn_kernels(even, images, batch_size=8) == []
    # Only TensorFlow's oneDNN kernels have the fault (XLA on JAX does not).
    expected = ["down"] if keras.backend.backend() == "tensorflow" and onednn_enabled() else []
    assert avoid_faulty_onednn_kernels(odd, images, batch_size=5) == expected


_ODD_BATCHES = textwrap.dedent("""
    import kerascl, keras, numpy as np
    from kerascl.backbones import ResNet18
    from kerascl.methods import SimSiam

    def plain():  # the shortcut of every ResNet
        inputs = keras.Input((16, 16, 3))
        x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
        x = keras.layers.Conv2D(16, 1, strides=2)(x)
        return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))

    rng = np.random.default_rng(0)
    for make, batch in ((plain, 15), (lambda: ResNet18(width=0.125, input_shape=(16, 16, 3)), 3)):
        views = {f"view_{v}": rng.random((batch, 16, 16, 3), dtype=np.float32) for v in (1, 2)}
        model = SimSiam(make(), projection_dim=8, hidden_dim=8, prediction_hidden_dim=4)
        model.compile(optimizer="sgd")
        model.fit(views, batch_size=batch, epochs=3, verbose=0)
    # A kerascl.data pipeline without drop_remainder: 15 images in batches of 4 end on an odd batch of 3.
    from kerascl.data import from_arrays
    images = rng.random((15, 16, 16, 3), dtype=np.float32)
    dataset = from_arrays(images, batch_size=4, drop_remainder=False, augmenter="simsiam")
    model = SimSiam(ResNet18(width=0.125, input_shape=(16, 16, 3)), projection_dim=8, hidden_dim=8,
                    prediction_hidden_dim=4)
    model.compile(optimizer="sgd")
    model.fit(dataset, epochs=2, verbose=0)
    print("trained")
""")


@pytest.mark.one_backend("tensorflow")  # the faulty oneDNN kernel is TensorFlow's
def test_odd_batch_sizes_train_without_a_crash():
    """Before the fix this died with signal 11 or a malloc abort on TensorFlow with oneDNN (kerascl's default)."""
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _ODD_BATCHES], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=600)
    assert proc.returncode == 0, f"exit code {proc.returncode}\n{proc.stderr[-3000:]}"
    assert "trained" in proc.stdout
