"""A VAE whose latent is partitioned into content and style, trained on pairs of views (paper 1's VAE)."""

from __future__ import annotations

import math
from typing import Sequence

import keras
import numpy as np
from keras import ops

from kerascl import distribute
from kerascl.augment import _prng
from kerascl.keras_internals import DynamicBackend
from kerascl.losses.style import content_pull, style_push, STYLE_TERMS
from kerascl.methods.method import Method, collapse_std
from kerascl.methods.partition import ContentStyleParts

RECONSTRUCTIONS = ("bce", "mse")


def conv_encoder(image_size: int, widths: Sequence[int] = (32, 64), feature_dim: int = 128,
                 name: str = "vae_encoder") -> keras.Model:
    """The default VAE encoder: stride-2 `Conv-ReLU` per width, then `Flatten-Dense(feature_dim)-ReLU`.

    Args:
        image_size: Side of the square input images.
        widths: Channels of the stride-2 convolutions (each halves the side).
        feature_dim: Width of the output features.
        name: Model name.

    Returns:
        A functional `keras.Model` mapping `(B, S, S, 3)` images to `(B, feature_dim)`.
    """
    inputs = keras.Input((image_size, image_size, 3))
    x = inputs
    for i, width in enumerate(widths):
        x = keras.layers.Conv2D(width, 3, strides=2, padding="same", activation="relu", name=f"conv_{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(feature_dim, activation="relu", name="features")(x)
    return keras.Model(inputs, x, name=name)


def conv_decoder(image_size: int, latent_dim: int, widths: Sequence[int] = (32, 64),
                 name: str = "vae_decoder") -> keras.Model:
    """The default VAE decoder, the encoder's mirror; it returns per-pixel logits (apply a sigmoid for images)."""
    side = image_size // 2 ** len(widths)
    inputs = keras.Input((latent_dim,))
    x = keras.layers.Dense(side * side * widths[-1], activation="relu", name="expand")(inputs)
    x = keras.layers.Reshape((side, side, widths[-1]), name="reshape")(x)
    for i, width in enumerate(reversed(widths)):
        x = keras.layers.Conv2DTranspose(width, 3, strides=2, padding="same", activation="relu", name=f"up_{i}")(x)
    x = keras.layers.Conv2D(3, 3, padding="same", name="logits")(x)
    return keras.Model(inputs, x, name=name)


@keras.saving.register_keras_serializable(package="kerascl")
class PartitionedVAE(ContentStyleParts, Method):
    """A variational autoencoder with a `[content ; style]` latent, trained on two views of each image.

    The encoder maps each view to a Gaussian posterior with means `mu = [mu_c ; mu_s]` and log-variances; a
    sample `z = mu + exp(logvar / 2) * eps` (during training; `z = mu` otherwise) is decoded back to the view.
    With `mu_{c,i}`, `mu_{s,i}` the content and style means of view `i`:

    $$ L = \\overline{\\mathrm{rec}} + \\beta\\,\\overline{\\mathrm{KL}}
         + \\gamma \\big( \\lVert \\mu_{c,1} - \\mu_{c,2} \\rVert^2 + w_s\\, S(\\mu_{s,1}, \\mu_{s,2}) \\big) $$

    (bars: averages over views; every term summed over pixels / latent dims and averaged over the batch). The
    content of two views of one image is pulled together; the style term `S` pushes their styles apart:
    `"hinge"` (default) `max(0, margin - ||mu_s1 - mu_s2||)^2`, `"negative_squared"` `-||mu_s1 - mu_s2||^2` (the
    literal reconstruction; unbounded unless `4 * gamma * style_weight < beta`), or None. This is a reconstruction
    of the paper's VAE (methods.md section 1, `[RECON]`). The reparameterisation noise comes from a
    `keras.random.SeedGenerator` turned into normals by a counter-based hash, so TensorFlow and JAX draw the
    same noise.

    Reports `reconstruction`, `kl`, `loss_content` (the pull), `loss_style` (`S`) and `z_std` (collapse monitor of
    the content means). `backbone` is the encoder up to its features (what `export_backbone` saves);
    `encode(images)` gives the latent means, `embed_parts(images)` their content and style parts, and
    `swap_grid` decodes the content of one image with the style of another.

    Reference: Lee & Choi, "Partitioning Image Representation in Contrastive Learning", arXiv:2203.10454 (2022).

    Args:
        image_size: Side of the square images (divisible by `2 ** len(widths)`).
        content_dim: Content latent dims.
        style_dim: Style latent dims.
        widths: Channels of the encoder's stride-2 convolutions (mirrored by the decoder).
        feature_dim: Width of the encoder features.
        beta: KL weight.
        gamma: Weight of the contrastive latent term.
        style_term: `"hinge"`, `"negative_squared"` or None.
        margin: Hinge margin.
        style_weight: `w_s`, the style term's weight inside the latent term.
        reconstruction: `"bce"` (Bernoulli likelihood on [0, 1] pixels) or `"mse"` (sum of squared errors).
        seed: Seed of the reparameterisation noise.
        backbone: Optional encoder to use instead of `conv_encoder(image_size, widths, feature_dim)`.
        augmentation: Optional on-device view maker (see `Method`).
        **kwargs: Passed to `keras.Model`.

    Examples:
        >>> import numpy as np
        >>> vae = PartitionedVAE(image_size=16, content_dim=4, style_dim=4, widths=(8, 16), feature_dim=32)
        >>> vae.compile(optimizer="adam")
        >>> x = np.random.rand(8, 16, 16, 3).astype("float32")
        >>> history = vae.fit({"view_1": x, "view_2": x[:, :, ::-1]}, batch_size=8, epochs=1, verbose=0)
        >>> swap_grid(vae, x[:2], x[2:5]).shape
        (50, 67, 3)
    """

    metric_names = ("z_std", "reconstruction", "kl", "loss_content", "loss_style")

    def __init__(
        self,
        image_size: int = 32,
        content_dim: int = 16,
        style_dim: int = 16,
        widths: Sequence[int] = (32, 64),
        feature_dim: int = 128,
        beta: float = 1.0,
        gamma: float = 1.0,
        style_term: str | None = "hinge",
        margin: float = 1.0,
        style_weight: float = 1.0,
        reconstruction: str = "bce",
        seed: int | None = None,
        backbone: keras.Model | None = None,
        augmentation: keras.layers.Layer | None = None,
        **kwargs,
    ):
        if "partition" in kwargs:
            raise TypeError("PartitionedVAE partitions its latent itself; set content_dim and style_dim.")
        widths = tuple(int(w) for w in widths)
        if not widths or image_size % (2 ** len(widths)):
            raise ValueError(
                f"image_size {image_size} must be divisible by 2**len(widths) = {2 ** len(widths)} "
                "(each encoder stage halves the side); change widths or resize the images."
            )
        if content_dim < 1 or style_dim < 1:
            raise ValueError(f"content_dim and style_dim must be >= 1; got {content_dim} and {style_dim}.")
        if style_term not in STYLE_TERMS:
            raise ValueError(f"style_term must be one of {STYLE_TERMS}; got {style_term!r}.")
        if reconstruction not in RECONSTRUCTIONS:
            raise ValueError(f"reconstruction must be one of {RECONSTRUCTIONS}; got {reconstruction!r}.")
        if backbone is None:
            backbone = conv_encoder(image_size, widths, feature_dim)
        super().__init__(backbone, augmentation=augmentation, **kwargs)
        self.image_size = int(image_size)
        self.content_dim = int(content_dim)
        self.style_dim = int(style_dim)
        self.latent_dim = self.content_dim + self.style_dim
        self.widths = widths
        self.feature_dim = int(feature_dim)
        self.beta = beta
        self.gamma = gamma
        self.style_term = style_term
        self.margin = margin
        self.style_weight = style_weight
        self.reconstruction = reconstruction
        self.seed = seed
        self.latent_head = keras.layers.Dense(2 * self.latent_dim, name="latent")
        self.decoder = conv_decoder(self.image_size, self.latent_dim, widths)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build_heads(self, feature_shape):
        self.latent_head.build(feature_shape)

    # ---------------------------------------------------------------------------------------------- parts
    def encode(self, images, training=False) -> tuple:
        """`(mu, logvar)` of the posterior, each `(B, content_dim + style_dim)`."""
        stats = self.latent_head(self.backbone(images, training=training))
        return stats[:, : self.latent_dim], stats[:, self.latent_dim:]

    def decode(self, latents, training=False):
        """Images in [0, 1] from `(B, content_dim + style_dim)` latents."""
        return ops.sigmoid(self.decoder(latents, training=training))

    def representation_of_features(self, features, training=False):
        """The latent means `mu = [mu_c ; mu_s]` from backbone features (`representation(images)`: the features the
        separability probe splits)."""
        return self.latent_head(features)[:, : self.latent_dim]

    def _split_point(self) -> int:
        return self.content_dim

    def _normal(self, shape):
        """Standard normals, identical on every backend (Box-Muller on counter-based uniforms).

        Under `tf.distribute` each replica takes its own rows of the global batch's noise, so N replicas draw the
        same numbers as one device.
        """
        bk = DynamicBackend()
        key = _prng.seed_key(bk, self.seed_generator.next())
        replicas = distribute.num_replicas_in_sync()
        u = _prng.uniform(bk, key, shape[0] * replicas, 2 * shape[1])
        if replicas > 1:
            u = ops.slice(u, [distribute.replica_id() * shape[0], 0], [shape[0], 2 * shape[1]])
        u1 = 1.0 - u[:, : shape[1]]  # in (0, 1]
        u2 = u[:, shape[1]:]
        return ops.sqrt(-2.0 * ops.log(u1)) * ops.cos(2.0 * math.pi * u2)

    # ---------------------------------------------------------------------------------------- forward/loss
    def method_outputs(self, views, params, training=False):
        outputs = {"views": list(views), "logits": [], "mu": [], "logvar": []}
        for view in views:
            mu, logvar = self.encode(view, training=training)
            z = mu
            if training:
                z = mu + ops.exp(0.5 * logvar) * ops.cast(self._normal(ops.shape(mu)), mu.dtype)
            outputs["logits"].append(self.decoder(z, training=training))
            outputs["mu"].append(mu)
            outputs["logvar"].append(logvar)
        return outputs

    def _reconstruction(self, x, logits):
        x = ops.cast(x, logits.dtype)
        if self.reconstruction == "bce":
            per_pixel = ops.relu(logits) - logits * x + ops.log1p(ops.exp(-ops.abs(logits)))
        else:
            per_pixel = ops.square(ops.sigmoid(logits) - x)
        return ops.mean(ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1))

    def loss_and_metrics(self, outputs):
        n = len(outputs["mu"])
        rec = sum(self._reconstruction(x, l) for x, l in zip(outputs["views"], outputs["logits"])) / n
        kl = sum(gaussian_kl(m, lv) for m, lv in zip(outputs["mu"], outputs["logvar"])) / n
        d = self.content_dim
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        mus = outputs["mu"]
        content = sum(content_pull(mus[i][:, :d], mus[j][:, :d]) for i, j in pairs) / len(pairs)
        style = sum(style_push(mus[i][:, d:], mus[j][:, d:], self.style_term, self.margin) for i, j in pairs)
        style = style / len(pairs)
        loss = rec + self.beta * kl + self.gamma * (content + self.style_weight * style)
        metrics = {
            "z_std": collapse_std(mus[0][:, :d]),
            "reconstruction": rec,
            "kl": kl,
            "loss_content": content,
            "loss_style": style,
        }
        return loss, metrics

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "content_dim": self.content_dim,
            "style_dim": self.style_dim,
            "widths": list(self.widths),
            "feature_dim": self.feature_dim,
            "beta": self.beta,
            "gamma": self.gamma,
            "style_term": self.style_term,
            "margin": self.margin,
            "style_weight": self.style_weight,
            "reconstruction": self.reconstruction,
            "seed": self.seed,
        }


