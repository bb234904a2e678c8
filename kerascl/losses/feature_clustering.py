"""ICCL's loss: an instance similarity loss annealed into a feature-level cross-entropy with a uniform marginal."""

from __future__ import annotations

import keras
from keras import ops

from kerascl.distribute import gather_global_batch
from kerascl.losses._utils import check_batch, cosine_similarity, l2_normalize

SIMILARITIES = ("byol", "cosine")


def _views(x, name: str) -> list:
    """A list of V `(B, D)` tensors from a `(B, V, D)` tensor or a list/tuple of `(B, D)` tensors."""
    if isinstance(x, (list, tuple)):
        views = [ops.convert_to_tensor(v) for v in x]
    else:
        x = ops.convert_to_tensor(x)
        if len(x.shape) != 3:
            raise ValueError(
                f"{name} expects (batch, views, dim) tensors or lists of (batch, dim) views; got shape {tuple(x.shape)}."
            )
        views = [x[:, v] for v in range(x.shape[1])]
    if len(views) < 2:
        raise ValueError(f"{name} needs at least 2 views; got {len(views)}.")
    for v in views:
        if len(v.shape) != 2:
            raise ValueError(f"{name} expects each view to be (batch, dim); got shape {tuple(v.shape)}.")
    return views


def _gathered(views: list) -> list:
    gathered = gather_global_batch(*views)
    return list(gathered) if isinstance(gathered, tuple) else [gathered]


def pca_project(targets: list, predictions: list, dim: int | None = None, l2norm: bool = True) -> tuple[list, list]:
    """Per-step PCA: fits on the stacked targets, projects targets and predictions, l2-normalises.

    With `l2norm=True` (the official Imagenette config, `pca=dict(dim=512, l2norm=True)`) every vector is
    l2-normalised before the fit and before its projection, as the official `PCA` class does; with `l2norm=False`
    the raw vectors are fitted and projected. The basis is the top-`dim` eigenvectors of the covariance of the
    stacked fit data (centred on its mean), each with its largest-magnitude entry made positive so the basis is
    the same on every backend. The projections are l2-normalised in both modes (the clustering terms normalise
    them anyway). The basis and mean carry no gradient; the predictions keep theirs through the projection. For
    a well-defined basis keep `dim` below the number of stacked target rows (V * B).

    Args:
        targets: V `(B, D)` target tensors (the fit data).
        predictions: `(B, D)` tensors to project with the same basis.
        dim: Number of components (default D).
        l2norm: l2-normalise the vectors before fitting and before projecting.

    Returns:
        `(projected_targets, projected_predictions)`, lists of l2-normalised `(B, dim)` tensors.

    Examples:
        >>> import numpy as np
        >>> q = [np.random.default_rng(0).normal(size=(8, 6)).astype("float32") for _ in range(2)]
        >>> qs, ps = pca_project(q, q, dim=4)
        >>> tuple(qs[0].shape)
        (8, 4)
    """
    prepare = l2_normalize if l2norm else (lambda t: t)  # noqa: E731
    x = ops.stop_gradient(ops.concatenate([prepare(t) for t in targets], axis=0))
    features = x.shape[-1]
    dim = features if dim is None else int(dim)
    if features is not None and not 1 <= dim <= features:
        raise ValueError(f"pca_dim must be between 1 and the feature width {features}; got {dim}.")
    mean = ops.mean(x, axis=0, keepdims=True)
    xc = x - mean
    cov = ops.matmul(ops.transpose(xc), xc) / ops.cast(ops.shape(x)[0], x.dtype)
    _, vectors = ops.eigh(cov)  # ascending eigenvalues, eigenvectors in columns
    basis = ops.flip(vectors, axis=1)[:, :dim]
    pivot = ops.argmax(ops.abs(basis), axis=0)
    signs = ops.sign(ops.take_along_axis(basis, ops.expand_dims(pivot, 0), axis=0))
    basis = ops.stop_gradient(basis * ops.where(signs == 0, 1.0, signs))
    mean = ops.stop_gradient(mean)
    project = lambda t: l2_normalize(ops.matmul(prepare(t) - mean, basis))  # noqa: E731
    return [project(t) for t in targets], [project(p) for p in predictions]


