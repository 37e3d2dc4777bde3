"""Dense: a fully connected layer with bias.

Shapes:   x (N, I)  w (I, O)  b (O,)  ->  out (N, O)

Forward:  out = x @ w + b
Backward: dw = x.T @ dout     db = sum_n dout[n, :]     dx = dout @ w.T
"""
import numpy as np

from nncore.kernels.dense import dense_backward_input, dense_backward_params, dense_forward
from nncore.layers.base import Layer, glorot_uniform


class Dense(Layer):
    def __init__(self, in_features, out_features, rng=None, dtype=np.float32):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        rng = np.random.default_rng() if rng is None else rng
        self.params["weight"] = glorot_uniform((in_features, out_features), in_features, out_features, rng, dtype)
        self.params["bias"] = np.zeros(out_features, dtype=dtype)

    def forward(self, x):
        self.cache = x
        return dense_forward(x, self.params["weight"], self.params["bias"])

    def backward(self, dout):
        x = self.cache
        self.grads["weight"], self.grads["bias"] = dense_backward_params(dout, x)
        if not self.needs_input_grad:
            return None
        return dense_backward_input(dout, self.params["weight"])

    def config(self):
        return {"in_features": self.in_features, "out_features": self.out_features}
