"""kerascl's counter-based random numbers against a NumPy reference of the lowbias32 hash, on the active backend
(on Keras's torch backend `uint32` is held in 64-bit integers, so every product must be wrapped to 32 bits)."""

import keras
import numpy as np

from kerascl.augment import _prng
from kerascl.keras_internals import DynamicBackend


def _mix32(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint64) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return x


def _uniform(key: int, batch: int, draws: int) -> np.ndarray:
    counters = np.arange(batch * draws, dtype=np.uint64)
    bits = _mix32((_mix32(counters) + key) & 0xFFFFFFFF)
    return ((bits >> 8).astype(np.float64) / 2**24).reshape(batch, draws)


def _backend() -> DynamicBackend:
    backend = DynamicBackend()
    backend.set_backend(keras.backend.backend())
    return backend


def test_uniform_matches_the_numpy_reference_bit_for_bit():
    bk = _backend()
    seed = np.array([123456789, 4000000000 - 2**32], dtype="int64")  # a negative seed word as Keras may hold it
    key = bk.core.convert_to_numpy(_prng.seed_key(bk, bk.core.convert_to_tensor(seed)))
    reference_key = int(_mix32(_mix32(np.array(seed[0] % 2**32)) ^ np.uint64(seed[1] % 2**32)))
    assert int(key) == reference_key
    got = keras.ops.convert_to_numpy(_prng.uniform(bk, bk.core.convert_to_tensor(reference_key, "uint32"), 5, 3))
    np.testing.assert_array_equal(got, _uniform(reference_key, 5, 3).astype(np.float32))
    assert got.min() >= 0.0 and got.max() < 1.0
