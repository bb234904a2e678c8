"""cifar10-simsiam: SimSiam (Chen & He, CVPR 2021, arXiv:2011.10566) on CIFAR-10 with the CIFAR ResNet-18.

Hyperparameters from lightly's CIFAR-10 benchmark (lightly-ai/lightly
`docs/source/getting_started/benchmarks/cifar10_benchmark.py`, as summarised in the project's peer survey): SGD,
learning rate 0.06 x batch / 128, momentum 0.9, weight decay 5e-4, cosine schedule, batch 512, 800 epochs (the
longest budget lightly reports). Heads: SimSiam's projector 2048-2048-2048 and predictor 2048-512-2048 (method spec
section 0), with Keras's initialisation (`--set head_init=torch` starts them as torch's `nn.Linear`, as lightly's and
the official code's heads start). Views: SimSiam's MoCo-v2 augmentation with the small-image overrides (no blur at
32 px).
"""

from kerascl.recipe import Recipe, RecipeConfig


def build(backbone, config, options):
    from kerascl.methods import SimSiam

    return SimSiam(backbone, **options)


RECIPE = Recipe(
    name="cifar10-simsiam",
    description="SimSiam, CIFAR ResNet-18, lightly's CIFAR-10 benchmark recipe (SGD, 800 epochs).",
    method="SimSiam",
    source="lightly cifar10_benchmark.py; Chen & He 2021 (arXiv:2011.10566)",
    reported=(
        "81.9 kNN at 200 epochs, batch 128; 76.4 kNN at 200 epochs, batch 512; 90.4 kNN at 800 epochs, batch 512 "
        "(lightly); 90.51 online linear at 1000 epochs, batch 256 (solo-learn)"
    ),
    config=RecipeConfig(
        dataset="cifar10",
        augmenter="simsiam",
        epochs=800,
        batch_size=512,
        optimizer="sgd",
        learning_rate=0.06,
        lr_reference_batch=128,
        momentum=0.9,
        weight_decay=5e-4,
    ),
    options={"projection_dim": 2048, "hidden_dim": 2048, "prediction_hidden_dim": 512, "num_projector_layers": 3,
             "head_init": "keras"},
    build=build,
)
