"""Dropout: inverted dropout. Any shape.

Training:  mask = [u >= rate] / (1 - rate),  u ~ Uniform[0, 1) drawn fresh for every batch
           out = x * mask          dx = dout * mask
Inference: out = x                 (the 1 / (1 - rate) scaling during training keeps the
                                    expected activation the same, so nothing changes here)

The uniform draws come from the layer's own seeded NumPy Generator (Numba's random numbers
ignore NumPy's seed), so the same seed gives the same masks, run after run.
"""
import numpy as np

from nncore.kernels.dropout import dropout_mask, multiply
from nncore.layers.base import Layer


class Dropout(Layer):
    def __init__(self, rate, seed=None):
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.rng = np.random.default_rng(seed)

    def forward(self, x):
        if not self.training or self.rate == 0.0:
            self.cache = None
            return x
        mask = dropout_mask(self.rng.random(x.shape, dtype=x.dtype), self.rate)
        self.cache = mask
        return multiply(x, mask)

    def backward(self, dout):
        mask = self.cache
        return dout if mask is None else multiply(dout, mask)

    def config(self):
        return {"rate": self.rate}
