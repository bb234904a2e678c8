#!/bin/bash
# run T25's command on seed 2 (kerascl's XLA:CPU default), machine otherwise quiet, 2026-12-07 ~16:10 UTC
cd /work/main
date -u
uptime
python benchmarks/time_to_accuracy.py --data-dir /tmp/cifar/cifar10 --recipe cifar10-byol-1h --seeds 2 \
    --minutes 60 --every 10 --no-floor --libraries kerascl --backends jax \
    --out benchmarks/results/2026-12-07_jax_60min_seed2/kerascl_jax_seed2.jsonl
date -u
echo JAXRUN DONE
