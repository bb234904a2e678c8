#!/bin/bash
# End to end before (81c1ce0, the all-positions colour jitter) and after (4bfba11), alternated per round, TensorFlow,
# host augmentation, real CIFAR-10 JPEGs. Run from the repository root of 4bfba11 or later, nothing else running.
set -e
git worktree add -f /tmp/kerascl_before 81c1ce0 -q
for round in 1 2; do
  for side in old new; do
    if [ $side = old ]; then PP=/tmp/kerascl_before; else PP=$PWD; fi
    for spec in "byol 64" "simsiam 128"; do
      set -- $spec
      echo "=== round $round side $side method $1 batch $2 $(date +%T)"
      PYTHONPATH=$PP python -m kerascl.cli bench --method $1 --backend tensorflow --batch-size $2 --steps 30 \
        --warmup-steps 4 --data-dir /tmp/cifar/cifar10/train 2>/dev/null | grep '^{' | sed "s/^/$side round$round /"
    done
  done
done
