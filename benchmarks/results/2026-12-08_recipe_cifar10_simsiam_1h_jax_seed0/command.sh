# Run T31: the SimSiam acceptance command on the JAX backend (seed 0, the recipe's defaults; the time budget plans
# in steps), alone on the 2-core "Intel(R) Xeon(R) Processor" VM of run T30 (AVX2, AVX-512, AVX-512 BF16, AMX),
# 03:29:35-04:32:45 UTC, started right after a CI run ended, nothing else running. JAX 0.10.2, Keras 3.15.1,
# XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=reduce (kerascl's default on import).
time kerascl recipe cifar10-simsiam-1h --data-dir /tmp/cifar/cifar10 --backend jax --out /tmp/p/jaxsimsiam/run
