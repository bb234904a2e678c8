"""cifar10-ddcl: Distortion-Disentangled Contrastive Learning (DDCL_Asy) on CIFAR-10 with the CIFAR ResNet-18.

Wang, Song, Su & Zhou, "Distortion-Disentangled Contrastive Learning", WACV 2024 (arXiv:2303.05066); official code
SifanSong/DDCL (`simsiam/DRL_builder.py`, `main_simsiam.py`, `run_train.sh`). SimSiam whose encoder output is split
contiguously into a DIR part (80 %) and a DVR part (20 %), each with its own SimSiam projector and predictor; the DIR
part gets SimSiam's loss, the DVR part the distortion-disentangled loss `|batch-mean cos|` with weight 1. Training
as the official script: SGD, learning rate 0.05 x batch / 256, momentum 0.9, weight decay 1e-4, batch 256, cosine;
the 30 extra warm-up epochs of the code become a linear warm-up inside the run here; 500 epochs. Views: CAug
(SimSiam's augmentation + rotation in [-90, 90] degrees), the setting of the official robustness table. The recipe
runs the robustness probe; compare with `cifar10-simsiam` run with `--set augmenter=ddcl_caug`. The official
`--fix-pred-lr` (predictors at the initial rate, torch's SGD) is `--set optimizer=l2sgd --set fixed_predictor_lr=true`,
and its heads' torch initialisation `--set head_init=torch` (the recipe keeps Keras's, as it always has).
"""

from kerascl.recipe import Recipe, RecipeConfig


def build(backbone, config, options):
    from kerascl.methods import DDCL

    return DDCL(backbone, **options)


RECIPE = Recipe(
    name="cifar10-ddcl",
    description="DDCL (SimSiam + DIR/DVR split, distortion-disentangled loss), CAug views, robustness probe.",
    method="DDCL (SimSiam)",
    source="SifanSong/DDCL run_train.sh and main_simsiam.py; Wang, Song et al. WACV 2024 (arXiv:2303.05066)",
    reported=(
        "ImageNet-100, ResNet-50, 500 epochs, CAug: 80.0 linear (SimSiam 79.7); under CJ / CJ+Flip / CJ+Rot / "
        "CJ+Rot+ET 79.3 / 79.4 / 77.2 / 48.5 (SifanSong/DDCL README); no CIFAR-10 figure found"
    ),
    config=RecipeConfig(
        dataset="cifar10",
        augmenter="ddcl_caug",
        epochs=500,
        batch_size=256,
        optimizer="sgd",
        learning_rate=0.05,
        lr_reference_batch=256,
        momentum=0.9,
        weight_decay=1e-4,
        warmup_epochs=30,
        robustness=True,
        separability=True,
    ),
    options={
        "projection_dim": 2048,
        "hidden_dim": 2048,
        "prediction_hidden_dim": 512,
        "num_projector_layers": 3,
        "dir_fraction": 0.8,
        "ddl_weight": 1.0,
        "ddl_reading": "abs_of_mean",
        "head_init": "keras",
    },
    build=build,
    partitioned=True,
)
