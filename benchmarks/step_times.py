"""Where a small recipe run's pretraining time goes: model build, the first (tracing) step, and steady steps.

Builds a recipe's data and model as `kerascl recipe NAME --data-dir DIR --limit N --epochs 1` does, then times the
model build on one batch (the whole batch, and the 8 images a run now uses), and `--steps` calls of
`train_on_batch`: the first includes tracing and graph optimisation, the rest are steady steps. With
`--no-grappler` TensorFlow's graph optimiser is off (a process-wide setting), to see what it costs the first step.
With `--feature-images N` it also times two feature passes of the trained backbone over N test images (the probes'
`extract_features`: the first traces the inference function).
One JSON line, after a line describing the machine. Run it on a quiet machine.

Usage:
    python benchmarks/step_times.py --data-dir cifar10 [--recipe cifar10-hierarchical] [--limit 512] [--steps 4]
        [--no-grappler] [--feature-images 1512] [--out results.jsonl]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # kerascl from this checkout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="CIFAR-10 folder with train/ and test/ class folders.")
    parser.add_argument("--recipe", default="cifar10-hierarchical")
    parser.add_argument("--limit", type=int, default=512, help="Training images.")
    parser.add_argument("--steps", type=int, default=4, help="train_on_batch calls (the first is the tracing one).")
    parser.add_argument("--no-grappler", action="store_true", help="Turn TensorFlow's graph optimiser off.")
    parser.add_argument("--feature-images", type=int, default=0,
                        help="Also time two feature passes of the backbone over this many test images.")
    parser.add_argument("--out", help="Also append the JSON lines to this file.")
    args = parser.parse_args()

    import keras
    from json_lines import JsonLines

    from kerascl import recipe_runner
    from kerascl.bench import machine_info
    from kerascl.recipe import get_recipe

    if args.no_grappler and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    lines = JsonLines(args.out)
    lines.emit({"machine": machine_info(), "argv": sys.argv[1:]})

    recipe = get_recipe(args.recipe).with_overrides(data_dir=args.data_dir, limit=args.limit, epochs=1)
    config = recipe.config
    keras.utils.set_random_seed(config.seed)
    data = recipe_runner.load_data(recipe, recipe_runner.make_augmenter(recipe))
    iterator = iter(data.train)
    batches = [batch for batch, _ in zip(iterator, range(2))]  # one when the limit holds a single batch
    model = recipe_runner.build_model(recipe)
    model.compile(optimizer=recipe_runner.make_optimizer(config, 2))

    def seconds(call) -> float:
        start = time.perf_counter()
        call()
        return round(time.perf_counter() - start, 1)

    build_head = seconds(lambda: model(recipe_runner._head_of_batch(batches[0]), training=False))
    build_batch = seconds(lambda: model(batches[0], training=False))  # variables exist now: inference time only
    model.optimizer.build(model.trainable_variables)
    steps = [seconds(lambda i=i: model.train_on_batch(batches[i % len(batches)])) for i in range(args.steps)]
    features = []
    if args.feature_images:
        from kerascl.data import from_image_folder
        from kerascl.probes import extract_features

        test_dir = os.path.join(args.data_dir, "test")
        test = recipe_runner._arrays(from_image_folder(test_dir, image_size=config.image_size, batch_size=256,
                                                       views=False, limit=args.feature_images))
        encoder = model.evaluation_encoder()
        features = [seconds(lambda: extract_features(encoder, test, verbose=0)) for _ in range(2)]
    line = {"recipe": args.recipe, "backend": keras.backend.backend(), "limit": args.limit,
            "batch_size": config.batch_size, "grappler": not args.no_grappler,
            "build_on_8_images_seconds": build_head, "inference_on_a_whole_batch_seconds": build_batch,
            "step_seconds": steps, **({"feature_pass_seconds": features, "feature_images": args.feature_images}
                                      if features else {})}
    lines.emit(line)


if __name__ == "__main__":
    main()
