"""Kernels for MaxPool2D (nncore/layers/pool.py): 2x2 max pooling with stride 2, NHWC layout.

They compute what `maxpool2x2_reference_forward` and `maxpool2x2_reference_backward` in the
layer's module compute:

    out[n, i, j, c] = max over a, b in {0, 1} of x[n, 2i+a, 2j+b, c]       (N, H//2, W//2, C)

An odd last row or column is dropped (floor, like Keras). The backward sends each output
gradient to the input that won its window (the first one on ties), and every other input,
including a dropped row or column, gets zero:

    dx[n, 2i+a*, 2j+b*, c] = dout[n, i, j, c]

Optimizations: the forward records which of the four inputs won (0..3, one int8 per output),
so the backward neither keeps x nor compares again; both run over the images in parallel.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True)
def maxpool2x2_image(x: np.ndarray, out: np.ndarray, argmax: np.ndarray) -> None:
    """One image x (H, W, C) -> out (H//2, W//2, C) and argmax (same shape, int8 in 0..3)."""
    out_h, out_w, channels = out.shape
    for i in range(out_h):
        for j in range(out_w):
            for c in range(channels):
                best = x[2 * i, 2 * j, c]
                best_k = 0
                for k in range(1, 4):
                    value = x[2 * i + k // 2, 2 * j + k % 2, c]
                    if value > best:  # strict: the first maximum wins ties
                        best = value
                        best_k = k
                out[i, j, c] = best
                argmax[i, j, c] = best_k


@njit(cache=True)
def maxpool2x2_image_backward(dout: np.ndarray, argmax: np.ndarray, dx: np.ndarray) -> None:
    """One image's dout (H//2, W//2, C) and argmax -> dx (H, W, C), every entry written."""
    out_h, out_w, channels = dout.shape
    dx[2 * out_h:] = 0  # an odd last row or column took no part: zero gradient
    dx[:, 2 * out_w:] = 0
    for i in range(out_h):
        for j in range(out_w):
            for k in range(4):  # the window's inputs (a, b) = (k // 2, k % 2)
                for c in range(channels):
                    won = argmax[i, j, c] == k
                    dx[2 * i + k // 2, 2 * j + k % 2, c] = dout[i, j, c] if won else 0


@njit(cache=True, parallel=True)
def maxpool2x2_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x (N, H, W, C) -> out (N, H//2, W//2, C) and argmax (same shape, int8 in 0..3)."""
    n_images, height, width, channels = x.shape
    out = np.empty((n_images, height // 2, width // 2, channels), dtype=x.dtype)
    argmax = np.empty((n_images, height // 2, width // 2, channels), dtype=np.int8)
    for n in prange(n_images):
        maxpool2x2_image(x[n], out[n], argmax[n])
    return out, argmax


@njit(cache=True, parallel=True)
def maxpool2x2_backward(dout: np.ndarray, argmax: np.ndarray, height: int, width: int) -> np.ndarray:
    """dout (N, H//2, W//2, C), argmax from the forward -> dx (N, H, W, C)."""
    n_images, _, _, channels = dout.shape
    dx = np.empty((n_images, height, width, channels), dtype=dout.dtype)
    for n in prange(n_images):
        maxpool2x2_image_backward(dout[n], argmax[n], dx[n])
    return dx
