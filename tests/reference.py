"""Straightforward NumPy versions of every layer, written independently of the kernels.

Slow and obvious on purpose: the tests compare the Numba kernels against these. The forward
passes of the convolution and pooling are the product's own NumPy ones (nncore/numpy_forward.py),
which no kernel shares code with.
"""
import numpy as np

from nncore.numpy_forward import conv2d as conv2d_forward, maxpool2x2 as maxpool_forward  # noqa: F401


def conv2d_backward(dout, x, w):
    kh, kw, _, _ = w.shape
    n, h, wd, _ = x.shape
    oh, ow = h - kh + 1, wd - kw + 1
    dout = dout.astype(np.float64)
    dx = np.zeros(x.shape, dtype=np.float64)
    dw = np.zeros(w.shape, dtype=np.float64)
    for di in range(kh):
        for dj in range(kw):
            dw[di, dj] = np.einsum("nijc,nijf->cf", x[:, di:di + oh, dj:dj + ow, :], dout)
            dx[:, di:di + oh, dj:dj + ow, :] += np.einsum("nijf,cf->nijc", dout, w[di, dj])
    return dx, dw, dout.sum(axis=(0, 1, 2))


def maxpool_backward(dout, x):
    """Gradient to the first maximum of each window, in row-major window order."""
    dx = np.zeros_like(x, dtype=np.float64)
    n, oh, ow, c = dout.shape
    for i in range(oh):
        for j in range(ow):
            window = x[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2, :].reshape(n, 4, c)
            first = window.argmax(axis=1)  # argmax returns the first maximum
            for k in range(4):
                hit = first == k
                dx[:, 2 * i + k // 2, 2 * j + k % 2, :] += np.where(hit, dout[:, i, j, :], 0)
    return dx


def dense_forward(x, w, b):
    return x.astype(np.float64) @ w + b


def dense_backward(dout, x, w):
    return dout @ w.T, x.T.astype(np.float64) @ dout, dout.sum(axis=0)


def softmax_cross_entropy(z, y):
    z = z.astype(np.float64)
    shifted = z - z.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.log(p[np.arange(n), y]).mean()
    one_hot = np.eye(z.shape[1])[y]
    return loss, (p - one_hot) / n, p
