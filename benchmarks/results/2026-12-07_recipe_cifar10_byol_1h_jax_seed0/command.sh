# Run T29: the BYOL acceptance command on the JAX backend (seed 0, the recipe's defaults), alone on a 2-core
# "Intel(R) Xeon(R) Processor @ 2.80GHz" VM (AVX2, AVX-512; no AMX), 2026-12-07 23:00:39-00:00:04 UTC, load average
# 3.0 at the start (a killed first start of the same command; nothing else ran during the run).
# JAX 0.10.2, Keras 3.15.1, XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=reduce (kerascl's default on import).
time kerascl recipe cifar10-byol-1h --data-dir /tmp/cifar/cifar10 --backend jax --out /tmp/p/jaxrecipe/run
