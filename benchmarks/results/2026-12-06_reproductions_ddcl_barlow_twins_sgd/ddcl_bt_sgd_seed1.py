"""Writes the ddcl claim's rows from finished runs (`resume=True`: trains nothing): the two-seed DDCL-vs-SimSiam rows,
and, under a separate name, the rows against Barlow Twins in lightly's SGD form (loss unscaled, torch's
initialisation) for seed 1, the one seed that ran. That run came from `kerascl compare --claim ddcl --seeds 2 --epochs
5 --probe-limit 2000 --data-dir /tmp/cifar/cifar10 --backend tensorflow --out /tmp/p/repro/ddcl_5ep` while the claim's
Barlow Twins entry was the one below (commit cb83add), stopped as Barlow Twins seed 2 started; the claim has since
gone back to the recipe's form."""
import dataclasses
import os

os.environ["KERAS_BACKEND"] = "tensorflow"
import kerascl  # noqa: F401,E402
from kerascl.claims import CLAIMS  # noqa: E402
from kerascl.recipe_comparison import reproduce_claims  # noqa: E402

claim = CLAIMS["ddcl"]
pair = dataclasses.replace(claim, baselines=claim.baselines[:1])
barlow = dataclasses.replace(
    claim, name="ddcl-vs-barlow-twins-sgd-seed-1",
    baselines=("cifar10-barlow-twins@augmenter=simsiam@scale_loss=1.0@head_init=torch",),
    notes="Barlow Twins in lightly's CIFAR-10 form for this SGD schedule: the loss unscaled, torch's initialisation.")
overrides = {"data_dir": "/tmp/cifar/cifar10", "tfds": None, "eval_dir": None, "batch_size": None, "limit": None,
             "probe_test_limit": 2000, "skip_corrupt": None, "deterministic": None}
out = "/tmp/p/repro/ddcl_5ep"
reproduce_claims([pair], out, seeds=[1, 2], sets=[], epochs=5, overrides=overrides, resume=True)
reproduce_claims([barlow], out, seeds=[1], sets=[], epochs=5, overrides=overrides, resume=True)
