"""The multi-view augmenter: one pipeline per view, returning views and their recorded parameters."""

from __future__ import annotations

from typing import Any, Sequence

import keras

from kerascl.augment import _prng
from kerascl.augment.base import _without_names, check_images, guard_value_range, jitted
from kerascl.augment.view_augmentation import ViewAugmentation
from kerascl.keras_internals import DataLayer, seed_generator

_VIEW_SALT = 7919


@keras.saving.register_keras_serializable(package="kerascl")
class MultiViewAugmentation(DataLayer):
    """Make `num_views` augmented views of an image batch, each with its recorded parameters.

    Called on a batch `(B, H, W, 3)` float32 in [0, 1], it returns the multi-view dict of the kerascl data
    contract (see the architecture page):

    `{"view_1": (B, S, S, 3), ..., "view_k": ..., "params_1": (B, PARAM_SIZE), ..., "params_k": ...}`

    with `S = image_size`. Views with recorded Keras layers (`ViewAugmentation(extra=...)`) have longer parameter
    vectors; every view's is then padded with zeros to the longest (`param_size`), and `param_layout(view=k)`
    names the columns of view `k`. Each view has its own pipeline, so views can be asymmetric (BYOL). All randomness is
    per sample and comes from one `keras.random.SeedGenerator` through a counter-based hash, so the layer gives
    the same views for the same seed inside `tf.data` (host, any backend) and inside a compiled `call` on JAX or
    TensorFlow (device). With `training=False` the views are the resized images and the parameters the identity.

    Args:
        views: one `ViewAugmentation` per view (at least 2); all must have the same `image_size`.
        seed: integer seed; two augmenters with the same seed make the same views of the same batches.
        **kwargs: passed to `keras.layers.Layer`.

    Examples:
        >>> augmenter = kerascl.augment.get_preset("byol", image_size=32)
        >>> batch = augmenter(np.random.rand(8, 32, 32, 3).astype("float32"), training=True)
        >>> sorted(batch)
        ['params_1', 'params_2', 'view_1', 'view_2']
    """

    def __init__(self, views: Sequence[ViewAugmentation | dict], seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pipelines = []
        for view in views:
            if isinstance(view, dict):
                view = keras.saving.deserialize_keras_object(view)
            if not isinstance(view, ViewAugmentation):
                raise TypeError(
                    f"Each view must be a kerascl.augment.ViewAugmentation; received {type(view).__name__}."
                )
            pipelines.append(view)
        if len(pipelines) < 2:
            raise ValueError(f"A multi-view augmentation needs at least 2 views; received {len(pipelines)}.")
        sizes = {v.image_size for v in pipelines}
        if len(sizes) != 1:
            raise ValueError(f"All views must have the same image_size; received sizes {sorted(sizes)}.")
        self.views = pipelines
        self.image_size = pipelines[0].image_size
        self.seed = seed
        self.generator = self.backend.random.SeedGenerator(seed)
        self.built = True  # no shape-dependent state

    def build(self, input_shape: tuple) -> None:
        # Stateless apart from the seed generators, which exist from __init__.
        self.built = True

    @property
    def num_views(self) -> int:
        """Number of views made per image."""
        return len(self.views)

    @property
    def param_size(self) -> int:
        """Length of each recorded-parameter vector: `PARAM_SIZE`, or more with recorded Keras layers."""
        return max(view.param_size for view in self.views)

    @property
    def replayable(self) -> bool:
        """Whether `apply_params` can rebuild every view (False when a view has an unrecorded Keras layer)."""
        return all(view.replayable for view in self.views)

    def param_layout(self, view: int = 1) -> dict:
        """Name -> slice of the parameter vector of view `view` (1-based); columns past its last slice are 0."""
        return self.views[self._view_index(view)].param_layout

    def _view_index(self, view: int) -> int:
        if not 1 <= int(view) <= self.num_views:
            raise ValueError(f"`view` must be in 1..{self.num_views}; received {view}.")
        return int(view) - 1

    def __call__(self, images: Any, *args: Any, **kwargs: Any) -> Any:
        check_images(images, type(self).__name__)
        images = guard_value_range(images, type(self).__name__)
        return super().__call__(images, *args, **kwargs)

    def call(self, images: Any, training: bool = True) -> dict:
        check_images(images, type(self).__name__)
        bk = self.backend
        images = bk.core.cast(images, "float32")
        single = len(images.shape) == 3
        if single:
            images = bk.numpy.expand_dims(images, 0)
        if training:
            seed = seed_generator(self, bk).next()
            out = jitted(self, bk, "views", lambda x, s: self._make_views(bk, x, s))(images, seed)
        else:
            out = jitted(self, bk, "identity", lambda x: self._make_views(bk, x, None))(images)
        if single:
            out = {k: v[0] for k, v in out.items()}
        return out

    def _view_groups(self) -> list[list[int]]:
        """Indices of views with identical pipelines; each group runs as one batch of `len(group) * B` images."""
        groups: dict[str, list[int]] = {}
        for i, view in enumerate(self.views):
            groups.setdefault(repr(_without_names(view.get_config())), []).append(i)
        return list(groups.values())

    def _make_views(self, bk: Any, images: Any, seed: Any) -> dict:
        out = {}
        if seed is None:
            for i, view in enumerate(self.views, start=1):
                out[f"view_{i}"], params = view._identity(bk, images)
                out[f"params_{i}"] = self._pad(bk, params, view)
            return out
        key = _prng.seed_key(bk, seed)
        batch = bk.core.shape(images)[0]
        for group in self._view_groups():
            # Views with the same pipeline are augmented together: one program, larger vectorised ops. Rows
            # of the stacked batch draw from distinct counters, so every view of every image is independent.
            stacked = images if len(group) == 1 else bk.numpy.concatenate([images] * len(group), axis=0)
            views, params = self.views[group[0]]._augment(
                bk, stacked, _prng.derive_key(bk, key, _VIEW_SALT * (group[0] + 1))
            )
            params = self._pad(bk, params, self.views[group[0]])
            for j, i in enumerate(group):
                out[f"view_{i + 1}"] = views[j * batch : (j + 1) * batch]
                out[f"params_{i + 1}"] = params[j * batch : (j + 1) * batch]
        return dict(sorted(out.items()))

    def _pad(self, bk: Any, params: Any, view: ViewAugmentation) -> Any:
        missing = self.param_size - view.param_size
        if not missing:
            return params
        return bk.numpy.concatenate([params, bk.numpy.zeros((bk.core.shape(params)[0], missing), "float32")], axis=1)

    def apply_params(self, images: Any, params: Any, view: int = 1) -> Any:
        """Re-apply recorded parameters with the pipeline of view `view` (1-based); returns the views."""
        pipeline = self.views[self._view_index(view)]
        if tuple(params.shape)[-1] == self.param_size and pipeline.param_size < self.param_size:
            params = params[:, : pipeline.param_size]  # the zero padding of a shorter view
        return pipeline.apply_params(images, params)

    def compute_output_spec(self, images: Any, training: bool = True) -> dict:
        batch = images.shape[0] if len(images.shape) == 4 else None
        lead = (batch,) if len(images.shape) == 4 else ()
        spec = {}
        for i in range(1, self.num_views + 1):
            spec[f"view_{i}"] = keras.KerasTensor((*lead, self.image_size, self.image_size, 3), dtype="float32")
            spec[f"params_{i}"] = keras.KerasTensor((*lead, self.param_size), dtype="float32")
        return spec

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"views": [keras.saving.serialize_keras_object(v) for v in self.views], "seed": self.seed})
        return config

    @classmethod
    def from_config(cls, config: dict) -> "MultiViewAugmentation":
        config = dict(config)
        config["views"] = [keras.saving.deserialize_keras_object(v) for v in config["views"]]
        return cls(**config)
