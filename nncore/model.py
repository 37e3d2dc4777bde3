"""Sequential: layers applied one after another, and the seed MNIST model built from them.

    forward:  h0 = x,  h_{k+1} = layer_k.forward(h_k),  logits = h_L
    backward: g_L = dL/dlogits,  g_k = layer_k.backward(g_{k+1})   (the chain rule, in reverse)

The first layer's input is the data, which needs no gradient, so it skips computing one. A
Conv2D followed by a MaxPool2D runs as one step (nncore/layers/conv_pool.py: the same sums,
without writing the convolution's whole output); `steps` lists what the loops above run.
`print(model)` lists the layers as they are built, `model.summary()` as a table with each
layer's output shape and parameter count. A layer's module (nncore/layers/) states its formulas
and holds their textbook version; its kernel (nncore/kernels/) computes them fast.
"""
import sys
from collections.abc import Iterator
from typing import TextIO

import numpy as np
from numpy.typing import DTypeLike

from nncore.layers import Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D
from nncore.layers.conv_pool import fuse_conv_pool
from nncore.loss import softmax, softmax_reference


class Sequential:
    def __init__(self, layers: list[Layer]) -> None:
        self.layers = list(layers)
        for k, layer in enumerate(self.layers):
            layer.needs_input_grad = k > 0
        self.steps = fuse_conv_pool(self.layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for step in self.steps:
            x = step.forward(x)
        return x

    def backward(self, dlogits: np.ndarray) -> None:
        grad = dlogits
        for step in reversed(self.steps):
            grad = step.backward(grad)

    def train(self) -> None:
        for layer in self.layers:
            layer.training = True

    def eval(self) -> None:
        for layer in self.layers:
            layer.training = False

    def parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
        """Yield (name, param, grad) for every parameter; grad is None before a backward."""
        for k, layer in enumerate(self.layers):
            for key, param in layer.params.items():
                yield f"{k}.{key}", param, layer.grads.get(key)

    def num_params(self) -> int:
        return sum(param.size for _, param, _ in self.parameters())

    def reference_forward(self, x: np.ndarray) -> np.ndarray:
        """Logits at inference, every layer computed by its textbook NumPy version: no Numba."""
        for layer in self.layers:
            x = layer.reference_forward(x)
        return x

    def predict(self, x: np.ndarray, batch_size: int = 256, reference: bool = False) -> np.ndarray:
        """Class probabilities (N, K) for inputs x (N, H, W, C), in inference mode.

        With reference=True, every layer computes them by its textbook version in plain NumPy,
        all of x at once: nothing is compiled and Numba is not even imported, which makes it
        the quicker way for a handful of images (and far slower for many)."""
        if reference:
            return softmax_reference(self.reference_forward(x))
        was_training = [layer.training for layer in self.layers]
        self.eval()
        try:
            chunks = [softmax(self.forward(np.ascontiguousarray(x[i:i + batch_size])))
                      for i in range(0, len(x), batch_size)]
        finally:
            for layer, training in zip(self.layers, was_training):
                layer.training = training
        return np.concatenate(chunks)

    def summary(self, input_shape: tuple[int, ...] = (28, 28, 1), file: TextIO | None = None) -> None:
        """Print the layers as a table, like Keras' model.summary(): each layer, the shape of
        its output for inputs of `input_shape` (N is the batch), its number of parameters."""
        rows, shape = [], tuple(input_shape)
        for k, layer in enumerate(self.layers):
            shape = layer.output_shape(shape)
            count = sum(param.size for param in layer.params.values())
            rows.append((f"{k} {layer.describe()}", "(N, " + ", ".join(map(str, shape)) + ")", f"{count:,}"))
        header = ("Layer", "Output shape", "Parameters")
        widths = [max(len(row[col]) for row in rows + [header]) for col in range(3)]
        line = "-" * (sum(widths) + 4)

        def row_text(cells: tuple[str, str, str]) -> str:
            return f"{cells[0]:<{widths[0]}}  {cells[1]:<{widths[1]}}  {cells[2]:>{widths[2]}}"

        text = [row_text(header), line, *map(row_text, rows), line,
                f"Total parameters: {self.num_params():,}",
                f"Input (N, {', '.join(map(str, input_shape))}). Output: logits; the softmax is in "
                "the loss (SoftmaxCrossEntropy)."]
        print("\n".join(text), file=file or sys.stdout)

    def __repr__(self) -> str:
        return "Sequential(\n" + "".join(f"  {layer!r},\n" for layer in self.layers) + ")"


def mnist_cnn(seed: int = 0, dtype: DTypeLike = np.float32) -> Sequential:
    """The classic MNIST CNN (225,034 parameters), Glorot-uniform kernels and zero biases:
    Conv 32 3x3 ReLU, MaxPool 2, Conv 64 3x3 ReLU, MaxPool 2, Flatten, Dense 128 ReLU,
    Dropout 0.5, Dense 10 (softmax is in the loss). Each ReLU is the `activation` of the layer
    before it, as in Keras, so that it is applied inside that layer's kernel."""
    rng = np.random.default_rng(seed)
    return Sequential([
        Conv2D(1, 32, 3, activation="relu", rng=rng, dtype=dtype), MaxPool2D(2),
        Conv2D(32, 64, 3, activation="relu", rng=rng, dtype=dtype), MaxPool2D(2),
        Flatten(),
        Dense(5 * 5 * 64, 128, activation="relu", rng=rng, dtype=dtype),
        Dropout(0.5, seed=int(rng.integers(2**63))),
        Dense(128, 10, rng=rng, dtype=dtype),
    ])
