"""Kernels for Dense (nncore/layers/dense.py): a fully connected layer.

They compute what `dense_reference_forward` and `dense_reference_backward` in the layer's module
compute:

    forward:  z = x @ W + b,  out = max(z, 0) with the ReLU     x (N, I), W (I, O), b (O,) -> (N, O)
    backward: dz = dout * [out > 0] with the ReLU, else dout
              dW = x.T @ dz  (I, O)      db = sum_n dz[n]  (O,)      dx = dz @ W.T  (N, I)

Optimizations: like the convolution's kernels, each runs over chunks of 64 rows in parallel
(kernels/chunks.py), the bias and the ReLU applied to a chunk's rows right after its product
(kernels/bias_relu.py), the backward doing all of a chunk's work at once; dW and db are summed
per chunk, then over the chunks in order. W.T and x.T are read in place: BLAS takes a transposed
operand as it is, and copying W.T (800 KB for the first dense layer) made the backward about 10 %
slower.
The products are BLAS calls that write into their last argument: np.dot(a, b, out) is out = a @ b.
"""
import numpy as np
from numba import njit, prange

from nncore.kernels.bias_relu import add_bias_relu, bias_gradient, relu_gradient
from nncore.kernels.chunks import ROWS_PER_CHUNK, chunk_bounds, chunk_queue, n_chunks, sum_chunks, take_chunk


@njit(cache=True, parallel=True)
def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, relu: bool) -> np.ndarray:
    """x (N, I), w (I, O), b (O,) -> out (N, O) = x @ w + b, then the fused ReLU if relu."""
    n_rows = x.shape[0]
    out = np.empty((n_rows, w.shape[1]), dtype=x.dtype)
    chunks = n_chunks(n_rows, ROWS_PER_CHUNK)
    queue = chunk_queue()
    for _ in prange(chunks):  # workers: each takes chunks until none is left (kernels/chunks.py)
        chunk = take_chunk(queue)
        while chunk < chunks:
            start, stop = chunk_bounds(chunk, n_rows, ROWS_PER_CHUNK)
            rows = out[start:stop]
            np.dot(x[start:stop], w, rows)  # rows = x @ W
            add_bias_relu(rows, b, relu)
            chunk = take_chunk(queue)
    return out


@njit(cache=True, parallel=True)
def dense_backward(dout: np.ndarray, out: np.ndarray, x: np.ndarray, w: np.ndarray, relu: bool,
                   input_grad: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dout, out (N, O), x (N, I), w (I, O) -> dx (N, I), dw (I, O), db (O,).
    out is the forward's output, for the ReLU's gradient; dx is empty unless input_grad."""
    n_rows = x.shape[0]
    chunks = n_chunks(n_rows, ROWS_PER_CHUNK)
    dw_parts = np.empty((chunks, w.shape[0], w.shape[1]), dtype=dout.dtype)
    db_parts = np.empty((chunks, w.shape[1]), dtype=dout.dtype)
    dx = np.empty((n_rows if input_grad else 0, w.shape[0]), dtype=dout.dtype)
    queue = chunk_queue()
    for _ in prange(chunks):  # workers: each takes chunks until none is left (kernels/chunks.py)
        chunk = take_chunk(queue)
        while chunk < chunks:
            start, stop = chunk_bounds(chunk, n_rows, ROWS_PER_CHUNK)
            dz = relu_gradient(dout[start:stop], out[start:stop]) if relu else dout[start:stop]
            np.dot(x[start:stop].T, dz, dw_parts[chunk])  # dw_parts[chunk] = x.T @ dz
            bias_gradient(dz, db_parts[chunk])
            if input_grad:
                np.dot(dz, w.T, dx[start:stop])  # dx[start:stop] = dz @ W.T
            chunk = take_chunk(queue)
    dw, db = sum_chunks(dw_parts), sum_chunks(db_parts)
    return dx, dw, db
