"""Counter-based random numbers that are bit-identical on every backend.

Keras's own `keras.random` functions call each backend's native generator (Philox on TensorFlow, Threefry on
JAX), so the same seed gives different numbers in a `tf.data` pipeline (which always runs TensorFlow ops) and in
a compiled JAX step. kerascl's augmentations need the same seed to give the same views wherever they run, so
they turn the state of a `keras.random.SeedGenerator` into uniform numbers with a small integer hash
(the "lowbias32" mixer by Chris Wellons) written with the backend's `numpy` ops on `uint32`. Integer arithmetic
is exact on every backend, so the draws are identical bit for bit.

All functions take `bk`, a backend namespace with `numpy` and `core` (a layer's `self.backend`), so that the
same code runs with TensorFlow ops inside `tf.data` and with the active backend's ops inside a compiled step.
"""

from __future__ import annotations

from typing import Any

_U32 = "uint32"
_TWO_POW_24 = 16777216.0


def _u32(bk: Any, value: int) -> Any:
    return bk.core.convert_to_tensor(value, _U32)


def _wrap32(bk: Any, x: Any) -> Any:
    """Keep the low 32 bits where the backend computes "uint32" in a wider integer type.

    Keras's torch backend holds `uint32` in 64-bit integers, so products and sums do not wrap at 2**32 by
    themselves; masking restores the `uint32` result (the low bits of a 64-bit product are exact even when it
    overflows). TensorFlow and JAX have a true `uint32`, on which this would be a no-op, so it is skipped there.
    """
    if getattr(bk, "name", None) != "torch":
        return x
    return bk.numpy.bitwise_and(x, bk.core.convert_to_tensor(0xFFFFFFFF, x.dtype))


def mix32(bk: Any, x: Any) -> Any:
    """Hash `uint32` values to well-mixed `uint32` values (lowbias32 mixer)."""
    x = bk.numpy.bitwise_xor(x, bk.numpy.right_shift(x, _u32(bk, 16)))
    x = _wrap32(bk, bk.numpy.multiply(x, _u32(bk, 0x7FEB352D)))
    x = bk.numpy.bitwise_xor(x, bk.numpy.right_shift(x, _u32(bk, 15)))
    x = _wrap32(bk, bk.numpy.multiply(x, _u32(bk, 0x846CA68B)))
    return bk.numpy.bitwise_xor(x, bk.numpy.right_shift(x, _u32(bk, 16)))


def seed_key(bk: Any, seed: Any) -> Any:
    """Reduce a seed (a `(2,)` SeedGenerator state, or a scalar key) to one `uint32` key."""
    seed = _wrap32(bk, bk.core.cast(seed, _U32))
    if len(seed.shape) == 0:
        return mix32(bk, seed)
    return mix32(bk, bk.numpy.bitwise_xor(mix32(bk, seed[0]), seed[1]))


def derive_key(bk: Any, key: Any, salt: int) -> Any:
    """A new independent `uint32` key from `key` and a Python integer `salt`."""
    return mix32(bk, _wrap32(bk, bk.numpy.add(mix32(bk, _u32(bk, salt & 0xFFFFFFFF)), key)))


def _counters(bk: Any, n: Any) -> Any:
    return bk.core.cast(bk.numpy.arange(n, dtype="int32"), _U32)


def bits_to_uniform(bk: Any, bits: Any) -> Any:
    """Map `uint32` values to float32 in `[0, 1)` with 24-bit resolution (exact in float32)."""
    top = bk.numpy.right_shift(bits, _u32(bk, 8))
    return bk.core.cast(top, "float32") * (1.0 / _TWO_POW_24)


def uniform(bk: Any, key: Any, batch_size: Any, num_draws: int) -> Any:
    """`(batch_size, num_draws)` float32 uniforms in `[0, 1)`; row `i` depends only on `key` and `i`."""
    counters = _counters(bk, batch_size * num_draws)
    bits = mix32(bk, _wrap32(bk, bk.numpy.add(mix32(bk, counters), key)))
    return bk.numpy.reshape(bits_to_uniform(bk, bits), (batch_size, num_draws))


def uniform_per_key(bk: Any, keys: Any, num_draws: int) -> Any:
    """`(B, num_draws)` float32 uniforms, row `i` drawn from its own `uint32` key `keys[i]`."""
    keys = _wrap32(bk, keys)
    counters = mix32(bk, _counters(bk, num_draws))
    bits = mix32(bk, _wrap32(bk, bk.numpy.add(counters[None, :], mix32(bk, keys)[:, None])))
    return bits_to_uniform(bk, bits)
