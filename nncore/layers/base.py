"""What every layer has in common.

A layer maps a batch forward and a gradient backward:

    out = layer.forward(x)        caches what the backward will need
    dx  = layer.backward(dout)    uses only that cache; stores dL/dparam in layer.grads

`params` and `grads` are dicts of arrays with the same keys ("weight", "bias"); an optimiser
reads both and updates `params` in place. A layer with `needs_input_grad = False` (the first
layer of a model: nothing comes before it) skips computing dx and returns None.

Each layer's module holds its maths twice, CS231n's naive/fast pairing:
  - the textbook version: functions such as `conv2d_reference_forward` and
    `conv2d_reference_backward`, the module's formulas written in plain NumPy. Slow and obvious
    on purpose: the tests check the kernels against them, `layer.reference_forward(x)` runs
    them at inference (`model.predict(x, reference=True)`), and they are the place to start
    reading;
  - `forward` and `backward`, which call the Numba kernels of nncore/kernels/: optimisations of
    the textbook version that compute the same sums, faster.
The kernels are imported inside `forward` and `backward`, not at the top of the module:
importing them imports Numba (about half a second), which the textbook version never needs,
so that `import nncore.layers` and the reference path stay free of it. After the first call,
such an import only looks the module up in `sys.modules`.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike


class Layer:
    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True
        self.needs_input_grad = True
        self.cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def reference_forward(self, x: np.ndarray) -> np.ndarray:
        """The forward at inference, by the textbook version: plain NumPy, nothing cached."""
        raise NotImplementedError

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of one example's output for one example's input shape (no batch axis)."""
        raise NotImplementedError

    def describe(self) -> str:
        """The layer in a few words, as model.summary() lists it: "Conv2D 32 3x3 + ReLU"."""
        return type(self).__name__

    def config(self) -> dict:
        """The constructor arguments that rebuild this layer (saved as the model's JSON)."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


ACTIVATIONS = (None, "relu")


def check_activation(activation: str | None) -> str | None:
    """The activation a Conv2D or Dense layer applies to its output: None or "relu"."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be None or 'relu', got {activation!r}")
    return activation


def activation_label(activation: str | None) -> str:
    """" + ReLU" for a layer whose ReLU is fused into it, else ""."""
    return " + ReLU" if activation == "relu" else ""


def glorot_uniform(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator,
                   dtype: DTypeLike) -> np.ndarray:
    """Glorot/Xavier uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), Keras' default."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)
