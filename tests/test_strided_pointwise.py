"""Strided 1x1 convolutions: the subsample-then-convolve form gives the same numbers, saved weights still load, and
training on odd batch sizes no longer crashes TensorFlow's oneDNN kernels (a subprocess, as a crash is a signal)."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from kerascl.backbones import ResNet18, SpatialSubsample, subsample_strided_pointwise_convs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("padding,size", [("valid", 9), ("same", 8), ("same", 7)])
def test_subsampled_convolution_equals_the_strided_one(padding, size):
    x = np.random.default_rng(0).random((3, size, size, 5), dtype=np.float32)
    strided = keras.layers.Conv2D(4, 1, strides=2, padding=padding, name="down")
    expected = np.asarray(strided(x))
    assert subsample_strided_pointwise_convs(strided) == ["down"]
    assert subsample_strided_pointwise_convs(strided) == []  # already changed
    np.testing.assert_allclose(np.asarray(strided(x)), expected, rtol=1e-5, atol=1e-6)
    pointwise = keras.layers.Conv2D(4, 1, name="pointwise")
    pointwise.build(x.shape)
    pointwise.set_weights(strided.get_weights())
    subsampled = SpatialSubsample(2)
    np.testing.assert_allclose(np.asarray(pointwise(subsampled(x))), expected, rtol=1e-5, atol=1e-6)
    assert subsampled.compute_output_shape(x.shape) == expected.shape[:3] + (5,)


def test_only_strided_pointwise_convolutions_change():
    net = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(4, 3, strides=2, name="three_by_three"),
        keras.layers.Conv2D(4, 1, name="pointwise"),
        keras.layers.Conv2D(4, 1, strides=2, name="down"),
    ])
    assert subsample_strided_pointwise_convs(keras.Sequential([net])) == ["down"]


def test_resnet_shortcuts_keep_names_and_weights(tmp_path):
    net = ResNet18(width=0.125, input_shape=(16, 16, 3))
    names = [layer.name for layer in net.layers]
    assert "stage_2_block_1_shortcut_conv" in names and "stage_2_block_1_shortcut_subsample" in names
    assert not [layer.name for layer in net.layers if isinstance(layer, keras.layers.Conv2D)
                and tuple(layer.kernel_size) == (1, 1) and tuple(layer.strides) != (1, 1)]
    path = str(tmp_path / "backbone.keras")
    net.save(path)
    x = np.random.default_rng(1).random((2, 16, 16, 3), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(keras.models.load_model(path)(x)), np.asarray(net(x)), atol=1e-6)


_ODD_BATCHES = textwrap.dedent("""
    import kerascl, keras, numpy as np
    from kerascl.backbones import ResNet18
    from kerascl.methods import SimSiam

    def plain():  # the shortcut of keras.applications ResNets and of kerascl ResNets saved before the fix
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
    print("trained")
""")


def test_odd_batch_sizes_train_without_a_crash():
    """Before the fix this died with signal 11 or a malloc abort on TensorFlow with oneDNN (kerascl's default)."""
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _ODD_BATCHES], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=600)
    assert proc.returncode == 0, f"exit code {proc.returncode}\n{proc.stderr[-3000:]}"
    assert "trained" in proc.stdout
