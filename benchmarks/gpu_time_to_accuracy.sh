#!/usr/bin/env bash
# Time to accuracy on one GPU: kerascl (JAX and TensorFlow backends) and lightly on the same GPU, the same recipe
# scaled up for an accelerator: full-width CIFAR ResNet-18, batch 512, bfloat16 mixed precision, views made inside
# the compiled step (kerascl) / by DataLoader workers (lightly), a fixed training wall-clock per run, kNN every
# minute on all 10,000 test images (memory bank: the 50,000 training images).
#
# usage: bash benchmarks/gpu_time_to_accuracy.sh CIFAR10_DIR [MINUTES] [EPOCHS] [OUT_JSONL]
#   CIFAR10_DIR  the unpacked shared CIFAR-10 folder (train/<class>/*.jpg, test/<class>/*.jpg)
#   MINUTES      training wall-clock per run (default 3: six runs fit a 15-minute GPU lease with evaluation)
#   EPOCHS       the cosine schedule's length (default 20); runs stop at MINUTES whichever comes first
set -euo pipefail
data=${1:?usage: gpu_time_to_accuracy.sh CIFAR10_DIR [MINUTES] [EPOCHS] [OUT_JSONL]}
minutes=${2:-3}
epochs=${3:-20}
out=${4:-benchmarks/results/gpu_time_to_accuracy.jsonl}
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
for recipe in cifar10-byol-1h cifar10-simsiam-1h; do
  python benchmarks/time_to_accuracy.py --data-dir "$data" --recipe "$recipe" \
    --libraries kerascl lightly --backends jax tensorflow --seeds 1 \
    --minutes "$minutes" --every 1 --epochs "$epochs" --device-views --mixed-precision \
    --set width=1.0 --set batch_size=512 --set max_train_minutes=none --lightly-workers 8 \
    --out "$out" --plot "${out%.jsonl}_${recipe}.png"
done
