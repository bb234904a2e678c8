#!/bin/bash
# Puts the ddcl claim's finished DDCL and SimSiam runs of 2026-12-06 (their config.json and metrics.json, the files
# that mark a run finished) into OUT's run folders, so that `kerascl compare --claim ddcl ... --out OUT` reuses them
# and trains only the Barlow Twins side. Run from the repository root.  Usage: bash restore_pair.sh OUT
OUT=${1:?output folder of kerascl compare}
FROM=benchmarks/results/2026-12-06_reproductions_ddcl_5_epochs/run_files
HEADS=projection_dim_128_hidden_dim_512_prediction_hidden_dim_64_num_projector_layers_3_head_init_torch
for seed in 1 2; do
    for pair in "cifar10-ddcl:cifar10-ddcl_augmenter_simsiam_$HEADS" "cifar10-simsiam:cifar10-simsiam_$HEADS"; do
        dest="$OUT/runs/${pair#*:}/seed-$seed"
        mkdir -p "$dest" && cp "$FROM/${pair%%:*}/seed-$seed/"* "$dest/"
    done
done
