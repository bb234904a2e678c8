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
        width=0.25,
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
    partitioned=True,
)
