"""Checks of `benchmarks/simsiam_differences.py` that need neither torch nor training."""


import keras
import numpy as np

from tests.script_helpers import load_script, script_path

SCRIPT = script_path("simsiam_differences.py")


def _script():
    return load_script("simsiam_differences.py")


def test_weight_mapping_reaches_every_kerascl_variable_once():
    """Copying lightly's weights must set every kerascl weight (moving statistics included) exactly once."""
    from kerascl.bench import BenchConfig, build_method

    script = _script()
    model = build_method(BenchConfig(method="simsiam", width=0.125, image_size=16))
    model.build((None, 16, 16, 3))
    mapping = script._torch_to_keras_names()
    reached = []
    for prefix, (part, layer_name) in mapping.items():
        owner = getattr(model, part)
        layer = owner.get_layer(layer_name) if part == "backbone" else {l.name: l for l in owner.stack}[layer_name]
        if isinstance(layer, keras.layers.BatchNormalization):
            suffixes = ["running_mean", "running_var"] + (["weight", "bias"] if layer.scale else [])
        else:
            suffixes = ["weight"] + (["bias"] if layer.use_bias else [])
        for suffix in suffixes:
            variable, convert = script._keras_variable(model, mapping, f"{prefix}.{suffix}")
            reached.append(id(variable))
    expected = [id(v) for part in ("backbone", "projector", "predictor") for v in getattr(model, part).weights]
    assert len(reached) == len(set(reached)) == len(expected)
    assert set(reached) == set(expected)


def test_view_statistics():
    v1 = np.zeros((4, 8, 8, 3), "float32")
    v2 = np.ones((4, 8, 8, 3), "float32")
    v2[:2, ..., 0] = 0.0  # two coloured views
    stats = _script()._view_stats(v1, v2, np.array([0.5, 1.0]))
    assert stats["crop_area_mean"] == 0.75
    assert stats["grayscale_fraction"] == 0.75  # 4 black + 2 white views of 8 are grey
    assert stats["view_pair_abs_difference"] == np.abs(v1 - v2).mean().round(4)
