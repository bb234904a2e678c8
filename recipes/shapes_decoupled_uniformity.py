"""shapes-decoupled-uniformity: decoupled uniformity with the weak-attribute kernel prior, on the shapes set.

Dufumier et al., ICML 2023 (arXiv:2206.01646), the weakly supervised setting: the shapes set records every image's
style factors (hue, brightness, position, scale, background) as weak attributes, and the RBF kernel on them gives the
conditional-mean-embedding prior. `kerascl compare shapes-decoupled-uniformity shapes-decoupled-uniformity@prior=none`
runs the with / without prior comparison. Loss settings as the official code (t = 2, lambda 0.01, an fc layer as
wide as the BN-free head's hidden layer); the budget (small ResNet-18, Adam, few epochs) is a CPU demo, not a paper
setting.
"""

from kerascl.recipe import Recipe, RecipeConfig


def build(backbone, config, options):
    from kerascl.methods.decoupled_uniformity import DecoupledUniformity

    options = dict(options)
    if options.get("prior") is None:
        options["sigma"] = None
    return DecoupledUniformity(backbone, **options)


RECIPE = Recipe(
    name="shapes-decoupled-uniformity",
    description="Decoupled uniformity with the weak-attribute RBF prior on the shapes set; offline CPU demo.",
    method="Decoupled uniformity",
    source="Dufumier et al. ICML 2023 (arXiv:2206.01646), official loss settings; budget set for a CPU demo",
    reported="no published figure (synthetic set)",
    config=RecipeConfig(
        dataset="shapes",
        shapes_train=4000,
        shapes_test=1000,
        augmenter="decoupled_uniformity",
        width=0.25,
        epochs=8,
        batch_size=128,
        optimizer="adam",
        learning_rate=1e-3,
        lr_reference_batch=0,
        weight_decay=0.0,
        knn_k=20,
        probe_train_limit=4000,
        linear_epochs=30,
        few_shot_episodes=200,
        embedding_samples=600,
    ),
    options={"fc_dim": 256, "hidden_dim": 256, "projection_dim": 64, "t": 2.0, "prior": "attributes", "sigma": 1.0,
             "lam": 0.01},
    # None is a value of these too: no fc layer (probe the backbone), the median heuristic, lambda = 1/sqrt(B).
    option_types={"fc_dim": int | None, "sigma": float | str | None, "lam": float | None},
    build=build,
)
