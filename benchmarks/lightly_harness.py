"""The lightly (PyTorch) side of kerascl's comparison benchmarks: the same configuration as `kerascl.bench`, in lightly.

This file is part of the repository's `benchmarks/` folder, not of the `kerascl` package: kerascl never imports it.
`kerascl bench --compare lightly` runs it as a script in its own process (found beside the `kerascl` package in a
source checkout, in `./benchmarks/`, or given with `--harness PATH`), and the scripts of `benchmarks/` import it
from the folder they sit in. It needs the `bench` extra (`pip install -e ".[bench]"`: lightly, torch, torchvision);
nothing here imports Keras or TensorFlow, so torch never shares a process with them.

What it builds (matching `kerascl.bench.build_method` and `kerascl.augment`'s presets):

* `torch_cifar_resnet18`: torchvision's ResNet-18 with the CIFAR stem, every stage scaled by `width`;
* `build_lightly_model`: lightly's BYOL / SimSiam module with lightly's CIFAR-10 head sizes
  (`kerascl.bench.HEAD_SIZES`);
* `lightly_transform`: lightly's BYOL / SimSiam views with kerascl's small-image settings;
* `run_lightly`: times one `kerascl.bench.BenchConfig` (the same batch, steps, SGD settings and images).

Run as a script it times one configuration and prints `RESULT {json}`, the line `kerascl.bench.run_in_subprocess`
reads:

    python benchmarks/lightly_harness.py '{"method": "byol", "width": 0.25, "batch_size": 128, ...}'

Examples:
    >>> import sys; sys.path.insert(0, "benchmarks")
    >>> from lightly_harness import build_lightly_model
    >>> model = build_lightly_model("byol", width=0.25)
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

# A checkout's kerascl when this file runs as a script from one (the package need not be installed).
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(_REPO, "kerascl")) and _REPO not in sys.path:
    sys.path.insert(1, _REPO)

from kerascl.bench import HEAD_SIZES, BenchConfig, learning_rate, load_images, peak_rss_mb  # noqa: E402

#: kerascl.augment.presets.SMALL_IMAGE_SIZE and SMALL_IMAGE_JITTER_STRENGTH, repeated here so that the lightly
#: process never imports Keras (tests/test_lightly_harness.py checks that the values agree).
LIGHTLY_SMALL_IMAGE_SIZE = 64
LIGHTLY_SMALL_JITTER_STRENGTH = 0.5


def torch_cifar_resnet18(width: float = 1.0):
    """torchvision's ResNet-18 with the CIFAR stem (3x3 stride-1 conv, no max-pool) and `64 * width` base channels.

    At `width=1.0` this is lightly's benchmark backbone (`torchvision.models.resnet18()` with `conv1` replaced and
    `maxpool` removed); other widths scale every stage like kerascl's `ResNet18(width=...)`. Returns an
    `nn.Module` mapping `(B, 3, H, W)` to `(B, 512 * width)`.
    """
    import torch.nn as nn
    from torchvision.models.resnet import BasicBlock, conv1x1

    base = int(round(64 * width))

    def stage(in_planes: int, planes: int, stride: int) -> nn.Sequential:
        down = None
        if stride != 1 or in_planes != planes:
            down = nn.Sequential(conv1x1(in_planes, planes, stride), nn.BatchNorm2d(planes))
        return nn.Sequential(BasicBlock(in_planes, planes, stride, down), BasicBlock(planes, planes))

    net = nn.Sequential(
        nn.Conv2d(3, base, 3, 1, 1, bias=False), nn.BatchNorm2d(base), nn.ReLU(inplace=True),
        stage(base, base, 1), stage(base, 2 * base, 2), stage(2 * base, 4 * base, 2), stage(4 * base, 8 * base, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(1),
    )
    for m in net.modules():  # torchvision's initialisation
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return net


def lightly_transform(method: str, image_size: int, crop_scale=None):
    """lightly's BYOL / SimSiam transform with kerascl's small-image settings (blur off and jitter x 0.5 at <= 64 px).

    No normalisation, so both libraries feed [0, 1] images to the backbone. `crop_scale` (a recipe's `(low, high)`
    override, None for the preset's) sets lightly's `min_scale`; lightly's crops always reach the whole image.
    """
    small = image_size <= LIGHTLY_SMALL_IMAGE_SIZE
    strength = LIGHTLY_SMALL_JITTER_STRENGTH if small else 1.0
    crop = {}
    if crop_scale is not None:
        low, high = crop_scale
        if float(high) != 1.0:
            raise ValueError(f"lightly's transforms crop up to the whole image; crop_scale={crop_scale!r} needs "
                             "high = 1.0 to compare the two libraries.")
        crop = {"min_scale": float(low)}
    if method == "byol":
        from lightly.transforms.byol_transform import BYOLTransform, BYOLView1Transform, BYOLView2Transform

        common = dict(input_size=image_size, cj_strength=strength, normalize=None, **crop)
        return BYOLTransform(
            BYOLView1Transform(gaussian_blur=0.0 if small else 1.0, **common),
            BYOLView2Transform(gaussian_blur=0.0 if small else 0.1, **common),
        )
    from lightly.transforms.simsiam_transform import SimSiamTransform

    return SimSiamTransform(input_size=image_size, cj_strength=strength, gaussian_blur=0.0 if small else 0.5,
                            normalize=None, **crop)


class _ArrayViews:
    """A map-style torch dataset over a uint8 `(N, H, W, 3)` array: PIL image -> lightly transform -> views.

    (torchvision's `CIFAR10` holds its images the same way.)
    """

    def __init__(self, images, transform):
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[index]))


def build_lightly_model(method: str, width: float, head_sizes: tuple[int, int, int] | None = None):
    """lightly's BYOL / SimSiam module (as in lightly's examples) on `torch_cifar_resnet18(width)`.

    `head_sizes` is `(projector hidden, projection, predictor hidden)`; default `HEAD_SIZES[method]`.
    """
    import copy

    import torch.nn as nn
    from lightly.models.modules import heads
    from lightly.models.utils import deactivate_requires_grad

    features = int(round(512 * width))
    hidden, projection, predictor_hidden = head_sizes or HEAD_SIZES[method]

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = torch_cifar_resnet18(width)
            if method == "byol":
                self.projection_head = heads.BYOLProjectionHead(features, hidden, projection)
                self.prediction_head = heads.BYOLPredictionHead(projection, predictor_hidden, projection)
                self.backbone_momentum = copy.deepcopy(self.backbone)
                self.projection_head_momentum = copy.deepcopy(self.projection_head)
                deactivate_requires_grad(self.backbone_momentum)
                deactivate_requires_grad(self.projection_head_momentum)
            else:
                self.projection_head = heads.SimSiamProjectionHead(features, hidden, projection)
                self.prediction_head = heads.SimSiamPredictionHead(projection, predictor_hidden, projection)

        def forward(self, x):
            z = self.projection_head(self.backbone(x))
            return z, self.prediction_head(z)

        def forward_momentum(self, x):
            return self.projection_head_momentum(self.backbone_momentum(x)).detach()

    return Model()


def lightly_train_step(model, optimizer, criterion, views, method: str, momentum: float) -> Any:
    """One training step of lightly's BYOL / SimSiam examples; returns the loss tensor."""
    from lightly.models.utils import update_momentum

    x0, x1 = views
    if method == "byol":
        update_momentum(model.backbone, model.backbone_momentum, m=momentum)
        update_momentum(model.projection_head, model.projection_head_momentum, m=momentum)
        _, p0 = model(x0)
        _, p1 = model(x1)
        z0, z1 = model.forward_momentum(x0), model.forward_momentum(x1)
        loss = 0.5 * (criterion(p0, z1) + criterion(p1, z0))
    else:
        z0, p0 = model(x0)
        z1, p1 = model(x1)
        loss = 0.5 * (criterion(p0, z1.detach()) + criterion(p1, z0.detach()))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def make_lightly_loader(config: BenchConfig, images, shuffle: bool = True, drop_last: bool = True):
    """The `DataLoader` of the lightly run: per-image PIL transforms in `config.lightly_workers` worker processes."""
    import torch

    workers = int(config.lightly_workers)
    return torch.utils.data.DataLoader(
        _ArrayViews(images, lightly_transform(config.method, config.image_size)),
        batch_size=config.batch_size, shuffle=shuffle, drop_last=drop_last, num_workers=workers,
        persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None,
        generator=torch.Generator().manual_seed(config.seed),
    )


def run_lightly(config: BenchConfig, images=None) -> dict:
    """Times one configuration in this process with lightly on PyTorch (the same backbone, heads, views, SGD).

    Returns:
        `{"images_per_second", "step_seconds", "compile_seconds", "peak_memory_mb", "worker_peak_memory_mb"?,
        "device_peak_memory_mb"?}`: the training process's peak RSS and, with workers, the largest worker's
        (forked, so much of it is shared with the training process).
    """
    try:
        import torch
        from lightly.loss import NegativeCosineSimilarity
    except ImportError as error:
        raise ImportError(f"--compare lightly needs lightly, torch and torchvision ({error}); install them with "
                          "pip install -e '.[bench]'.") from error
    threads = config.lightly_threads or config.intra_op_threads
    if threads:
        torch.set_num_threads(int(threads))
    if config.inter_op_threads:
        torch.set_num_interop_threads(int(config.inter_op_threads))
    torch.manual_seed(config.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    images = load_images(config) if images is None else images
    loader = make_lightly_loader(config, images)
    model = build_lightly_model(config.method, config.width).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate(config.batch_size), momentum=0.9,
                                weight_decay=5e-4)
    criterion = NegativeCosineSimilarity()
    # float16 autocast is a GPU feature; bfloat16 runs on CPUs too (AMX / AVX-512 BF16 through oneDNN).
    autocast_dtype = torch.bfloat16 if config.precision == "mixed_bfloat16" else torch.float16
    autocast_on = config.precision == "mixed_bfloat16" or (config.precision == "mixed_float16" and device == "cuda")
    total = int(config.warmup_steps) + int(config.steps)
    model.train()
    start = time.perf_counter()
    warm = end = None
    step = 0
    while step < total:
        for views in loader:
            views = [v.to(device, non_blocking=True) for v in views]
            with torch.autocast(device, dtype=autocast_dtype, enabled=autocast_on):
                loss = lightly_train_step(model, optimizer, criterion, views, config.method, momentum=0.99)
            step += 1
            if step in (config.warmup_steps, total):
                float(loss)  # synchronise
                if step == config.warmup_steps:
                    warm = time.perf_counter()
                if step == total:
                    end = time.perf_counter()
                    break
    seconds = end - warm
    out = {
        "images_per_second": round(config.batch_size * config.steps / seconds, 2),
        "step_seconds": round(seconds / config.steps, 4),
        "compile_seconds": round(warm - start, 2),
        "peak_memory_mb": peak_rss_mb(),
    }
    if config.lightly_workers > 0:
        del loader  # ends the persistent workers, so their peak is counted
        import gc

        gc.collect()
        time.sleep(0.5)
        out["worker_peak_memory_mb"] = peak_rss_mb(children=True)
    if device == "cuda":
        out["device_peak_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def main(argv: list[str] | None = None) -> None:
    """Times the configuration given as JSON (`BenchConfig.to_json()`) and prints `RESULT {json}`."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python benchmarks/lightly_harness.py CONFIG_JSON  (a kerascl.bench.BenchConfig as JSON; "
              "kerascl bench --compare lightly runs this for you)", file=sys.stderr)
        raise SystemExit(2)
    result = run_lightly(BenchConfig.from_json(argv[0]))
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
