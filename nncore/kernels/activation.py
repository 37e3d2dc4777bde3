"""Kernels for the ReLU activation.

    forward:  out = max(x, 0)
    backward: dx  = dout * (out > 0)      (the gradient passes where the input was positive)

`relu_forward` and `relu_backward` serve the standalone ReLU layer. A Conv2D or Dense layer with
activation="relu" applies the forward inside its own kernel (kernels/bias.py), and its backward
kernel calls `activation_gradient` on one chunk's rows at a time, while they are in the cache.
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
def activation_gradient(dout_rows, out_rows, relu):
    """dz = dout * (out > 0) with a ReLU, else a copy of dout; rows (R, F) -> dz (R, F)."""
    dz = np.empty_like(dout_rows)
    for r in range(dz.shape[0]):
        for f in range(dz.shape[1]):
            dz[r, f] = dout_rows[r, f] if out_rows[r, f] > 0 or not relu else 0
    return dz
