"""Kernels for the ReLU activation, alone or fused with a layer's bias.

    forward:  out = max(x, 0)
    backward: dx  = dout * (out > 0)      (the gradient passes where the input was positive)

`add_bias` is the last step of a convolution or dense kernel, out = z + b (then ReLU), done on
rows of the output while they are still in the cache rather than as separate passes later.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def relu_forward(x):
    flat = x.reshape(-1)
    out = np.empty_like(flat)
    for k in prange(flat.size):
        out[k] = flat[k] if flat[k] > 0 else 0
    return out.reshape(x.shape)


@njit(cache=True, parallel=True)
def relu_backward(dout, out):
    flat_dout = dout.reshape(-1)
    flat_out = out.reshape(-1)
    dx = np.empty_like(flat_dout)
    for k in prange(flat_dout.size):
        dx[k] = flat_dout[k] if flat_out[k] > 0 else 0
    return dx.reshape(dout.shape)


@njit(cache=True)
def add_bias(rows, b, relu):
    """rows (R, F) += b, in place; then rows = max(rows, 0) if relu."""
    for r in range(rows.shape[0]):
        for f in range(rows.shape[1]):
            value = rows[r, f] + b[f]
            rows[r, f] = (value if value > 0 else 0) if relu else value
