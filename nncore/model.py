"""Sequential: layers applied one after another, and the seed MNIST model built from them.

    forward:  h0 = x,  h_{k+1} = layer_k.forward(h_k),  logits = h_L
    backward: g_L = dL/dlogits,  g_k = layer_k.backward(g_{k+1})   (the chain rule, in reverse)

The first layer's input is the data, which needs no gradient, so it skips computing one.
"""
import numpy as np

from nncore.layers import Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D
from nncore.loss import softmax


class Sequential:
    def __init__(self, layers: list[Layer]):
        self.layers = list(layers)
        for k, layer in enumerate(self.layers):
            layer.needs_input_grad = k > 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dlogits: np.ndarray) -> None:
        grad = dlogits
        for layer in reversed(self.layers):
            grad = layer.backward(grad)

    def train(self):
        for layer in self.layers:
            layer.training = True

    def eval(self):
        for layer in self.layers:
            layer.training = False

    def parameters(self):
        """Yield (name, param, grad) for every parameter; grad is None before a backward."""
        for k, layer in enumerate(self.layers):
            for key, param in layer.params.items():
                yield f"{k}.{key}", param, layer.grads.get(key)

    def num_params(self) -> int:
        return sum(param.size for _, param, _ in self.parameters())

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Class probabilities (N, K) for inputs x (N, H, W, C), in inference mode."""
        was_training = [layer.training for layer in self.layers]
        self.eval()
        try:
            chunks = [softmax(self.forward(np.ascontiguousarray(x[i:i + batch_size])))
                      for i in range(0, len(x), batch_size)]
        finally:
            for layer, training in zip(self.layers, was_training):
                layer.training = training
        return np.concatenate(chunks)

    def __repr__(self):
        return "Sequential(\n" + "".join(f"  {layer!r},\n" for layer in self.layers) + ")"


def mnist_cnn(seed: int = 0, dtype=np.float32) -> Sequential:
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
