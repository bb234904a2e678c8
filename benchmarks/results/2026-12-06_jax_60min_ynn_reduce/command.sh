#!/bin/bash
# started right after a clean-clone CI run ended (nothing else running), 2026-12-06 14:56 UTC
cd /work/main
date -u
uptime
python benchmarks/time_to_accuracy.py --data-dir /tmp/cifar/cifar10 --recipe cifar10-byol-1h --seeds 1 \
    --minutes 60 --every 10 --no-floor --libraries kerascl --backends jax \
    --out benchmarks/results/2026-12-06_jax_60min_ynn_reduce/kerascl_jax_seed1.jsonl
date -u
echo JAXRUN DONE
