"""How the kernels split a batch for their parallel loops.

A batch of N images is cut into fixed chunks of IMAGES_PER_CHUNK (the last one may be shorter);
`prange` runs over the chunks, each writing only its own part of the output. Sums over the
whole batch (dW, db) are kept per chunk and added by `sum_chunks` in chunk order, so the result
never depends on which thread finished first or on the number of cores.
"""
from numba import njit

IMAGES_PER_CHUNK = 16


@njit(cache=True)
def n_chunks(n_images):
    return (n_images + IMAGES_PER_CHUNK - 1) // IMAGES_PER_CHUNK


@njit(cache=True)
def chunk_bounds(chunk, n_images):
    """[start, stop) of chunk number `chunk`."""
    start = chunk * IMAGES_PER_CHUNK
    return start, min(start + IMAGES_PER_CHUNK, n_images)


@njit(cache=True)
def sum_chunks(parts):
    """parts (n_chunks, ...) -> their sum, added in a fixed order: deterministic."""
    total = parts[0].copy()
    for chunk in range(1, parts.shape[0]):
        total += parts[chunk]
    return total
