"""floor_probes: the same probes on a random-init copy of the backbone and on raw pixels, and their table columns."""

import keras
import numpy as np
import pytest

from kerascl.probes import (
    floor_probes,
    format_table,
    knn_on_features,
    random_init_copy,
    raw_pixel_features,
    run_all_probes,
)
from tests.helpers import tiny_backbone


def _images(n, seed, size=8):
    """Six classes, each lighting one pixel of the image; the rest is low noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 6
    x = rng.uniform(0, 0.1, (n, size, size, 3)).astype("float32")
    x.reshape(n, -1)[np.arange(n), y * 7] += 0.9
    return x, y


SETTINGS = dict(knn={"k": 10, "temperature": 0.1}, linear={"epochs": 2, "seed": 0},
                few_shot={"episodes": 4, "n_query": 3, "seed": 0}, few_shot_shots=(1,))


def test_random_init_copy_is_the_same_architecture_with_new_reproducible_weights():
    backbone = tiny_backbone(image_size=8)
    for variable in backbone.trainable_weights:  # "train" it: the copy must not carry these weights
        variable.assign(np.full(variable.shape, 0.5, "float32"))
    first, second, other = (random_init_copy(backbone, seed=s) for s in (3, 3, 4))
    assert first.output_shape == backbone.output_shape
    assert [w.shape for w in first.weights] == [w.shape for w in backbone.weights]
    kernel = lambda m: np.asarray(m.trainable_weights[0])  # noqa: E731 - the first conv kernel
    assert not np.allclose(kernel(first), 0.5)
    np.testing.assert_array_equal(kernel(first), kernel(second))
    assert not np.allclose(kernel(first), kernel(other))
    moving_variance = [np.asarray(w) for w in first.non_trainable_weights if "moving_variance" in w.path]
    assert moving_variance and all(np.allclose(v, 1.0) for v in moving_variance)  # batch norm at init


def test_a_subclassed_backbone_cannot_be_cloned_and_the_floor_says_so(capsys):
    class Pooled(keras.Model):
        def call(self, x):
            return keras.ops.mean(x, axis=(1, 2))

    floors = floor_probes(Pooled(), _images(36, 0), _images(36, 1), **SETTINGS)
    assert "Cannot rebuild" in floors["random_init"]["skipped"]
    assert "Skipping the random-init floor" in capsys.readouterr().out
    assert "knn" in floors["raw_pixels"]


def test_raw_pixel_floor_is_knn_on_flattened_pixels():
    train, test = _images(60, 0), _images(30, 1)
    floors = floor_probes(tiny_backbone(image_size=8), train, test, floors=("raw_pixels",), **SETTINGS)
    expected = knn_on_features(train[0].reshape(60, -1), train[1], test[0].reshape(30, -1), test[1], k=10,
                               temperature=0.1)
    assert floors["raw_pixels"]["knn"] == expected
    assert set(floors) == {"raw_pixels"}
    assert raw_pixel_features(train[0]).shape == (60, 8 * 8 * 3)


def test_floors_have_the_structure_of_the_trained_probes():
    backbone = tiny_backbone(image_size=8)
    train, test = _images(60, 0), _images(30, 1)
    trained = run_all_probes(backbone, train, test, verbose=0, **SETTINGS)
    floors = floor_probes(backbone, train, test, seed=1, **SETTINGS)
    assert set(floors) == {"random_init", "raw_pixels"}
    for floor in floors.values():
        assert set(trained) <= set(floor)
        assert set(floor["few_shot"]) == set(trained["few_shot"])
        assert floor["knn"]["num_test"] == trained["knn"]["num_test"] == 30
        assert floor["knn"]["num_train"] == trained["knn"]["num_train"] == 60
        assert floor["knn"]["k"] == trained["knn"]["k"] and 0.0 <= floor["knn"]["top1"] <= 1.0
    # The pixels give the class away, so the raw-pixel floor is high: floors are measured, not assumed low.
    assert floors["raw_pixels"]["knn"]["top1"] > 0.9
    assert floors["random_init"]["seed"] == 1


def test_robustness_floor_is_the_robustness_probe_of_each_untrained_encoder():
    from kerascl.probes import robustness_probe

    backbone = tiny_backbone(image_size=8)
    train, test = _images(60, 0), _images(30, 1)
    options = {"epochs": 2, "seed": 0, "distortions": ("none", "jitter")}
    floors = floor_probes(backbone, train, test, seed=1, **SETTINGS, robustness={**options, "num_test": 20})
    expected_pixels = robustness_probe(raw_pixel_features, train, (test[0][:20], test[1][:20]), verbose=0, **options)
    assert floors["raw_pixels"]["robustness"] == expected_pixels
    expected_random = robustness_probe(random_init_copy(backbone, seed=1), train, (test[0][:20], test[1][:20]),
                                       verbose=0, **options)
    np.testing.assert_allclose(list(floors["random_init"]["robustness"].values()), list(expected_random.values()),
                               atol=1e-6)
    assert "robustness" not in floor_probes(backbone, train, test, **SETTINGS)["raw_pixels"]
    table = format_table({"robustness": {"none": 0.9}}, floors=floors)
    assert f"| robustness | none | 0.9000 | {floors['random_init']['robustness']['none']:.4f} |" in table


def test_table_shows_floor_columns_beside_each_accuracy():
    results = {"knn": {"top1": 0.8, "k": 10}, "robustness": {"none": 0.7}}
    floors = {"random_init": {"knn": {"top1": 0.3, "k": 10}}, "raw_pixels": {"knn": {"top1": 0.25, "k": 10}}}
    table = format_table(results, floors=floors).splitlines()
    assert table[0] == "| probe | metric | trained | random init | raw pixels |"
    assert "| knn | top1 | 0.8000 | 0.3000 | 0.2500 |" in table
    assert "| robustness | none | 0.7000 | - | - |" in table  # floors computed without the robustness probe
    skipped = format_table(results, floors={"random_init": {"skipped": "no clone"}, "raw_pixels": floors["raw_pixels"]})
    assert "| knn | top1 | 0.8000 | - | 0.2500 |" in skipped and "Floors skipped: random init: no clone" in skipped


def test_unknown_floor_name_is_refused():
    with pytest.raises(ValueError, match="Unknown floor"):
        floor_probes(tiny_backbone(image_size=8), _images(12, 0), _images(12, 1), floors=("pixels",))
