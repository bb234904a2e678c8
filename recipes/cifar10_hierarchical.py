"""cifar10-hierarchical: hierarchical augmentation invariance with expanded views, on CIFAR-10.

Zhang & Ma, "Rethinking the Augmentation Module in Contrastive Learning: Learning Hierarchical Augmentation Invariance
with Expanded Views", CVPR 2022 (arXiv:2206.00227); official code zhangjb416/Hierarchical-Augmentation (SimSiam
baseline). Four view pairs per image ("add-one" augmentation: crop + jitter, + grayscale, + blur, + flip), pair k
contrasted at ResNet stage k through a side branch, colour-jitter parameters embedded into the projector input of
stages 2-4. Training as the official `main_train.py`: SGD, learning rate 0.05 x batch / 256, momentum 0.9, weight
decay 1e-4, batch 256, 200 epochs, cosine. The official `--fix-pred-lr` (predictors at the initial rate, torch's
SGD) is `--set optimizer=l2sgd --set fixed_predictor_lr=true`, and the official heads' torch initialisation
`--set head_init=torch` (the recipe keeps Keras's). The recipe also runs the colour-sensitivity probe (the paper
argues that augmentation embeddings keep the colour information strong colour augmentation removes).
"""

from kerascl.recipe import Recipe, RecipeConfig


def build(backbone, config, options):
    from kerascl.methods.hierarchical import HierarchicalAugmentationInvariance

    return HierarchicalAugmentationInvariance(backbone, **options)


def augmenter(config, options):
    from kerascl.methods.hierarchical import hierarchical_views

    return hierarchical_views(num_stages=4, image_size=config.image_size, seed=config.seed)


RECIPE = Recipe(
    name="cifar10-hierarchical",
    description="Hierarchical augmentation invariance + expanded views (SimSiam base), four stage-wise view pairs.",
    method="Hierarchical (SimSiam)",
    source="zhangjb416/Hierarchical-Augmentation main_train.py; Zhang & Ma CVPR 2022 (arXiv:2206.00227)",
    reported="not found (headline tables not readable; no CIFAR-10 figure in the official repository)",
    config=RecipeConfig(
        dataset="cifar10",
        augmenter="hierarchical_stage_4",
        epochs=200,
        batch_size=256,
        optimizer="sgd",
        learning_rate=0.05,
        lr_reference_batch=256,
        momentum=0.9,
        weight_decay=1e-4,
        color_probe=True,
    ),
    options={
        "base_method": "simsiam",
        "projection_dim": 2048,
        "hidden_dim": 2048,
        "prediction_hidden_dim": 512,
        "num_projector_layers": None,  # the base method's depth: 3 for SimSiam and Barlow Twins, 2 for BYOL
        "embedding_dim": 512,
        "head_init": "keras",
    },
    build=build,
    augmenter=augmenter,
)