def gaussian_kl(mu, logvar):
    """`mean_b sum_d -0.5 (1 + logvar - mu^2 - exp(logvar))`: KL of `N(mu, exp(logvar))` from `N(0, I)`."""
    return ops.mean(ops.sum(-0.5 * (1.0 + logvar - ops.square(mu) - ops.exp(logvar)), axis=-1))


def _swap_sources(vae, images_a, images_b, caller: str, min_images: int, requirement: str):
    """The two image batches of a swap as float32 arrays, after checking the model and their shapes."""
    if not isinstance(vae, PartitionedVAE):
        raise TypeError(f"{caller} needs a PartitionedVAE; got {type(vae).__name__}.")
    a = np.asarray(images_a, np.float32)
    b = np.asarray(images_b, np.float32)
    for name, x in (("images_a", a), ("images_b", b)):
        if x.ndim != 4 or x.shape[-1] != 3 or x.shape[0] < min_images:
            raise ValueError(f"{name} must be {requirement}; got shape {x.shape}.")
    return a, b


def _latent_means(vae: PartitionedVAE, images) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(vae.representation(images)), np.float32)


def _decoded(vae: PartitionedVAE, latents: np.ndarray) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(vae.decode(latents.astype(np.float32))), np.float32)


def _swapped_latents(mu_a: np.ndarray, mu_b: np.ndarray, content_dim: int) -> np.ndarray:
    """`[mu_c(a_i) ; mu_s(b_j)]` for every pair, row `i * len(mu_b) + j`."""
    return np.concatenate([np.repeat(mu_a[:, :content_dim], len(mu_b), axis=0),
                           np.tile(mu_b[:, content_dim:], (len(mu_a), 1))], axis=1).astype(np.float32)