@keras.saving.register_keras_serializable(package="kerascl")
class FeatureClusteringLoss(keras.losses.Loss):
    """Similarity loss + feature-level cross-entropy + uniform marginal, the loss of ICCL (Ge et al.).

    Each of the D output features is a cluster. With `q_v` the targets (no gradient) and `p_v` the predictions of
    view `v`, the target assignment is a softmax over the *feature* dimension and the prediction must match the
    other view's assignment:

        m_j  = sg(softmax(l2n(q_j) / tau2)),   n_i = softmax(l2n(p_i) / tau1)
        L_ce = -mean_{i != j} mean_b sum_k m_j[b, k] log n_i[b, k]
        pbar = mean over views and batch of n_i                     (the cluster marginal)
        L_u  = -(log D + mean_k log pbar_k) = KL(uniform || pbar)
        L_sim: byol  -> sum_{i != j} mean_b ||l2n(p_i) - l2n(q_j)||^2   (momentum / BYOL-like variant)
               cosine -> mean_{i != j} -mean_b cos(p_i, q_j)            (plain / SimSiam-like variant)
        L    = s (r L_u + L_ce) + (1 - s) L_sim

    For two views the sums run over the two cross-view pairs (1 <- 2 and 2 <- 1), which gives the official code's
    `byol(p1, q2) + byol(p2, q1)` and `0.5 D(p1, z2) + 0.5 D(p2, z1)`. The mix `s` is the curriculum weight;
    `call` uses the constant `mix`, while `SimilarityClustering` computes `s(epoch)` in the step and calls
    `terms` + `combine`.

    Options: `adaptive=True` uses a per-sample prediction temperature `tau1_b = min(||m_j[b]||_2, tau1)` (or
    `||m_j[b]||_2` with `adaptive_clip=False`, the small-data setting); `pca_dim` runs `pca_project` on the
    stacked targets each step before the clustering terms (the similarity term uses the raw embeddings), on
    l2-normalised vectors as the official config (`pca_l2norm=False` fits and projects the raw vectors).

    Called as `loss(targets, predictions)`: each a `(B, V, D)` tensor or a list of V `(B, D)` tensors.

    Reference: Ge, Liu, Gui, Fang, Lin, Kwok, Huang, Luo, "Learning the Relation between Similarity Loss and
    Clustering Loss in Self-Supervised Learning", IEEE Transactions on Image Processing 32 (2023) 3442-3454,
    arXiv:2301.03041.

    Args:
        similarity: `"byol"` (normalised squared error, summed over the pairs) or `"cosine"` (negative cosine,
            averaged over the pairs).
        tau1: Prediction temperature (0.1).
        tau2: Target temperature (0.07).
        uniform_weight: `r`, the weight of the uniform-marginal term (5.0 ImageNet, 1.0 small-data).
        adaptive: Per-sample prediction temperature from the target assignment's norm.
        adaptive_clip: With `adaptive`, clip the temperature at `tau1` (ImageNet option) or not (small-data).
        pca_dim: Components of the per-step PCA, or None for no PCA.
        pca_l2norm: l2-normalise the vectors before the PCA fit and projection (True, the official
            `l2norm=True`); False fits and projects the raw vectors.
        mix: The constant `s` used by `call`: 1 = clustering only, 0 = similarity only.
        stop_gradient: Whether to stop the gradient at the targets (the paper does).
        name: Name of the loss.
        **kwargs: Passed to `keras.losses.Loss`.

    Returns:
        A scalar.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> q, p = rng.normal(size=(2, 8, 2, 16)).astype("float32")
        >>> value = FeatureClusteringLoss(mix=0.5)(q, p)
        >>> parts = FeatureClusteringLoss().terms(q, p)  # {"sim", "ce", "uniform"}
    """

    def __init__(
        self,
        similarity: str = "byol",
        tau1: float = 0.1,
        tau2: float = 0.07,
        uniform_weight: float = 5.0,
        adaptive: bool = False,
        adaptive_clip: bool = True,
        pca_dim: int | None = None,
        pca_l2norm: bool = True,
        mix: float = 1.0,
        stop_gradient: bool = True,
        name: str = "feature_clustering_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}; got {similarity!r}.")
        if tau1 <= 0 or tau2 <= 0:
            raise ValueError(f"Temperatures must be positive; got tau1={tau1}, tau2={tau2}.")
        if uniform_weight < 0:
            raise ValueError(f"uniform_weight must be >= 0; got {uniform_weight}.")
        if not 0.0 <= mix <= 1.0:
            raise ValueError(f"mix must be in [0, 1]; got {mix}.")
        if pca_dim is not None and int(pca_dim) < 1:
            raise ValueError(f"pca_dim must be a positive integer or None; got {pca_dim}.")
        self.similarity = similarity
        self.tau1 = float(tau1)
        self.tau2 = float(tau2)
        self.uniform_weight = float(uniform_weight)
        self.adaptive = bool(adaptive)
        self.adaptive_clip = bool(adaptive_clip)
        self.pca_dim = None if pca_dim is None else int(pca_dim)
        self.pca_l2norm = bool(pca_l2norm)
        self.mix = float(mix)
        self.stop_gradient = bool(stop_gradient)

    def terms(self, targets, predictions) -> dict:
        """The three terms `{"sim", "ce", "uniform"}` (scalars) for targets `q` and predictions `p`."""
        name = type(self).__name__
        qs, ps = _views(targets, name), _views(predictions, name)
        if len(qs) != len(ps):
            raise ValueError(f"{name} got {len(qs)} target views but {len(ps)} prediction views.")
        for q, p in zip(qs, ps):
            if q.shape[-1] is not None and p.shape[-1] is not None and q.shape[-1] != p.shape[-1]:
                raise ValueError(f"{name}: targets have width {q.shape[-1]} but predictions {p.shape[-1]}.")
            check_batch(q.shape[0], name, 1)
        qs, ps = _gathered(qs), _gathered(ps)  # the marginal and PCA need the global batch; float32
        if self.stop_gradient:
            qs = [ops.stop_gradient(q) for q in qs]
        pairs = [(i, j) for i in range(len(ps)) for j in range(len(ps)) if i != j]  # prediction i, target j

        if self.similarity == "byol":
            sim = sum(ops.mean(ops.sum((l2_normalize(ps[i]) - l2_normalize(qs[j])) ** 2, axis=-1)) for i, j in pairs)
            sim = sim * (2.0 / len(pairs))
        else:
            sim = sum(-ops.mean(cosine_similarity(ps[i], qs[j])) for i, j in pairs) / len(pairs)

        if self.pca_dim is not None:
            qc, pc = pca_project(qs, ps, self.pca_dim, l2norm=self.pca_l2norm)
        else:
            qc, pc = [l2_normalize(q) for q in qs], [l2_normalize(p) for p in ps]
        assignments = [ops.stop_gradient(ops.softmax(q / self.tau2, axis=-1)) for q in qc]
        ce = 0.0
        marginal = 0.0
        for i, j in pairs:
            tau = self.tau1
            if self.adaptive:
                tau = ops.sqrt(ops.sum(assignments[j] ** 2, axis=-1, keepdims=True))
                if self.adaptive_clip:
                    tau = ops.minimum(tau, self.tau1)
                tau = ops.stop_gradient(tau)
            log_n = ops.log_softmax(pc[i] / tau, axis=-1)
            ce = ce - ops.mean(ops.sum(assignments[j] * log_n, axis=-1))
            marginal = marginal + ops.mean(ops.exp(log_n), axis=0)
        ce = ce / len(pairs)
        pbar = marginal / len(pairs)
        d = ops.cast(ops.shape(pbar)[-1], pbar.dtype)
        uniform = -(ops.log(d) + ops.mean(ops.log(pbar + 1e-12)))
        return {"sim": sim, "ce": ce, "uniform": uniform}

    def combine(self, terms: dict, s):
        """`s (r L_u + L_ce) + (1 - s) L_sim`, with `s` a float or a scalar tensor."""
        return s * (self.uniform_weight * terms["uniform"] + terms["ce"]) + (1.0 - s) * terms["sim"]

    def call(self, y_true, y_pred):
        return self.combine(self.terms(y_true, y_pred), self.mix)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "similarity": self.similarity,
            "tau1": self.tau1,
            "tau2": self.tau2,
            "uniform_weight": self.uniform_weight,
            "adaptive": self.adaptive,
            "adaptive_clip": self.adaptive_clip,
            "pca_dim": self.pca_dim,
            "pca_l2norm": self.pca_l2norm,
            "mix": self.mix,
            "stop_gradient": self.stop_gradient,
        }
