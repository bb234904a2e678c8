"""Writes the ddcl claim's Barlow Twins rows from the finished seed-1 runs (the seed-2 Barlow Twins run did not fit
the session), under a separate name so the two-seed DDCL-vs-SimSiam rows stay in the table."""
import dataclasses
import os

os.environ["KERAS_BACKEND"] = "tensorflow"
import kerascl  # noqa: F401,E402
from kerascl.claims import CLAIMS  # noqa: E402
from kerascl.recipe_comparison import reproduce_claims  # noqa: E402

claim = CLAIMS["ddcl"]
pair = dataclasses.replace(claim, baselines=claim.baselines[:1])
barlow = dataclasses.replace(claim, name="ddcl-vs-barlow-twins-seed-1", baselines=claim.baselines[1:])
overrides = {"data_dir": "/tmp/cifar/cifar10", "tfds": None, "eval_dir": None, "batch_size": None, "limit": None,
             "probe_test_limit": 2000, "skip_corrupt": None, "deterministic": None}
out = "/tmp/p/repro/ddcl_5ep"
reproduce_claims([pair], out, seeds=[1, 2], sets=[], epochs=5, overrides=overrides, resume=True)
reproduce_claims([barlow], out, seeds=[1], sets=[], epochs=5, overrides=overrides, resume=True)
