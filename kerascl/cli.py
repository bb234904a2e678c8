"""The `kerascl` command line (click)."""

from __future__ import annotations

import os
import platform
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the CLI output

import click  # noqa: E402

from kerascl import __version__  # noqa: E402


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kerascl")
def main() -> None:
    """kerascl: self-supervised contrastive learning for Keras 3 (TensorFlow and JAX backends)."""


@main.command()
def info() -> None:
    """Print the Keras backend, the devices it sees and the library versions."""
    import keras

    import kerascl

    lines = [
        ("kerascl", kerascl.__version__),
        ("python", platform.python_version()),
        ("keras", keras.__version__),
        ("backend", keras.backend.backend()),
        ("KERAS_BACKEND", os.environ.get("KERAS_BACKEND", "(unset: keras config or tensorflow)")),
    ]
    for module in ("tensorflow", "jax", "keras_cv", "tensorflow_datasets", "numpy"):
        lines.append((module, _version_of(module)))
    lines.append(("devices", ", ".join(_devices(keras.backend.backend()))))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        click.echo(f"{key:<{width}}  {value}")


def _version_of(module: str) -> str:
    if module in sys.modules or _importable(module):
        try:
            return getattr(__import__(module), "__version__", "installed")
        except Exception as error:  # a broken install is worth reporting, not crashing on
            return f"import failed: {error}"
    return "not installed"


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _devices(backend: str) -> list[str]:
    if backend == "jax":
        import jax

        return [f"{d.platform}:{d.id}" for d in jax.devices()]
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_logical_devices()]
    return ["(unknown for this backend)"]


if __name__ == "__main__":  # pragma: no cover
    main()
