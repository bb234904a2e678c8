"""Where kerascl's SimSiam and lightly's differ, measured without training: one JSON line per check.

The benchmark pair of `kerascl.bench` (CIFAR ResNet-18 of `--width`, lightly's CIFAR head sizes, SimSiam views at
32 px, SGD lr 0.06 momentum 0.9 weight decay 5e-4) is built in both libraries, and:

- `parameters`: trainable parameter counts per part (backbone, projector, predictor) in each library;
- `head_init`: the norm of every head Dense kernel at initialisation, for Keras's Glorot init (kerascl's default),
  PyTorch's `nn.Linear` init (lightly) and kerascl's `head_init="torch"`;
- `same_weights`: lightly's initial weights copied into kerascl, the same two views of `--batch-size` images fed to
  both: the loss and each part's gradient norm in each library, and the largest relative gradient difference per
  variable (0 up to float rounding means the forward pass, batch norm and loss agree);
- `own_init`: the loss and the per-part gradient norms and relative gradients `|g| / |w|` at each library's own
  initialisation (what differs is only the head init);
- `trajectory`: from the same weights, `--steps` optimiser steps on the same views in both: lightly's
  `torch.optim.SGD(weight_decay=5e-4)` against kerascl's `L2SGD` (the same update) and Keras's `SGD` (decoupled
  decay), as the largest relative weight difference after the steps;
- `weight_decay`: the weight shrink per step that decay alone gives at the peak learning rate, each form;
- `views`: statistics of one pair of views of each of `--images` images from each pipeline: mean crop area (fraction
  of the image), pixel mean, per-view standard deviation, saturation (channel max - min), grayscale fraction,
  horizontal-flip-free agreement between the two views (mean |view_1 - view_2|).

lightly runs in a separate process (PyTorch and TensorFlow are not loaded together); its arrays go through a
temporary `.npz` file. Usage (a few minutes on two cores):

    python benchmarks/simsiam_differences.py --data-dir /tmp/cifar/cifar10/train [--backend tensorflow]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # lightly_harness.py (the lightly side) sits beside this script
    sys.path.insert(0, HERE)
LR, MOMENTUM, WEIGHT_DECAY = 0.06, 0.9, 5e-4


def _images(folder: str, n: int, seed: int):
    import numpy as np
    from PIL import Image

    files = []
    for root, _, names in sorted(os.walk(folder)):
        files += [os.path.join(root, f) for f in sorted(names) if f.lower().endswith((".jpg", ".jpeg", ".png"))]
    if not files:
        raise SystemExit(f"No .jpg/.png images under {folder!r}; pass e.g. <unpacked>/cifar10/train.")
    order = np.random.RandomState(seed).permutation(len(files))[:n]
    return np.stack([np.asarray(Image.open(files[i]).convert("RGB").resize((32, 32))) for i in order])


def _view_stats(v1, v2, areas) -> dict:
    """Statistics of (N, H, W, 3) float views in [0, 1]."""
    import numpy as np

    views = np.concatenate([v1, v2])
    spread = views.max(-1) - views.min(-1)
    return {
        "crop_area_mean": round(float(np.mean(areas)), 4),
        "crop_area_p10_p90": [round(float(q), 3) for q in np.percentile(areas, [10, 90])],
        "pixel_mean": round(float(views.mean()), 4),
        "view_std_mean": round(float(views.reshape(len(views), -1).std(1).mean()), 4),
        "saturation_mean": round(float(spread.mean()), 4),
        "grayscale_fraction": round(float(np.mean(spread.reshape(len(views), -1).max(1) < 1.5 / 255)), 4),
        "view_pair_abs_difference": round(float(np.abs(v1 - v2).mean()), 4),
    }


# ---------------------------------------------------------------------------------------------------- lightly side
def _torch_worker(args) -> None:
    import numpy as np
    import torch
    from lightly.loss import NegativeCosineSimilarity
    from PIL import Image

    from lightly_harness import build_lightly_model, lightly_transform

    torch.manual_seed(args.seed)
    images = _images(args.data_dir, max(args.images, args.batch_size * args.steps), args.seed)
    transform = lightly_transform("simsiam", 32)
    crop = [t for t in transform.transforms[0].transform.transforms if type(t).__name__ == "RandomResizedCrop"][0]
    areas, make_params = [], crop.make_params

    def recording(flat_inputs):
        params = make_params(flat_inputs)
        areas.append(params["height"] * params["width"] / (32.0 * 32.0))
        return params

    crop.make_params = recording
    pairs = [transform(Image.fromarray(im)) for im in images]
    v1 = np.stack([p[0].permute(1, 2, 0).numpy() for p in pairs])
    v2 = np.stack([p[1].permute(1, 2, 0).numpy() for p in pairs])
    out = {"v1": v1, "v2": v2, "areas": np.asarray(areas)}

    model = build_lightly_model("simsiam", args.width)
    model.train()
    names = [n for n, _ in model.named_parameters()]
    out["names"] = np.asarray(names)
    for n, p in model.state_dict().items():
        out["init/" + n] = p.detach().numpy().copy()
    criterion = NegativeCosineSimilarity()
    b = args.batch_size

    def batch(step):
        sl = slice(step * b, (step + 1) * b)
        return [torch.from_numpy(v[sl]).permute(0, 3, 1, 2).contiguous() for v in (v1, v2)]

    def loss_of(x0, x1):
        z0, p0 = model(x0)
        z1, p1 = model(x1)
        return 0.5 * (criterion(p0, z1.detach()) + criterion(p1, z0.detach()))

    loss = loss_of(*batch(0))
    loss.backward()
    out["loss"] = np.asarray(float(loss))
    for n, p in model.named_parameters():
        out["grad/" + n] = p.grad.detach().numpy().copy()
    model.load_state_dict({k: torch.from_numpy(out["init/" + k]) for k in model.state_dict()})
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    for step in range(args.steps):
        optimizer.zero_grad()
        loss_of(*batch(step)).backward()
        optimizer.step()
    for n, p in model.state_dict().items():
        out["after/" + n] = p.detach().numpy().copy()
    np.savez(args.npz, **out)


# ---------------------------------------------------------------------------------------------------- kerascl side
def _torch_to_keras_names() -> dict:
    """torch state-dict key prefix -> (kerascl part, layer name) for `torch_cifar_resnet18` and lightly's heads."""
    mapping = {"backbone.0": ("backbone", "stem_conv"), "backbone.1": ("backbone", "stem_bn")}
    for stage in range(1, 5):
        for block in range(1, 3):
            t, k = f"backbone.{stage + 2}.{block - 1}", f"stage_{stage}_block_{block}"
            mapping.update({f"{t}.conv1": ("backbone", f"{k}_conv1"), f"{t}.bn1": ("backbone", f"{k}_bn1"),
                            f"{t}.conv2": ("backbone", f"{k}_conv2"), f"{t}.bn2": ("backbone", f"{k}_bn2")})
            if stage > 1 and block == 1:  # the strided blocks have a projection shortcut
                mapping.update({f"{t}.downsample.0": ("backbone", f"{k}_shortcut_conv"),
                                f"{t}.downsample.1": ("backbone", f"{k}_shortcut_bn")})
    for i, name in enumerate(["dense_0", "batch_norm_0", None, "dense_1", "batch_norm_1", None, "dense_2",
                              "batch_norm_2"]):
        if name:
            mapping[f"projection_head.layers.{i}"] = ("projector", name)
    for i, name in enumerate(["dense_0", "batch_norm_0", None, "dense_1"]):
        if name:
            mapping[f"prediction_head.layers.{i}"] = ("predictor", name)
    return mapping


