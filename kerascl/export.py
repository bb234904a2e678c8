"""Exports a pretrained encoder: `.keras`, TensorFlow SavedModel, ONNX, LiteRT (TFLite), or a KerasHub preset.

`export_backbone(source, format)` takes a run folder (its `backbone.keras`), a `.keras` file, a KerasHub preset
directory or a `keras.Model`, and writes one artifact with Keras's own `model.export` (`saved_model`, `onnx`,
`litert`), `model.save` (`keras`) or `Backbone.save_to_preset` (`keras_hub`). `load_exported` runs an artifact on
a NumPy batch and `check_export` compares it with the model it came from; `kerascl export` does all three.

Which backend exports which format (Keras 3.15; what kerascl's tests check is in docs/keras-hub-and-export.md):

| format | TensorFlow | JAX | packages |
|---|---|---|---|
| `keras` | yes | yes | - |
| `keras_hub` | yes | yes | `keras-hub` (extra `hub`) |
| `saved_model` | yes | yes, through `jax2tf` | - |
| `onnx` | yes, through `tf2onnx` | yes, through `jax2onnx` | extra `export` (+ `jax2onnx` on JAX) |
| `litert` | yes | no: Keras exports LiteRT from TensorFlow (or torch) only | - |

A `.keras` file does not depend on the backend that wrote it, so `kerascl export` runs on TensorFlow unless
`--backend` says otherwise. This module imports Keras only inside its functions, so the command line stays fast.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Callable

import numpy as np

#: Export formats, in the order the command line lists them.
FORMATS: tuple[str, ...] = ("keras", "saved_model", "onnx", "litert", "keras_hub")

#: What each format writes beside its source: a file suffix or a folder name suffix.
_SUFFIXES = {"keras": ".keras", "saved_model": "_saved_model", "onnx": ".onnx", "litert": ".tflite",
             "keras_hub": "_keras_hub"}

#: Formats each backend can export with Keras 3.15's `model.export` (and `save` / `save_to_preset`).
BACKEND_FORMATS: dict[str, tuple[str, ...]] = {
    "tensorflow": FORMATS,
    "jax": ("keras", "saved_model", "onnx", "keras_hub"),
    "torch": ("keras", "onnx", "litert", "keras_hub"),
}

_EXPORT_HINT = 'install the export packages with `pip install "kerascl[export]"`'


def _check_format(format: str) -> str:
    if format not in FORMATS:
        raise ValueError(f"Unknown export format {format!r}; use one of {', '.join(FORMATS)} (--format).")
    return format


def load_encoder(source) -> Any:
    """The encoder a source names: a `keras.Model`, a run folder, a `.keras` file or a KerasHub preset directory.

    Args:
        source: A `keras.Model` (returned as is); a run folder written by `kerascl recipe` (its `backbone.keras`);
            a `.keras` file; or a KerasHub preset directory (loaded with `kerascl.backbones.from_keras_hub`).

    Returns:
        A `keras.Model` mapping images `(B, H, W, 3)` in [0, 1] to features.

    Raises:
        FileNotFoundError: nothing at `source`, or a run folder without `backbone.keras`.
        ValueError: a file that is not a Keras archive.
        ImportError: the model holds KerasHub layers and `keras_hub` is not installed.

    Examples:
        >>> from kerascl.export import load_encoder
        >>> encoder = load_encoder("runs/shapes-partitioned")       # its backbone.keras
    """
    import keras

    if isinstance(source, keras.Model):
        return source
    from kerascl.backbones.hub import from_keras_hub, is_keras_hub_preset
    from kerascl.input_checks import check_keras_archive

    path = os.fspath(source)
    if os.path.isdir(path):
        if is_keras_hub_preset(path):
            return from_keras_hub(path)
        candidate = os.path.join(path, "backbone.keras")
        if not os.path.isfile(candidate):
            raise FileNotFoundError(
                f"{path!r} is neither a run folder with a backbone.keras (a finished `kerascl recipe` run writes one; "
                "an interrupted run has none until training finishes) nor a KerasHub preset directory (config.json)."
            )
        path = candidate
    check_keras_archive(path)
    try:
        return keras.models.load_model(path, compile=False)
    except (TypeError, ValueError, ModuleNotFoundError) as error:
        if "keras_hub" in str(error):
            from kerascl.backbones.hub import import_keras_hub

            import_keras_hub()  # raises the install hint when keras_hub is missing
        raise


def _input_size(model, image_size: int | None) -> tuple[int | None, int | None]:
    shape = tuple(model.input_shape) if getattr(model, "input_shape", None) else (None, None, None, 3)
    if len(shape) != 4:
        raise ValueError(f"Can only export an image encoder with one (B, H, W, C) input; its input is {shape}.")
    height, width = shape[1], shape[2]
    if image_size is None:
        return height, width
    fixed = [d for d in (height, width) if d is not None]
    if any(d != image_size for d in fixed):
        raise ValueError(
            f"The model takes {height}x{width} images; --image-size / image_size={image_size} does not match. Leave "
            "it out, or export a model built for that size."
        )
    return image_size, image_size


def default_output(source, format: str) -> str:
    """Where `export_backbone` writes when no `out` is given: beside the source, or in `RUN/export/`.

    Examples:
        >>> default_output("runs/byol", "onnx")
        'runs/byol/export/backbone.onnx'
    """
    _check_format(format)
    path = os.fspath(source)
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "backbone.keras")):
        return os.path.join(path, "export", "backbone" + _SUFFIXES[format])
    stem = path.rstrip("/\\")
    if stem.endswith(".keras"):
        stem = stem[: -len(".keras")] + ("_export" if format == "keras" else "")
    return stem + _SUFFIXES[format]


def _prepare_output(out: str, overwrite: bool) -> None:
    if os.path.lexists(out):
        if not overwrite:
            raise FileExistsError(f"{out!r} exists; pass overwrite=True (--overwrite) to replace it, or another --out.")
        if os.path.isdir(out) and not os.path.islink(out):
            shutil.rmtree(out)
        else:
            os.remove(out)
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)


def _require(module: str, why: str, hint: str = _EXPORT_HINT) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ImportError(f"{why} needs the package '{module}'; {hint}.")


def export_backbone(
    source,
    format: str = "keras",
    out: str | os.PathLike | None = None,
    image_size: int | None = None,
    overwrite: bool = False,
    verbose: bool = False,
) -> str:
    """Exports an encoder in one format for deployment or for KerasHub.

    The exported model takes images `(B, H, W, 3)`, float32 in [0, 1] (the batch size may vary) and returns the
    encoder's features `(B, C)`, the same numbers as the `.keras` model. Formats:

    - `"keras"`: a `.keras` file (`model.save`), for `keras.models.load_model`.
    - `"saved_model"`: a TensorFlow SavedModel folder (`model.export(format="tf_saved_model")`), served with
      TensorFlow Serving or `tf.saved_model.load(path).serve(images)`.
    - `"onnx"`: an `.onnx` file (`model.export(format="onnx")`), for ONNX Runtime.
    - `"litert"`: a `.tflite` file (`model.export(format="litert")`), for LiteRT (TFLite) on phones and edge devices.
    - `"keras_hub"`: a KerasHub preset folder (`kerascl.export.save_keras_hub_preset`); only for encoders made with
      `kerascl.backbones.from_keras_hub`.

    Args:
        source: A `keras.Model`, a run folder, a `.keras` file or a KerasHub preset directory (`load_encoder`).
        format: One of `FORMATS`.
        out: Output path; default `default_output(source, format)` (a run folder's `export/` subfolder).
        image_size: Fixes the image side of a model that takes any size (`(None, None, 3)`); LiteRT and the check
            need one, and it defaults to 32 there. A model with a fixed size keeps it.
        overwrite: Replace an existing output.
        verbose: Let Keras print its export messages.

    Returns:
        The path written.

    Raises:
        ValueError: unknown format, a format the current backend cannot export (the message names the backend that
            can: `kerascl export` uses TensorFlow by default), `keras_hub` for a model that is not a KerasHub encoder.
        ImportError: a package the format needs is missing (the message says how to install it).
        FileExistsError: `out` exists and `overwrite` is False.

    Examples:
        >>> from kerascl.backbones import ConvNet
        >>> from kerascl.export import export_backbone
        >>> path = export_backbone(ConvNet(width=0.125), "onnx", out="/tmp/convnet.onnx", overwrite=True)
    """
    import keras

    _check_format(format)
    backend = keras.backend.backend()
    if format not in BACKEND_FORMATS.get(backend, ("keras",)):
        raise ValueError(
            f"The {backend} backend cannot export format {format!r} with Keras {keras.__version__}. A .keras model "
            f"does not depend on its backend: export it on TensorFlow (`kerascl export SOURCE --format {format}` "
            "does by default, or set KERAS_BACKEND=tensorflow)."
        )
    model = load_encoder(source)
    out = os.fspath(out) if out is not None else default_output(source if not isinstance(source, keras.Model)
                                                                 else model.name, format)
    if format == "keras_hub":
        return save_keras_hub_preset(model, out, overwrite=overwrite)
    _prepare_output(out, overwrite)
    if format == "keras":
        if not out.endswith(".keras"):
            raise ValueError(f"A .keras export needs a path ending in .keras; got {out!r}.")
        model.save(out)
        return out
    if format == "litert" and not out.endswith(".tflite"):
        raise ValueError(f"A LiteRT export needs a path ending in .tflite; got {out!r}.")
    if format == "onnx":
        if backend == "tensorflow":
            _require("tf2onnx", "ONNX export on TensorFlow")
        elif backend == "jax":
            _require("jax2onnx", "ONNX export on JAX",
                     "install it with `pip install jax2onnx` (with its flax and orbax, about 160 MB), or export on "
                     "TensorFlow, which needs only the `export` extra: `kerascl export SOURCE --format onnx`")
    height, width = _input_size(model, image_size)
    if format == "litert":
        height, width = height or 32, width or 32
    if format == "onnx" and backend == "tensorflow":
        _export_onnx_tensorflow(model, out, height, width)
        return out
    spec = keras.InputSpec(shape=(None, height, width, 3), dtype="float32", name="images")
    keras_format = "tf_saved_model" if format == "saved_model" else format
    model.export(out, format=keras_format, verbose=verbose, input_signature=[spec])
    return out


def _export_onnx_tensorflow(model, out: str, height: int | None, width: int | None) -> None:
    """ONNX export on TensorFlow: tf2onnx on the model's frozen call, with the image as the only graph input.

    Keras 3.15's `model.export(format="onnx")` hands tf2onnx every input of the traced function, and the constant
    tensors some layers hold (a ViT's position ids) are captured inputs of it; the ONNX graph then asks for them
    as extra inputs and ONNX Runtime cannot run it. Freezing the call and naming only the image avoids that; the
    converter and its settings are otherwise Keras's (tf2onnx, with Keras's numpy-2 patch).
    """
    import tensorflow as tf
    import tf2onnx

    from kerascl.keras_internals import patch_tf2onnx

    patch_tf2onnx()
    _register_tf2onnx_erfc()
    spec = tf.TensorSpec((None, height, width, 3), tf.float32, name="images")
    concrete = tf.function(lambda images: model(images, training=False), input_signature=[spec]).get_concrete_function()
    inputs = [concrete.inputs[0].name]
    outputs = [tensor.name for tensor in concrete.outputs]
    with tf.device("/cpu:0"):
        graph_def = tf2onnx.tf_loader.from_function(concrete, inputs, outputs)
    tf2onnx.convert.from_graph_def(graph_def, name=model.name, input_names=inputs, output_names=outputs,
                                   tensors_to_rename={inputs[0]: "images", outputs[0]: "features"},
                                   output_path=out)


def _register_tf2onnx_erfc() -> None:
    """Teaches tf2onnx TensorFlow's `Erfc` op (`1 - Erf`), which TensorFlow's exact GELU uses.

    ONNX has `Erf` but no `Erfc`, and tf2onnx 1.17 has no conversion for it, so without this the ONNX export of a
    transformer (ViT, DINOv2: GELU in every MLP) writes a graph ONNX Runtime refuses to load.
    """
    import tf2onnx
    from tf2onnx.handler import tf_op

    if getattr(tf2onnx, "_kerascl_erfc", False):
        return

    @tf_op("Erfc")
    class Erfc:  # noqa: F841 - registered by the decorator
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            dtype = tf2onnx.utils.map_onnx_to_numpy_type(ctx.get_dtype(node.output[0]))
            node.type = "Erf"
            one = ctx.make_const(tf2onnx.utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype))
            ctx.insert_new_node_on_output("Sub", node.output[0], name=tf2onnx.utils.make_name(f"{node.name}_erfc"),
                                          inputs=[one.output[0], node.output[0]])

    tf2onnx._kerascl_erfc = True


def _converter_class(keras_hub, backbone_cls):
    """The KerasHub `ImageConverter` subclass made for `backbone_cls` (the base class when there is none)."""
    stack = [keras_hub.layers.ImageConverter]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if getattr(sub, "backbone_cls", None) is backbone_cls:
                return sub
            stack.append(sub)
    return keras_hub.layers.ImageConverter


def save_keras_hub_preset(encoder, preset_dir: str | os.PathLike, image_converter: bool = True,
                          overwrite: bool = False) -> str:
    """Saves the KerasHub backbone of a pretrained encoder as a KerasHub preset directory.

    `keras_hub.models.Backbone.from_preset(preset_dir)` then loads the pretrained backbone (its raw outputs: feature
    maps or tokens; the pooling is kerascl's), and `kerascl.backbones.from_keras_hub(preset_dir)` loads the same
    encoder again. With `image_converter`, the preset also holds the backbone's `ImageConverter` set to the
    encoder's input scaling: it maps [0, 255] images to what the encoder was trained on (its normalisation of
    [0, 1] images), so KerasHub tasks built from the preset (e.g. `keras_hub.models.ImageClassifier.from_preset`)
    preprocess as in pre-training.

    Args:
        encoder: A `KerasHubEncoder` (from `kerascl.backbones.from_keras_hub`, a run's `backbone.keras` of one,
            or `method.backbone` after `fit`), or a `keras_hub.models.Backbone`.
        preset_dir: The directory to write (`config.json`, `model.weights.h5`, `metadata.json`, and
            `preprocessor.json` with the image converter).
        image_converter: Also save the image converter.
        overwrite: Replace an existing directory.

    Returns:
        `preset_dir`.

    Raises:
        TypeError: `encoder` is not a KerasHub encoder (a kerascl ResNet or ConvNet has no KerasHub preset; save
            it as `.keras`: `export_backbone(model, "keras")`, `--format keras`).
        FileExistsError: the directory exists and `overwrite` is False.

    Examples:
        >>> import keras_hub
        >>> from kerascl.backbones import from_keras_hub
        >>> from kerascl.export import save_keras_hub_preset
        >>> hub = keras_hub.models.ViTBackbone(image_shape=(32, 32, 3), patch_size=8, num_layers=2,
        ...                                    num_heads=2, hidden_dim=16, mlp_dim=32)
        >>> path = save_keras_hub_preset(from_keras_hub(hub), "/tmp/vit_preset", overwrite=True)
        >>> restored = keras_hub.models.Backbone.from_preset(path)
    """
    from kerascl.backbones.hub import KerasHubEncoder, import_keras_hub

    keras_hub = import_keras_hub()
    if isinstance(encoder, KerasHubEncoder):
        backbone = encoder.keras_hub_backbone()
        normalization = encoder.normalization
        image_shape = tuple(encoder.image_shape)
    elif isinstance(encoder, keras_hub.models.Backbone):
        backbone, normalization, image_shape = encoder, None, (None, None, 3)
    else:
        raise TypeError(
            f"Only a KerasHub backbone can be saved as a KerasHub preset; {getattr(encoder, 'name', encoder)!r} is a "
            f"{type(encoder).__name__}. Save kerascl's own backbones as .keras (export_backbone(model, 'keras'), "
            "`kerascl export SOURCE --format keras`), or pre-train a KerasHub backbone wrapped with "
            "kerascl.backbones.from_keras_hub."
        )
    preset_dir = os.fspath(preset_dir)
    if os.path.lexists(preset_dir) and (not os.path.isdir(preset_dir) or os.listdir(preset_dir)):
        _prepare_output(preset_dir, overwrite)
    os.makedirs(preset_dir, exist_ok=True)
    backbone.save_to_preset(preset_dir)
    if image_converter:
        scale, offset = _converter_scaling(normalization)
        size = tuple(image_shape[:2]) if all(d is not None for d in image_shape[:2]) else None
        converter = _converter_class(keras_hub, type(backbone))(image_size=size, scale=scale, offset=offset)
        converter.save_to_preset(preset_dir)
    return preset_dir


def _converter_scaling(normalization) -> tuple[Any, Any]:
    """`(scale, offset)` of an image converter on [0, 255] images equal to the encoder's scaling of [0, 1] images."""
    if normalization is None:
        return 1.0 / 255.0, None
    from kerascl.backbones.resnet_backbone import NORMALIZATION_STATS

    mean, std = NORMALIZATION_STATS[normalization.lower()] if isinstance(normalization, str) else normalization
    scale = [1.0 / (255.0 * float(s)) for s in std]
    offset = [-float(m) / float(s) for m, s in zip(mean, std)]
    return scale, offset


def load_exported(path: str | os.PathLike, format: str) -> Callable[[np.ndarray], np.ndarray]:
    """Loads an exported artifact and returns a function from a float32 image batch to its features (NumPy).

    `keras` loads with `keras.models.load_model`, `saved_model` with `tf.saved_model.load` (its `serve` endpoint),
    `onnx` with ONNX Runtime, `litert` with the LiteRT interpreter (`ai_edge_litert`, else `tf.lite`), and
    `keras_hub` with `kerascl.backbones.from_keras_hub`.

    Args:
        path: What `export_backbone` wrote.
        format: Its format.

    Returns:
        A function `images -> features`.

    Raises:
        ImportError: `onnxruntime` is missing for an `onnx` artifact.

    Examples:
        >>> run = load_exported("/tmp/convnet.onnx", "onnx")
        >>> run(np.zeros((2, 32, 32, 3), "float32")).shape
        (2, 128)
    """
    _check_format(format)
    path = os.fspath(path)
    if format in ("keras", "keras_hub"):
        import keras

        model = load_encoder(path)
        return lambda images: keras.ops.convert_to_numpy(model(images, training=False))
    if format == "saved_model":
        import tensorflow as tf

        artifact = tf.saved_model.load(path)
        return lambda images: np.asarray(artifact.serve(tf.constant(images)))
    if format == "onnx":
        _require("onnxruntime", "Running an ONNX export")
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda images: np.asarray(session.run(None, {name: np.asarray(images, np.float32)})[0])
    return _litert_runner(path)


def _litert_runner(path: str) -> Callable[[np.ndarray], np.ndarray]:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    interpreter = Interpreter(model_path=path)

    def run(images):
        images = np.asarray(images, np.float32)
        index = interpreter.get_input_details()[0]["index"]
        if tuple(interpreter.get_input_details()[0]["shape"]) != images.shape:
            interpreter.resize_tensor_input(index, images.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, images)
        interpreter.invoke()
        return np.array(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))

    return run


