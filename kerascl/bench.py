"""End-to-end pretraining throughput of kerascl (`kerascl bench`), and the hook that runs the lightly comparison.

One *configuration* is a method (`byol`, `simsiam`), a CIFAR ResNet-18 of a given width, an image size, a batch
size, a Keras backend and an augmentation placement (`host`: views made in `tf.data`; `device`: views made inside
the compiled train step). For each configuration the benchmark trains for `warmup_steps + steps` steps with
`model.fit` from an in-memory uint8 image array (the data loading, uint8 -> float conversion, augmentation and the
train step are all inside the timed loop), and prints one JSON line:

| key | meaning |
|---|---|
| `images_per_second` | `batch_size * steps / seconds` over the timed steps (warm-up excluded) |
| `step_seconds` | mean wall time of one timed step |
| `compile_seconds` | wall time of the warm-up steps (tracing, XLA compilation, first batches) |
| `peak_memory_mb` | peak resident set size of the process (host memory, `resource.getrusage`) |
| `device_peak_memory_mb` | peak accelerator memory where the backend reports it (GPU), else absent |

This module times kerascl alone and needs neither torch nor lightly. With `compare="lightly"` the same
configuration (backbone, heads, batch, BYOL / SimSiam views via lightly's transforms at the same image size, SGD
with the same settings) also runs in lightly on PyTorch, and the line gains `lightly_images_per_second`,
`lightly_step_seconds`, `lightly_peak_memory_mb` and `ratio` (kerascl / lightly). That side is not part of the
package: it is the repository's `benchmarks/lightly_harness.py`, run as a script in its own process (`find_harness`
says where it is looked for), with the `bench` extra installed (`pip install -e ".[bench]"`: lightly, torch,
torchvision).

Every configuration runs in its own subprocess (a Keras backend is fixed per process, and per-process peak memory
is only meaningful that way).

Heads follow lightly's CIFAR-10 benchmark (`docs/source/getting_started/benchmarks/cifar10_benchmark.py`):
BYOL projector 512w -> 1024 -> 256 and predictor 256 -> 1024 -> 256; SimSiam projector 512w -> 512 -> 128 (three
layers) and predictor 128 -> 64 -> 128. The optimiser is SGD, learning rate `0.06 * batch / 128`, momentum 0.9,
weight decay 5e-4.

Examples:
    >>> from kerascl.bench import BenchConfig, run_in_subprocess
    >>> line = run_in_subprocess(BenchConfig(method="byol", backend="jax", width=0.125, image_size=16,
    ...                                      batch_size=8, steps=2, warmup_steps=1, num_images=32))
    >>> line["images_per_second"] > 0
    True
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import time
from typing import Any, Iterable, Sequence

METHODS = ("byol", "simsiam")
BACKENDS = ("tensorflow", "jax", "torch")
#: What `kerascl bench` times when no --backend is given (torch is an optional install).
DEFAULT_BACKENDS = ("tensorflow", "jax")
PLACEMENTS = ("host", "device")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")

#: Keys every result line carries.
REQUIRED_KEYS = ("method", "backend", "batch_size", "image_size", "images_per_second", "peak_memory_mb")

#: Head sizes of lightly's CIFAR-10 benchmark, per method: (projector hidden, projection, predictor hidden).
HEAD_SIZES = {"byol": (1024, 256, 1024), "simsiam": (512, 128, 64)}

BASE_LEARNING_RATE = 0.06
"""SGD learning rate at batch 128 (scaled linearly with the batch), as in lightly's CIFAR-10 benchmark."""


