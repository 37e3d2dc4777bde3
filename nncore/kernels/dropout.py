"""Kernels for Dropout (nncore/layers/dropout.py): inverted dropout.

They compute what `dropout_reference_forward` and `dropout_reference_backward` in the layer's
module compute. While training, each activation is kept with probability 1 - rate and scaled
by 1 / (1 - rate), so that its expected value is unchanged and inference needs no rescaling:

    mask[k] = [u[k] >= rate] / (1 - rate),  u[k] ~ Uniform[0, 1)   (drawn by the layer in NumPy)
    forward:  out = x * mask
    backward: dx  = dout * mask

Optimizations: one parallel loop over the flattened array each.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def dropout_mask(uniform: np.ndarray, rate: float) -> np.ndarray:
    """uniform draws in [0, 1) -> the scaled keep-mask, same shape and dtype."""
    flat = uniform.reshape(-1)
    mask = np.empty_like(flat)
    scale = 1.0 / (1.0 - rate)
    for k in prange(flat.size):
        mask[k] = scale if flat[k] >= rate else 0.0
    return mask.reshape(uniform.shape)


@njit(cache=True, parallel=True)
def multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise a * b: the forward (x * mask) and the backward (dout * mask) alike."""
    flat_a = a.reshape(-1)
    flat_b = b.reshape(-1)
    out = np.empty_like(flat_a)
    for k in prange(flat_a.size):
        out[k] = flat_a[k] * flat_b[k]
    return out.reshape(a.shape)
