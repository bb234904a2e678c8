"""Reference levels of the VAE's reconstruction loss (Bernoulli cross-entropy summed over the 32x32x3 values, mean over
images) on `shapes-vae`'s views: the floor (prediction = target), a grey image with each pixel's exact brightness,
and each image's mean colour or grey level everywhere. Run from the repository root."""
import numpy as np

import kerascl  # noqa: F401
from kerascl.data import from_shapes

views = np.asarray(next(iter(from_shapes(512, image_size=32, batch_size=256, augmenter="simsiam")))["view_1"], "float64")


def bce(target, prediction):
    p = np.clip(prediction, 1e-7, 1 - 1e-7)
    return -(target * np.log(p) + (1 - target) * np.log(1 - p)).reshape(len(target), -1).sum(1).mean()


print("floor (prediction = target):", round(bce(views, views), 1))
print("each pixel's grey level, no colour:", round(bce(views, np.broadcast_to(views.mean(-1, keepdims=True), views.shape)), 1))
print("each image's mean colour:", round(bce(views, np.broadcast_to(views.mean((1, 2), keepdims=True), views.shape)), 1))
print("each image's grey level:", round(bce(views, np.broadcast_to(views.mean((1, 2, 3), keepdims=True), views.shape)), 1))