_SUFFIX = {"weight": ("kernel", "gamma"), "bias": ("bias", "beta"), "running_mean": ("moving_mean",),
           "running_var": ("moving_variance",)}


def _keras_variable(model, mapping, key):
    """The kerascl variable of a torch state-dict key, and how to convert the torch array to it."""
    import keras

    prefix, suffix = key.rsplit(".", 1)
    if suffix == "num_batches_tracked":
        return None, None
    part, layer_name = mapping[prefix]
    owner = getattr(model, part)
    layer = owner.get_layer(layer_name) if part == "backbone" else {l.name: l for l in owner.stack}[layer_name]
    if isinstance(layer, keras.layers.BatchNormalization):
        attr = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
        return getattr(layer, attr[suffix]), (lambda a: a)
    if suffix == "bias":
        return layer.bias, (lambda a: a)
    if isinstance(layer, keras.layers.Dense):
        return layer.kernel, (lambda a: a.T)
    return layer.kernel, (lambda a: a.transpose(2, 3, 1, 0))


def _part(key: str) -> str:
    return "backbone" if key.startswith("backbone") else "projector" if key.startswith("projection") else "predictor"


def _kerascl_worker(args) -> list[dict]:
    import keras
    import numpy as np

    from kerascl.bench import BenchConfig, build_method
    from kerascl.optimizers import L2SGD

    data = np.load(args.npz)
    names = [str(n) for n in data["names"]]
    keys = [k[len("init/"):] for k in data.files if k.startswith("init/")]
    mapping = _torch_to_keras_names()
    lines = []

    def emit(line: dict) -> None:  # printed as soon as known: the checks are slow on a busy machine
        lines.append(line)
        print("RESULT " + json.dumps(line), flush=True)

    config = BenchConfig(method="simsiam", width=args.width, batch_size=args.batch_size)
    b = args.batch_size
    views = [{"view_1": data["v1"][s * b:(s + 1) * b], "view_2": data["v2"][s * b:(s + 1) * b]}
             for s in range(args.steps)]

    def build(head_init="keras"):
        keras.utils.set_random_seed(args.seed)
        model = build_method(config, head_init=head_init)
        model(views[0])
        return model

    def load_torch(model, which="init"):
        for key in keys:
            variable, convert = _keras_variable(model, mapping, key)
            if variable is not None:
                variable.assign(convert(data[f"{which}/{key}"]))

    def gradients(model):
        """Loss and gradient per torch parameter name, from one plain SGD step (w_before - w_after) / lr."""
        lr = 1000.0
        model.compile(optimizer=keras.optimizers.SGD(lr), run_eagerly=True)  # no tracing: a few steps only
        pairs = [(n, _keras_variable(model, mapping, n)[0]) for n in names]
        before = {n: np.array(v.numpy()) for n, v in pairs}
        loss = float(model.train_on_batch(views[0], return_dict=True)["loss"])
        return loss, {n: (before[n] - np.array(v.numpy())) / lr for n, v in pairs}, before

    def norms_by_part(tensors: dict) -> dict:
        parts = {}
        for n, t in tensors.items():
            parts[_part(n)] = parts.get(_part(n), 0.0) + float(np.sum(np.square(t)))
        return {p: round(v ** 0.5, 5) for p, v in parts.items()}

    def want(check: str) -> bool:
        return "all" in args.checks or check in args.checks

    model = build()
    # parameters
    if want("parameters"):
        counts = {p: int(sum(np.prod(v.shape) for v in getattr(model, p).trainable_weights))
                  for p in ("backbone", "projector", "predictor")}
        torch_counts = {}
        for n in names:
            torch_counts[_part(n)] = torch_counts.get(_part(n), 0) + int(np.prod(data["init/" + n].shape))
        emit({"check": "parameters", "kerascl": counts, "lightly": torch_counts})

    # head init
    if want("head_init"):
        def head_norms(m):
            return {f"{p}.{l.name}": round(float(np.linalg.norm(l.kernel.numpy())), 4)
                    for p in ("projector", "predictor") for l in getattr(m, p).stack
                    if isinstance(l, keras.layers.Dense)}

        torch_heads = {}
        for key, (part, layer_name) in mapping.items():
            if part != "backbone" and layer_name.startswith("dense"):
                torch_heads[f"{part}.{layer_name}"] = round(float(np.linalg.norm(data[f"init/{key}.weight"])), 4)
        emit({"check": "head_init", "kerascl_keras_init": head_norms(model), "lightly": torch_heads,
                      "kerascl_torch_init": head_norms(build("torch"))})

    # same weights: forward, loss, gradients
    if want("same_weights"):
        load_torch(model)
        loss, grads, _ = gradients(model)
        worst = {}
        for n in names:
            g_t = _keras_variable(model, mapping, n)[1](data["grad/" + n])
            rel = float(np.linalg.norm(grads[n] - g_t) / max(np.linalg.norm(g_t), 1e-12))
            worst[_part(n)] = max(worst.get(_part(n), 0.0), rel)
        emit({"check": "same_weights", "loss_kerascl": round(loss, 6), "loss_lightly": round(float(data["loss"]), 6),
                      "grad_norm_kerascl": norms_by_part(grads),
                      "grad_norm_lightly": norms_by_part({n: data["grad/" + n] for n in names}),
                      "max_relative_grad_difference": {p: round(v, 5) for p, v in worst.items()}})

    # own init
    if want("own_init"):
        def relative(grads, weights):
            out = {}
            for part in ("backbone", "projector", "predictor"):
                ns = [n for n in names if _part(n) == part and n.endswith("weight") and np.ndim(weights[n]) > 1]
                out[part] = round(float(np.mean([np.linalg.norm(grads[n]) / np.linalg.norm(weights[n]) for n in ns])), 6)
            return out

        own = {}
        for label, init in (("kerascl_keras_init", "keras"), ("kerascl_torch_init", "torch")):
            loss, grads, before = gradients(build(init))
            own[label] = {"loss": round(loss, 5), "grad_norm": norms_by_part(grads),
                          "mean_relative_grad_of_kernels": relative(grads, before)}
        torch_w = {n: data["init/" + n] for n in names}
        own["lightly"] = {"loss": round(float(data["loss"]), 5),
                          "grad_norm": norms_by_part({n: data["grad/" + n] for n in names}),
                          "mean_relative_grad_of_kernels": relative({n: data["grad/" + n] for n in names}, torch_w)}
        emit({"check": "own_init", **own})

    # trajectory from the same weights
    if want("trajectory"):
        trajectory = {}
        for label, make in (("L2SGD", lambda: L2SGD(LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)),
                            ("keras_SGD_decoupled", lambda: keras.optimizers.SGD(LR, momentum=MOMENTUM,
                                                                                  weight_decay=WEIGHT_DECAY))):
            model = build()
            load_torch(model)
            model.compile(optimizer=make(), run_eagerly=True)
            for batch in views:
                model.train_on_batch(batch)
            differ, moved = {}, {}
            for key in keys:
                variable, convert = _keras_variable(model, mapping, key)
                if variable is None:
                    continue
                after_t, init_t = convert(data["after/" + key]), convert(data["init/" + key])
                kind = "moving_statistics" if "running" in key else _part(key)
                differ[kind] = differ.get(kind, 0.0) + float(np.sum(np.square(np.array(variable.numpy()) - after_t)))
                moved[kind] = moved.get(kind, 0.0) + float(np.sum(np.square(after_t - init_t)))
            trajectory[label] = {k: round((differ[k] / max(moved[k], 1e-24)) ** 0.5, 5) for k in differ}
        # |kerascl after - lightly after| / |lightly after - start| over each part's variables together
        emit({"check": "trajectory", "steps": args.steps, "difference_relative_to_lightly_update": trajectory})

    # weight decay per step, decay alone, at the peak rate
    if want("weight_decay"):
        emit({"check": "weight_decay", "lr": LR, "weight_decay": WEIGHT_DECAY,
                      "keras_SGD_shrink_per_step": LR * WEIGHT_DECAY,
                      "torch_SGD_steady_shrink_per_step": round(LR * WEIGHT_DECAY / (1 - MOMENTUM), 8),
                      "ratio": round(1 / (1 - MOMENTUM), 3)})

    # views
    if want("views"):
        from kerascl.augment import get_preset

        images = _images(args.data_dir, args.images, args.seed)
        augmenter = get_preset("simsiam", 32, seed=args.seed)
        out = augmenter(images.astype("float32") / 255.0, training=True)
        params = [np.asarray(keras.ops.convert_to_numpy(out[k])) for k in ("params_1", "params_2")]
        from kerascl.augment.layout import PARAM_LAYOUT

        crop = PARAM_LAYOUT["crop"]
        areas = np.concatenate([p[:, crop][:, 2] * p[:, crop][:, 3] for p in params])
        n = args.images
        emit({"check": "views", "images": n,
                      "kerascl": _view_stats(np.asarray(keras.ops.convert_to_numpy(out["view_1"])),
                                             np.asarray(keras.ops.convert_to_numpy(out["view_2"])), areas),
                      "lightly": _view_stats(data["v1"][:n], data["v2"][:n], data["areas"][:2 * n])})
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="an image folder, e.g. <unpacked>/cifar10/train")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5, help="optimiser steps of the trajectory check")
    parser.add_argument("--images", type=int, default=1000, help="images for the view statistics")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checks", nargs="+", default=["all"],
                        help="run only these checks of the kerascl side (e.g. trajectory); default all")
    parser.add_argument("--backend", default="tensorflow", choices=["tensorflow", "jax"])
    parser.add_argument("--worker", choices=["torch", "kerascl"], help=argparse.SUPPRESS)
    parser.add_argument("--npz", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "torch":
        _torch_worker(args)
        return
    if args.worker == "kerascl":
        _kerascl_worker(args)
        return
    if not os.path.isdir(args.data_dir):
        raise SystemExit(f"--data-dir {args.data_dir!r} is not a folder; pass e.g. <unpacked>/cifar10/train.")
    env = dict(os.environ, KERAS_BACKEND=args.backend, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory() as tmp:
        npz = os.path.join(tmp, "lightly.npz")
        base = [sys.executable, os.path.abspath(__file__)] + [
            f"--{k.replace('_', '-')}={getattr(args, k)}" for k in ("data_dir", "width", "batch_size", "steps",
                                                                    "images", "seed")] + ["--npz", npz, "--checks", *args.checks]
        for worker in ("torch", "kerascl"):
            proc = subprocess.run(base + ["--worker", worker], env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
                raise SystemExit(f"The {worker} worker failed (exit {proc.returncode}):\n{tail}")
    print(json.dumps({"backend": args.backend, "width": args.width, "batch_size": args.batch_size}))
    for raw in proc.stdout.splitlines():
        if raw.startswith("RESULT "):
            print(raw[len("RESULT "):])


if __name__ == "__main__":
    main()
