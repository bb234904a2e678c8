# The --paired outputs and the plot of run T28 (docs/benchmarks.md), from the committed JSON lines.
set -e
cd "$(dirname "$0")/../../.."
N=benchmarks/results/2026-12-07_time_to_accuracy_60min_seed3
T=benchmarks/results/2026-12-06_time_to_accuracy_60min_pair
python benchmarks/time_to_accuracy.py --from-results $N/kerascl_tf_seed3.jsonl $N/lightly_seed3.jsonl \
    --paired "kerascl (tensorflow)" lightly --every 10 --plot docs/benchmarks_time_to_accuracy_t28.png \
    --target 0.5 > $N/paired_seed3.md
python benchmarks/time_to_accuracy.py --from-results $T/kerascl_tf_seed1.jsonl $T/lightly_seed1.jsonl \
    $T/kerascl_tf_seed2.jsonl $T/lightly_seed2.jsonl $N/kerascl_tf_seed3.jsonl $N/lightly_seed3.jsonl \
    --paired "kerascl (tensorflow)" lightly --every 10 > $N/paired_three_seeds.md
