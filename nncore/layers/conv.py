"""Conv2D: a 2-D convolution, stride 1, no padding ("valid"), with bias. NHWC layout.

Shapes:   x (N, H, W, C)  w (KH, KW, C, F)  b (F,)  ->  out (N, H-KH+1, W-KW+1, F)

Forward:  out[n, i, j, f] = b[f] + sum_{di, dj, c} x[n, i+di, j+dj, c] * w[di, dj, c, f]

Backward, given dout = dL/dout:
          dw[di, dj, c, f] = sum_{n, i, j} x[n, i+di, j+dj, c] * dout[n, i, j, f]
          db[f]            = sum_{n, i, j} dout[n, i, j, f]
          dx[n, y, z, c]   = sum_{di, dj, f} dout[n, y-di, z-dj, f] * w[di, dj, c, f]
                             (over the (i, j) = (y-di, z-dj) that exist)

The kernels (nncore/kernels/conv.py) compute these sums as matrix products over the input
patches ("im2col"); the patches are what the forward caches for dw.
"""
import numpy as np

from nncore.kernels.conv import conv2d_backward_input, conv2d_backward_params, conv2d_forward
from nncore.layers.base import Layer, glorot_uniform


class Conv2D(Layer):
    def __init__(self, in_channels, out_channels, kernel_size, rng=None, dtype=np.float32):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        rng = np.random.default_rng() if rng is None else rng
        shape = (kernel_size, kernel_size, in_channels, out_channels)
        area = kernel_size * kernel_size
        self.params["weight"] = glorot_uniform(shape, area * in_channels, area * out_channels, rng, dtype)
        self.params["bias"] = np.zeros(out_channels, dtype=dtype)

    def forward(self, x):
        out, cols = conv2d_forward(x, self.params["weight"], self.params["bias"])
        self.cache = (x.shape, cols)
        return out

    def backward(self, dout):
        x_shape, cols = self.cache
        weight = self.params["weight"]
        self.grads["weight"], self.grads["bias"] = conv2d_backward_params(dout, cols, weight.shape)
        if not self.needs_input_grad:
            return None
        return conv2d_backward_input(dout, weight, x_shape)

    def config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size}