def swap_grid(vae: PartitionedVAE, images_a, images_b, padding: int = 1) -> np.ndarray:
    """Decodes the content of each image of `images_a` with the style of each image of `images_b`.

    The grid has `len(images_a) + 1` rows and `len(images_b) + 1` columns of tiles: the first row shows
    `images_b` (the style sources), the first column `images_a` (the content sources), the top-left tile is blank,
    and tile `(i + 1, j + 1)` is `decode([mu_c(a_i) ; mu_s(b_j)])`.

    Args:
        vae: A (trained) `PartitionedVAE`.
        images_a: `(Na, S, S, 3)` images in [0, 1] giving the content.
        images_b: `(Nb, S, S, 3)` images in [0, 1] giving the style.
        padding: Pixels of white between tiles.

    Returns:
        A float32 array `((Na + 1) * (S + padding) - padding, (Nb + 1) * (S + padding) - padding, 3)` in [0, 1].

    Examples:
        >>> grid = swap_grid(vae, x[:4], x[4:8])  # doctest: +SKIP
        >>> save_swap_grid(grid, "swap.png")  # doctest: +SKIP
    """
    a, b = _swap_sources(vae, images_a, images_b, "swap_grid", 1, "a non-empty (N, H, W, 3) image batch")
    latents = _swapped_latents(_latent_means(vae, a), _latent_means(vae, b), vae.content_dim)
    decoded = _decoded(vae, latents).reshape(len(a), len(b), *a.shape[1:])
    h, w = a.shape[1:3]
    rows, cols = len(a) + 1, len(b) + 1
    grid = np.ones((rows * (h + padding) - padding, cols * (w + padding) - padding, 3), np.float32)

    def put(r, c, tile):
        grid[r * (h + padding): r * (h + padding) + h, c * (w + padding): c * (w + padding) + w] = tile

    for j in range(len(b)):
        put(0, j + 1, b[j])
    for i in range(len(a)):
        put(i + 1, 0, a[i])
        for j in range(len(b)):
            put(i + 1, j + 1, decoded[i, j])
    return np.clip(grid, 0.0, 1.0)


