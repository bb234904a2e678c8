"""How fast does the partitioned VAE's encoder/decoder pair learn the shapes at batch 128 and at batch 32?

A plain autoencoder (no KL, no partition, clean images: the easiest task the VAE's networks face) built from
`kerascl.methods.partitioned_vae.conv_encoder` / `conv_decoder` with a 32-wide linear code, Bernoulli cross-entropy
summed over pixels, Adam 1e-3, on 4,000 shapes (seed 1); held-out loss on 1,000 (seed 2) every 2 epochs. Prints one
line per evaluation: batch, epoch, train loss, held-out loss, seconds since the start, and writes
`autoencoder_batch{N}_reconstructions.png` beside itself per batch size (top row: 16 test images, bottom row: their
reconstructions after the last epoch).

    python benchmarks/results/2026-12-07_vae_screen_2/autoencoder_batch_size.py > autoencoder_batch_size.txt
"""

import os
import time

import kerascl  # noqa: F401  (CPU defaults before Keras loads)
import keras
import numpy as np

from kerascl.data.shapes import make_shapes
from kerascl.methods.partitioned_vae import conv_decoder, conv_encoder, save_swap_grid

EPOCHS = 20


def bernoulli_nll(targets, logits):
    per_pixel = keras.ops.relu(logits) - logits * targets + keras.ops.log1p(keras.ops.exp(-keras.ops.abs(logits)))
    return keras.ops.mean(keras.ops.sum(keras.ops.reshape(per_pixel, (-1, 32 * 32 * 3)), axis=-1))


def main() -> None:
    train = make_shapes(4000, 32, seed=1).images
    test = make_shapes(1000, 32, seed=2).images
    floor = np.clip(test.astype(np.float64), 1e-7, 1 - 1e-7)
    entropy = -(floor * np.log(floor) + (1 - floor) * np.log(1 - floor)).reshape(len(test), -1).sum(1).mean()
    print(f"held-out floor (prediction = target): {entropy:.1f}")
    for batch in (128, 32):
        keras.utils.set_random_seed(1)
        inputs = keras.Input((32, 32, 3))
        code = keras.layers.Dense(32)(conv_encoder(32)(inputs))
        model = keras.Model(inputs, conv_decoder(32, 32)(code))
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=bernoulli_nll)
        start = time.perf_counter()
        for epoch in range(1, EPOCHS + 1):
            train_loss = model.fit(train, train, batch_size=batch, epochs=1, verbose=0).history["loss"][-1]
            if epoch % 2 == 0:
                held_out = float(model.evaluate(test, test, batch_size=250, verbose=0))
                print(f"batch {batch:3d} epoch {epoch:2d} ({epoch * -(-4000 // batch):4d} steps): "
                      f"train {train_loss:7.1f} held-out {held_out:7.1f} {time.perf_counter() - start:6.1f} s",
                      flush=True)
        save_reconstructions(test[:16], model, batch)


def save_reconstructions(images: np.ndarray, model: keras.Model, batch: int) -> None:
    decoded = 1.0 / (1.0 + np.exp(-np.asarray(model.predict(images, verbose=0))))
    side = images.shape[1] + 1
    grid = np.ones((2 * side - 1, len(images) * side - 1, 3), np.float32)
    for i, (image, reconstruction) in enumerate(zip(images, decoded)):
        grid[: side - 1, i * side: i * side + side - 1] = image
        grid[side:, i * side: i * side + side - 1] = reconstruction
    here = os.path.dirname(os.path.abspath(__file__))
    save_swap_grid(grid, os.path.join(here, f"autoencoder_batch{batch}_reconstructions.png"), title=None)


if __name__ == "__main__":
    main()
