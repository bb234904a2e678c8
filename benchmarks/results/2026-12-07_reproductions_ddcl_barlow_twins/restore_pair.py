"""Puts the ddcl claim's finished DDCL and SimSiam runs of 2026-12-06 (their config.json and metrics.json, the files
that mark a run finished) into OUT's run folders, named as `kerascl compare` names them, so that
`kerascl compare --claim ddcl ... --out OUT` reuses them and trains only the Barlow Twins side.
Run from the repository root: python benchmarks/results/2026-12-07_reproductions_ddcl_barlow_twins/restore_pair.py OUT
"""
import os
import shutil
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
from kerascl.claims import CLAIMS  # noqa: E402
from kerascl.recipe_comparison import _run_dir  # noqa: E402

FROM = "benchmarks/results/2026-12-06_reproductions_ddcl_5_epochs/run_files"
claim = CLAIMS["ddcl"]
out = sys.argv[1]
for seed in (1, 2):
    for recipe, entry in (("cifar10-ddcl", claim.candidate), ("cifar10-simsiam", claim.baselines[0])):
        source, dest = os.path.join(FROM, recipe, f"seed-{seed}"), _run_dir(out, claim, entry, seed)
        os.makedirs(dest, exist_ok=True)
        for name in os.listdir(source):
            shutil.copy(os.path.join(source, name), dest)
