"""ReLU: the rectified linear unit, element-wise. Any shape.

Forward:  out = max(x, 0)
Backward: dx  = dout * [x > 0]      (the forward caches out; out > 0 exactly where x > 0)
"""
from nncore.kernels.activation import relu_backward, relu_forward
from nncore.layers.base import Layer


class ReLU(Layer):
    def forward(self, x):
        out = relu_forward(x)
        self.cache = out
        return out

    def backward(self, dout):
        return relu_backward(dout, self.cache)
