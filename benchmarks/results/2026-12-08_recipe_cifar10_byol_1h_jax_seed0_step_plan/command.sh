# Run T30: the BYOL acceptance command on the JAX backend (seed 0, the recipe's defaults) after the time budget
# began planning in steps (kerascl.callbacks.steps_that_fit; run T29 planned whole epochs). Alone on a 2-core
# "Intel(R) Xeon(R) Processor" VM (AVX2, AVX-512, AVX-512 BF16, AMX), 2026-12-08 01:57:12-02:59:52 UTC, load average 0.8
# at the start, nothing else running. JAX 0.10.2, Keras 3.15.1,
# XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=reduce (kerascl's default on import).
time kerascl recipe cifar10-byol-1h --data-dir /tmp/cifar/cifar10 --backend jax --out /tmp/p/jaxrecipe2/run
