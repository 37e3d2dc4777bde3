"""Kernels for a Conv2D and the MaxPool2D 2x2 after it, run as one (nncore/layers/conv_pool.py),
with the convolution's patch matrix laid out as taps or as im2col (kernels/conv.py).

They compute what the two layers' textbook versions compute one after the other,

    out    = conv2d_reference_forward(x, w, b, relu)          (N, OH, OW, F)
    pooled = maxpool2x2_reference_forward(out)                (N, OH//2, OW//2, F)

and back, given dpooled: the pooling's backward sends dpooled to each window's winner, the
convolution's backward takes it from there. They return the pooled output and the winner of each
window (argmax, as MaxPool2D's kernel records it), never the convolution's whole output.

Why the backward needs no more than that: the gradient reaching the convolution's output is zero
except at the winners, where it is dpooled; with the ReLU, dz = dout * [out > 0], and at a winner
out is the window's maximum, the pooled value. So

    dz = unpool(dpooled * [pooled > 0], argmax)                (N, OH, OW, F)

then dW, db and dx are the convolution's backward of dz (kernels/conv.py, `conv_chunk_backward`).

Optimizations: the convolution's output of a chunk of images lives only in a chunk-sized buffer,
in the cache, where the pooling reads it: the full-size output (11 MB for the first layer at batch
128) is never written, read back by the pooling, nor its gradient written by the pooling's
backward and read back by the convolution's. The backward builds dz the same way, one chunk at a
time. Each chunk is the same code as the layers' own kernels (`conv_chunk_forward`,
`maxpool2x2_image`, ...), so the sums are the same: the results are bit-identical to running the
two layers' kernels one after the other. Chunks are scheduled as in kernels/chunks.py.
"""
import numpy as np
from numba import njit, prange

from nncore.kernels.bias_relu import relu_gradient
from nncore.kernels.chunks import (
    IMAGES_PER_CHUNK,
    chunk_bounds,
    chunk_queue,
    n_chunks,
    sum_chunks,
    take_chunk,
)
from nncore.kernels.conv import conv_chunk_backward, conv_chunk_forward
from nncore.kernels.pool import maxpool2x2_image, maxpool2x2_image_backward


@njit(cache=True, parallel=True)
def conv2d_maxpool_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, relu: bool,
                           taps: bool) -> tuple[np.ndarray, np.ndarray]:
    """x (N, H, W, C), w (KH, KW, C, F), b (F,) -> pooled (N, OH//2, OW//2, F), the 2x2 max pool of
    the convolution's output (with the fused ReLU if relu), and argmax (same shape, int8 in 0..3)."""
    kernel_h, kernel_w, channels, filters = w.shape
    n_images, height, width, _ = x.shape
    out_h, out_w = height - kernel_h + 1, width - kernel_w + 1
    w2d = w.reshape(kernel_h * kernel_w * channels, filters)
    pooled = np.empty((n_images, out_h // 2, out_w // 2, filters), dtype=x.dtype)
    argmax = np.empty((n_images, out_h // 2, out_w // 2, filters), dtype=np.int8)
    chunks = n_chunks(n_images, IMAGES_PER_CHUNK)
    queue = chunk_queue()
    for _ in prange(chunks):  # workers: each takes chunks until none is left (kernels/chunks.py)
        chunk = take_chunk(queue)
        while chunk < chunks:
            start, stop = chunk_bounds(chunk, n_images, IMAGES_PER_CHUNK)
            out = np.empty((stop - start, out_h, out_w, filters), dtype=x.dtype)  # this chunk's only
            conv_chunk_forward(x[start:stop], w2d, b, relu, taps, kernel_h, kernel_w,
                               out.reshape(-1, filters))
            for n in range(stop - start):
                maxpool2x2_image(out[n], pooled[start + n], argmax[start + n])
            chunk = take_chunk(queue)
    return pooled, argmax


@njit(cache=True, parallel=True)
def conv2d_maxpool_backward(dpooled: np.ndarray, pooled: np.ndarray, argmax: np.ndarray, x: np.ndarray,
                            w: np.ndarray, relu: bool, input_grad: bool,
                            taps: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dpooled, pooled, argmax (N, OH//2, OW//2, F), x (N, H, W, C), w (KH, KW, C, F) -> dx
    (N, H, W, C), dw, db; pooled and argmax are the forward's; dx is empty unless input_grad."""
    kernel_h, kernel_w, channels, filters = w.shape
    n_images, height, width, _ = x.shape
    out_h, out_w = height - kernel_h + 1, width - kernel_w + 1
    patch = kernel_h * kernel_w * channels
    w2d_t = w.reshape(patch, filters).T.copy()
    chunks = n_chunks(n_images, IMAGES_PER_CHUNK)
    dw_parts = np.empty((chunks, patch, filters), dtype=dpooled.dtype)
    db_parts = np.empty((chunks, filters), dtype=dpooled.dtype)
    dx = np.empty(x.shape if input_grad else (0, 0, 0, 0), dtype=dpooled.dtype)
    queue = chunk_queue()
    for _ in prange(chunks):  # workers: each takes chunks until none is left (kernels/chunks.py)
        chunk = take_chunk(queue)
        while chunk < chunks:
            start, stop = chunk_bounds(chunk, n_images, IMAGES_PER_CHUNK)
            dwin = dpooled[start:stop]  # the gradient at each window's winner
            if relu:  # the ReLU's gradient: at the winner, out is the pooled value
                dwin = relu_gradient(dwin.reshape(-1, filters),
                                     pooled[start:stop].reshape(-1, filters)).reshape(dwin.shape)
            dz = np.empty((stop - start, out_h, out_w, filters), dtype=dpooled.dtype)  # this chunk's only
            for n in range(stop - start):
                maxpool2x2_image_backward(dwin[n], argmax[start + n], dz[n])
            conv_chunk_backward(dz.reshape(-1, filters), x[start:stop], w2d_t, taps, kernel_h, kernel_w,
                                dw_parts[chunk], db_parts[chunk], input_grad, dx[start:stop])
            chunk = take_chunk(queue)
    dw, db = sum_chunks(dw_parts), sum_chunks(db_parts)
    return dx, dw.reshape(w.shape), db
