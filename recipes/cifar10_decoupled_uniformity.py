"""cifar10-decoupled-uniformity: decoupled uniformity (optionally with a kernel prior) on CIFAR-10, ResNet-18.

Dufumier, Barbano, Louiset, Duchesnay & Gori, "Integrating Prior Knowledge in Contrastive Learning with Kernel",
ICML 2023 (arXiv:2206.01646); official code Duplums/contrastive-decoupled-uniformity (README commands and
`main_decoupled_unif.py` defaults for CIFAR-10): ResNet-18, batch 256, SGD learning rate 0.3 x batch / 256,
momentum 0, weight decay 0, 400 epochs, cosine to 1e-3; fc 2048, BN-free head 2048 -> 256, t = 2; views: crop (0.08-1) +
flip + colour distortion s = 1, no blur. CIFAR-10 has no weak attributes, so the default is no prior; a prior
representation can be given as a saved encoder, e.g. `--set prior=runs/cifar10-byol/backbone.keras` (the paper uses a
generative model's encoder the same way), with the RBF bandwidth `--set sigma=...` or, by default, the median distance
within each batch. See `shapes-decoupled-uniformity` for the attribute prior.
"""

from kerascl.recipe import Recipe, RecipeConfig


def build(backbone, config, options):
    from kerascl.methods.decoupled_uniformity import DecoupledUniformity

    options = dict(options)
    prior = options.get("prior")
    if isinstance(prior, str) and prior.endswith(".keras"):
        import random

        import keras

        # Loading draws initialiser seeds from Python's `random`; restoring its state afterwards gives the fc layer
        # and head the same start as the same seed's run without a prior, so a pair differs by the prior only.
        state = random.getstate()
        options["prior"] = keras.models.load_model(prior, compile=False)
        random.setstate(state)
    if options.get("prior") is not None and options.get("sigma") is None and options.get("kernel", "rbf") == "rbf":
        # A frozen encoder's feature scale is unknown in advance: the median heuristic picks the bandwidth per batch.
        options["sigma"] = "median"
    return DecoupledUniformity(backbone, **options)


RECIPE = Recipe(
    name="cifar10-decoupled-uniformity",
    description="Decoupled uniformity (Dufumier et al.), ResNet-18, the official CIFAR-10 settings; no prior by default.",
    method="Decoupled uniformity",
    source="Duplums/contrastive-decoupled-uniformity README and main_decoupled_unif.py; Dufumier et al. ICML 2023",
    reported="not found (the official README gives commands only; the figures are in the paper, not readable here)",
    config=RecipeConfig(
        dataset="cifar10",
        augmenter="decoupled_uniformity",
        epochs=400,
        batch_size=256,
        optimizer="sgd",
        learning_rate=0.3,
        lr_reference_batch=256,
        momentum=0.0,
        weight_decay=0.0,
        end_learning_rate=1e-3,
    ),
    options={"fc_dim": 2048, "hidden_dim": 2048, "projection_dim": 256, "t": 2.0, "prior": None, "sigma": None,
             "lam": 0.01},
    # None is a value of these too: no fc layer (probe the backbone), the median heuristic, lambda = 1/sqrt(B).
    option_types={"fc_dim": int | None, "sigma": float | str | None, "lam": float | None},
    build=build,
)
