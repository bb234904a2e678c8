# kerascl bench, BYOL at batch 64 on 4,096 CIFAR-10 training images (in memory), TensorFlow and JAX, tf.data on its
# shared pool (data_threads null) against a private pool of one thread (--data-threads 1), two alternated rounds;
# the lines of data_threads.jsonl in the order they ran (round 1: TF, JAX default, TF, JAX one thread; round 2 the same).
# 2-core "Intel(R) Xeon(R) Processor @ 2.80GHz" VM (AVX2, AVX-512), 2026-12-07 22:35-22:47 UTC, nothing else running.
for r in 1 2; do
 for dt in 0 1; do
  for be in tensorflow jax; do
   opt=""; [ $dt = 1 ] && opt="--data-threads 1"
   kerascl bench --method byol --backend $be --batch-size 64 --steps 120 --warmup-steps 10 --num-images 4096 \
       --data-dir /tmp/cifar/cifar10/train $opt 2>/dev/null | tail -1
  done
 done
done
