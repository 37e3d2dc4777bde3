"""Kernels for a 3x3 Conv2D and the MaxPool2D 2x2 after it, run as one (nncore/layers/conv_pool.py),
by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional
Neural Networks", 2016).

They compute what the two layers' textbook versions compute one after the other (as
kernels/conv_pool.py does, whose docstring says why the backward needs only the pooled output
and each window's winner), with fewer multiplications.

F(2, 3) in one dimension. Two outputs of a 3-tap filter g over inputs d0..d3,
    y0 = d0 g0 + d1 g1 + d2 g2,        y1 = d1 g0 + d2 g1 + d3 g2,
take four multiplications instead of six:
    v = (d0 - d2,  d1 + d2,  d2 - d1,  d1 - d3)                   the inputs transformed
    u = (g0,  (g0 + g1 + g2) / 2,  (g0 - g1 + g2) / 2,  g2)        the filter transformed
    m = v * u  (four products),   y0 = m0 + m1 + m2,   y1 = m1 - m2 - m3
Expand m1 + m2 = d1 g1 + d2 g0 + d2 g2 and m1 - m2 = d1 g0 + d1 g2 + d2 g1: the other terms
cancel, so y0 and y1 are exactly the two sums above, for any numbers. In two dimensions the
same transforms run along the rows and then along the columns: a 2x2 block of outputs Y of one
filter (c, f) comes from the 4x4 block of inputs d under it, as

    Y = A^T [ (G g G^T) * (B^T d B) ] A       16 products instead of 36

where B^T d B applies the inputs' transform to d's columns and then to its rows (a 4x4 result),
G g G^T the filter's to the 3x3 filter (4x4), A^T m A the outputs' to the 4x4 products (2x2).
Summed over the channels c, each of the 16 positions (xi, nu) of the transformed blocks is a
matrix product over all blocks at once:

    V[xi nu][block, c] = (B^T d B)[xi, nu]     U[xi nu][c, f] = (G g G^T)[xi, nu]
    M[xi nu] = V[xi nu] @ U[xi nu]            z_block = A^T M A + b

The 2x2 output blocks are exactly the pooling's windows: block (i, j) covers the outputs
(2i..2i+1, 2j..2j+1), read from the inputs (2i..2i+3, 2j..2j+3). Only the blocks the pooling
keeps are computed -- an odd last output row or column is dropped by the pooling anyway -- and
each block's four outputs go straight to the ReLU and the window's maximum.

The backward is the forward's computation run in reverse: each step above is linear, and its
gradient is its transposed map. Given dY, the pooled gradient at the window's winner (zero at the
other three outputs, and zero where the ReLU cut the maximum):

    dM = A dY A^T               dU[xi nu] = V[xi nu].T @ dM[xi nu]      dg = G^T dU G
    dV[xi nu] = dM[xi nu] @ U[xi nu].T       dd = B dV B^T, added onto the block's 4x4 inputs
    db = the sum of dY

These are the exact derivatives of the forward's arithmetic; as that arithmetic equals the
convolution's sums, they equal its gradients (dw, db, dx) up to float rounding.

Optimizations: on the second layer of the seed model (13x13x32 -> 11x11x64, pooled 5x5) this does
25 blocks x 16 = 400 products per (c, f) and image instead of 121 x 9 = 1,089, forward and
each of the backward's two products. The blocks of a chunk of images are transformed into V in
a chunk-sized buffer, multiplied by 16 BLAS calls, and the products transformed straight into the
pooled output: the convolution's output is never written. V is built again in the backward
rather than kept. Chunks run in parallel; dU and db are summed per chunk, then over the chunks
in order (kernels/chunks.py).
"""
import numpy as np
from numba import njit, prange

from nncore.kernels.bias_relu import bias_gradient, relu_gradient
from nncore.kernels.chunks import (
    IMAGES_PER_CHUNK,
    chunk_bounds,
    chunk_queue,
    n_chunks,
    sum_chunks,
    take_chunk,
)

# The filters' transform of F(2, 3): u = G g, three taps -> four numbers (a module constant,
# which Numba compiles into the kernels).
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])


# The one-dimensional transforms of the inputs and outputs, and their transposes for the backward.

@njit(cache=True)
def inputs_1d(d0, d1, d2, d3):
    """(B^T d) for four inputs."""
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


@njit(cache=True)
def inputs_1d_backward(e0, e1, e2, e3):
    """(B e): the gradient for the four inputs, given that of their transform e."""
    return e0, e1 - e2 + e3, e1 + e2 - e0, -e3


