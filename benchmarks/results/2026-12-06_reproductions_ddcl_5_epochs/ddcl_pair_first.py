"""Trains the ddcl claim's DDCL-vs-SimSiam runs for both seeds before the Barlow Twins runs (same folders and
settings as `kerascl compare --claim ddcl --seeds 2 --epochs 5 --probe-limit 2000 --data-dir ...`, which then
reuses them)."""
import dataclasses
import os

os.environ["KERAS_BACKEND"] = "tensorflow"
import kerascl  # noqa: F401,E402
from kerascl.claims import CLAIMS  # noqa: E402
from kerascl.recipe_comparison import reproduce_claims  # noqa: E402

claim = CLAIMS["ddcl"]
pair = dataclasses.replace(claim, baselines=claim.baselines[:1])
overrides = {"data_dir": "/tmp/cifar/cifar10", "tfds": None, "eval_dir": None, "batch_size": None, "limit": None,
             "probe_test_limit": 2000, "skip_corrupt": None, "deterministic": None}
reproduce_claims([pair], "/tmp/p/repro/ddcl_5ep", seeds=[1, 2], sets=[], epochs=5, overrides=overrides)