def check_export(source, path: str | os.PathLike, format: str, image_size: int | None = None, batch_size: int = 4,
                 seed: int = 0) -> dict:
    """Runs an exported artifact and its source model on the same random batch and compares the features.

    Args:
        source: The model exported (anything `load_encoder` takes).
        path: The artifact.
        format: Its format.
        image_size: Image side for a model that takes any size (default 32).
        batch_size: Images in the batch.
        seed: Seed of the random images (uniform in [0, 1]).

    Returns:
        `{"max_abs_difference", "max_abs_feature", "shape", "ok"}`; `ok` when the largest difference is at most
        `1e-4 + 1e-3 * max_abs_feature`.

    Examples:
        >>> check_export("runs/byol", "runs/byol/export/backbone.onnx", "onnx")["ok"]
        True
    """
    import keras

    model = load_encoder(source)
    height, width = _input_size(model, image_size)
    images = np.random.default_rng(seed).random((batch_size, height or 32, width or 32, 3), dtype=np.float32)
    expected = keras.ops.convert_to_numpy(model(images, training=False))
    got = load_exported(path, format)(images)
    if got.shape != expected.shape:
        return {"max_abs_difference": float("inf"), "max_abs_feature": float(np.abs(expected).max()),
                "shape": list(got.shape), "ok": False}
    difference = float(np.abs(got - expected).max())
    scale = float(np.abs(expected).max())
    return {"max_abs_difference": difference, "max_abs_feature": scale, "shape": list(got.shape),
            "ok": difference <= 1e-4 + 1e-3 * scale}