def swap_retrieval(vae: PartitionedVAE, images_a, images_b) -> dict[str, float]:
    """How well a content / style swap keeps each half, as two retrieval rates (the swap grid as numbers).

    Every pair is decoded as in `swap_grid`, `x_ij = decode([mu_c(a_i) ; mu_s(b_j)])`, and encoded again. The
    content means of `x_ij` should be nearest (Euclidean) to those of `a_i`'s reconstruction among all the
    content sources' reconstructions, and its style means nearest to those of `b_j`'s reconstruction among all the
    style sources'. The references are reconstructions, not the sources, so that both sides of each distance are
    decoder outputs. A decoder that ignores the style half puts the style rate at chance (`1 / len(images_b)`); one
    whose style half carries the whole image puts the content rate there.

    Args:
        vae: A (trained) `PartitionedVAE`.
        images_a: `(Na, S, S, 3)` images in [0, 1] giving the content (`Na >= 2`).
        images_b: `(Nb, S, S, 3)` images in [0, 1] giving the style (`Nb >= 2`).

    Returns:
        `{"content_retrieval", "style_retrieval"}` (fractions of the `Na * Nb` swaps whose half is nearest to its
        source's) with `"content_chance"` (`1 / Na`), `"style_chance"` (`1 / Nb`) and `"pairs"`.

    Examples:
        >>> swap_retrieval(vae, x[:16], x[16:32])  # doctest: +SKIP
        {'content_retrieval': 0.9, 'style_retrieval': 0.4, 'content_chance': 0.0625, ...}
    """
    a, b = _swap_sources(vae, images_a, images_b, "swap_retrieval", 2,
                         "an (N, H, W, 3) image batch with N >= 2 (a retrieval needs a choice)")
    d = vae.content_dim
    mu_a, mu_b = _latent_means(vae, a), _latent_means(vae, b)
    content_refs = _latent_means(vae, _decoded(vae, mu_a))[:, :d]
    style_refs = _latent_means(vae, _decoded(vae, mu_b))[:, d:]
    again = _latent_means(vae, _decoded(vae, _swapped_latents(mu_a, mu_b, d)))
    content_source = np.repeat(np.arange(len(a)), len(b))
    style_source = np.tile(np.arange(len(b)), len(a))

    def nearest(codes, refs):
        return np.argmin(((codes[:, None, :] - refs[None, :, :]) ** 2).sum(-1), axis=1)

    return {
        "content_retrieval": float(np.mean(nearest(again[:, :d], content_refs) == content_source)),
        "style_retrieval": float(np.mean(nearest(again[:, d:], style_refs) == style_source)),
        "content_chance": 1.0 / len(a),
        "style_chance": 1.0 / len(b),
        "pairs": float(len(a) * len(b)),
    }


def save_swap_grid(grid: np.ndarray, path: str, title: str | None = "rows: content source, columns: style source",
                   scale: float = 0.5) -> str:
    """Saves a `swap_grid` array as a PNG with matplotlib.

    Args:
        grid: The array from `swap_grid`.
        path: Output path (`.png`).
        title: Figure title, or None for the bare image.
        scale: Inches per 10 pixels of grid.

    Returns:
        `path`.
    """
    if not str(path).lower().endswith(".png"):
        raise ValueError(f"save_swap_grid writes PNG files; the path must end with .png, got {path!r}.")
    from matplotlib.figure import Figure  # no pyplot: works headless and leaves the user's backend alone

    grid = np.asarray(grid, np.float32)
    fig = Figure(figsize=(max(2.0, grid.shape[1] * scale / 10), max(2.0, grid.shape[0] * scale / 10)))
    ax = fig.add_subplot()
    ax.imshow(np.clip(grid, 0, 1), interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return str(path)
