#!/bin/bash
# Run T24 (docs/benchmarks.md), 2026-12-06 13:51-14:23 UTC, a 2-core "Intel(R) Xeon(R) Processor" (AVX2, AVX-512
# incl. BF16, AMX), JAX 0.10.2, TensorFlow 2.21, Keras 3.15.1, nothing else running. The screens ran before
# `import kerascl` added the flag, so `XLA_FLAGS=` was XLA's own default then; to rerun them now, write
# `KERASCL_XLA_CPU_DEFAULTS=0` for that arm (kerascl leaves XLA_FLAGS alone).
D=benchmarks/results/2026-12-06_jax_ynn

# bench_ynn_off.jsonl: YNNPACK off altogether, alternated with the default, then TensorFlow
B="kerascl bench --method byol --width 0.25 --batch-size 64 --steps 40 --warmup-steps 4"
for rep in 1 2; do
  XLA_FLAGS= $B --backend jax
  XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type= $B --backend jax
done
$B --backend tensorflow

# bench_ynn_variants.jsonl: YNNPACK for reductions only, with XNNPACK's or oneDNN's convolutions, in this order
B="kerascl bench --method byol --width 0.25 --batch-size 64 --steps 40 --warmup-steps 4 --backend jax"
XLA_FLAGS= $B
XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=reduce $B
XLA_FLAGS="--xla_cpu_experimental_ynn_fusion_type=reduce --xla_cpu_experimental_xnn_fusion_type=individual_convolution" $B
XLA_FLAGS="--xla_cpu_experimental_ynn_fusion_type=reduce --xla_cpu_experimental_onednn_fusion_type=individual_convolution" $B
XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=reduce $B
XLA_FLAGS= $B

# bench_ynn_reduce.jsonl: the chosen setting, two rounds of (default, reduce only, TensorFlow) per method
for rep in 1 2; do
  for m in byol simsiam; do
    B="kerascl bench --method $m --width 0.25 --batch-size 64 --steps 40 --warmup-steps 4"
    XLA_FLAGS= $B --backend jax | grep '^{.*images_per_second' >> $D/bench_ynn_reduce.jsonl
    XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=reduce $B --backend jax | grep '^{.*images_per_second' >> $D/bench_ynn_reduce.jsonl
    XLA_FLAGS= $B --backend tensorflow | grep '^{.*images_per_second' >> $D/bench_ynn_reduce.jsonl
  done
done

# profile_jax_step.jsonl (14:20-14:23, after the change): XLA's default, kerascl's default, TensorFlow's convolutions
KERASCL_XLA_CPU_DEFAULTS=0 python benchmarks/profile_jax_step.py --step --convs >> $D/profile_jax_step.jsonl
python benchmarks/profile_jax_step.py --step --convs >> $D/profile_jax_step.jsonl
python benchmarks/profile_jax_step.py --convs --library tensorflow >> $D/profile_jax_step.jsonl
