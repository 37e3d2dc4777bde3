"""Dropout: inverted dropout. Any shape.

Training:  mask = [u >= rate] / (1 - rate),  u ~ Uniform[0, 1) drawn fresh for every batch
           out = x * mask          dx = dout * mask
Inference: out = x                 (the 1 / (1 - rate) scaling during training keeps the
                                    expected activation the same, so nothing changes here)

The uniform draws come from the layer's own seeded NumPy Generator (Numba's random numbers
ignore NumPy's seed), so the same seed gives the same masks, run after run. The textbook
version is below; the layer's forward and backward call the kernels of nncore/kernels/dropout.py.
"""
from __future__ import annotations

import numpy as np

from nncore.layers.base import Layer


def dropout_reference_forward(x: np.ndarray, uniform: np.ndarray,
                              rate: float) -> tuple[np.ndarray, np.ndarray]:
    """The textbook forward while training: x, uniform draws u (same shape) -> out, mask."""
    mask = ((uniform >= rate) / (1 - rate)).astype(x.dtype)
    return x * mask, mask


def dropout_reference_backward(dout: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The textbook backward: dx = dout * mask."""
    return dout * mask


class Dropout(Layer):
    def __init__(self, rate: float, seed: int | None = None) -> None:
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.seed, self._rng = seed, None

    @property
    def rng(self) -> np.random.Generator:
        """The generator of the masks, made from `seed` when first needed: a model that only
        predicts never imports numpy.random for it."""
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        return self._rng

    @rng.setter
    def rng(self, generator: np.random.Generator) -> None:
        self._rng = generator

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.rate == 0.0:
            self.cache = None
            return x
        from nncore.kernels.dropout import dropout_mask, multiply  # here, not at the top: see layers/base.py
        mask = dropout_mask(self.rng.random(x.shape, dtype=x.dtype), self.rate)
        self.cache = mask
        return multiply(x, mask)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        mask = self.cache
        if mask is None:
            return dout
        from nncore.kernels.dropout import multiply  # here, not at the top: see layers/base.py
        return multiply(dout, mask)

    def reference_forward(self, x: np.ndarray) -> np.ndarray:
        return x  # the identity at inference

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return input_shape

    def describe(self) -> str:
        return f"Dropout {self.rate:g}"

    def config(self) -> dict:
        return {"rate": self.rate}
