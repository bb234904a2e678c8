"""The seed papers' claims as side-by-side recipe comparisons: what each paper reports and how kerascl tests it.

Each `Claim` names a candidate recipe run and the baseline(s) it is said to beat, the probe metrics the claim is
about, and the budget both sides share. `kerascl compare --claim NAME --seeds 2 --data-dir DIR` runs them (one seed
after the other, runs reused between claims) and writes the paired differences with their standard errors and a
verdict (`kerascl.recipe_comparison.reproduce_claims`). The module imports no Keras, so the CLI can list and check
claims before a backend loads.

The CIFAR claims run at the CPU budget of the time-to-accuracy recipes (`cifar10-byol-1h`): CIFAR ResNet-18 at
width 0.25, batch 128, SGD with learning rate 0.06 x batch / 128, momentum 0.9, weight decay 5e-4 and a cosine
decay without warm-up (lightly's CIFAR-10 benchmark uses this one schedule for every method), for
`CPU_BUDGET_EPOCHS` epochs over the 50,000 training images. That is Keras's SGD, the claims' measured settings;
`cifar10-byol-1h` has since moved to torch's form (`optimizer=l2sgd`, `head_init=torch`), which `kerascl compare
--claim NAME --set optimizer=l2sgd` applies to a claim's two sides. Each recipe keeps its own heads, views and loss, so
within a claim the two sides differ only in what the paper changes. The `ddcl`, `hierarchical` and `iccl` claims
run at `cifar10-simsiam-1h`'s budget instead (`SIMSIAM_CPU_BUDGET_SETS`, `SIMSIAM_CPU_HEADS`: torch's SGD with the
predictors' rate fixed, that recipe's heads and initialisation), where SimSiam learns in a few epochs on a CPU.
The recipes themselves keep the papers' full settings for GPU users.
"""

from __future__ import annotations

import dataclasses
import difflib

# The shared CPU-budget settings of the CIFAR claims (as `--set` strings, applied to both sides of every claim).
CPU_BUDGET_SETS: tuple[str, ...] = (
    "width=0.25",
    "batch_size=128",
    "optimizer=sgd",
    "learning_rate=0.06",
    "lr_reference_batch=128",
    "momentum=0.9",
    "weight_decay=5e-4",
    "warmup_epochs=0",
    "end_learning_rate=0",
)
# About an hour per BYOL run on a 2-core CPU (cifar10-byol-1h trains 12-13 epochs in 60 minutes there).
CPU_BUDGET_EPOCHS = 10

# The SimSiam-based claims' budget: cifar10-simsiam-1h's update on top of the shared settings, torch's SGD with the
# predictors' rate held at its peak (the official SimSiam and DDCL `--fix-pred-lr`). With DDCL's rotated views and
# Keras's head initialisation SimSiam stayed at its random-init floor after 5 epochs even with this update
# (docs/reproductions.md, "Screen").
SIMSIAM_CPU_BUDGET_SETS: tuple[str, ...] = tuple(
    "optimizer=l2sgd" if s == "optimizer=sgd" else s for s in CPU_BUDGET_SETS
) + ("fixed_predictor_lr=true",)
# SimSiam's heads at the CPU budget: cifar10-simsiam-1h's (lightly's CIFAR-10 sizes, torch's initialisation).
SIMSIAM_CPU_HEADS = "@projection_dim=128@hidden_dim=512@prediction_hidden_dim=64@num_projector_layers=3@head_init=torch"
# Barlow Twins's projector at the CPU budget: SimSiam's projector sizes (128 -> 512 -> 512 -> 128), torch's
# initialisation. The recipe's 2048-wide projector (and 512-wide) collapsed the width-0.25 backbone to an effective
# rank of 11-13 in a first epoch of SGD at this budget, where the 128-wide one kept 23 (docs/reproductions.md).
BARLOW_TWINS_CPU_HEADS = "@projection_dim=128@hidden_dim=512@num_projector_layers=3@head_init=torch"
# ICCL's plain (SimSiam-like) model with those heads: the projection width is the number of clusters, and the
# official small-data PCA keeps all of them (512 of 512), so here all 128.
ICCL_CPU_HEADS = SIMSIAM_CPU_HEADS + "@pca_dim=128"

# Papers with two claims each.
PARTITIONING_PAPER = "Lee & Choi, Partitioning Image Representation in Contrastive Learning, arXiv:2203.10454 (2022)"
KERNEL_PRIOR_PAPER = ("Dufumier, Barbano, Louiset, Duchesnay & Gori, Integrating Prior Knowledge in Contrastive "
                      "Learning with Kernel, ICML 2023 (arXiv:2206.01646)")
