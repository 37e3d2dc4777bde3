"""Conv2D: a 2-D convolution, stride 1, no padding ("valid"), with bias and an optional ReLU.
NHWC layout.

Shapes:   x (N, H, W, C)  w (KH, KW, C, F)  b (F,)  ->  out (N, H-KH+1, W-KW+1, F)

Forward:  z[n, i, j, f] = b[f] + sum_{di, dj, c} x[n, i+di, j+dj, c] * w[di, dj, c, f]
          out = max(z, 0) with activation="relu", else out = z

Backward, given dout = dL/dout:
          dz               = dout * [out > 0] with the ReLU, else dout
          dw[di, dj, c, f] = sum_{n, i, j} x[n, i+di, j+dj, c] * dz[n, i, j, f]
          db[f]            = sum_{n, i, j} dz[n, i, j, f]
          dx[n, p, q, c]   = sum_{di, dj, f} dz[n, p-di, q-dj, f] * w[di, dj, c, f]
                             (over the (i, j) = (p-di, q-dj) that exist)

The textbook version below: `conv2d_reference_forward` by im2col, CS231n's way -- each output
pixel's KH x KW x C window of inputs laid out as one row of a patch matrix P, and the whole
sum one matrix product z = P @ W + b, W the filters as KH*KW*C rows of F columns;
`conv2d_reference_backward` one tap (di, dj) at a time: for a fixed tap, the sums over the
batch and the pixels are matrix products of the shifted window x[:, di:di+OH, dj:dj+OW, :] with
dz.

The layer's forward and backward call the kernels of nncore/kernels/conv.py, which turn all the
sums into one matrix product, z = P @ W + b, where the patch matrix P has a row of KH*KW*C
inputs per output pixel. They lay P out in memory in one of two ways, chosen here by the patch
size KH*KW*C (`method`):
  - "im2col": P itself, a patch per row. Best for a wide patch (the second layer: 3*3*32 = 288),
    where each patch is copied in runs of KW*C neighbouring numbers.
  - "taps": P transposed, the image shifted once per tap (di, dj, c). Best for a narrow patch
    (the first layer: 3*3*1 = 9), copied in runs of OW pixels.
The forward caches x and out (the ReLU's gradient needs only out > 0).
"""
from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from nncore.layers.base import Layer, activation_label, check_activation, glorot_uniform

TAPS_MAX_PATCH = 32  # lay the patches out as taps when KH*KW*C is at most this


def conv2d_reference_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, relu: bool) -> np.ndarray:
    """The textbook forward: x (N, H, W, C), w (KH, KW, C, F), b (F,) -> out (N, OH, OW, F)."""
    n, kernel_h, kernel_w, channels, filters = x.shape[0], *w.shape
    out_h, out_w = x.shape[1] - kernel_h + 1, x.shape[2] - kernel_w + 1
    patches = np.empty((n, out_h, out_w, kernel_h, kernel_w, channels), dtype=x.dtype)
    for di in range(kernel_h):
        for dj in range(kernel_w):   # tap (di, dj) of every pixel's window
            patches[:, :, :, di, dj, :] = x[:, di:di + out_h, dj:dj + out_w, :]
    z = patches.reshape(-1, kernel_h * kernel_w * channels) @ w.reshape(-1, filters) + b
    z = z.reshape(n, out_h, out_w, filters)
    return np.maximum(z, 0) if relu else z


def conv2d_reference_backward(dout: np.ndarray, out: np.ndarray, x: np.ndarray, w: np.ndarray,
                              relu: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The textbook backward: dout, out (N, OH, OW, F), x, w -> dx (N, H, W, C), dw, db."""
    dz = dout * (out > 0) if relu else dout  # the ReLU's gradient
    kernel_h, kernel_w = w.shape[:2]
    out_h, out_w = dout.shape[1:3]
    dx, dw = np.zeros_like(x), np.empty_like(w)
    for di in range(kernel_h):
        for dj in range(kernel_w):
            window = x[:, di:di + out_h, dj:dj + out_w, :]  # what tap (di, dj) saw
            dw[di, dj] = np.einsum("nijc,nijf->cf", window, dz)
            dx[:, di:di + out_h, dj:dj + out_w, :] += dz @ w[di, dj].T
    db = dz.sum(axis=(0, 1, 2))
    return dx, dw, db


class Conv2D(Layer):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 activation: str | None = None, rng: np.random.Generator | None = None,
                 dtype: DTypeLike = np.float32, method: str = "auto", initialise: bool = True) -> None:
        """Glorot-uniform weights drawn from `rng` (a fresh generator if None) and zero biases;
        with initialise=False all zeros, for weights loaded next (nncore/serialize.py), so
        that no random number is drawn."""
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.activation = check_activation(activation)
        if method == "auto":
            method = "taps" if kernel_size * kernel_size * in_channels <= TAPS_MAX_PATCH else "im2col"
        if method not in ("taps", "im2col"):
            raise ValueError(f"method must be 'auto', 'taps' or 'im2col', got {method!r}")
        self.method = method
        shape = (kernel_size, kernel_size, in_channels, out_channels)
        area = kernel_size * kernel_size
        if initialise:
            rng = np.random.default_rng() if rng is None else rng
            self.params["weight"] = glorot_uniform(shape, area * in_channels, area * out_channels, rng, dtype)
        else:
            self.params["weight"] = np.zeros(shape, dtype=dtype)
        self.params["bias"] = np.zeros(out_channels, dtype=dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        from nncore.kernels.conv import conv2d_forward  # here, not at the top: see layers/base.py
        relu, taps = self.activation == "relu", self.method == "taps"
        out = conv2d_forward(x, self.params["weight"], self.params["bias"], relu, taps)
        self.cache = (x, out)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        from nncore.kernels.conv import conv2d_backward  # here, not at the top: see layers/base.py
        x, out = self.cache
        relu, taps = self.activation == "relu", self.method == "taps"
        dx, dw, db = conv2d_backward(dout, out, x, self.params["weight"], relu, self.needs_input_grad, taps)
        self.grads["weight"], self.grads["bias"] = dw, db
        return dx if self.needs_input_grad else None

    def reference_forward(self, x: np.ndarray) -> np.ndarray:
        return conv2d_reference_forward(x, self.params["weight"], self.params["bias"],
                                        self.activation == "relu")

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        height, width, _ = input_shape
        k = self.kernel_size
        return (height - k + 1, width - k + 1, self.out_channels)

    def describe(self) -> str:
        k = self.kernel_size
        return f"Conv2D {self.out_channels} {k}x{k}{activation_label(self.activation)}"

    def config(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "activation": self.activation}
