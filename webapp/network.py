"""The network behind the page: one model, run by its Numba kernels, one pass at a time.

Two things are asked of it. `probabilities` answers for a few 28x28 digits, as evaluate.py's
network does. `trace` follows one digit through every layer, forward and back, as
docs/make_walkthrough.py does, keeping each layer's output:

    forward:  h0 = x,           h_{k+1} = layer_k.forward(h_k)
    backward: g_L = d score / d logits,   g_k = layer_k.backward(g_{k+1}),   dx = g_0

The backward is Sequential.backward's loop (nncore/model.py), written out to keep what that
one throws away: g_0, the gradient for the input. The score is the winning class's logit, so
d score / d logits is 1 there and 0 elsewhere, and dx, the gradient of that score for each input
pixel, is the saliency map: the pixels where a little more ink would change the network's mind
the most. (Where a max-pooling window holds equal values, as it does over blank paper, the
derivative jumps; the backward sends the gradient to the first of them, as in training.) Every
step is the model's own hand-written code: a layer's `forward` and `backward` in nncore/layers/,
which call its kernel in nncore/kernels/. The first layer is told to compute dx too
(`needs_input_grad`), which training never needs.

Why the kernels and not the textbook NumPy path (`reference=True`), which evaluate.py takes for
a handful of images: after loading them, which costs a fresh process about 0.3 s and the server
only once at its start (`warm_up`), they answer one image sooner. Measured on a 2-core VM for
one digit: the forward 0.3 ms against 0.9 ms, forward and backward 1.0 ms against 5 ms (the
textbook backward of a convolution goes one tap at a time).

A lock lets one request at a time into the network: each layer's `forward` caches what its
`backward` needs, so two requests' passes must not interleave, and Numba's default thread pool
must not be entered from two threads at once. Inside, the kernels run on the request's thread
alone: one image is one chunk of work for them, and a pool of threads would only wait for one
another (a long wait on a busy machine, where one of them is not scheduled). Numba's number of
threads belongs to each thread that calls a kernel, hence `numba.set_num_threads(1)` per pass.
"""
import threading

import numpy as np

from mnist.normalize import to_model_input


class Network:
    def __init__(self, model) -> None:
        """Take over `model` (a Sequential): inference mode, and dx from its first layer."""
        self.model = model
        model.eval()
        model.layers[0].needs_input_grad = True
        self.lock = threading.Lock()

    def probabilities(self, digits: list) -> np.ndarray:
        """uint8 (28, 28) digits -> their probabilities (n, 10). reader/segment.py's `classify`."""
        x = to_model_input(np.stack(digits))
        with self.lock:
            one_thread()
            return self.model.predict(x)

    def trace(self, digit: np.ndarray) -> tuple[list, np.ndarray]:
        """One uint8 (28, 28) digit -> (activations, saliency). activations[0] is the input x
        (1, 28, 28, 1), activations[k + 1] layer k's output, the last the logits (1, 10);
        saliency (28, 28) is d(the winning logit)/dx."""
        activations = [to_model_input(digit)]
        with self.lock:
            one_thread()
            for layer in self.model.layers:
                activations.append(layer.forward(activations[-1]))
            logits = activations[-1]
            grad = np.zeros_like(logits)
            grad[0, logits.argmax()] = 1.0   # d score / d logits
            for layer in reversed(self.model.layers):
                grad = layer.backward(grad)
        return activations, grad[0, :, :, 0]

    def warm_up(self) -> None:
        """Load (or, the first time on a machine, compile) the kernels now, not at the first
        request: one digit forward and back."""
        digit = np.zeros((28, 28), np.uint8)
        digit[4:24, 13:16] = 255
        self.probabilities([digit])
        self.trace(digit)


def one_thread() -> None:
    """The kernels called from this thread run on it alone."""
    import numba  # here, once the kernels are needed: see nncore/layers/base.py
    numba.set_num_threads(1)
