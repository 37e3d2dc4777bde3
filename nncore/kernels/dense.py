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

from nncore.kernels.bias import add_bias, bias_gradient
from nncore.kernels.chunks import ROWS_PER_CHUNK, chunk_bounds, n_chunks, sum_chunks


@njit(cache=True, parallel=True)
def dense_forward(x, w, b, relu):
    """out = x @ w + b; max(out, 0) if relu."""
    n_rows = x.shape[0]
    out = np.empty((n_rows, w.shape[1]), dtype=x.dtype)
    for chunk in prange(n_chunks(n_rows, ROWS_PER_CHUNK)):
        start, stop = chunk_bounds(chunk, n_rows, ROWS_PER_CHUNK)
        np.dot(x[start:stop], w, out[start:stop])
        add_bias(out[start:stop], b, relu)
    return out


@njit(cache=True, parallel=True)
def dense_backward_params(dout, x):
    n_rows = x.shape[0]
    chunks = n_chunks(n_rows, ROWS_PER_CHUNK)
    dw_parts = np.empty((chunks, x.shape[1], dout.shape[1]), dtype=dout.dtype)
    db_parts = np.empty((chunks, dout.shape[1]), dtype=dout.dtype)
    for chunk in prange(chunks):
        start, stop = chunk_bounds(chunk, n_rows, ROWS_PER_CHUNK)
        np.dot(x[start:stop].T, dout[start:stop], dw_parts[chunk])
        bias_gradient(dout[start:stop], db_parts[chunk])
    dw, db = sum_chunks(dw_parts), sum_chunks(db_parts)
    return dw, db


@njit(cache=True, parallel=True)
def dense_backward_input(dout, w):
    n_rows = dout.shape[0]
    w_t = w.T.copy()
    dx = np.empty((n_rows, w.shape[0]), dtype=dout.dtype)
    for chunk in prange(n_chunks(n_rows, ROWS_PER_CHUNK)):
        start, stop = chunk_bounds(chunk, n_rows, ROWS_PER_CHUNK)
        np.dot(dout[start:stop], w_t, dx[start:stop])
    return dx
