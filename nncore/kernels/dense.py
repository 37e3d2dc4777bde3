"""Kernels for a fully connected layer.

    forward:  out = x @ W + b          x (N, I), W (I, O), b (O,) -> out (N, O)
    backward: dW  = x.T @ dout         (I, O)
              db  = sum_n dout[n]      (O,)
              dx  = dout @ W.T         (N, I)

Like the convolution kernels, each runs over chunks of rows in parallel; dW and db are summed
per chunk, then over the chunks in order.
"""
import numpy as np
from numba import njit, prange

from nncore.kernels.conv import chunk_bounds, IMAGES_PER_CHUNK


@njit(cache=True, parallel=True)
def dense_forward(x, w, b):
    n_rows = x.shape[0]
    out = np.empty((n_rows, w.shape[1]), dtype=x.dtype)
    for chunk in prange((n_rows + IMAGES_PER_CHUNK - 1) // IMAGES_PER_CHUNK):
        start, stop = chunk_bounds(chunk, n_rows)
        np.dot(x[start:stop], w, out[start:stop])
        out[start:stop] += b
    return out


@njit(cache=True, parallel=True)
def dense_backward_params(dout, x):
    n_rows = x.shape[0]
    n_chunks = (n_rows + IMAGES_PER_CHUNK - 1) // IMAGES_PER_CHUNK
    dw_parts = np.empty((n_chunks, x.shape[1], dout.shape[1]), dtype=dout.dtype)
    db_parts = np.empty((n_chunks, dout.shape[1]), dtype=dout.dtype)
    for chunk in prange(n_chunks):
        start, stop = chunk_bounds(chunk, n_rows)
        np.dot(x[start:stop].T, dout[start:stop], dw_parts[chunk])
        db_parts[chunk] = dout[start:stop].sum(axis=0)
    dw, db = dw_parts[0].copy(), db_parts[0].copy()
    for chunk in range(1, n_chunks):  # summed in a fixed order: deterministic
        dw += dw_parts[chunk]
        db += db_parts[chunk]
    return dw, db


@njit(cache=True, parallel=True)
def dense_backward_input(dout, w):
    n_rows = dout.shape[0]
    w_t = w.T.copy()
    dx = np.empty((n_rows, w.shape[0]), dtype=dout.dtype)
    for chunk in prange((n_rows + IMAGES_PER_CHUNK - 1) // IMAGES_PER_CHUNK):
        start, stop = chunk_bounds(chunk, n_rows)
        np.dot(dout[start:stop], w_t, dx[start:stop])
    return dx
