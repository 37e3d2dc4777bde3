"""Kernels for Conv2D (nncore/layers/conv.py): a 2-D convolution, stride 1, no padding, NHWC.

They compute what `conv2d_reference_forward` and `conv2d_reference_backward` in the layer's
module compute. The convolution

    z[n, i, j, f] = b[f] + sum_{di, dj, c} x[n, i+di, j+dj, c] * w[di, dj, c, f]

becomes one matrix product once the inputs under each output pixel are laid out as a row of
the patch matrix P:

    P[(n, i, j), (di, dj, c)] = x[n, i+di, j+dj, c]         (N*OH*OW, KH*KW*C)
    z = P @ W + b,   W = w reshaped to                      (KH*KW*C, F)

and the backward, given dz = dout * [out > 0] (dout itself without a ReLU), is two more
products and the scatter of dP back onto the image ("col2im"):

    dW = P.T @ dz       db = sum over the rows of dz        dP = dz @ W.T     (N*OH*OW, KH*KW*C)
    dx[n, i+di, j+dj, c] += dP[(n, i, j), (di, dj, c)]

Optimizations (each one leaves the sums as they are):
  - Two layouts of P in memory, chosen by the layer (`Conv2D.method`) and passed as `taps`:
      im2col (taps=False): P itself, one row per output pixel, built by `im2col`. For a wide
        patch (the second layer: 3*3*32 = 288), copied in runs of KW*C neighbouring numbers.
      taps (taps=True): P.T, one row per tap (di, dj, c) holding the image shifted by (di, dj),
        built by `shifted_images`. For a narrow patch (the first layer: 3*3*1 = 9) a row of P
        is 9 numbers picked one by one, while a row of P.T is made of runs of OW neighbouring
        pixels. BLAS reads P.T transposed without a copy.
  - Chunks of 16 images in parallel (kernels/chunks.py). A chunk's P (16 images of 11x11
    patches of 3x3x32: 2.2 MB) is built, used and dropped while it is in the cache; the
    backward builds it again from x rather than keep the whole batch's (18 MB at batch 128)
    between the two passes. dW and db are summed per chunk, then over the chunks in order.
  - The bias and the ReLU are applied to a chunk's rows right after their product
    (kernels/bias_relu.py). The backward does all of a chunk's work at once -- dz, dW, db,
    then dP in P's own buffer, and dx -- so each stays in the cache from one formula to the next.
  - The products are BLAS calls that write into their last argument: np.dot(a, b, out) is
    out = a @ b.
"""
import numpy as np
from numba import njit, prange

from nncore.kernels.bias_relu import add_bias_relu, bias_gradient, relu_gradient
from nncore.kernels.chunks import (
    IMAGES_PER_CHUNK,
    chunk_bounds,
    chunk_queue,
    n_chunks,
    sum_chunks,
    take_chunk,
)


@njit(cache=True)
def im2col(x: np.ndarray, kernel_h: int, kernel_w: int, patches: np.ndarray) -> None:
    """x (n, H, W, C) -> patches (n*OH*OW, KH*KW*C) = P: row (n, i, j) is the patch that output
    pixel (i, j) of image n sees."""
    n_images, height, width, channels = x.shape
    out_h, out_w = height - kernel_h + 1, width - kernel_w + 1
    for n in range(n_images):
        for i in range(out_h):
            for j in range(out_w):
                row = (n * out_h + i) * out_w + j
                for di in range(kernel_h):
                    for dj in range(kernel_w):
                        for c in range(channels):
                            patches[row, (di * kernel_w + dj) * channels + c] = x[n, i + di, j + dj, c]


@njit(cache=True)
def shifted_images(x: np.ndarray, kernel_h: int, kernel_w: int, taps: np.ndarray) -> None:
    """x (n, H, W, C) -> taps (KH*KW*C, n*OH*OW) = P.T: row (di, dj, c) is channel c of every
    image, shifted by (di, dj)."""
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


@njit(cache=True)
def col2im(dpatches: np.ndarray, kernel_h: int, kernel_w: int, dx: np.ndarray) -> None:
    """The adjoint of im2col: add each row of dpatches (n*OH*OW, KH*KW*C) back onto its patch
    of dx (n, H, W, C)."""
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
                            dx[n, i + di, j + dj, c] += dpatches[row, (di * kernel_w + dj) * channels + c]


