"""The bias of a convolution or dense layer, on its output viewed as rows (pixels or samples, F):

    forward:  out[r, f] = z[r, f] + b[f]     (then max(out, 0) for a layer with a ReLU)
    backward: db[f]     = sum_r dz[r, f]

Both run on one chunk's rows right after its matrix product, while those rows are in the cache.
"""
import numpy as np
from numba import njit


@njit(cache=True)
def add_bias(rows, b, relu):
    """rows (R, F) += b, in place; then rows = max(rows, 0) if relu."""
    for r in range(rows.shape[0]):
        for f in range(rows.shape[1]):
            value = rows[r, f] + b[f]
            rows[r, f] = (value if value > 0 else 0) if relu else value


@njit(cache=True)
def bias_gradient(rows, db):
    """db (F,) = sum of the rows (R, F), added row after row."""
    db[:] = 0
    for r in range(rows.shape[0]):
        for f in range(rows.shape[1]):
            db[f] += rows[r, f]
