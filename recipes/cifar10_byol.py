"""cifar10-byol: BYOL (Grill et al., NeurIPS 2020, arXiv:2006.07733) on CIFAR-10 with the CIFAR ResNet-18.

Hyperparameters from solo-learn's CIFAR recipe (vturrisi/solo-learn `scripts/pretrain/cifar/byol.yaml`, as summarised
in the project's peer survey): LARS, base learning rate 1.0 at batch 256, weight decay 1e-5 (biases and norms
excluded), 10 warm-up epochs then cosine, 1000 epochs, batch 256; projector 512 -> 4096 -> 256, predictor
256 -> 4096 -> 256; EMA momentum 0.99 -> 1.0 (cosine). Views: BYOL's asymmetric pair with the small-image overrides
(no blur at 32 px).
"""

from kerascl.recipe import Recipe, RecipeConfig


def build(backbone, config, options):
    from kerascl.methods import BYOL

    return BYOL(backbone, **options)


RECIPE = Recipe(
    name="cifar10-byol",
    description="BYOL, CIFAR ResNet-18, solo-learn's CIFAR recipe (LARS, 1000 epochs).",
    method="BYOL",
    source="solo-learn scripts/pretrain/cifar/byol.yaml; Grill et al. 2020 (arXiv:2006.07733)",
    reported=(
        "92.58 online linear at 1000 epochs, batch 256 (solo-learn README); 86.9 kNN at 200 epochs, batch 128, "
        "91.0 kNN at 800 epochs, batch 512 (lightly CIFAR-10 benchmark)"
    ),
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
    ),
    options={
        "projection_dim": 256,
        "hidden_dim": 4096,
        "prediction_hidden_dim": 4096,
        "base_momentum": 0.99,
        "final_momentum": 1.0,
    },
    build=build,
)
