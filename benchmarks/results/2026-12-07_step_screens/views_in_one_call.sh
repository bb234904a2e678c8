# The backbone part of the train step with the two views in one call (batch 128) or two (64 each), alternated,
# three rounds per backend; 2-core "Intel(R) Xeon(R) Processor @ 2.80GHz" VM (AVX2, AVX-512), 2026-12-08
# 00:29-00:32 UTC, nothing else running. TensorFlow 2.21.0 with oneDNN, JAX 0.10.2, Keras 3.15.1.
for b in tensorflow jax; do
  KERAS_BACKEND=$b python benchmarks/views_in_one_call.py --rounds 3
done > views_in_one_call.jsonl