@njit(cache=True)
def outputs_1d(m0, m1, m2, m3):
    """(A^T m): two outputs from four products."""
    return m0 + m1 + m2, m1 - m2 - m3


@njit(cache=True)
def outputs_1d_backward(y0, y1):
    """(A y): the gradient for the four products, given that of the two outputs."""
    return y0, y0 + y1, y0 - y1, -y1


# The two-dimensional transforms: along the columns of a block, then along its rows.

@njit(cache=True)
def filter_transform(w: np.ndarray) -> np.ndarray:
    """w (3, 3, C, F) -> U (16, C, F): U[4 xi + nu] = (G g G^T)[xi, nu], g = w[:, :, c, f]. As one
    product: (G g G^T)[xi, nu] = sum over (di, dj) of G[xi, di] G[nu, dj] g[di, dj], the Kronecker
    product G (x) G (16, 9) times the filters as 9 rows (3 di + dj) of C * F."""
    channels, filters = w.shape[2], w.shape[3]
    g_kron = np.kron(G, G).astype(w.dtype)
    u = np.empty((16, channels, filters), dtype=w.dtype)
    np.dot(g_kron, w.reshape(9, channels * filters), u.reshape(16, channels * filters))  # U = (GxG) w
    return u


@njit(cache=True)
def filter_transform_backward(du: np.ndarray) -> np.ndarray:
    """dU (16, C, F) -> dw (3, 3, C, F) = G^T dU G for each (c, f): the transpose of filter_transform."""
    channels, filters = du.shape[1], du.shape[2]
    g_kron_t = np.kron(G, G).T.astype(du.dtype)
    dw = np.empty((3, 3, channels, filters), dtype=du.dtype)
    np.dot(g_kron_t, du.reshape(16, channels * filters), dw.reshape(9, channels * filters))  # dw = (GxG).T dU
    return dw


# Each transform below runs its innermost loop over the channels (or filters) of one block, on
# one-dimensional rows like x[n, r, s] (the C channels of input pixel (r, s)): contiguous, so that
# Numba compiles the loop to vector instructions, several channels at a time.

@njit(cache=True)
def input_transform(x: np.ndarray, v: np.ndarray) -> None:
    """x (n, H, W, C) -> V (16, n * PH * PW, C): V[4 xi + nu, block] = (B^T d B)[xi, nu] for the
    4x4 block d of inputs under each pooling window (PH, PW = (H - 2) // 2, (W - 2) // 2)."""
    n_images, height, width, channels = x.shape
    pool_h, pool_w = (height - 2) // 2, (width - 2) // 2
    columns = np.empty((4, 4, channels), dtype=x.dtype)  # B^T d
    for n in range(n_images):
        for i in range(pool_h):
            for j in range(pool_w):
                block = (n * pool_h + i) * pool_w + j
                top, left = 2 * i, 2 * j
                for s in range(4):  # B^T d: down each column s of the block
                    d0, d1, d2, d3 = (x[n, top, left + s], x[n, top + 1, left + s], x[n, top + 2, left + s],
                                      x[n, top + 3, left + s])
                    e0, e1, e2, e3 = columns[0, s], columns[1, s], columns[2, s], columns[3, s]
                    for c in range(channels):
                        e0[c], e1[c], e2[c], e3[c] = inputs_1d(d0[c], d1[c], d2[c], d3[c])
                for xi in range(4):  # then (B^T d) B: along each row xi
                    d0, d1, d2, d3 = columns[xi, 0], columns[xi, 1], columns[xi, 2], columns[xi, 3]
                    e0, e1, e2, e3 = (v[4 * xi, block], v[4 * xi + 1, block], v[4 * xi + 2, block],
                                      v[4 * xi + 3, block])
                    for c in range(channels):
                        e0[c], e1[c], e2[c], e3[c] = inputs_1d(d0[c], d1[c], d2[c], d3[c])


