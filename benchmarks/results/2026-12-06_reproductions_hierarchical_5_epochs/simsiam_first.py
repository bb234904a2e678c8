"""Trains the hierarchical claim's SimSiam baseline for both seeds first (same folders and settings as
`kerascl compare --claim hierarchical --seeds 2 --epochs 5 --probe-limit 2000 --data-dir ...`, which then reuses
them and trains the hierarchical runs)."""
import dataclasses
import os

os.environ["KERAS_BACKEND"] = "tensorflow"
import kerascl  # noqa: F401,E402
from kerascl.claims import CLAIMS  # noqa: E402
from kerascl.recipe_comparison import reproduce_claims  # noqa: E402

claim = CLAIMS["hierarchical"]
baseline_only = dataclasses.replace(claim, candidate=claim.baselines[0], baselines=())
overrides = {"data_dir": "/tmp/cifar/cifar10", "tfds": None, "eval_dir": None, "batch_size": None, "limit": None,
             "probe_test_limit": 2000, "skip_corrupt": None, "deterministic": None}
reproduce_claims([baseline_only], "/tmp/p/repro/hier_5ep", seeds=[1, 2], sets=[], epochs=5, overrides=overrides)
