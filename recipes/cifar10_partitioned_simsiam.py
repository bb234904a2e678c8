"""cifar10-partitioned-simsiam: the content / style partition on SimSiam, compared with `cifar10-simsiam`.

The partition of Lee & Choi (arXiv:2203.10454) applied to SimSiam as the project's method spec describes it for any
siamese method: the 2048-d projector output is split into a content half trained with SimSiam's loss and a style
half trained with the sign-flipped loss (`style_objective="repel"`, weight 1), one shared predictor. Every other
setting is `cifar10-simsiam`'s (lightly's CIFAR-10 benchmark recipe).
"""

from kerascl.recipe import Recipe, RecipeConfig


def build(backbone, config, options):
    from kerascl.methods import SimSiam

    return SimSiam(backbone, **options)


RECIPE = Recipe(
    name="cifar10-partitioned-simsiam",
    description="Partitioned SimSiam (content/style), CIFAR ResNet-18, cifar10-simsiam's settings plus the partition.",
    method="SimSiam + partition",
    source="Lee & Choi 2022 (arXiv:2203.10454), spec reconstruction; training as lightly's CIFAR-10 SimSiam",
    reported="not found (no SimSiam variant in the paper; compare with cifar10-simsiam at the same budget)",
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
        separability=True,
    ),
    options={
        "projection_dim": 2048,
        "hidden_dim": 2048,
        "prediction_hidden_dim": 512,
        "num_projector_layers": 3,
        "partition": {"where": "projector", "size": 0.5, "heads": "shared", "style_objective": "repel",
                      "style_weight": 1.0},
    },
    build=build,
    partitioned=True,
)