@dataclasses.dataclass
class BenchConfig:
    """One benchmark configuration.

    Args:
        method: `"byol"` or `"simsiam"`.
        backend: Keras backend, `"tensorflow"`, `"jax"` or `"torch"` (eager: Keras's "auto" jit on torch).
        width: ResNet-18 width multiplier (1.0 is the standard 64-128-256-512 network).
        image_size: square image side in pixels (the data are made at this size).
        batch_size: images per step.
        placement: `"host"` (views made in `tf.data`) or `"device"` (views made in the compiled step).
        steps: timed steps.
        warmup_steps: steps run before timing starts (compilation, pipeline warm-up).
        num_images: size of the in-memory image array the pipeline reads (cycled).
        jit_compile: `"auto"` (Keras's choice: XLA on JAX; on TensorFlow only where a GPU is present), True or False.
        intra_op_threads: TensorFlow / PyTorch intra-op threads (None: library default); under JAX,
            `run_in_subprocess` also sets XLA:CPU's thread pool through `XLA_FLAGS`.
        inter_op_threads: TensorFlow / PyTorch inter-op threads (None: library default).
        data_threads: threads of the `tf.data` pipeline's private pool (None: TensorFlow's shared pool).
        lightly_workers: `DataLoader` workers for the lightly run (0: load in the training process).
        lightly_threads: torch intra-op threads of the lightly run (None: `intra_op_threads`, else torch's default).
            On an oversubscribed CPU one thread is much faster than torch's default.
        data_dir: optional image folder (e.g. CIFAR-10 `train/`) whose first `num_images` images are used instead
            of random pixels; both libraries then read the same decoded images from memory.
        mixed_precision: shorthand for `precision="mixed_float16"` (GPUs).
        precision: `"float32"`, `"mixed_float16"` (Keras policy; torch `autocast` to float16, GPU only) or
            `"mixed_bfloat16"` (Keras policy; torch `autocast` to bfloat16, on CPU too: CPUs with AMX or
            AVX-512 BF16 units run bfloat16 matrix products natively).
        seed: random seed.
    """

    method: str = "byol"
    backend: str = "tensorflow"
    width: float = 0.25
    image_size: int = 32
    batch_size: int = 128
    placement: str = "host"
    steps: int = 10
    warmup_steps: int = 2
    num_images: int = 2048
    jit_compile: Any = "auto"
    intra_op_threads: int | None = None
    inter_op_threads: int | None = None
    data_threads: int | None = None
    lightly_workers: int = 1
    lightly_threads: int | None = None
    data_dir: str | None = None
    mixed_precision: bool = False
    precision: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}; got {self.method!r}.")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}; got {self.backend!r}.")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be 'host' (tf.data) or 'device' (in the step); got {self.placement!r}.")
        for name in ("image_size", "batch_size", "steps", "num_images"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer; got {getattr(self, name)!r}.")
        if int(self.image_size) < 8:
            raise ValueError(f"image_size must be at least 8 pixels; got {self.image_size}.")
        if self.mixed_precision and self.precision == "float32":
            self.precision = "mixed_float16"
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}; got {self.precision!r}.")
        if int(self.warmup_steps) < 1:
            raise ValueError("warmup_steps must be at least 1: the first step compiles and is never timed.")
        if self.jit_compile not in ("auto", True, False):
            raise ValueError(f"jit_compile must be 'auto', True or False; got {self.jit_compile!r}.")
        if self.data_dir is not None and not os.path.isdir(self.data_dir):
            raise FileNotFoundError(f"data_dir {self.data_dir!r} is not a folder; pass an image folder such as "
                                    "<unpacked>/cifar10/train.")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "BenchConfig":
        return cls(**json.loads(text))


# ------------------------------------------------------------------------------------------------------ helpers
def tensorflow_onednn_enabled() -> bool | None:
    """Whether this process's TensorFlow runs its oneDNN CPU kernels (`TF_ENABLE_ONEDNN_OPTS`); None if unknown."""
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def backend_environment() -> dict:
    """The process settings that change a backend's CPU speed, for every timed line: TensorFlow's oneDNN kernels
    (`TF_ENABLE_ONEDNN_OPTS`) and `XLA_FLAGS` (XLA:CPU's library choices and thread counts change JAX's speed; it
    includes what `import kerascl` added, see `kerascl.cpu_defaults`)."""
    return {"tf_onednn": tensorflow_onednn_enabled(), "xla_flags": os.environ.get("XLA_FLAGS", "")}


def machine_info() -> dict:
    """CPU model, core count, platform and date, for the first line of a benchmark run."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"machine": platform.platform(), "cpu": model, "cpus": os.cpu_count(),
            "cpu_features": cpu_features(), "load_average_1min": load, "date": time.strftime("%Y-%m-%d %H:%M")}


def cpu_features() -> list[str]:
    """The vector / matrix units that decide CPU speed here: AVX2, AVX-512, AVX-512 BF16, AMX (Linux only)."""
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [name for name in wanted if name in flags]
    except OSError:
        pass
    return []


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident set size in MiB of this process, or with `children=True` of its largest finished child."""
    scale = 1024.0 if sys.platform != "darwin" else 1024.0 * 1024.0  # ru_maxrss: KiB on Linux, bytes on macOS
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return round(resource.getrusage(who).ru_maxrss / scale, 1)


