"""Kernels for a 2-D convolution, stride 1, no padding, NHWC layout.

The convolution  out[n, i, j, f] = b[f] + sum_{di, dj, c} x[n, i+di, j+dj, c] * w[di, dj, c, f]
becomes one matrix product once every input patch is laid out as a row ("im2col"):

    cols[(n, i, j), (di, dj, c)] = x[n, i+di, j+dj, c]        (N*OH*OW, KH*KW*C)
    out = cols @ W + b,   W = w reshaped to                    (KH*KW*C, F)
    (then max(out, 0) for a layer with a ReLU, on a chunk's rows while they are in the cache)

and the backward pass, given dz = dout * (out > 0) (or dout without a ReLU), is two more products
and the scatter of the patches back ("col2im"):

    dW    = cols.T @ dz                                        (KH*KW*C, F)
    db    = sum over rows of dz                                (F,)
    dcols = dz @ W.T                                           (N*OH*OW, KH*KW*C)
    dx[n, i+di, j+dj, c] += dcols[(n, i, j), (di, dj, c)]

Each kernel runs over chunks of 16 images (kernels/chunks.py) in parallel; the products are BLAS
calls (np.dot) on a chunk's rows. dW and db are summed per chunk, then over chunks in order.
A chunk's patches (16 images of 11x11 patches of 3x3x32: 2.2 MB) are built, used and dropped
while they are still in the cache; the backward builds them again from x rather than keeping
the whole batch's patches (18 MB at batch 128) in memory between the two passes. The backward
does all of a chunk's work at once -- dz, dW, db, then dcols in the patches' buffer and dx --
so each of these stays in the cache from one formula to the next.
"""
import numpy as np
from numba import njit, prange

from nncore.kernels.activation import activation_gradient
from nncore.kernels.bias import add_bias, bias_gradient
from nncore.kernels.chunks import IMAGES_PER_CHUNK, chunk_bounds, n_chunks, sum_chunks


@njit(cache=True)
def im2col(x, kernel_h, kernel_w, cols):
    """x (n, H, W, C) -> cols (n*OH*OW, KH*KW*C), one row per output pixel."""
    n_images, height, width, channels = x.shape
    out_h, out_w = height - kernel_h + 1, width - kernel_w + 1
    for n in range(n_images):
        for i in range(out_h):
            for j in range(out_w):
                row = (n * out_h + i) * out_w + j
                for di in range(kernel_h):
                    for dj in range(kernel_w):
                        for c in range(channels):
                            cols[row, (di * kernel_w + dj) * channels + c] = x[n, i + di, j + dj, c]


@njit(cache=True)
def col2im(dcols, kernel_h, kernel_w, dx):
    """The adjoint of im2col: add each row of dcols back onto its patch of dx (n, H, W, C)."""
    n_images, height, width, channels = dx.shape
    out_h, out_w = height - kernel_h + 1, width - kernel_w + 1
    dx[:] = 0
    for n in range(n_images):
        for i in range(out_h):
            for j in range(out_w):
                row = (n * out_h + i) * out_w + j
                for di in range(kernel_h):
                    for dj in range(kernel_w):
                        for c in range(channels):
                            dx[n, i + di, j + dj, c] += dcols[row, (di * kernel_w + dj) * channels + c]


@njit(cache=True, parallel=True)
def conv2d_forward(x, w, b, relu):
    """x (N, H, W, C), w (KH, KW, C, F), b (F,) -> out (N, OH, OW, F); max(out, 0) if relu."""
    kernel_h, kernel_w, channels, filters = w.shape
    n_images, height, width, _ = x.shape
    out_h, out_w = height - kernel_h + 1, width - kernel_w + 1
    pixels, patch = out_h * out_w, kernel_h * kernel_w * channels
    w2d = w.reshape(patch, filters)
    out2d = np.empty((n_images * pixels, filters), dtype=x.dtype)
    for chunk in prange(n_chunks(n_images, IMAGES_PER_CHUNK)):
        start, stop = chunk_bounds(chunk, n_images, IMAGES_PER_CHUNK)
        cols = np.empty(((stop - start) * pixels, patch), dtype=x.dtype)
        im2col(x[start:stop], kernel_h, kernel_w, cols)
        rows = out2d[start * pixels:stop * pixels]
        np.dot(cols, w2d, rows)
        add_bias(rows, b, relu)
    return out2d.reshape(n_images, out_h, out_w, filters)


@njit(cache=True, parallel=True)
def conv2d_backward(dout, out, relu, x, w, input_grad):
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
        cols = np.empty(((stop - start) * pixels, patch), dtype=x.dtype)
        im2col(x[start:stop], kernel_h, kernel_w, cols)
        np.dot(cols.T, dz, dw_parts[chunk])
        bias_gradient(dz, db_parts[chunk])
        if input_grad:
            np.dot(dz, w2d_t, cols)  # cols now holds dcols
            col2im(cols, kernel_h, kernel_w, dx[start:stop])
    dw, db = sum_chunks(dw_parts), sum_chunks(db_parts)
    return dw.reshape(w.shape), db, dx
