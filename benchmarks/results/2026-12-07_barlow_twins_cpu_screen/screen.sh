#!/bin/bash
# One-epoch screens of Barlow Twins at the ddcl claim's budget (SimSiam's views, torch's SGD at 0.06 x batch / 128,
# momentum 0.9, weight decay 5e-4, batch 128, width 0.25, cosine to 0 over the one epoch), seed 1.
# Usage: bash screen.sh CIFAR10_DIR OUT_DIR
DATA=${1:?CIFAR-10 image folder}; OUT=${2:?output folder}
BUDGET="--set augmenter=simsiam --set width=0.25 --set batch_size=128 --set optimizer=l2sgd --set learning_rate=0.06
        --set lr_reference_batch=128 --set momentum=0.9 --set weight_decay=5e-4 --set warmup_epochs=0
        --set end_learning_rate=0 --set fixed_predictor_lr=true"
run() {
    name=$1; shift
    kerascl recipe cifar10-barlow-twins --epochs 1 --seed 1 --probe-limit 2000 --data-dir "$DATA" \
        --backend tensorflow $BUDGET "$@" --out "$OUT/$name" > "$OUT/$name.log" 2>&1
}
run s1_512_torch_s01 --set projection_dim=512 --set hidden_dim=512 --set head_init=torch --set scale_loss=0.1
run s3_2048_torch_s0025 --set head_init=torch --set scale_loss=0.025
run s4_128_torch_s01 --set projection_dim=128 --set hidden_dim=512 --set head_init=torch --set scale_loss=0.1
