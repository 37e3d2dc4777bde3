"""How the kernels split a batch for their parallel loops.

A batch of N images (or rows) is cut into fixed chunks of `size` (the last one may be shorter);
`prange` runs over the chunks, each writing only its own part of the output. Sums over the
whole batch (dW, db) are kept per chunk and added by `sum_chunks` in chunk order, so the result
never depends on which thread finished first or on the number of cores.
"""
import numpy as np
from numba import njit

IMAGES_PER_CHUNK = 16  # convolutions: the patch matrix of 16 images (about 2 MB) stays in the cache
ROWS_PER_CHUNK = 64    # dense layers: each call to BLAS reads all of W, so give it more rows at once


@njit(cache=True)
def n_chunks(n: int, size: int) -> int:
    return (n + size - 1) // size


@njit(cache=True)
def chunk_bounds(chunk: int, n: int, size: int) -> tuple[int, int]:
    """[start, stop) of chunk number `chunk`."""
    start = chunk * size
    return start, min(start + size, n)


@njit(cache=True)
def sum_chunks(parts: np.ndarray) -> np.ndarray:
    """parts (n_chunks, ...) -> their sum, added in a fixed order: deterministic."""
    total = parts[0].copy()
    for chunk in range(1, parts.shape[0]):
        total += parts[chunk]
    return total
