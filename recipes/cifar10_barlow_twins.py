"""cifar10-barlow-twins: Barlow Twins (Zbontar et al., ICML 2021, arXiv:2103.03230) on CIFAR-10, ResNet-18.

Hyperparameters from solo-learn's CIFAR recipe (vturrisi/solo-learn `scripts/pretrain/cifar/barlow.yaml`, as
summarised in the project's peer survey): LARS, base learning rate 0.3 at batch 256, weight decay 1e-4, 10 warm-up
epochs then cosine, batch 256, 1000 epochs; projector 2048-2048-2048, `scale_loss` 0.1, off-diagonal weight 5e-3
(the paper's lambda). Views: BYOL's asymmetric pair (as the paper) with the small-image overrides. Keras's
initialisation of the projector; `--set head_init=torch` starts it as torch's `nn.Linear` (the official code's and
lightly's). lightly's CIFAR-10 benchmark trains Barlow Twins with torch's SGD at 0.06 x batch / 128 and the loss
unscaled (`--set optimizer=l2sgd --set learning_rate=0.06 --set lr_reference_batch=128 --set scale_loss=1.0`):
solo-learn's 0.1 goes with LARS at 0.3. In 5 epochs on a CPU that form did worse than this recipe's loss scale
(docs/methods/barlow_twins.md).
"""

from kerascl.recipe import Recipe, RecipeConfig


def build(backbone, config, options):
    from kerascl.methods import BarlowTwins

    return BarlowTwins(backbone, **options)


RECIPE = Recipe(
    name="cifar10-barlow-twins",
    description="Barlow Twins, CIFAR ResNet-18, solo-learn's CIFAR recipe (LARS, 1000 epochs).",
    method="Barlow Twins",
    source="solo-learn scripts/pretrain/cifar/barlow.yaml; Zbontar et al. 2021 (arXiv:2103.03230)",
    reported=(
        "92.10 online linear at 1000 epochs, batch 256 (solo-learn); 84.2 kNN at 200 epochs, batch 128, "
        "85.9 kNN at 800 epochs, batch 512 (lightly)"
    ),
    config=RecipeConfig(
        dataset="cifar10",
        augmenter="barlow_twins",
        epochs=1000,
        batch_size=256,
        optimizer="lars",
        learning_rate=0.3,
        lr_reference_batch=256,
        momentum=0.9,
        weight_decay=1e-4,
        warmup_epochs=10,
    ),
    options={"projection_dim": 2048, "hidden_dim": 2048, "num_projector_layers": 3, "lambda_offdiag": 5e-3,
             "scale_loss": 0.1, "head_init": "keras"},
    build=build,
)
