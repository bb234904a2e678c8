"""The two-view objectives of BYOL, SimSiam and Barlow Twins, shared by those methods and hierarchical's stages.

Each takes the method's loss function and a dict of per-view lists (`projections`, `predictions`, `targets`, as
`SiameseMethod.method_outputs` returns them) and symmetrises the loss over the views the way the method's paper
does; with more than two views it averages over pairs, scaled so that two views give the paper's formula.
"""

from __future__ import annotations

from typing import Callable


def mean_over_pairs(loss_fn: Callable, targets: list, predictions: list):
    """Symmetrised loss over views: sum over ordered pairs i != j of `loss_fn(targets[j], predictions[i])`,
    scaled so that two views give `loss(t2, p1) + loss(t1, p2)`."""
    n = len(predictions)
    total = 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                total = total + loss_fn(targets[j], predictions[i])
    return total * (2.0 / (n * (n - 1)))


def mean_over_view_pairs(loss_fn: Callable, embeddings: list):
    """Mean of a symmetric two-view loss over every unordered pair of views (the loss itself for two views)."""
    pairs = [(i, j) for i in range(len(embeddings)) for j in range(i + 1, len(embeddings))]
    return sum(loss_fn(embeddings[i], embeddings[j]) for i, j in pairs) / len(pairs)


def byol_objective(loss_fn: Callable, outputs: dict):
    """BYOL: `loss(sg(t2), p1) + loss(sg(t1), p2)`, each prediction against the other view's EMA-target
    projection (Grill et al. 2020, Eq. 2 and its symmetrisation)."""
    return mean_over_pairs(loss_fn, outputs["targets"], outputs["predictions"])


def simsiam_objective(loss_fn: Callable, outputs: dict):
    """SimSiam: `0.5 * D(p1, sg(z2)) + 0.5 * D(p2, sg(z1))` (Chen & He 2021, Eq. 3 and 4); the stop-gradient is
    the method's (`targets` are not used: the other view's own projection is the target)."""
    return 0.5 * mean_over_pairs(loss_fn, outputs["projections"], outputs["predictions"])


def barlow_twins_objective(loss_fn: Callable, outputs: dict):
    """Barlow Twins (and other symmetric losses on the two projections): `loss(z1, z2)`."""
    return mean_over_view_pairs(loss_fn, outputs["projections"])


#: Base-method name -> its objective, for methods built on one of them (hierarchical augmentation invariance).
SIAMESE_OBJECTIVES = {"byol": byol_objective, "simsiam": simsiam_objective, "barlow_twins": barlow_twins_objective}
