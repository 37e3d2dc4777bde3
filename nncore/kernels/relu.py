"""Kernels for the standalone ReLU layer (nncore/layers/relu.py), element-wise on any shape.

They compute what `relu_reference_forward` and `relu_reference_backward` in the layer's module
compute:

    forward:  out = max(x, 0)
    backward: dx  = dout * [out > 0]      (the gradient passes where the input was positive)

A Conv2D or Dense layer with activation="relu" does not use these: its ReLU is fused into its
own kernels (kernels/bias_relu.py). Optimizations: one parallel loop over the flattened array.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def relu_forward(x: np.ndarray) -> np.ndarray:
    """x (any shape) -> out = max(x, 0), same shape."""
    flat = x.reshape(-1)
    out = np.empty_like(flat)
    for k in prange(flat.size):
        out[k] = flat[k] if flat[k] > 0 else 0
    return out.reshape(x.shape)


@njit(cache=True, parallel=True)
def relu_backward(dout: np.ndarray, out: np.ndarray) -> np.ndarray:
    """dout, out (same shape) -> dx = dout * [out > 0]."""
    flat_dout = dout.reshape(-1)
    flat_out = out.reshape(-1)
    dx = np.empty_like(flat_dout)
    for k in prange(flat_dout.size):
        dx[k] = flat_dout[k] if flat_out[k] > 0 else 0
    return dx.reshape(dout.shape)
