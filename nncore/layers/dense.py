"""Dense: a fully connected layer with bias and an optional ReLU.

Shapes:   x (N, I)  w (I, O)  b (O,)  ->  out (N, O)

Forward:  z = x @ w + b          out = max(z, 0) with activation="relu", else out = z
Backward: dz = dout * [out > 0] with the ReLU, else dout
          dw = x.T @ dz     db = sum_n dz[n, :]     dx = dz @ w.T

The textbook version is below; the layer's forward and backward call the kernels of
nncore/kernels/dense.py. The forward caches x and out (the ReLU's gradient needs only out > 0).
"""
from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from nncore.layers.base import Layer, activation_label, check_activation, glorot_uniform


def dense_reference_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, relu: bool) -> np.ndarray:
    """The textbook forward: x (N, I), w (I, O), b (O,) -> out (N, O)."""
    z = x @ w + b
    return np.maximum(z, 0) if relu else z


def dense_reference_backward(dout: np.ndarray, out: np.ndarray, x: np.ndarray, w: np.ndarray,
                             relu: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The textbook backward: dout, out (N, O), x (N, I), w (I, O) -> dx (N, I), dw, db."""
    dz = dout * (out > 0) if relu else dout  # the ReLU's gradient
    return dz @ w.T, x.T @ dz, dz.sum(axis=0)


class Dense(Layer):
    def __init__(self, in_features: int, out_features: int, activation: str | None = None,
                 rng: np.random.Generator | None = None, dtype: DTypeLike = np.float32,
                 initialise: bool = True) -> None:
        """Glorot-uniform weights drawn from `rng` (a fresh generator if None) and zero biases;
        with initialise=False all zeros, for weights loaded next (nncore/serialize.py), so
        that no random number is drawn."""
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation = check_activation(activation)
        shape = (in_features, out_features)
        if initialise:
            rng = np.random.default_rng() if rng is None else rng
            self.params["weight"] = glorot_uniform(shape, in_features, out_features, rng, dtype)
        else:
            self.params["weight"] = np.zeros(shape, dtype=dtype)
        self.params["bias"] = np.zeros(out_features, dtype=dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        from nncore.kernels.dense import dense_forward  # here, not at the top: see layers/base.py
        out = dense_forward(x, self.params["weight"], self.params["bias"], self.activation == "relu")
        self.cache = (x, out)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        from nncore.kernels.dense import dense_backward  # here, not at the top: see layers/base.py
        x, out = self.cache
        relu = self.activation == "relu"
        dx, dw, db = dense_backward(dout, out, x, self.params["weight"], relu, self.needs_input_grad)
        self.grads["weight"], self.grads["bias"] = dw, db
        return dx if self.needs_input_grad else None

    def reference_forward(self, x: np.ndarray) -> np.ndarray:
        return dense_reference_forward(x, self.params["weight"], self.params["bias"],
                                       self.activation == "relu")

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.out_features,)

    def describe(self) -> str:
        return f"Dense {self.out_features}{activation_label(self.activation)}"

    def config(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "activation": self.activation}
