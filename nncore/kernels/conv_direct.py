"""Kernels for a 2-D convolution computed directly from its definition, NHWC layout.

    out[n, i, j, f]  = b[f] + sum_{di, dj, c} x[n, i+di, j+dj, c] * w[di, dj, c, f]
    dw[di, dj, c, f] = sum_{n, i, j} x[n, i+di, j+dj, c] * dout[n, i, j, f]
    db[f]            = sum_{n, i, j} dout[n, i, j, f]

(dx needs no kernel of its own here: conv2d_backward_input in conv.py uses only dout and w.)
The innermost loop runs over the output channels f, contiguous in memory, so the compiler
vectorises it. For a layer with few inputs per output (the first layer: 1 channel, 3x3, so
9 multiplications per output) this beats building im2col patches for a thin matrix product.
"""
import numpy as np
from numba import njit, prange

from nncore.kernels.chunks import chunk_bounds, n_chunks, sum_chunks


@njit(cache=True, parallel=True)
def conv2d_direct_forward(x, w, b):
    """x (N, H, W, C), w (KH, KW, C, F), b (F,) -> out (N, OH, OW, F)."""
    kernel_h, kernel_w, channels, filters = w.shape
    n_images, height, width, _ = x.shape
    out_h, out_w = height - kernel_h + 1, width - kernel_w + 1
    out = np.empty((n_images, out_h, out_w, filters), dtype=x.dtype)
    for n in prange(n_images):
        for i in range(out_h):
            row = out[n, i]  # one output row, (OW, F): small enough to stay in the L1 cache
            row[:] = b
            for di in range(kernel_h):
                for dj in range(kernel_w):
                    for c in range(channels):
                        for j in range(out_w):
                            pixel = x[n, i + di, j + dj, c]
                            for f in range(filters):
                                row[j, f] += pixel * w[di, dj, c, f]
    return out


@njit(cache=True, parallel=True)
def conv2d_direct_backward_params(dout, x, kernel_h, kernel_w):
    """dout (N, OH, OW, F), x (N, H, W, C) -> dw (KH, KW, C, F), db (F,)."""
    n_images, out_h, out_w, filters = dout.shape
    channels = x.shape[3]
    chunks = n_chunks(n_images)
    dw_parts = np.zeros((chunks, kernel_h, kernel_w, channels, filters), dtype=dout.dtype)
    db_parts = np.zeros((chunks, filters), dtype=dout.dtype)
    for chunk in prange(chunks):
        start, stop = chunk_bounds(chunk, n_images)
        dw, db = dw_parts[chunk], db_parts[chunk]
        for n in range(start, stop):
            for i in range(out_h):
                grads = dout[n, i]  # (OW, F)
                for j in range(out_w):
                    db += grads[j]
                for di in range(kernel_h):
                    for dj in range(kernel_w):
                        for c in range(channels):
                            for j in range(out_w):
                                pixel = x[n, i + di, j + dj, c]
                                for f in range(filters):
                                    dw[di, dj, c, f] += pixel * grads[j, f]
    dw, db = sum_chunks(dw_parts), sum_chunks(db_parts)
    return dw, db
