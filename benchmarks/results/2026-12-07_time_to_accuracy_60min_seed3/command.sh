set -x
cd /work/main
date -u
uptime
D=benchmarks/results/2026-12-07_time_to_accuracy_60min_seed3
common="--data-dir /tmp/cifar/cifar10 --recipe cifar10-byol-1h --seeds 3 --minutes 60 --every 10"
/tmp/lenv/bin/python benchmarks/time_to_accuracy.py $common --libraries lightly --out $D/lightly_seed3.jsonl
date -u
uptime
python benchmarks/time_to_accuracy.py $common --no-floor --libraries kerascl --backends tensorflow --out $D/kerascl_tf_seed3.jsonl
date -u