def load_images(config: BenchConfig):
    """The uint8 `(num_images, S, S, 3)` array both libraries read: random pixels, or the first files of a folder."""
    import numpy as np

    n, size = int(config.num_images), int(config.image_size)
    if config.data_dir is None:
        return np.random.RandomState(config.seed).randint(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    from PIL import Image

    files = []
    for root, _, names in sorted(os.walk(config.data_dir)):
        files += [os.path.join(root, f) for f in sorted(names) if f.lower().endswith((".jpg", ".jpeg", ".png"))]
    if not files:
        raise FileNotFoundError(f"No .jpg/.png images under {config.data_dir!r}.")
    files = [files[i] for i in np.random.RandomState(config.seed).permutation(len(files))[:n]]
    out = np.stack([np.asarray(Image.open(f).convert("RGB").resize((size, size), Image.BILINEAR)) for f in files])
    return np.resize(out, (n, size, size, 3)) if len(out) < n else out


class _StepTimer:
    """Keras callback: wall-clock time at the end of the warm-up and of the last step (synchronised on the loss)."""

    def __init__(self, warmup_steps: int, total_steps: int):
        import keras

        timer = self

        class Callback(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                timer.start = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                step = timer.seen = timer.seen + 1
                if step == warmup_steps or step == total_steps:
                    float(logs["loss"])  # waits for the step (JAX dispatches asynchronously)
                    if step == warmup_steps:
                        timer.warm = time.perf_counter()
                    if step == total_steps:
                        timer.end = time.perf_counter()

        self.callback = Callback()
        self.seen = 0
        self.start = self.warm = self.end = None


def _device_peak_mb(backend: str) -> float | None:
    try:
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform == "cpu":
                return None
            stats = device.memory_stats() or {}
            return round(stats.get("peak_bytes_in_use", 0) / 2**20, 1) or None
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            return None
        return round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, 1)
    except Exception:  # memory statistics are best effort: not every device or version reports them
        return None


def build_method(config: BenchConfig, augmentation=None, head_init: str = "keras"):
    """The kerascl method of a configuration: CIFAR ResNet-18 of `config.width` plus lightly's CIFAR head sizes.

    `head_init="torch"` starts the heads' Dense layers as lightly's `nn.Linear` layers start (see
    `kerascl.heads.ProjectionHead`).
    """
    from kerascl.backbones import ResNet18
    from kerascl.methods import BYOL, SimSiam

    backbone = ResNet18(variant="cifar", width=config.width, input_shape=(config.image_size, config.image_size, 3))
    hidden, projection, predictor_hidden = HEAD_SIZES[config.method]
    if config.method == "byol":
        return BYOL(backbone, projection_dim=projection, hidden_dim=hidden, prediction_hidden_dim=predictor_hidden,
                    augmentation=augmentation, head_init=head_init)
    return SimSiam(backbone, projection_dim=projection, hidden_dim=hidden, prediction_hidden_dim=predictor_hidden,
                   num_projector_layers=3, augmentation=augmentation, head_init=head_init)


def learning_rate(batch_size: int) -> float:
    """`0.06 * batch_size / 128`."""
    return BASE_LEARNING_RATE * batch_size / 128


# ------------------------------------------------------------------------------------------------------ kerascl
def run_kerascl(config: BenchConfig, images=None) -> dict:
    """Times one configuration in this process with kerascl; the Keras backend must already be `config.backend`.

    Args:
        config: the configuration.
        images: optional uint8 array to read instead of `load_images(config)`.

    Returns:
        `{"images_per_second", "step_seconds", "compile_seconds", "peak_memory_mb", "device_peak_memory_mb"?}`.
    """
    import keras
    import tensorflow as tf

    if keras.backend.backend() != config.backend:
        raise RuntimeError(f"This process runs Keras on {keras.backend.backend()!r}, the configuration asks for "
                           f"{config.backend!r}; use run_in_subprocess, or set KERAS_BACKEND before importing keras.")
    if config.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(int(config.intra_op_threads))
    if config.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(int(config.inter_op_threads))
    if config.backend == "torch" and config.intra_op_threads:  # the step runs in torch; tf.data keeps its settings
        import torch

        torch.set_num_threads(int(config.intra_op_threads))
    previous_policy = keras.mixed_precision.global_policy()
    if config.precision != "float32":
        keras.mixed_precision.set_global_policy(config.precision)
    try:
        return _time_kerascl(config, images)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def compiled_bench_model(config: BenchConfig, images=None):
    """The benchmark's compiled method and its endless training dataset: the setup every kerascl timing shares.

    Seeds Keras with `config.seed`, makes the views where `config.placement` says, and compiles with the benchmark's
    SGD (`learning_rate(batch)`, momentum 0.9, weight decay 5e-4) and `config.jit_compile`.

    Returns:
        `(model, dataset)`: the compiled `kerascl.methods` model and a repeating `tf.data.Dataset` of its inputs.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(config.seed)
    from kerascl.augment import get_preset
    from kerascl.data import from_arrays

    images = load_images(config) if images is None else images
    augmenter = get_preset(config.method, image_size=config.image_size, seed=config.seed)
    dataset = from_arrays(
        images, batch_size=config.batch_size, views=config.placement,
        augmenter=augmenter if config.placement == "host" else None, seed=config.seed,
    ).repeat()
    if config.data_threads:
        options = tf.data.Options()
        options.threading.private_threadpool_size = int(config.data_threads)
        dataset = dataset.with_options(options)
    model = build_method(config, augmentation=augmenter if config.placement == "device" else None)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate(config.batch_size), momentum=0.9, weight_decay=5e-4),
        jit_compile=config.jit_compile,
    )
    return model, dataset


def _time_kerascl(config: BenchConfig, images=None) -> dict:
    model, dataset = compiled_bench_model(config, images)
    total = int(config.warmup_steps) + int(config.steps)
    timer = _StepTimer(int(config.warmup_steps), total)
    model.fit(dataset, epochs=1, steps_per_epoch=total, callbacks=[timer.callback], verbose=0)
    seconds = timer.end - timer.warm
    out = {
        "images_per_second": round(config.batch_size * config.steps / seconds, 2),
        "step_seconds": round(seconds / config.steps, 4),
        "compile_seconds": round(timer.warm - timer.start, 2),
        "peak_memory_mb": peak_rss_mb(),
        "jit_compile": bool(getattr(model, "jit_compile", False)),
        **backend_environment(),
    }
    device_peak = _device_peak_mb(config.backend)
    if device_peak is not None:
        out["device_peak_memory_mb"] = device_peak
    return out


# ------------------------------------------------------------------------------------------------ orchestration
#: Packages the lightly harness imports (the `bench` extra).
HARNESS_PACKAGES = ("lightly", "torch", "torchvision")
#: The harness's file name, in the repository's `benchmarks/` folder.
HARNESS_FILE = "lightly_harness.py"
#: Environment variable naming the harness file (the same as `--harness PATH`).
HARNESS_ENV = "KERASCL_BENCH_HARNESS"
_INSTALL_BENCH = 'pip install -e ".[bench]"'


class HarnessUnavailableError(RuntimeError):
    """The lightly comparison cannot run here; the message names what is missing and the fix."""


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def find_harness(path: str | os.PathLike | None = None) -> str:
    """The lightly harness script: `path`, else `$KERASCL_BENCH_HARNESS`, else `benchmarks/lightly_harness.py` of
    the source checkout that holds this `kerascl` package, else of the current folder.

    Only the file is located; nothing is imported (torch must not share a process with TensorFlow or JAX).

    Args:
        path: an explicit harness file (`kerascl bench --harness PATH`).

    Returns:
        The absolute path of the harness file.

    Raises:
        HarnessUnavailableError: no harness file was found (the message lists where it looked and the fix).

    Examples:
        >>> find_harness()  # in a source checkout
        '/home/me/kerascl/benchmarks/lightly_harness.py'
    """
    if path is not None:
        candidates = [os.fspath(path)]
    else:
        checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        candidates = [os.environ.get(HARNESS_ENV) or "", os.path.join(checkout, "benchmarks", HARNESS_FILE),
                      os.path.join(os.getcwd(), "benchmarks", HARNESS_FILE)]
        candidates = [c for c in candidates if c]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    raise HarnessUnavailableError(
        f"--compare lightly runs the lightly harness, benchmarks/{HARNESS_FILE} of a kerascl source checkout, and "
        f"none was found (looked at: {', '.join(candidates)}). Run from a checkout (the benchmarks/ folder is not "
        f"installed with the package), or pass --harness PATH (or set {HARNESS_ENV})."
    )


def check_harness(path: str | os.PathLike | None = None) -> str:
    """`find_harness(path)`, after checking that the `bench` extra (lightly, torch, torchvision) is installed.

    Returns:
        The harness file.

    Raises:
        HarnessUnavailableError: a package is missing or no harness file was found; the message names the fix.
    """
    missing = [name for name in HARNESS_PACKAGES if not _importable(name)]
    if missing:
        raise HarnessUnavailableError(
            f"--compare lightly needs {', '.join(HARNESS_PACKAGES)}; not installed: {', '.join(missing)}. Install "
            f"the bench extra ({_INSTALL_BENCH}), or leave --compare out to time kerascl alone."
        )
    return find_harness(path)


def _worker_main(library: str, config_json: str) -> None:
    if library != "kerascl":
        raise ValueError(f"this worker times kerascl only; lightly runs in benchmarks/{HARNESS_FILE}.")
    print("RESULT " + json.dumps(run_kerascl(BenchConfig.from_json(config_json))), flush=True)


def run_in_subprocess(config: BenchConfig, library: str = "kerascl", python: str | None = None,
                      timeout: float | None = None, harness: str | os.PathLike | None = None) -> dict:
    """Runs one configuration in a fresh Python process and returns its result line (config fields included).

    Args:
        config: the configuration.
        library: `"kerascl"`, or `"lightly"` (the harness script, `find_harness(harness)`).
        python: interpreter to use (default: this one).
        timeout: seconds before the run is abandoned.
        harness: the lightly harness file (default: `find_harness()`).

    Returns:
        The configuration's fields plus the measured values; on failure `{"error": "..."}` plus the fields.

    Raises:
        HarnessUnavailableError: `library="lightly"` and no harness file was found.
    """
    if library not in ("kerascl", "lightly"):
        raise ValueError(f"library must be 'kerascl' or 'lightly'; got {library!r}.")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, KERAS_BACKEND=config.backend, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=repo + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if config.backend == "jax" and library == "kerascl" and config.intra_op_threads:
        # XLA:CPU has its own thread pool, which TensorFlow's threading settings do not reach.
        flags = f"--xla_cpu_multi_thread_eigen={'false' if config.intra_op_threads == 1 else 'true'} " \
                f"intra_op_parallelism_threads={int(config.intra_op_threads)}"
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + flags).strip()
    if library == "lightly":
        cmd = [python or sys.executable, find_harness(harness), config.to_json()]
    else:
        cmd = [python or sys.executable, "-c", "import sys; from kerascl.bench import _worker_main; "
               "_worker_main(sys.argv[1], sys.argv[2])", library, config.to_json()]
    line = {**dataclasses.asdict(config), "library": library}
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**line, "error": f"timed out after {timeout} s"}
    results = [raw[len("RESULT "):] for raw in proc.stdout.splitlines() if raw.startswith("RESULT ")]
    if proc.returncode != 0 or not results:
        return {**line, "error": describe_failure(proc.returncode, proc.stderr)}
    return {**line, **json.loads(results[-1])}


# Start-up and device-probing lines of TensorFlow / XLA / absl logging ("I0000 00:00:... cuda_platform.cc:52] ...",
# "WARNING: All log messages before absl::InitializeLog() ..."): never the reason a run failed.
_LOG_LINE = re.compile(r"^([IWEF]\d{4} \d\d:\d\d:[\d.]+\s|WARNING: All log messages before absl|"
                       r"To enable the following instructions)")


def describe_failure(returncode: int, stderr: str, lines: int = 3) -> str:
    """What ended a failed subprocess: the signal or exit code, then its last stderr lines that are not
    TensorFlow / XLA start-up logging.

    Args:
        returncode: `subprocess` return code (negative: killed by that signal).
        stderr: The process's standard error.
        lines: How many of the last meaningful lines to keep.

    Returns:
        E.g. `"crashed with signal 11 (SIGSEGV): malloc(): corrupted top size"`.

    Examples:
        >>> describe_failure(-11, "I0000 00:00:1.2 3 cuda_platform.cc:52] failed call to cuInit")
        'crashed with signal 11 (SIGSEGV), no error message (only TensorFlow/XLA logging on stderr)'
    """
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown signal"
        head = f"crashed with signal {-returncode} ({name})"
    elif returncode == 0:
        head = "exited with code 0 without a result line"
    else:
        head = f"exit code {returncode}"
    kept = [line for line in stderr.strip().splitlines() if line.strip() and not _LOG_LINE.match(line)]
    if not kept:
        return f"{head}, no error message" + (" (only TensorFlow/XLA logging on stderr)" if stderr.strip() else "")
    return f"{head}: " + " | ".join(line.strip() for line in kept[-lines:])


def _line(config: BenchConfig, result: dict, lightly: dict | None) -> dict:
    out = {k: v for k, v in result.items() if k not in ("library", "data_dir") or v is not None}
    out.pop("library", None)
    if lightly is not None:
        if "error" in lightly:
            out["lightly_error"] = lightly["error"]
        else:
            out["lightly_images_per_second"] = lightly["images_per_second"]
            out["lightly_step_seconds"] = lightly["step_seconds"]
            out["lightly_peak_memory_mb"] = lightly["peak_memory_mb"]
            if "worker_peak_memory_mb" in lightly:
                out["lightly_worker_peak_memory_mb"] = lightly["worker_peak_memory_mb"]
            if "device_peak_memory_mb" in lightly:
                out["lightly_device_peak_memory_mb"] = lightly["device_peak_memory_mb"]
            if "images_per_second" in out:
                out["ratio"] = round(out["images_per_second"] / lightly["images_per_second"], 3)
    return out


def run_benchmark(configs: Iterable[BenchConfig], compare: str | None = None, echo=print,
                  timeout: float | None = None, harness: str | os.PathLike | None = None) -> list[dict]:
    """Runs every configuration (each in a subprocess), prints one JSON line each and returns the lines.

    With `compare="lightly"`, lightly runs once per (method, width, image size, batch) through the harness
    (`check_harness(harness)`) and its figures are added to every kerascl line of that shape.

    Raises:
        HarnessUnavailableError: `compare="lightly"` without the `bench` extra or a harness file.
    """
    if compare not in (None, "lightly"):
        raise ValueError(f"compare must be None or 'lightly'; got {compare!r}.")
    if compare == "lightly":
        harness = check_harness(harness)  # before the first kerascl run, so a missing piece costs nothing
    lightly_cache: dict[tuple, dict] = {}
    lines = []
    for config in configs:
        result = run_in_subprocess(config, "kerascl", timeout=timeout)
        lightly = None
        if compare == "lightly":
            key = (config.method, config.width, config.image_size, config.batch_size, config.steps,
                   config.lightly_workers, config.lightly_threads, config.intra_op_threads, config.data_dir,
                   config.num_images, config.precision)
            if key not in lightly_cache:
                lightly_cache[key] = run_in_subprocess(config, "lightly", timeout=timeout, harness=harness)
            lightly = lightly_cache[key]
        line = _line(config, result, lightly)
        lines.append(line)
        echo(json.dumps(line))
    return lines


def expand_configs(methods: Sequence[str], backends: Sequence[str], placements: Sequence[str],
                   image_sizes: Sequence[int], batch_sizes: Sequence[int], **common: Any) -> list[BenchConfig]:
    """The cross product of the listed values, every other field from `common`."""
    return [
        BenchConfig(method=m, backend=b, placement=p, image_size=s, batch_size=n, **common)
        for m, s, n, b, p in itertools.product(methods, image_sizes, batch_sizes, backends, placements)
    ]


def _make_command():
    import click

    def jit_value(text: str):
        return {"auto": "auto", "on": True, "off": False}[text]

    @click.command("bench", context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--method", "methods", multiple=True, type=click.Choice(METHODS), default=("byol",),
                  show_default=True, help="Method(s) to time; repeat the option for several.")
    @click.option("--backend", "backends", multiple=True, type=click.Choice(BACKENDS), default=DEFAULT_BACKENDS,
                  show_default=True, help="Keras backend(s).")
    @click.option("--placement", "placements", multiple=True, type=click.Choice(PLACEMENTS), default=("host",),
                  show_default=True, help="Augmentation placement(s): host (tf.data) or device (in the step).")
    @click.option("--image-size", "image_sizes", multiple=True, type=int, default=(32,), show_default=True,
                  help="Image side(s) in pixels; repeat the option for several.")
    @click.option("--batch-size", "batch_sizes", multiple=True, type=int, default=(128,), show_default=True,
                  help="Batch size(s); repeat the option for several.")
    @click.option("--width", type=float, default=0.25, show_default=True, help="ResNet-18 width multiplier.")
    @click.option("--steps", type=int, default=10, show_default=True, help="Timed steps per configuration.")
    @click.option("--warmup-steps", type=int, default=2, show_default=True, help="Untimed steps (compilation).")
    @click.option("--num-images", type=int, default=2048, show_default=True, help="In-memory images (cycled).")
    @click.option("--jit", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
                  help="XLA for the train step (auto: Keras's choice).")
    @click.option("--intra-op-threads", type=int, default=None, help="Intra-op threads (TF and torch).")
    @click.option("--inter-op-threads", type=int, default=None, help="Inter-op threads (TF and torch).")
    @click.option("--data-threads", type=int, default=None, help="tf.data private thread pool size.")
    @click.option("--lightly-workers", type=int, default=1, show_default=True, help="DataLoader workers (lightly).")
    @click.option("--lightly-threads", type=int, default=None, help="torch intra-op threads (lightly run).")
    @click.option("--data-dir", type=click.Path(exists=True, file_okay=False), default=None,
                  help="Image folder to read instead of random pixels (e.g. cifar10/train).")
    @click.option("--mixed-precision", is_flag=True, help="Shorthand for --precision mixed_float16 (GPU).")
    @click.option("--precision", type=click.Choice(PRECISIONS), default="float32", show_default=True,
                  help="Keras dtype policy / torch autocast; mixed_bfloat16 also runs on CPUs with AMX or AVX-512 BF16.")
    @click.option("--compare", type=click.Choice(["lightly"]), default=None,
                  help="Also run the same configuration in lightly on PyTorch, through the repository's "
                       f"benchmarks/{HARNESS_FILE} (needs the bench extra and a source checkout, or --harness).")
    @click.option("--harness", type=click.Path(exists=True, dir_okay=False), default=None,
                  help=f"The lightly harness file for --compare lightly (default: benchmarks/{HARNESS_FILE} of the "
                       f"checkout kerascl runs from, or of the current folder; or ${HARNESS_ENV}).")
    @click.option("--timeout", type=float, default=None, help="Seconds before one configuration is abandoned.")
    def bench_command(methods, backends, placements, image_sizes, batch_sizes, width, steps, warmup_steps,
                      num_images, jit, intra_op_threads, inter_op_threads, data_threads, lightly_workers, lightly_threads, data_dir,
                      mixed_precision, precision, compare, harness, timeout):
        """Time end-to-end pretraining (images/s incl. data loading and augmentation), one JSON line each."""
        try:
            configs = expand_configs(
                methods, backends, placements, image_sizes, batch_sizes, width=width, steps=steps,
                warmup_steps=warmup_steps, num_images=num_images, jit_compile=jit_value(jit),
                intra_op_threads=intra_op_threads, inter_op_threads=inter_op_threads, data_threads=data_threads,
                lightly_workers=lightly_workers, lightly_threads=lightly_threads, data_dir=data_dir, mixed_precision=mixed_precision,
                precision=precision,
            )
        except (ValueError, FileNotFoundError) as error:
            raise click.BadParameter(str(error)) from error
        if compare == "lightly":
            try:
                harness = check_harness(harness)
            except HarnessUnavailableError as error:
                raise click.ClickException(str(error)) from error
        click.echo(json.dumps(machine_info()))
        lines = run_benchmark(configs, compare=compare, echo=click.echo, timeout=timeout, harness=harness)
        failed = [line for line in lines if "error" in line]
        if failed:
            details = "; ".join(f"{line['method']}/{line['backend']}/batch {line['batch_size']}: {line['error']}"
                                for line in failed)
            raise click.ClickException(f"{len(failed)} of {len(lines)} configuration(s) failed: {details}")

    return bench_command


bench_command = _make_command()
"""The `kerascl bench` click command; register it with `main.add_command(bench_command)`."""


if __name__ == "__main__":
    bench_command()
