"""Dense: a fully connected layer with bias and an optional ReLU.

Shapes:   x (N, I)  w (I, O)  b (O,)  ->  out (N, O)

Forward:  z = x @ w + b          out = max(z, 0) with activation="relu", else out = z
Backward: dz = dout * [out > 0] with the ReLU, else dout
          dw = x.T @ dz     db = sum_n dz[n, :]     dx = dz @ w.T
"""
import numpy as np

from nncore.kernels.dense import dense_backward, dense_forward
from nncore.layers.base import Layer, check_activation, glorot_uniform


class Dense(Layer):
    def __init__(self, in_features, out_features, activation=None, rng=None, dtype=np.float32):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation = check_activation(activation)
        rng = np.random.default_rng() if rng is None else rng
        self.params["weight"] = glorot_uniform((in_features, out_features), in_features, out_features, rng, dtype)
        self.params["bias"] = np.zeros(out_features, dtype=dtype)

    def forward(self, x):
        out = dense_forward(x, self.params["weight"], self.params["bias"], self.activation == "relu")
        self.cache = (x, out)
        return out

    def backward(self, dout):
        x, out = self.cache
        relu = self.activation == "relu"
        dw, db, dx = dense_backward(dout, out, relu, x, self.params["weight"], self.needs_input_grad)
        self.grads["weight"], self.grads["bias"] = dw, db
        return dx if self.needs_input_grad else None

    def config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "activation": self.activation}