# Paper 5's weakly supervised claim, tested with two kinds of shapes attributes.
WEAK_ATTRIBUTES_REPORTED = ("in a weakly supervised scenario the kernel prior on weak attributes outperforms other "
                            "unconditional and conditional contrastive approaches (abstract)")
# BYOL's heads at the CPU budget: cifar10-byol-1h's (lightly's CIFAR-10 sizes, hidden 1024) instead of the
# 4096-wide heads of solo-learn's 1000-epoch recipe.
BYOL_CPU_HEADS = "@hidden_dim=1024@prediction_hidden_dim=1024"
# Where a claim's prior takes its budget from (`Claim.prior_budget`).
PRIOR_BUDGETS = ("claim", "own")


@dataclasses.dataclass(frozen=True)
class Claim:
    """One paper's claim: a candidate run, the baselines it should beat, and the metrics that say so.

    Attributes:
        name: The claim's command-line name (`kerascl compare --claim NAME`).
        paper: Authors, title, venue and arXiv id.
        reported: What the paper reports, in its words where only the abstract could be read.
        candidate: The run that should be better: a recipe name with optional `@KEY=VALUE` overrides.
        baselines: The runs it is compared with, in the same notation.
        metrics: Keys of `recipe_comparison.headline_metrics` (higher is better); a key ending in `.*` takes every
            metric with that prefix (the floors excluded), e.g. `few_shot.*`.
        sets: `--set` strings applied to every run of the claim (the shared budget).
        epochs: Training epochs of every run (the command line's `--epochs` replaces it).
        prior_from: A baseline-like run whose trained backbone becomes the candidate's `prior` (decoupled
            uniformity's prior representation); it runs first, with the claim's seed.
        prior_budget: `"claim"`: the prior runs at the claim's budget (its `sets` and epochs, and the command
            line's); `"own"`: at its recipe's own budget and the entry's `@` settings, taking only the seed, the
            image source and `deterministic` from the command line (a prior trained apart from the method, as the
            paper's generative prior is).
        notes: What the comparison leaves out, or how it departs from the paper's setting.
    """

    name: str
    paper: str
    reported: str
    candidate: str
    baselines: tuple[str, ...]
    metrics: tuple[str, ...]
    sets: tuple[str, ...] = CPU_BUDGET_SETS
    epochs: int | None = CPU_BUDGET_EPOCHS
    prior_from: str | None = None
    prior_budget: str = "claim"
    notes: str = ""

    def __post_init__(self) -> None:
        if self.prior_budget not in PRIOR_BUDGETS:
            raise ValueError(f"Claim {self.name!r}: prior_budget must be one of {PRIOR_BUDGETS}, got "
                             f"{self.prior_budget!r}.")

    def runs(self) -> tuple[str, ...]:
        """Every run entry of the claim, the prior's source first (it must finish before the candidate starts)."""
        entries = ([self.prior_from] if self.prior_from else []) + list(self.baselines) + [self.candidate]
        return tuple(dict.fromkeys(entries))


