#!/bin/bash
# Run T26: cifar10-simsiam-1h for 10 minutes before (81c1ce0) and after (4bfba11) the faster colour jitter, the same
# seed, back to back, nothing else running. Run from the repository root of 4bfba11 or later.
D=benchmarks/results/2026-12-07_color_jitter
git worktree add -f /tmp/kerascl_before 81c1ce0 -q
for side in before after; do
  if [ $side = before ]; then R=/tmp/kerascl_before; else R=$PWD; fi
  echo "=== $side start $(date -u +%T)"
  python $R/benchmarks/time_to_accuracy.py --data-dir /tmp/cifar/cifar10 --recipe cifar10-simsiam-1h \
    --libraries kerascl --backends tensorflow --seeds 1 --minutes 10 --every 5 --epochs 3 --no-floor \
    --out $D/simsiam_10min_$side.jsonl
  echo "=== $side end $(date -u +%T) rc $?"
done
