"""The whole network's forward pass in plain NumPy: inference without any compiled kernel.

    conv2d:  out[n, i, j, f] = b[f] + sum_{di, dj, c} x[n, i+di, j+dj, c] * w[di, dj, c, f]
    maxpool: out[n, i, j, c] = max_{a, b in {0, 1}} x[n, 2i+a, 2j+b, c]
    relu:    out = max(x, 0)          dense: out = x @ w + b          dropout: out = x

The same formulas as the layers' Numba kernels, written with NumPy array operations instead
of loops. They serve two purposes: a one-off prediction (`python evaluate.py one.png`) that
would otherwise spend more time loading compiled kernels than computing, and an independent
implementation that the tests compare the kernels against.
"""
import numpy as np

from nncore.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU
from nncore.loss import log_softmax_numpy


def conv2d(x, w, b):
    """x (N, H, W, C), w (KH, KW, C, F), b (F,) -> (N, H-KH+1, W-KW+1, F)."""
    kernel_h, kernel_w = w.shape[:2]
    out_h, out_w = x.shape[1] - kernel_h + 1, x.shape[2] - kernel_w + 1
    out = np.zeros((x.shape[0], out_h, out_w, w.shape[3]), dtype=np.result_type(x, w))
    for di in range(kernel_h):
        for dj in range(kernel_w):
            out += x[:, di:di + out_h, dj:dj + out_w, :] @ w[di, dj]
    return out + b


def maxpool2x2(x):
    """x (N, H, W, C) -> (N, H//2, W//2, C); an odd last row or column is dropped."""
    n, h, w, c = x.shape
    windows = x[:, :h // 2 * 2, :w // 2 * 2, :].reshape(n, h // 2, 2, w // 2, 2, c)
    return windows.max(axis=(2, 4))


def forward(model, x):
    """Logits of a Sequential model (inference mode) for inputs x (N, H, W, C)."""
    for layer in model.layers:
        if isinstance(layer, Conv2D):
            x = conv2d(x, layer.params["weight"], layer.params["bias"])
            x = np.maximum(x, 0) if layer.activation == "relu" else x
        elif isinstance(layer, MaxPool2D):
            x = maxpool2x2(x)
        elif isinstance(layer, ReLU):
            x = np.maximum(x, 0)
        elif isinstance(layer, Flatten):
            x = x.reshape(len(x), -1)
        elif isinstance(layer, Dense):
            x = x @ layer.params["weight"] + layer.params["bias"]
            x = np.maximum(x, 0) if layer.activation == "relu" else x
        elif not isinstance(layer, Dropout):  # dropout is the identity at inference
            raise TypeError(f"no NumPy forward for {type(layer).__name__}")
    return x


def predict(model, x):
    """Class probabilities (N, K), like model.predict, without calling any Numba kernel."""
    return np.exp(log_softmax_numpy(forward(model, x)))
