"""shapes-partitioned: partitioned BYOL (content / style) on the synthetic shapes set, offline, in minutes on a CPU.

The partitioned representation of Lee & Choi, "Partitioning Image Representation in Contrastive Learning"
(arXiv:2203.10454), in the BYOL reconstruction of the project's method spec: the projector output is split into a
content half, trained with BYOL's loss, and a style half, trained with the sign-flipped BYOL loss (the two views'
styles pushed apart). The shapes set (`kerascl.data.shapes`) knows its class (the shape) exactly, and the views'
augmentation parameters are recorded, so the separability probe can check both claims: content predicts the class
better than style, and style predicts the augmentation better than content.

The budget (small ResNet-18, 32 px, few epochs, Adam) is chosen so that `kerascl recipe shapes-partitioned` finishes
in a few minutes on a 2-core CPU; it is not a paper setting.
"""

from kerascl.recipe import Recipe, RecipeConfig


def shapes_views(config, options):
    """Two views with strong colour distortion. On the shapes set colour is a style factor (random per image,
    independent of the shape), so the views must disagree on colour for the shared content to be the shape:
    with the small-image presets (hue jitter 0.05) the invariant part learns colour instead."""
    from kerascl.augment import (MultiViewAugmentation, RandomColorJitter, RandomGrayscale, RandomHorizontalFlip,
                                 RandomResizedCrop, ViewAugmentation)

    size = config.image_size

    def view(seed):
        return ViewAugmentation(
            size,
            crop=RandomResizedCrop(size, size, scale=(0.4, 1.0)),
            flip=RandomHorizontalFlip(p=0.5),
            color_jitter=RandomColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.5, p=1.0),
            grayscale=RandomGrayscale(p=0.2),
            seed=seed,
        )

    return MultiViewAugmentation([view(config.seed), view(config.seed + 1)], seed=config.seed)


def build(backbone, config, options):
    from kerascl.methods import BYOL

    return BYOL(backbone, **options)


RECIPE = Recipe(
    name="shapes-partitioned",
    description="Partitioned BYOL (content/style) on the synthetic shapes set; offline, a few minutes on a CPU.",
    method="BYOL + partition",
    source="Lee & Choi 2022 (arXiv:2203.10454), BYOL reconstruction of the method spec; budget set for a CPU demo",
    reported="no published figure (synthetic set); acceptance: class_acc_content > class_acc_style and "
    "aug_r2_style > aug_r2_content",
    config=RecipeConfig(
        dataset="shapes",
        image_size=32,
        shapes_train=4000,
        shapes_test=1000,
        augmenter="byol",
        backbone="convnet",
        width=0.5,
        epochs=8,
        batch_size=128,
        optimizer="adam",
        learning_rate=1e-3,
        lr_reference_batch=0,
        weight_decay=0.0,
        warmup_epochs=1,
        knn_every=1,
        monitor_samples=1000,
        knn_k=20,
        probe_train_limit=4000,
        linear_epochs=30,
        few_shot_episodes=200,
        separability=True,
        embedding_samples=600,
    ),
    options={
        "projection_dim": 64,
        "hidden_dim": 256,
        "prediction_hidden_dim": 256,
        "base_momentum": 0.99,
        "final_momentum": 1.0,
        "partition": {"where": "projector", "size": 0.5, "heads": "shared", "style_objective": "repel",
                      "style_weight": 1.0},
    },
    build=build,
    augmenter=shapes_views,
    partitioned=True,
)
