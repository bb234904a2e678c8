set -x
cd /work/main
date -u
uptime
common="--data-dir /tmp/cifar/cifar10 --recipe cifar10-byol-1h --seeds 2 --minutes 60 --every 10"
/tmp/lenv/bin/python benchmarks/time_to_accuracy.py $common --libraries lightly --out benchmarks/results/2026-12-06_time_to_accuracy_60min_pair/lightly_seed2.jsonl
date -u
uptime
python benchmarks/time_to_accuracy.py $common --no-floor --libraries kerascl --backends tensorflow --out benchmarks/results/2026-12-06_time_to_accuracy_60min_pair/kerascl_tf_seed2.jsonl
date -u
