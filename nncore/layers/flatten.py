"""Flatten: (N, d1, d2, ...) -> (N, d1*d2*...), in C order (NHWC: like Keras' Flatten).

Forward:  out = x.reshape(N, -1)
Backward: dx  = dout.reshape(x.shape)     (a reshape moves no numbers: nothing to compute)

No kernel: the forward and backward are the textbook version already.
"""
import math

import numpy as np

from nncore.layers.base import Layer


class Flatten(Layer):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout.reshape(self.cache)

    def reference_forward(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(x.shape[0], -1)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (math.prod(input_shape),)
