"""Decoupled uniformity: spread per-image centroids on the sphere, optionally conditioned on a kernel prior."""

from __future__ import annotations

from typing import Callable

import keras
from keras import ops

from kerascl import kernels as kernels_lib
from kerascl.losses.decoupled_uniformity import DecoupledUniformityLoss
from kerascl.methods.method import Method, MethodBatch, collapse_std

PRIOR_KINDS = (None, "attributes")


@keras.saving.register_keras_serializable(package="kerascl")
class DecoupledUniformity(Method):
    """Contrastive learning with decoupled uniformity and (optionally) a kernel prior, after Dufumier et al.

    Every view goes through the encoder, the backbone followed by a `Dense(2048)` "fc" layer (the official
    model's `base_encoder(num_classes=2048)`), and a BN-free head `ReLU-Dense(2048)-ReLU-Dense(256)`; the loss
    spreads the centroids of each image's l2-normalised views on the sphere (see
    `kerascl.losses.DecoupledUniformityLoss`):

        mu_i = mean_v l2n(z_i^v),   L = log mean_{i<j} exp(-2 ||mu_i - mu_j||^2)

    With a prior, the centroids are replaced by their conditional mean embedding estimate
    `mu <- sg((K + lambda I)^{-1} K) mu`, with `K` an RBF or cosine kernel on prior features:

    * `prior="attributes"`: the weak attributes that come with the data, the batch's `attributes` key `(B, p)`
      (e.g. `kerascl.data.from_shapes(...)`, or `from_arrays(..., attributes=...)` with precomputed features of
      a generative model, which is how the official code feeds BigBiGAN / GLoRIA features);
    * `prior=<keras.Model>`: a frozen encoder (e.g. a trained `PartitionedVAE` encoder) mapping images to
      features, run inside the step on the batch's raw `image` when there is one (on-device augmentation), else
      on every view with the features averaged over views. Its weights are frozen and saved with the model.

    Reported metrics: `align` (`-mean ||mu||^2`, the official code's alignment; -1 when the views agree) and
    `z_std`.

    Reference: Dufumier, Barbano, Louiset, Duchesnay, Gori, "Integrating Prior Knowledge in Contrastive Learning
    with Kernel", ICML 2023 (PMLR 202), arXiv:2206.01646. Official code:
    github.com/Duplums/contrastive-decoupled-uniformity.

    Args:
        backbone: A `keras.Model` mapping images to `(B, C)` features.
        hidden_dim: Head hidden width (2048).
        projection_dim: Head output width (256).
        fc_dim: Width of the encoder's `Dense` "fc" layer (2048, as the official training and evaluation code):
            the head sits on its output, and `embed`, `evaluation_encoder` (which the probes of `kerascl recipe`
            read) and `export_backbone` give backbone + fc, the features the official linear evaluation reads.
            None drops the fc layer: the head then sits on the backbone features, one linear layer fewer than the
            official model.
        prior: None, `"attributes"`, or a `keras.Model` / callable mapping images to features.
        kernel: `"rbf"` (default), `"cosine"` or a kernel object from `kerascl.kernels` (used with a prior).
        sigma: RBF bandwidth (required with a prior and `kernel="rbf"`; 20 CUB, 100 UTZappos / BigBiGAN,
            10 GLoRIA in the official runs), or `"median"`: the median distance between the batch's prior features.
        lam: Ridge regulariser of the conditional mean estimator (0.01); None or 0 uses `1 / sqrt(B)`, as the
            official `lambda_ or 1/sqrt(B)`.
        t: Uniformity temperature (2).
        augmentation: Optional on-device view maker (see `Method`).
        **kwargs: Passed to `keras.Model`.

    Examples:
        >>> import keras, numpy as np
        >>> from kerascl.backbones import ResNet18
        >>> model = DecoupledUniformity(ResNet18(width=0.125), fc_dim=64, hidden_dim=64, projection_dim=16,
        ...                             prior="attributes", sigma=1.0)
        >>> model.compile(optimizer=keras.optimizers.SGD(0.1))
        >>> batch = {"view_1": np.random.rand(8, 32, 32, 3).astype("float32"),
        ...          "view_2": np.random.rand(8, 32, 32, 3).astype("float32"),
        ...          "attributes": np.random.rand(8, 5).astype("float32")}
        >>> history = model.fit(batch, batch_size=8, epochs=2, verbose=0)
    """

    metric_names = ("align", "z_std")

    def __init__(
        self,
        backbone: keras.Model,
        hidden_dim: int = 2048,
        projection_dim: int = 256,
        fc_dim: int | None = 2048,
        prior: str | keras.Model | Callable | None = None,
        kernel: str | Callable = "rbf",
        sigma: float | str | None = None,
        lam: float | None = 0.01,
        t: float = 2.0,
        augmentation: keras.layers.Layer | None = None,
        **kwargs,
    ):
        super().__init__(backbone, augmentation=augmentation, **kwargs)
        if isinstance(prior, dict):
            prior = keras.saving.deserialize_keras_object(prior)
        if isinstance(kernel, dict):
            kernel = keras.saving.deserialize_keras_object(kernel)
        if isinstance(prior, str) and prior not in PRIOR_KINDS:
            raise ValueError(f"prior must be None, 'attributes' or a keras.Model mapping images to features; got {prior!r}.")
        if prior is not None and not isinstance(prior, str) and not callable(prior):
            raise TypeError(f"prior must be None, 'attributes' or a keras.Model / callable; got {type(prior)!r}.")
        if prior is not None and kernel is None:
            raise ValueError("A prior needs a kernel: kernel='rbf' (with sigma=...) or kernel='cosine'.")
        if fc_dim is not None and fc_dim < 1:
            raise ValueError(f"fc_dim must be a positive integer or None; got {fc_dim}.")
        self.hidden_dim = hidden_dim
        self.projection_dim = projection_dim
        self.fc_dim = fc_dim
        self.prior = prior
        self.kernel = kernel
        self.sigma = sigma
        self.lam = lam
        self.t = t
        if prior is not None and not isinstance(prior, str):
            self.prior_encoder = prior
            if isinstance(prior, keras.layers.Layer):
                prior.trainable = False
        else:
            self.prior_encoder = None
        self.fc = keras.layers.Dense(fc_dim, name="fc") if fc_dim else None
        self.projector = keras.Sequential(
            [
                keras.layers.Activation("relu", name="relu_0"),
                keras.layers.Dense(hidden_dim, name="dense_0"),
                keras.layers.Activation("relu", name="relu_1"),
                keras.layers.Dense(projection_dim, name="dense_1"),
            ],
            name="projector",
        )
        # Validates kernel / sigma now rather than at the first step.
        self.loss_fn = DecoupledUniformityLoss(kernel=kernel if prior is not None else None, sigma=sigma, lam=lam, t=t)

    def build_heads(self, feature_shape):
        shape = tuple(feature_shape)
        if self.fc is not None:
            self.fc.build(shape)
            shape = shape[:-1] + (self.fc_dim,)
        self.projector.build(shape)

    # ------------------------------------------------------------------------------------------------ forward
    def embed(self, images, training=False):
        """The encoder features: the backbone's, or the fc layer's output when `fc_dim` is set."""
        features = self.backbone(images, training=training)
        return self.fc(features) if self.fc is not None else features

    def evaluation_encoder(self) -> keras.Model:
        """The images -> features model the official linear evaluation reads: backbone + fc (`fc_dim` set), else
        the backbone.

        `kerascl recipe` probes it (and saves it as the run's `backbone.keras`); it shares the trained weights.

        Returns:
            A `keras.Model` computing `embed(images)`.
        """
        if self.fc is None:
            return self.backbone
        return keras.Sequential([self.backbone, self.fc], name="encoder")

    def prior_features(self, batch: MethodBatch):
        """The `(B, p)` prior features of a batch, or None without a prior: its `attributes`, or the prior encoder's
        features of the raw image (device placement) or, failing that, the mean over its views."""
        if self.prior is None:
            return None
        attributes = batch.extras.get("attributes")
        images = batch.extras.get("image")
        if isinstance(self.prior, str):
            if attributes is None:
                raise ValueError(
                    "DecoupledUniformity(prior='attributes') needs an 'attributes' key (B, p) in each batch dict, "
                    "e.g. kerascl.data.from_shapes(..., with_attributes=True) or from_arrays(..., attributes=...)."
                )
            return ops.stop_gradient(ops.cast(attributes, "float32"))
        if images is not None:
            return kernels_lib.encoder_features(self.prior_encoder, images)
        features = [kernels_lib.encoder_features(self.prior_encoder, v) for v in batch.views]
        return ops.stop_gradient(sum(features) / float(len(features)))

    def method_outputs(self, views, params, training=False):
        """The outputs for views alone (no attributes, no raw image: the prior then reads the views)."""
        return self.batch_outputs(MethodBatch(views, params, {}), training=training)

    def batch_outputs(self, batch: MethodBatch, training=False):
        embeddings = [self.projector(self.embed(v, training=training)) for v in batch.views]
        outputs = {"embeddings": embeddings}
        prior = self.prior_features(batch)
        if prior is not None:
            outputs["prior"] = prior
        return outputs

    def loss_and_metrics(self, outputs):
        mu = self.loss_fn.centroids(outputs["embeddings"], outputs.get("prior"))
        loss = self.loss_fn.uniformity(mu)
        return loss, {"align": self.loss_fn.alignment(mu), "z_std": collapse_std(outputs["embeddings"][0])}

    # ----------------------------------------------------------------------------------------------- config
    def get_config(self):
        def serial(obj):
            return obj if obj is None or isinstance(obj, str) else keras.saving.serialize_keras_object(obj)

        return {
            **super().get_config(),
            "hidden_dim": self.hidden_dim,
            "projection_dim": self.projection_dim,
            "fc_dim": self.fc_dim,
            "prior": serial(self.prior),
            "kernel": serial(self.kernel),
            "sigma": self.sigma,
            "lam": self.lam,
            "t": self.t,
        }
