"""cifar10-iccl: similarity loss + feature-level cross-entropy (ICCL) on CIFAR-10 with the CIFAR ResNet-18.

Ge et al., "Learning the Relation between Similarity Loss and Clustering Loss in Self-Supervised Learning", IEEE TIP
32 (2023), arXiv:2301.03041; official code guijiejie/ICCL. The official small-data configuration
(`configs/imagenette/icc.py`, ResNet-18): SimSiam-like `ICCHead` with 512-wide heads, PCA 512 of the
l2-normalised targets (`l2norm=True`), adaptive temperature without clip, uniform weight 1, curriculum from the
similarity loss to cross-entropy + uniform between epochs 500 and 600 of 1000 (kept here as the fractions 0.5 and
0.6 of the run, so a shorter run still reaches the clustering phase), LARS learning rate 2.0 at batch 256, weight
decay 1e-6. The views are the `iccl` preset: BYOL's asymmetric pair (the ImageNet config's base) with the
small-image overrides, then the official random colour-channel permutation (p = 0.8) in both views.
"""

from kerascl.recipe import Recipe, RecipeConfig


def build(backbone, config, options):
    from kerascl.methods.iccl import SimilarityClustering

    options = dict(options)
    start = options.pop("curriculum_start")
    end = options.pop("curriculum_end")
    return SimilarityClustering(backbone, e0=start * config.epochs, e1=end * config.epochs, **options)


RECIPE = Recipe(
    name="cifar10-iccl",
    description="ICCL (similarity -> feature-level cross-entropy curriculum), small-data config, ResNet-18.",
    method="ICCL",
    source="guijiejie/ICCL configs/imagenette/icc.py; Ge et al. IEEE TIP 2023 (arXiv:2301.03041)",
    reported="not found (headline tables not readable; no CIFAR-10 figure in the official repository)",
    config=RecipeConfig(
        dataset="cifar10",
        augmenter="iccl",
        epochs=1000,
        batch_size=256,
        optimizer="lars",
        learning_rate=2.0,
        lr_reference_batch=256,
        momentum=0.9,
        weight_decay=1e-6,
        warmup_epochs=10,
    ),
    options={
        "variant": "plain",
        "projection_dim": 512,
        "hidden_dim": 512,
        "prediction_hidden_dim": 512,
        "num_projector_layers": 3,
        "head_init": "keras",
        "uniform_weight": 1.0,
        "adaptive": True,
        "adaptive_clip": False,
        "pca_dim": 512,
        "pca_l2norm": True,
        "curriculum_start": 0.5,
        "curriculum_end": 0.6,
    },
    build=build,
)
