"""Conv2D: a 2-D convolution, stride 1, no padding ("valid"), with bias. NHWC layout.

Shapes:   x (N, H, W, C)  w (KH, KW, C, F)  b (F,)  ->  out (N, H-KH+1, W-KW+1, F)

Forward:  out[n, i, j, f] = b[f] + sum_{di, dj, c} x[n, i+di, j+dj, c] * w[di, dj, c, f]

Backward, given dout = dL/dout:
          dw[di, dj, c, f] = sum_{n, i, j} x[n, i+di, j+dj, c] * dout[n, i, j, f]
          db[f]            = sum_{n, i, j} dout[n, i, j, f]
          dx[n, y, z, c]   = sum_{di, dj, f} dout[n, y-di, z-dj, f] * w[di, dj, c, f]
                             (over the (i, j) = (y-di, z-dj) that exist)

Two ways to compute it, chosen by the number of multiplications per output, KH*KW*C:
  - "im2col" (kernels/conv.py): lay every input patch out as a row, then one matrix product
    (BLAS) does all the sums. Best for a wide patch (the second layer: 3*3*32 = 288).
  - "direct" (kernels/conv_direct.py): the loops above as written. Best for a narrow patch
    (the first layer: 3*3*1 = 9), where a matrix product would be too thin.
Either way the forward caches x; both give dx with the same matrix product and scatter.
"""
import numpy as np

from nncore.kernels.conv import conv2d_backward_input, conv2d_backward_params, conv2d_forward
from nncore.kernels.conv_direct import conv2d_direct_backward_params, conv2d_direct_forward
from nncore.layers.base import Layer, glorot_uniform

DIRECT_MAX_PATCH = 32  # use the direct loops when KH*KW*C is at most this


class Conv2D(Layer):
    def __init__(self, in_channels, out_channels, kernel_size, rng=None, dtype=np.float32, method="auto"):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        if method == "auto":
            method = "direct" if kernel_size * kernel_size * in_channels <= DIRECT_MAX_PATCH else "im2col"
        if method not in ("direct", "im2col"):
            raise ValueError(f"method must be 'auto', 'direct' or 'im2col', got {method!r}")
        self.method = method
        rng = np.random.default_rng() if rng is None else rng
        shape = (kernel_size, kernel_size, in_channels, out_channels)
        area = kernel_size * kernel_size
        self.params["weight"] = glorot_uniform(shape, area * in_channels, area * out_channels, rng, dtype)
        self.params["bias"] = np.zeros(out_channels, dtype=dtype)

    def forward(self, x):
        weight, bias = self.params["weight"], self.params["bias"]
        self.cache = x
        if self.method == "direct":
            return conv2d_direct_forward(x, weight, bias)
        return conv2d_forward(x, weight, bias)

    def backward(self, dout):
        x = self.cache
        weight = self.params["weight"]
        if self.method == "direct":
            dw, db = conv2d_direct_backward_params(dout, x, self.kernel_size, self.kernel_size)
        else:
            dw, db = conv2d_backward_params(dout, x, weight.shape)
        self.grads["weight"], self.grads["bias"] = dw, db
        if not self.needs_input_grad:
            return None
        return conv2d_backward_input(dout, weight, x.shape)

    def config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size}
