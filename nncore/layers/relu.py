"""ReLU: the rectified linear unit, element-wise, as a layer of its own. Any shape.

Forward:  out = max(x, 0)
Backward: dx  = dout * [x > 0]      (the forward caches out; out > 0 exactly where x > 0)

The seed model has no ReLU layer: its ReLUs are the `activation` of the Conv2D or Dense layer
before them, fused into that layer's kernels (nncore/kernels/bias_relu.py). This layer's
kernels are in nncore/kernels/relu.py; the textbook version is below.
"""
import numpy as np

from nncore.layers.base import Layer


def relu_reference_forward(x: np.ndarray) -> np.ndarray:
    """The textbook forward: out = max(x, 0)."""
    return np.maximum(x, 0)


def relu_reference_backward(dout: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The textbook backward: dx = dout * [out > 0]."""
    return dout * (out > 0)


class ReLU(Layer):
    def forward(self, x: np.ndarray) -> np.ndarray:
        from nncore.kernels.relu import relu_forward  # here, not at the top: see layers/base.py
        out = relu_forward(x)
        self.cache = out
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        from nncore.kernels.relu import relu_backward  # here, not at the top: see layers/base.py
        return relu_backward(dout, self.cache)

    def reference_forward(self, x: np.ndarray) -> np.ndarray:
        return relu_reference_forward(x)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return input_shape
