"""cifar10-simclr: SimCLR (Chen et al., ICML 2020, arXiv:2002.05709) on CIFAR-10 with the CIFAR ResNet-18.

Hyperparameters from solo-learn's CIFAR recipe (vturrisi/solo-learn `scripts/pretrain/cifar/simclr.yaml`, as
summarised in the project's peer survey): LARS, base learning rate 0.4 at batch 256, temperature 0.2, weight decay
1e-5, 10 warm-up epochs then cosine, batch 256, 1000 epochs; projector 512 -> 2048 -> 256. Views: SimCLR's colour
distortion with the small-image overrides (no blur, jitter strength halved at 32 px, as lightly's `cj_strength=0.5`).
"""

from kerascl.recipe import Recipe, RecipeConfig


def build(backbone, config, options):
    from kerascl.methods import SimCLR

    return SimCLR(backbone, **options)


RECIPE = Recipe(
    name="cifar10-simclr",
    description="SimCLR, CIFAR ResNet-18, solo-learn's CIFAR recipe (LARS, temperature 0.2, 1000 epochs).",
    method="SimCLR",
    source="solo-learn scripts/pretrain/cifar/simclr.yaml; Chen et al. 2020 (arXiv:2002.05709)",
    reported=(
        "90.74 online linear at 1000 epochs, batch 256 (solo-learn); 84.7 kNN at 200 epochs, batch 128, "
        "87.9 kNN at 800 epochs, batch 512 (lightly); 'around 91%' linear at 1000 epochs, batch 512 "
        "(google-research/simclr, TF)"
    ),
    config=RecipeConfig(
        dataset="cifar10",
        augmenter="simclr",
        epochs=1000,
        batch_size=256,
        optimizer="lars",
        learning_rate=0.4,
        lr_reference_batch=256,
        momentum=0.9,
        weight_decay=1e-5,
        warmup_epochs=10,
    ),
    options={"projection_dim": 256, "hidden_dim": 2048, "temperature": 0.2},
    build=build,
)
