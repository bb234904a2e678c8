"""shapes-vae: the partitioned VAE (content / style latent) on the synthetic shapes set, with its swap grid.

Lee & Choi, "Partitioning Image Representation in Contrastive Learning", arXiv:2203.10454 (2022): the VAE framework
the paper uses to show that content and style separate. `kerascl.methods.PartitionedVAE` is the reconstruction of
the project's method spec (section 1): a Gaussian latent `[content ; style]`, the content means of two views pulled
together and their style means pushed apart (hinge), plus reconstruction and KL. The run writes `swap.png`: the
content of each row's image decoded with the style of each column's image, and `metrics.json`'s `extras.swap`
holds the same test as numbers (`kerascl.methods.swap_retrieval` on 32 x 32 test images). The VAE has its own
small convolutional encoder (the `backbone` setting is not used); the budget is a CPU demo, not a paper setting.

The settings are the ones under which the swap works at that budget (the screens in
`benchmarks/results/2026-12-07_vae_screen/` and `benchmarks/results/2026-12-07_vae_screen_2/`, docs/reproductions.md):

- batch 32, 30 epochs (3,750 steps): the encoder/decoder pair needs a few thousand steps to reconstruct colour and
  shape at all; at batch 128 and 8 epochs (248 steps) it drew grey blobs, and on a CPU a 32-image step costs about a
  third of a 128-image one (three times the steps in the same time);
- beta 0.1: at beta 1 the latent kept about 15 nats, too few for the shape;
- views that change appearance and keep the object: SimCLR's colour distortion (halved at 32 px), grey and flip,
  no crop (`crop_scale=(1, 1)`). With random crops the shape and its position differ between the views, so the pair
  put both in the style half and the content half took the colour;
- a 4-dims style half beside 16 content dims: the hinge only asks the two views' styles to differ by the margin, so
  a style half as large as the content half took everything, shape included; a small one holds what the views change.
"""

import os

from kerascl.recipe import Recipe, RecipeConfig


def build(backbone, config, options):
    from kerascl.methods import PartitionedVAE

    return PartitionedVAE(image_size=config.image_size, seed=config.seed, **options)


def swap_picture_and_scores(model, run) -> dict:
    from kerascl.methods.partitioned_vae import save_swap_grid, swap_grid, swap_retrieval

    images = run["data"].probe_test[0]
    grid = swap_grid(model, images[:6], images[6:12])
    save_swap_grid(grid, os.path.join(run["run_dir"], "swap.png"))
    sources = min(32, len(images) // 2)  # disjoint content and style sources
    return {"files": {"swap_grid": "swap.png"},
            "swap": swap_retrieval(model, images[:sources], images[sources: 2 * sources])}


RECIPE = Recipe(
    name="shapes-vae",
    description="Partitioned VAE (content/style latent) on the shapes set, with the content/style swap grid.",
    method="Partitioned VAE",
    source="Lee & Choi 2022 (arXiv:2203.10454), VAE reconstruction of the method spec; budget set for a CPU demo",
    reported="no published figure (the paper shows swap pictures; synthetic set here)",
    config=RecipeConfig(
        dataset="shapes",
        image_size=32,
        shapes_train=4000,
        shapes_test=1000,
        augmenter="simclr",
        crop_scale=(1.0, 1.0),
        width=0.125,
        epochs=30,
        batch_size=32,
        optimizer="adam",
        learning_rate=1e-3,
        lr_reference_batch=0,
        weight_decay=0.0,
        knn_k=20,
        probe_train_limit=4000,
        linear_epochs=30,
        few_shot_episodes=200,
        separability=True,
        embedding_samples=600,
    ),
    options={"content_dim": 16, "style_dim": 4, "widths": [32, 64], "feature_dim": 128, "beta": 0.1, "gamma": 1.0,
             "style_term": "hinge", "margin": 1.0, "style_weight": 1.0, "reconstruction": "bce"},
    build=build,
    partitioned=True,
    extras=swap_picture_and_scores,
)
