"""Kernels for a convolution whose patch is narrow (few input channels), NHWC layout.

The same matrix product as kernels/conv.py, out = P @ W + b with P the patch matrix
(one row per output pixel, one column per tap (di, dj, c)), but P is built transposed:
one row per tap, holding what every output pixel sees through that tap -- the image shifted
by (di, dj):

    taps[(di, dj, c), (n, i, j)] = x[n, i+di, j+dj, c]          (KH*KW*C, n*OH*OW)  = P.T

    out = taps.T @ W + b          dW = taps @ dz          db = sum over pixels of dz

(dz = dout * (out > 0), or dout without a ReLU.) For the first layer (3x3, one channel) a row of
P is only 9 numbers picked one by one, while a row of `taps` is made of runs of OW neighbouring
pixels, copied in one go. BLAS reads taps.T as P without a copy. dx does not involve the patches
(dcols = dz @ W.T, then col2im from kernels/conv.py), and the first layer skips it anyway.
"""
import numpy as np
from numba import njit, prange

from nncore.kernels.activation import activation_gradient
from nncore.kernels.bias import add_bias, bias_gradient
from nncore.kernels.chunks import IMAGES_PER_CHUNK, chunk_bounds, n_chunks, sum_chunks
from nncore.kernels.conv import col2im


@njit(cache=True)
def shifted_images(x, kernel_h, kernel_w, taps):
    """x (n, H, W, C) -> taps (KH*KW*C, n*OH*OW): row (di, dj, c) is channel c shifted by (di, dj)."""
    n_images, height, width, channels = x.shape
    out_h, out_w = height - kernel_h + 1, width - kernel_w + 1
    for di in range(kernel_h):
        for dj in range(kernel_w):
            for c in range(channels):
                row = taps[(di * kernel_w + dj) * channels + c]
                for n in range(n_images):
                    for i in range(out_h):
                        start = (n * out_h + i) * out_w
                        for j in range(out_w):
                            row[start + j] = x[n, i + di, j + dj, c]


@njit(cache=True, parallel=True)
def conv2d_taps_forward(x, w, b, relu):
    """x (N, H, W, C), w (KH, KW, C, F), b (F,) -> out (N, OH, OW, F); max(out, 0) if relu."""
    kernel_h, kernel_w, channels, filters = w.shape
    n_images, height, width, _ = x.shape
    out_h, out_w = height - kernel_h + 1, width - kernel_w + 1
    pixels, patch = out_h * out_w, kernel_h * kernel_w * channels
    w2d = w.reshape(patch, filters)
    out2d = np.empty((n_images * pixels, filters), dtype=x.dtype)
    for chunk in prange(n_chunks(n_images, IMAGES_PER_CHUNK)):
        start, stop = chunk_bounds(chunk, n_images, IMAGES_PER_CHUNK)
        taps = np.empty((patch, (stop - start) * pixels), dtype=x.dtype)
        shifted_images(x[start:stop], kernel_h, kernel_w, taps)
        rows = out2d[start * pixels:stop * pixels]
        np.dot(taps.T, w2d, rows)
        add_bias(rows, b, relu)
    return out2d.reshape(n_images, out_h, out_w, filters)


@njit(cache=True, parallel=True)
def conv2d_taps_backward(dout, out, relu, x, w, input_grad):
    """dout, out (N, OH, OW, F), x (N, H, W, C), w (KH, KW, C, F) -> dw, db and dx (N, H, W, C);
    dx is empty unless input_grad. out is the forward's output, for the ReLU's gradient."""
    kernel_h, kernel_w, channels, filters = w.shape
    n_images, out_h, out_w, _ = dout.shape
    pixels, patch = out_h * out_w, kernel_h * kernel_w * channels
    dout2d = dout.reshape(n_images * pixels, filters)
    out2d = out.reshape(n_images * pixels, filters)
    w2d_t = w.reshape(patch, filters).T.copy()
    chunks = n_chunks(n_images, IMAGES_PER_CHUNK)
    dw_parts = np.empty((chunks, patch, filters), dtype=dout.dtype)
    db_parts = np.empty((chunks, filters), dtype=dout.dtype)
    dx = np.empty(x.shape if input_grad else (0, 0, 0, 0), dtype=dout.dtype)
    for chunk in prange(chunks):
        start, stop = chunk_bounds(chunk, n_images, IMAGES_PER_CHUNK)
        rows = slice(start * pixels, stop * pixels)
        dz = activation_gradient(dout2d[rows], out2d[rows], relu)
        taps = np.empty((patch, (stop - start) * pixels), dtype=x.dtype)
        shifted_images(x[start:stop], kernel_h, kernel_w, taps)
        np.dot(taps, dz, dw_parts[chunk])
        bias_gradient(dz, db_parts[chunk])
        if input_grad:
            col2im(np.dot(dz, w2d_t), kernel_h, kernel_w, dx[start:stop])
    dw, db = sum_chunks(dw_parts), sum_chunks(db_parts)
    return dw.reshape(w.shape), db, dx
