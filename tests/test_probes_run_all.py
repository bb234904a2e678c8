"""run_all_probes: one extraction, three probes, and skipping without labels."""

import keras
import numpy as np
import tensorflow as tf

from kerascl.probes import format_table, run_all_probes


def _images(n, seed):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 6
    x = rng.uniform(0, 0.1, (n, 2, 3, 3)).astype("float32")
    x.reshape(n, -1)[np.arange(n), y] += 0.9  # the class lights one of six pixels' channels
    return x, y


def test_all_probes_on_a_separable_encoder():
    encoder = keras.Sequential([keras.Input((2, 3, 3)), keras.layers.Flatten()])
    r = run_all_probes(
        encoder, _images(120, 0), _images(120, 1), knn={"k": 20}, linear={"epochs": 20},
        few_shot={"episodes": 5, "n_query": 5}, verbose=0,
    )
    assert set(r) == {"knn", "linear", "few_shot"}
    assert set(r["few_shot"]) == {"5way_1shot", "5way_5shot"}
    assert r["knn"]["top1"] > 0.95 and r["linear"]["top1"] > 0.95
    assert r["few_shot"]["5way_5shot"]["accuracy"] > 0.9
    assert "| knn | top1 |" in format_table(r)


def test_few_shot_settings_that_do_not_fit_are_skipped(capsys):
    encoder = keras.Sequential([keras.Input((2, 3, 3)), keras.layers.Flatten()])
    r = run_all_probes(encoder, _images(60, 0), _images(24, 1), linear={"epochs": 2}, verbose=0)
    assert "skipped" in r["few_shot"]["5way_1shot"]
    assert "Skipping few-shot" in capsys.readouterr().out


def test_no_labels_skips_with_a_message(capsys):
    encoder = keras.Sequential([keras.Input((2, 3, 3)), keras.layers.Flatten()])
    x, _ = _images(12, 0)
    unlabelled = tf.data.Dataset.from_tensor_slices(x).batch(4)
    r = run_all_probes(encoder, unlabelled, unlabelled, verbose=0)
    assert set(r) == {"skipped"} and "probes need labels" in r["skipped"]
    assert "Skipping probes" in capsys.readouterr().out