@njit(cache=True)
def conv_chunk_forward(x: np.ndarray, w2d: np.ndarray, b: np.ndarray, relu: bool, taps: bool,
                       kernel_h: int, kernel_w: int, rows: np.ndarray) -> None:
    """One chunk of images x (n, H, W, C) -> rows (n*OH*OW, F) = P @ W + b, then the fused ReLU if
    relu; w2d is w reshaped to W (KH*KW*C, F), P laid out as taps (P.T) if taps, else as im2col."""
    patch = w2d.shape[0]
    if taps:
        patches_t = np.empty((patch, rows.shape[0]), dtype=x.dtype)
        shifted_images(x, kernel_h, kernel_w, patches_t)
        np.dot(patches_t.T, w2d, rows)  # rows = P @ W
    else:
        patches = np.empty((rows.shape[0], patch), dtype=x.dtype)
        im2col(x, kernel_h, kernel_w, patches)
        np.dot(patches, w2d, rows)  # rows = P @ W
    add_bias_relu(rows, b, relu)


@njit(cache=True)
def conv_chunk_backward(dz: np.ndarray, x: np.ndarray, w2d_t: np.ndarray, taps: bool, kernel_h: int,
                        kernel_w: int, dw_part: np.ndarray, db_part: np.ndarray, input_grad: bool,
                        dx: np.ndarray) -> None:
    """One chunk's backward from dz (n*OH*OW, F), the ReLU's gradient already applied, and its
    images x (n, H, W, C): dw_part (KH*KW*C, F) = P.T @ dz, db_part (F,) = the sum of dz's rows,
    and if input_grad dx (n, H, W, C) = col2im(dz @ W.T); w2d_t is W.T (F, KH*KW*C)."""
    n_rows, patch = dz.shape[0], w2d_t.shape[1]
    buffer = np.empty(n_rows * patch, dtype=x.dtype)  # P's numbers, in either layout
    if taps:
        patches_t = buffer.reshape(patch, n_rows)
        shifted_images(x, kernel_h, kernel_w, patches_t)
        np.dot(patches_t, dz, dw_part)  # dw_part = P.T @ dz
    else:
        patches = buffer.reshape(n_rows, patch)
        im2col(x, kernel_h, kernel_w, patches)
        np.dot(patches.T, dz, dw_part)  # dw_part = P.T @ dz
    bias_gradient(dz, db_part)
    if input_grad:
        dpatches = buffer.reshape(n_rows, patch)  # reuse P's buffer: P is not needed any more
        np.dot(dz, w2d_t, dpatches)  # dpatches = dP = dz @ W.T
        col2im(dpatches, kernel_h, kernel_w, dx)


@njit(cache=True, parallel=True)
def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, relu: bool, taps: bool) -> np.ndarray:
    """x (N, H, W, C), w (KH, KW, C, F), b (F,) -> out (N, OH, OW, F) = P @ W + b, then the
    fused ReLU if relu; P laid out as taps (P.T) if taps, else as im2col (P)."""
    kernel_h, kernel_w, channels, filters = w.shape
    n_images, height, width, _ = x.shape
    out_h, out_w = height - kernel_h + 1, width - kernel_w + 1
    pixels = out_h * out_w
    w2d = w.reshape(kernel_h * kernel_w * channels, filters)
    out2d = np.empty((n_images * pixels, filters), dtype=x.dtype)
    chunks = n_chunks(n_images, IMAGES_PER_CHUNK)
    queue = chunk_queue()
    for _ in prange(chunks):  # workers: each takes chunks until none is left (kernels/chunks.py)
        chunk = take_chunk(queue)
        while chunk < chunks:
            start, stop = chunk_bounds(chunk, n_images, IMAGES_PER_CHUNK)
            conv_chunk_forward(x[start:stop], w2d, b, relu, taps, kernel_h, kernel_w,
                               out2d[start * pixels:stop * pixels])
            chunk = take_chunk(queue)
    return out2d.reshape(n_images, out_h, out_w, filters)


@njit(cache=True, parallel=True)
def conv2d_backward(dout: np.ndarray, out: np.ndarray, x: np.ndarray, w: np.ndarray, relu: bool,
                    input_grad: bool, taps: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dout, out (N, OH, OW, F), x (N, H, W, C), w (KH, KW, C, F) -> dx (N, H, W, C), dw, db.
    out is the forward's output, for the ReLU's gradient; dx is empty unless input_grad."""
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
    queue = chunk_queue()
    for _ in prange(chunks):  # workers: each takes chunks until none is left (kernels/chunks.py)
        chunk = take_chunk(queue)
        while chunk < chunks:
            start, stop = chunk_bounds(chunk, n_images, IMAGES_PER_CHUNK)
            rows = slice(start * pixels, stop * pixels)
            dz = relu_gradient(dout2d[rows], out2d[rows]) if relu else dout2d[rows]
            conv_chunk_backward(dz, x[start:stop], w2d_t, taps, kernel_h, kernel_w, dw_parts[chunk],
                                db_parts[chunk], input_grad, dx[start:stop])
            chunk = take_chunk(queue)
    dw, db = sum_chunks(dw_parts), sum_chunks(db_parts)
    return dx, dw.reshape(w.shape), db