@njit(cache=True)
def input_transform_backward(dv: np.ndarray, dx: np.ndarray) -> None:
    """dV (16, n * PH * PW, C) -> dx (n, H, W, C): each block's B dV B^T added onto its 4x4 inputs
    (the transpose of input_transform; neighbouring blocks share two rows or columns of inputs).
    Every entry of dx is written, zero where no block reaches."""
    n_images, height, width, channels = dx.shape
    pool_h, pool_w = (height - 2) // 2, (width - 2) // 2
    rows = np.empty((4, 4, channels), dtype=dx.dtype)  # dV B^T
    dx[:] = 0
    for n in range(n_images):
        for i in range(pool_h):
            for j in range(pool_w):
                block = (n * pool_h + i) * pool_w + j
                top, left = 2 * i, 2 * j
                for xi in range(4):  # dV B^T: along each row xi
                    d0, d1, d2, d3 = (dv[4 * xi, block], dv[4 * xi + 1, block], dv[4 * xi + 2, block],
                                      dv[4 * xi + 3, block])
                    e0, e1, e2, e3 = rows[xi, 0], rows[xi, 1], rows[xi, 2], rows[xi, 3]
                    for c in range(channels):
                        e0[c], e1[c], e2[c], e3[c] = inputs_1d_backward(d0[c], d1[c], d2[c], d3[c])
                for s in range(4):  # then B (dV B^T): down each column s, added onto the block's inputs
                    d0, d1, d2, d3 = rows[0, s], rows[1, s], rows[2, s], rows[3, s]
                    e0, e1, e2, e3 = (dx[n, top, left + s], dx[n, top + 1, left + s],
                                      dx[n, top + 2, left + s], dx[n, top + 3, left + s])
                    for c in range(channels):
                        g0, g1, g2, g3 = inputs_1d_backward(d0[c], d1[c], d2[c], d3[c])
                        e0[c] += g0
                        e1[c] += g1
                        e2[c] += g2
                        e3[c] += g3


@njit(cache=True)
def output_transform_pool(m: np.ndarray, b: np.ndarray, relu: bool, pooled: np.ndarray,
                          argmax: np.ndarray) -> None:
    """M (16, n * PH * PW, F) -> each block's 2x2 outputs z = A^T M A + b, pooled into pooled
    (n, PH, PW, F), with the fused ReLU if relu, and argmax: the window's winner k = 2a + b, the
    first maximum of z (with the ReLU, the first maximum of max(z, 0) wherever that is positive:
    the only windows whose winner gets a gradient)."""
    n_images, pool_h, pool_w, filters = pooled.shape
    columns = np.empty((2, 4, filters), dtype=m.dtype)  # A^T M
    z = np.empty((4, filters), dtype=m.dtype)  # the block's four outputs, k = 2a + b
    for n in range(n_images):
        for i in range(pool_h):
            for j in range(pool_w):
                block = (n * pool_h + i) * pool_w + j
                for nu in range(4):  # A^T M: down each column nu
                    m0, m1, m2, m3 = m[nu, block], m[4 + nu, block], m[8 + nu, block], m[12 + nu, block]
                    e0, e1 = columns[0, nu], columns[1, nu]
                    for f in range(filters):
                        e0[f], e1[f] = outputs_1d(m0[f], m1[f], m2[f], m3[f])
                for a in range(2):  # then (A^T M) A: along each row a
                    m0, m1, m2, m3 = columns[a, 0], columns[a, 1], columns[a, 2], columns[a, 3]
                    e0, e1 = z[2 * a], z[2 * a + 1]
                    for f in range(filters):
                        e0[f], e1[f] = outputs_1d(m0[f], m1[f], m2[f], m3[f])
                out, winner = pooled[n, i, j], argmax[n, i, j]
                for f in range(filters):
                    best, best_k = z[0, f], 0
                    for k in range(1, 4):
                        if z[k, f] > best:  # strict: the first maximum wins ties, as in MaxPool2D
                            best, best_k = z[k, f], k
                    best += b[f]
                    out[f] = (best if best > 0 else 0) if relu else best
                    winner[f] = best_k


@njit(cache=True)
def output_transform_pool_backward(dwin: np.ndarray, argmax: np.ndarray, dm: np.ndarray) -> None:
    """dwin (n, PH, PW, F), the gradient at each window's winner -> dM (16, n * PH * PW, F) = A dY A^T,
    dY the block's 2x2 output gradient: dwin at the winner, zero at the other three."""
    n_images, pool_h, pool_w, filters = dwin.shape
    rows = np.empty((2, 4, filters), dtype=dm.dtype)  # dY A^T
    for n in range(n_images):
        for i in range(pool_h):
            for j in range(pool_w):
                block = (n * pool_h + i) * pool_w + j
                g, k = dwin[n, i, j], argmax[n, i, j]
                for a in range(2):  # dY A^T: along each row a of dY (g at the winner, 0 elsewhere)
                    e0, e1, e2, e3 = rows[a, 0], rows[a, 1], rows[a, 2], rows[a, 3]
                    for f in range(filters):
                        e0[f], e1[f], e2[f], e3[f] = outputs_1d_backward(g[f] * (k[f] == 2 * a),
                                                                         g[f] * (k[f] == 2 * a + 1))
                for nu in range(4):  # then A (dY A^T): down each column nu
                    y0, y1 = rows[0, nu], rows[1, nu]
                    e0, e1, e2, e3 = dm[nu, block], dm[4 + nu, block], dm[8 + nu, block], dm[12 + nu, block]
                    for f in range(filters):
                        e0[f], e1[f], e2[f], e3[f] = outputs_1d_backward(y0[f], y1[f])


