"""Flatten: (N, d1, d2, ...) -> (N, d1*d2*...), in C order (NHWC: like Keras' Flatten).

Forward:  out = x.reshape(N, -1)
Backward: dx  = dout.reshape(x.shape)     (a reshape moves no numbers: nothing to compute)
"""
from nncore.layers.base import Layer


class Flatten(Layer):
    def forward(self, x):
        self.cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        return dout.reshape(self.cache)