CLAIMS: dict[str, Claim] = {
    claim.name: claim
    for claim in (
        Claim(
            name="partitioned-byol",
            paper=PARTITIONING_PAPER,
            reported="the partitioned BYOL outperforms the conventional BYOL in linear separability and in a "
                     "few-shot learning task (abstract; the paper's tables could not be read)",
            candidate="cifar10-partitioned" + BYOL_CPU_HEADS,
            baselines=("cifar10-byol" + BYOL_CPU_HEADS,),
            metrics=("linear.top1", "few_shot.*"),
            notes="Probed on the whole backbone feature (content and style parts both come after the projector). "
                  "Both sides with cifar10-byol-1h's heads (hidden 1024), as the time-to-accuracy runs.",
        ),
        Claim(
            name="ddcl",
            paper="Wang, Song, Su & Zhou, Distortion-Disentangled Contrastive Learning, WACV 2024 (arXiv:2303.05066)",
            reported="superior to Barlow Twins and SimSiam in convergence, representation quality and robustness "
                     "(abstract); official README, ImageNet-100, CAug views, linear top-1: SimSiam 79.7 / DDCL 80.0 "
                     "on clean images, 77.0 / 77.2 under jitter + rotation, 51.9 / 48.5 under jitter + rotation + "
                     "elastic",
            candidate="cifar10-ddcl@augmenter=simsiam" + SIMSIAM_CPU_HEADS,
            baselines=("cifar10-simsiam" + SIMSIAM_CPU_HEADS,
                       "cifar10-barlow-twins@augmenter=simsiam" + BARLOW_TWINS_CPU_HEADS),
            metrics=("knn.top1", "linear.top1", "robustness.*"),
            sets=SIMSIAM_CPU_BUDGET_SETS + ("robustness=true",),
            notes="DDCL and SimSiam with cifar10-simsiam-1h's heads, update and initialisation; Barlow Twins with "
                  "SimSiam's projector sizes (128 -> 512 -> 512 -> 128) and torch's initialisation, its recipe's "
                  "loss scale and off-diagonal weight (its recipe's 2048-wide projector collapsed the backbone "
                  "here; it has no predictor, so the fixed predictor rate does not touch it). All three on "
                  "SimSiam's views: with DDCL's CAug views (SimSiam's + rotation in [-90, 90] degrees, the official "
                  "robustness table's setting) SimSiam did not learn in 5 epochs here. The robustness probe, which "
                  "distorts the test images with jitter and rotation, runs on every side.",
        ),
        Claim(
            name="hierarchical",
            paper="Zhang & Ma, Rethinking the Augmentation Module in Contrastive Learning: Learning Hierarchical "
                  "Augmentation Invariance with Expanded Views, CVPR 2022 (arXiv:2206.00227)",
            reported="better representations than the baseline methods (SimSiam among them) for various "
                     "downstream tasks (abstract; no CIFAR-10 figure in the official repository)",
            candidate="cifar10-hierarchical" + SIMSIAM_CPU_HEADS + "@embedding_dim=128",
            baselines=("cifar10-simsiam@augmenter=hierarchical_stage_4" + SIMSIAM_CPU_HEADS,),
            metrics=("knn.top1", "linear.top1", "color.*"),
            sets=SIMSIAM_CPU_BUDGET_SETS + ("color_probe=true",),
            notes="At cifar10-simsiam-1h's budget, as the ddcl claim: both sides with that recipe's heads, update and "
                  "initialisation; the augmentation embeddings scaled with the backbone as the heads are (128 "
                  "beside the 128-wide pooled feature of the width-0.25 ResNet-18, as the official 512 beside "
                  "ResNet-18's 512). SimSiam trains on the hierarchical run's last-stage views (the official "
                  "augmentation, colour jitter at full strength, where cifar10-simsiam's small-image views halve "
                  "it), so the two sides differ only in the stage-wise pairs, side branches and embeddings. The same "
                  "epochs, so the hierarchical run (four view pairs per image) trains longer in wall-clock. No "
                  "fine-grained downstream set ships with the project; the colour side of the claim (strong colour "
                  "augmentation discards colour information, augmentation embeddings keep it) is tested with the "
                  "colour-sensitivity probe on every side: held-out R^2 of a random colour jitter's parameters read "
                  "from the change it makes to the features (higher keeps more colour).",
        ),
        Claim(
            name="iccl",
            paper="Ge et al., Learning the Relation between Similarity Loss and Clustering Loss in Self-Supervised "
                  "Learning, IEEE TIP 32 (2023), arXiv:2301.03041",
            reported="a suitable combination of the similarity loss and the feature-level cross-entropy gives "
                     "better results than the similarity loss alone (abstract)",
            candidate="cifar10-iccl" + ICCL_CPU_HEADS,
            baselines=("cifar10-iccl" + ICCL_CPU_HEADS + "@curriculum_start=1.0@curriculum_end=1.0",),
            metrics=("knn.top1", "linear.top1"),
            sets=SIMSIAM_CPU_BUDGET_SETS,
            notes="At cifar10-simsiam-1h's budget, as the ddcl claim: the official small-data model is SimSiam's "
                  "(plain variant), so both sides take that recipe's update, heads and initialisation, with PCA "
                  "over all 128 projected features as the official PCA 512 over its 512 (at batch 64 with Keras's "
                  "initialisation and the recipes' heads neither side left its random-init floor in 5 epochs). "
                  "The iccl views (BYOL's pair and the colour-channel permutation) and the curriculum as "
                  "fractions of the run (similarity loss alone until 50 %, clustering from 60 %, counted in whole "
                  "epochs). The base is the same model and heads with the curriculum never leaving the similarity "
                  "loss (ramp start = end = the last epoch), so only the clustering phase differs.",
        ),
        Claim(
            name="decoupled-uniformity-prior",
            paper=KERNEL_PRIOR_PAPER,
            reported="contrastive learning benefits from a generative model's representation used as a prior "
                     "(abstract; ImageNet-100 with BigBiGAN)",
            candidate="cifar10-decoupled-uniformity",
            baselines=("cifar10-decoupled-uniformity@prior=none",),
            metrics=("knn.top1", "linear.top1"),
            prior_from="cifar10-byol" + BYOL_CPU_HEADS,
            notes="The prior is the frozen backbone of a BYOL run with the same budget and seed (CIFAR-10 has no "
                  "weak attributes and no generative model ships with the project); its kernel width is the "
                  "median heuristic.",
        ),
        Claim(
            name="decoupled-uniformity-strong-prior",
            paper=KERNEL_PRIOR_PAPER,
            reported="contrastive learning benefits from a generative model's representation used as a prior "
                     "(abstract; ImageNet-100 with BigBiGAN, a prior trained apart from and longer than the method)",
            candidate="cifar10-decoupled-uniformity",
            baselines=("cifar10-decoupled-uniformity@prior=none",),
            metrics=("knn.top1", "linear.top1"),
            prior_from="cifar10-byol-1h@max_train_minutes=none",
            prior_budget="own",
            notes="The prior is the frozen backbone of a cifar10-byol-1h run of the same seed at that recipe's own "
                  "budget (13 epochs, not the claim's) and probe split, so it is stronger than the method at the "
                  "claim's budget, as the paper's prior is; its training is outside the claim's budget. Kernel "
                  "width: the median heuristic.",
        ),
        Claim(
            name="decoupled-uniformity-attributes",
            paper=KERNEL_PRIOR_PAPER,
            reported=WEAK_ATTRIBUTES_REPORTED,
            candidate="shapes-decoupled-uniformity",
            baselines=("shapes-decoupled-uniformity@prior=none",),
            metrics=("knn.top1", "linear.top1"),
            sets=(),
            epochs=None,
            notes="On the synthetic shapes set, whose images record their style factors (hue, brightness, "
                  "position, scale, background) as weak attributes; the baseline is the same run without a prior. "
                  "Only the unconditional baseline is compared.",
        ),
        Claim(
            name="decoupled-uniformity-descriptors",
            paper=KERNEL_PRIOR_PAPER,
            reported=WEAK_ATTRIBUTES_REPORTED,
            candidate="shapes-decoupled-uniformity@shapes_attributes=descriptors",
            baselines=("shapes-decoupled-uniformity@prior=none",),
            metrics=("knn.top1", "linear.top1"),
            sets=(),
            epochs=None,
            notes="The weakly supervised setting as the paper has it: the prior sees weak attributes that describe "
                  "the class (the shapes set's four binary shape descriptors, each flipped for 10 % of the images), "
                  "as CUB-200's attributes describe a bird; the baseline is the same run without a prior.",
        ),
        Claim(
            name="vae-swap",
            paper=PARTITIONING_PAPER,
            reported="the VAE framework separates content and style (swap pictures; no figure)",
            candidate="shapes-vae",
            baselines=("shapes-vae@gamma=0.0",),
            metrics=("separability.class_gap", "separability.augmentation_gap", "swap.content_retrieval",
                     "swap.style_retrieval"),
            sets=(),
            epochs=None,
            notes="On the synthetic shapes set, against the same VAE without the contrastive latent term (its two "
                  "latent halves are then interchangeable). class_gap = class accuracy from content - from style; "
                  "augmentation_gap = R^2 of the view parameters from style - from content; swap.*_retrieval = how "
                  "often a swapped decode, encoded again, has its content (style) nearest to its content (style) "
                  "source's, among 32 sources (chance 3.1 %; kerascl.methods.swap_retrieval). Each run writes "
                  "swap.png.",
        ),
    )
}


class UnknownClaimError(ValueError):
    """No claim has that name."""


def get_claims(names: list[str] | tuple[str, ...]) -> list[Claim]:
    """The claims called `names` (`all` for every claim), in the order given.

    Raises:
        UnknownClaimError: an unknown name; the message suggests close names and lists them all.
    """
    if "all" in names:
        return list(CLAIMS.values())
    claims = []
    for name in names:
        if name not in CLAIMS:
            close = difflib.get_close_matches(name, list(CLAIMS), n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownClaimError(
                f"Unknown claim {name!r}.{hint} The claims: {', '.join(CLAIMS)} (or 'all')."
            )
        claims.append(CLAIMS[name])
    return claims
