"""What every layer has in common.

A layer maps a batch forward and a gradient backward:

    out = layer.forward(x)        caches what the backward will need
    dx  = layer.backward(dout)    uses only that cache; stores dL/dparam in layer.grads

`params` and `grads` are dicts of arrays with the same keys ("weight", "bias"); an optimiser
reads both and updates `params` in place. A layer with `needs_input_grad = False` (the first
layer of a model: nothing comes before it) skips computing dx and returns None.
"""
import numpy as np


class Layer:
    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True
        self.needs_input_grad = True
        self.cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def config(self) -> dict:
        """The constructor arguments that rebuild this layer (saved as the model's JSON)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


ACTIVATIONS = (None, "relu")


def check_activation(activation):
    """The activation a Conv2D or Dense layer applies to its output: None or "relu"."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be None or 'relu', got {activation!r}")
    return activation


def glorot_uniform(shape, fan_in, fan_out, rng, dtype):
    """Glorot/Xavier uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), Keras' default."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)
