"""Conv2D: a 2-D convolution, stride 1, no padding ("valid"), with bias and an optional ReLU.
NHWC layout.

Shapes:   x (N, H, W, C)  w (KH, KW, C, F)  b (F,)  ->  out (N, H-KH+1, W-KW+1, F)

Forward:  z[n, i, j, f] = b[f] + sum_{di, dj, c} x[n, i+di, j+dj, c] * w[di, dj, c, f]
          out = max(z, 0) with activation="relu", else out = z

Backward, given dout = dL/dout:
          dz               = dout * [out > 0] with the ReLU, else dout
          dw[di, dj, c, f] = sum_{n, i, j} x[n, i+di, j+dj, c] * dz[n, i, j, f]
          db[f]            = sum_{n, i, j} dz[n, i, j, f]
          dx[n, y, z, c]   = sum_{di, dj, f} dz[n, y-di, z-dj, f] * w[di, dj, c, f]
                             (over the (i, j) = (y-di, z-dj) that exist)

Both ways of computing it turn the sums into one matrix product, z = P @ W + b, where P has a
row of KH*KW*C inputs (a patch) per output pixel. They differ in how P is laid out in memory,
chosen by the patch size KH*KW*C:
  - "im2col" (kernels/conv.py): P itself, a patch per row. Best for a wide patch (the second
    layer: 3*3*32 = 288), where each patch is copied in runs of KW*C neighbouring numbers.
  - "taps" (kernels/conv_taps.py): P transposed, the image shifted once per tap (di, dj, c).
    Best for a narrow patch (the first layer: 3*3*1 = 9), copied in runs of OW pixels.
The forward caches x and out. Each kernel works on a chunk of images at a time: the forward
applies the ReLU to a chunk of z while it is still in the cache, and the backward computes dz,
dw, db and dx for a chunk in one go. dx is the same matrix product and scatter either way.
"""
import numpy as np

from nncore.kernels.conv import conv2d_backward, conv2d_forward
from nncore.kernels.conv_taps import conv2d_taps_backward, conv2d_taps_forward
from nncore.layers.base import Layer, check_activation, glorot_uniform

TAPS_MAX_PATCH = 32  # lay the patches out as taps when KH*KW*C is at most this


class Conv2D(Layer):
    def __init__(self, in_channels, out_channels, kernel_size, activation=None, rng=None,
                 dtype=np.float32, method="auto"):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.activation = check_activation(activation)
        if method == "auto":
            method = "taps" if kernel_size * kernel_size * in_channels <= TAPS_MAX_PATCH else "im2col"
        if method not in ("taps", "im2col"):
            raise ValueError(f"method must be 'auto', 'taps' or 'im2col', got {method!r}")
        self.method = method
        rng = np.random.default_rng() if rng is None else rng
        shape = (kernel_size, kernel_size, in_channels, out_channels)
        area = kernel_size * kernel_size
        self.params["weight"] = glorot_uniform(shape, area * in_channels, area * out_channels, rng, dtype)
        self.params["bias"] = np.zeros(out_channels, dtype=dtype)

    def forward(self, x):
        forward = conv2d_taps_forward if self.method == "taps" else conv2d_forward
        out = forward(x, self.params["weight"], self.params["bias"], self.activation == "relu")
        self.cache = (x, out)
        return out

    def backward(self, dout):
        x, out = self.cache
        backward = conv2d_taps_backward if self.method == "taps" else conv2d_backward
        relu = self.activation == "relu"
        dw, db, dx = backward(dout, out, relu, x, self.params["weight"], self.needs_input_grad)
        self.grads["weight"], self.grads["bias"] = dw, db
        return dx if self.needs_input_grad else None

    def config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "activation": self.activation}
