"""MaxPool2D: max pooling over 2x2 windows with stride 2. NHWC layout.

Shapes:   x (N, H, W, C)  ->  out (N, H//2, W//2, C)   (an odd last row/column is dropped)

Forward:  out[n, i, j, c] = max_{a, b in {0,1}} x[n, 2i+a, 2j+b, c]
Backward: the gradient flows only to the input that was the maximum (the first one on ties):
          dx[n, 2i+a, 2j+b, c] = dout[n, i, j, c] if (a, b) won the window, else 0
"""
from nncore.kernels.pool import maxpool2x2_backward, maxpool2x2_forward
from nncore.layers.base import Layer


class MaxPool2D(Layer):
    def __init__(self, pool_size=2):
        super().__init__()
        if pool_size != 2:
            raise ValueError("MaxPool2D supports pool_size=2 (stride 2) only")
        self.pool_size = pool_size

    def forward(self, x):
        out, argmax = maxpool2x2_forward(x)
        self.cache = (x.shape, argmax)
        return out

    def backward(self, dout):
        (_, height, width, _), argmax = self.cache
        return maxpool2x2_backward(dout, argmax, height, width)

    def config(self):
        return {"pool_size": self.pool_size}