@njit(cache=True, parallel=True)
def winograd_conv2d_maxpool_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray,
                                    relu: bool) -> tuple[np.ndarray, np.ndarray]:
    """x (N, H, W, C), w (3, 3, C, F), b (F,) -> pooled (N, (H-2)//2, (W-2)//2, F), the 2x2 max
    pool of the convolution's output (with the fused ReLU if relu), and argmax (int8 in 0..3)."""
    n_images, height, width, channels = x.shape
    filters = w.shape[3]
    pool_h, pool_w = (height - 2) // 2, (width - 2) // 2
    u = filter_transform(w)
    pooled = np.empty((n_images, pool_h, pool_w, filters), dtype=x.dtype)
    argmax = np.empty((n_images, pool_h, pool_w, filters), dtype=np.int8)
    chunks = n_chunks(n_images, IMAGES_PER_CHUNK)
    queue = chunk_queue()
    for _ in prange(chunks):  # workers: each takes chunks until none is left (kernels/chunks.py)
        chunk = take_chunk(queue)
        while chunk < chunks:
            start, stop = chunk_bounds(chunk, n_images, IMAGES_PER_CHUNK)
            blocks = (stop - start) * pool_h * pool_w
            v = np.empty((16, blocks, channels), dtype=x.dtype)
            m = np.empty((16, blocks, filters), dtype=x.dtype)
            input_transform(x[start:stop], v)
            for k in range(16):
                np.dot(v[k], u[k], m[k])  # M[k] = V[k] @ U[k]
            output_transform_pool(m, b, relu, pooled[start:stop], argmax[start:stop])
            chunk = take_chunk(queue)
    return pooled, argmax


@njit(cache=True, parallel=True)
def winograd_conv2d_maxpool_backward(dpooled: np.ndarray, pooled: np.ndarray, argmax: np.ndarray,
                                     x: np.ndarray, w: np.ndarray, relu: bool,
                                     input_grad: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dpooled, pooled, argmax (N, PH, PW, F), x (N, H, W, C), w (3, 3, C, F) -> dx (N, H, W, C),
    dw, db; pooled and argmax are the forward's; dx is empty unless input_grad."""
    n_images, height, width, channels = x.shape
    filters = w.shape[3]
    pool_h, pool_w = dpooled.shape[1], dpooled.shape[2]
    u = filter_transform(w)
    chunks = n_chunks(n_images, IMAGES_PER_CHUNK)
    du_parts = np.empty((chunks, 16, channels, filters), dtype=dpooled.dtype)
    db_parts = np.empty((chunks, filters), dtype=dpooled.dtype)
    dx = np.empty(x.shape if input_grad else (0, 0, 0, 0), dtype=dpooled.dtype)
    queue = chunk_queue()
    for _ in prange(chunks):  # workers: each takes chunks until none is left (kernels/chunks.py)
        chunk = take_chunk(queue)
        while chunk < chunks:
            start, stop = chunk_bounds(chunk, n_images, IMAGES_PER_CHUNK)
            blocks = (stop - start) * pool_h * pool_w
            dwin = dpooled[start:stop]  # the gradient at each window's winner
            if relu:  # the ReLU's gradient: at the winner, out is the pooled value
                dwin = relu_gradient(dwin.reshape(-1, filters),
                                     pooled[start:stop].reshape(-1, filters)).reshape(dwin.shape)
            bias_gradient(dwin.reshape(-1, filters), db_parts[chunk])
            dm = np.empty((16, blocks, filters), dtype=dpooled.dtype)
            output_transform_pool_backward(dwin, argmax[start:stop], dm)
            v = np.empty((16, blocks, channels), dtype=x.dtype)
            input_transform(x[start:stop], v)
            for k in range(16):
                np.dot(v[k].T, dm[k], du_parts[chunk, k])  # du_parts[chunk, k] = V[k].T @ dM[k]
            if input_grad:
                dv = v  # reuse V's buffer: V is not needed any more
                for k in range(16):
                    np.dot(dm[k], u[k].T, dv[k])  # dV[k] = dM[k] @ U[k].T
                input_transform_backward(dv, dx[start:stop])
            chunk = take_chunk(queue)
    dw, db = filter_transform_backward(sum_chunks(du_parts)), sum_chunks(db_parts)
    return dx, dw, db
