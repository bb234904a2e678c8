"""cifar10-partitioned: partitioned BYOL (content / style) on CIFAR-10, compared with `cifar10-byol`.

Lee & Choi, "Partitioning Image Representation in Contrastive Learning", arXiv:2203.10454 (2022). No official code
was found; the BYOL version follows the reconstruction in the project's method spec (section 1): the 256-d projector
output is split into a 128-d content part trained with BYOL's loss and a 128-d style part trained with the
sign-flipped BYOL loss (`style_objective="repel"`, weight 1), one shared predictor on the full projection. Every
other setting is `cifar10-byol`'s (solo-learn's CIFAR BYOL recipe), so the two recipes differ only in the
partition: run `kerascl compare cifar10-byol cifar10-partitioned` for the paper's comparison (linear and few-shot).
"""

from kerascl.recipe import Recipe, RecipeConfig


def build(backbone, config, options):
    from kerascl.methods import BYOL

    return BYOL(backbone, **options)


RECIPE = Recipe(
    name="cifar10-partitioned",
    description="Partitioned BYOL (content/style), CIFAR ResNet-18, cifar10-byol's settings plus the partition.",
    method="BYOL + partition",
    source="Lee & Choi 2022 (arXiv:2203.10454), spec reconstruction; training as solo-learn's CIFAR BYOL recipe",
    reported="not found (the paper's tables could not be read; it claims higher linear and few-shot accuracy "
    "than BYOL)",
    config=RecipeConfig(
        dataset="cifar10",
        augmenter="byol",
        epochs=1000,
        batch_size=256,
        optimizer="lars",
        learning_rate=1.0,
        lr_reference_batch=256,
        momentum=0.9,
        weight_decay=1e-5,
        warmup_epochs=10,
        separability=True,
    ),
    options={
        "projection_dim": 256,
        "hidden_dim": 4096,
        "prediction_hidden_dim": 4096,
        "base_momentum": 0.99,
        "final_momentum": 1.0,
        "partition": {"where": "projector", "size": 0.5, "heads": "shared", "style_objective": "repel",
                      "style_weight": 1.0},
    },
    build=build,
    partitioned=True,
)
