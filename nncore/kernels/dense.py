"""Kernels for a fully connected layer.

    forward:  out = x @ W + b          x (N, I), W (I, O), b (O,) -> out (N, O)
              (then max(out, 0) for a layer with a ReLU)
    backward: dz  = dout * (out > 0)   with a ReLU, else dout
              dW  = x.T @ dz           (I, O)
              db  = sum_n dz[n]        (O,)
              dx  = dz @ W.T           (N, I)

Like the convolution kernels, each runs over chunks of rows in parallel, the backward doing all
of a chunk's work at once; dW and db are summed per chunk, then over the chunks in order.
"""
import numpy as np
from numba import njit, prange

from nncore.kernels.activation import activation_gradient
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
def dense_backward(dout, out, relu, x, w, input_grad):
    """dout, out (N, O), x (N, I), w (I, O) -> dw, db and dx (N, I); dx is empty unless
    input_grad. out is the forward's output, for the ReLU's gradient."""
    n_rows = x.shape[0]
    w_t = w.T.copy()
    chunks = n_chunks(n_rows, ROWS_PER_CHUNK)
    dw_parts = np.empty((chunks, w.shape[0], w.shape[1]), dtype=dout.dtype)
    db_parts = np.empty((chunks, w.shape[1]), dtype=dout.dtype)
    dx = np.empty((n_rows if input_grad else 0, w.shape[0]), dtype=dout.dtype)
    for chunk in prange(chunks):
        start, stop = chunk_bounds(chunk, n_rows, ROWS_PER_CHUNK)
        dz = activation_gradient(dout[start:stop], out[start:stop], relu)
        np.dot(x[start:stop].T, dz, dw_parts[chunk])
        bias_gradient(dz, db_parts[chunk])
        if input_grad:
            np.dot(dz, w_t, dx[start:stop])
    dw, db = sum_chunks(dw_parts), sum_chunks(db_parts)
    return dw, db, dx
