"""What kerascl needs from Keras's private API (`kerascl.keras_internals`): one test per symbol.

A failure here after a Keras upgrade names the symbol that moved or changed; fix `kerascl/keras_internals.py` (and
the `keras` bound in pyproject.toml) rather than the callers.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerascl import keras_internals


def test_only_keras_internals_imports_private_keras():
    import pathlib

    root = pathlib.Path(keras_internals.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "keras_internals.py":
            continue
        text = path.read_text()
        for needle in ("keras.src", "._get_seed_generator(", "._flatten_layers("):
            if needle in text:
                offenders.append(f"{path.relative_to(root)}: {needle}")
    assert not offenders, offenders


class Recorder(keras_internals.DataLayer):
    """A DataLayer that records the backend it computed with."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)
        self.seen = []

    def call(self, images):
        self.seen.append(self.backend.name)
        return self.backend.numpy.multiply(images, 2.0)


def test_data_layer_switches_to_tensorflow_inside_tf_data():
    import tensorflow as tf

    layer = Recorder(seed=0)
    images = np.ones((2, 4, 4, 3), "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(images)), 2 * images)
    assert layer.seen == [keras.backend.backend()]
    out = next(iter(tf.data.Dataset.from_tensors(images).map(layer)))
    assert isinstance(out, tf.Tensor)
    np.testing.assert_allclose(out.numpy(), 2 * images)
    assert layer.seen[-1] == "tensorflow"
    assert layer.backend.name == keras.backend.backend(), "the layer must go back to the model's backend"


def test_base_image_preprocessing_layer_routes_through_the_transformation_contract():
    calls = []

    class Shift(keras_internals.BaseImagePreprocessingLayer):
        _USE_BASE_FACTOR = False

        def get_random_transformation(self, data, training=True, seed=None):
            calls.append("draw")
            return {"shift": 1.0} if training else None

        def transform_images(self, images, transformation, training=True):
            calls.append("apply")
            return images if transformation is None else images + transformation["shift"]

    layer = Shift()
    assert isinstance(layer, keras_internals.DataLayer)
    assert not hasattr(layer, "factor"), "_USE_BASE_FACTOR = False must skip Keras's factor argument"
    with pytest.raises(ValueError, match="factor"):
        Shift(factor=0.5)
    images = np.zeros((2, 4, 4, 3), "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(images, training=True)), images + 1.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(images, training=False)), images)
    assert calls == ["draw", "apply", "draw", "apply"]


def test_autocast_scope_none_reads_float32_weights_under_mixed_precision():
    seen = {}

    class Probe(keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(2,), initializer="ones")

        def call(self, x):
            seen["autocast"] = keras.backend.standardize_dtype(self.w.value.dtype)
            with keras_internals.AutocastScope(None):
                seen["inside_scope"] = keras.backend.standardize_dtype(self.w.value.dtype)
            seen["after_scope"] = keras.backend.standardize_dtype(self.w.value.dtype)
            return x

    Probe(dtype="mixed_float16")(np.ones((1, 2), "float32"))
    assert seen == {"autocast": "float16", "inside_scope": "float32", "after_scope": "float16"}


def test_functional_is_the_class_of_functional_models_only():
    inputs = keras.Input((3,))
    functional = keras.Model(inputs, keras.layers.Dense(2)(inputs))

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    assert isinstance(functional, keras_internals.Functional)
    assert not isinstance(Subclassed(), keras_internals.Functional)
    assert not isinstance(keras.Sequential([keras.layers.Dense(2)]), keras_internals.Functional)


def test_dynamic_backend_names_the_backend_and_exposes_its_ops():
    bk = keras_internals.DynamicBackend()
    assert bk.name == keras.backend.backend()
    x = bk.core.convert_to_tensor(np.arange(4, dtype="float32"))
    y = bk.numpy.add(bk.core.cast(x, "float32"), 1.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(y), np.arange(1, 5))
    assert callable(bk.image.resize) and callable(bk.random.uniform)
    tf_backend = keras_internals.DynamicBackend("tensorflow")
    assert tf_backend.name == "tensorflow"
    assert isinstance(Recorder().backend, keras_internals.DynamicBackend)


def test_seed_generator_is_the_layers_own_on_its_backend_and_one_per_other_backend():
    layer = Recorder(seed=3)
    assert keras_internals.seed_generator(layer) is layer.generator
    tf_backend = keras_internals.DynamicBackend("tensorflow")
    for_tf = keras_internals.seed_generator(layer, tf_backend)
    assert isinstance(for_tf, keras.random.SeedGenerator)
    assert for_tf is keras_internals.seed_generator(layer, tf_backend), "one generator per backend, kept"
    if keras.backend.backend() == "tensorflow":
        assert for_tf is layer.generator


def test_flatten_layers_yields_every_nested_layer_once_without_the_model():
    shared = keras.layers.Dense(3, name="shared")
    inner = keras.Sequential([keras.Input((3,)), shared, keras.layers.BatchNormalization(name="bn")], name="inner")
    inputs = keras.Input((3,))
    outer = keras.Model(inputs, inner(shared(inputs)), name="outer")
    names = [layer.name for layer in keras_internals.flatten_layers(outer)]
    assert "outer" not in names
    assert {"inner", "shared", "bn"} <= set(names)
    assert len(names) == len(set(names))


def test_run_functional_graph_calls_the_models_own_layers_on_new_inputs():
    x = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(3, name="hidden")(x)
    inner = keras.Model(x, [hidden, keras.layers.Dense(2, name="out")(hidden)])
    new = keras.Input((4,))
    outputs = keras_internals.run_functional_graph(inner, keras.layers.Rescaling(2.0, name="scale")(new))
    assert len(outputs) == 2
    outer = keras.Model(new, outputs[1])
    assert [layer.name for layer in outer.layers] == [outer.layers[0].name, "scale", "hidden", "out"]
    assert outer.get_layer("hidden") is inner.get_layer("hidden"), "the layers are shared, not copied"
    data = np.ones((2, 4), "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(outer(data)),
                               keras.ops.convert_to_numpy(inner(2 * data)[1]), rtol=1e-6)


def test_patch_tf2onnx_runs_once_tf2onnx_is_installed():
    pytest.importorskip("tf2onnx")
    keras_internals.patch_tf2onnx()
    assert hasattr(np, "object"), "the numpy-2 names tf2onnx still uses"
