"""Puts the ddcl claim's finished seed-1 and seed-2 runs (DDCL and SimSiam of 2026-12-06, Barlow Twins of
2026-12-07; their config.json and metrics.json mark a run finished) into OUT's run folders, named as
`kerascl compare` names them, so that `kerascl compare --claim ddcl --seeds 3 ... --out OUT` trains only seed 3.
Run from the repository root: python benchmarks/results/2026-12-07_reproductions_ddcl_three_seeds/restore_seeds_1_2.py OUT
"""
import os
import shutil
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
from kerascl.claims import CLAIMS  # noqa: E402
from kerascl.recipe_comparison import _run_dir  # noqa: E402

RESULTS = "benchmarks/results"
claim = CLAIMS["ddcl"]
sources = {
    claim.candidate: f"{RESULTS}/2026-12-06_reproductions_ddcl_5_epochs/run_files/cifar10-ddcl",
    claim.baselines[0]: f"{RESULTS}/2026-12-06_reproductions_ddcl_5_epochs/run_files/cifar10-simsiam",
    claim.baselines[1]: f"{RESULTS}/2026-12-07_reproductions_ddcl_barlow_twins/run_files/cifar10-barlow-twins",
}
out = sys.argv[1]
for seed in (1, 2):
    for entry, folder in sources.items():
        source, dest = os.path.join(folder, f"seed-{seed}"), _run_dir(out, claim, entry, seed)
        os.makedirs(dest, exist_ok=True)
        for name in os.listdir(source):
            shutil.copy(os.path.join(source, name), dest)
