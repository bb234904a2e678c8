set -x
cd /work/main
D=benchmarks/results/2026-12-06_jax_60min
for seed in 1 2; do
  date -u
  uptime
  python benchmarks/time_to_accuracy.py --data-dir /tmp/cifar/cifar10 --recipe cifar10-byol-1h --seeds $seed \
      --minutes 60 --every 10 --no-floor --libraries kerascl --backends jax --out $D/kerascl_jax_seed$seed.jsonl
done
date -u
