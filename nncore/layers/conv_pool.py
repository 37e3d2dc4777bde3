"""A Conv2D and the MaxPool2D 2x2 right after it, run as one step of the model: what Sequential
does with every such pair of its layers (the seed model has two). Nothing new is computed:

    pooled = maxpool2x2(conv2d(x))     conv2d with its bias and its fused ReLU, as in layers/conv.py
                                       (N, H, W, C) -> (N, OH//2, OW//2, F)

Backward, given dpooled: the pooling's backward, then the convolution's (both in their modules).

The model keeps its layers as built: `model.layers` still lists the Conv2D and then the
MaxPool2D, `print(model)`, `model.summary()` and the saved file show them so, and each layer
alone still runs its own kernels. Run as one step, the pair needs less: the pooling keeps only
each window's maximum, so the convolution's output is only needed inside its own kernel, a chunk
of images at a time, and never written at full size (nncore/kernels/conv_pool.py says why the
backward needs no more than the pooled output and each window's winner). A 3x3 convolution laid
out as im2col (the second layer) computes the pooled output by Winograd's F(2x2, 3x3), whose 2x2
blocks of outputs are the pooling's windows (nncore/kernels/winograd.py); the others, as taps or
im2col like the layer itself (nncore/kernels/conv_pool.py).

The textbook version is the two layers' own, one after the other: `conv2d_maxpool_reference_forward`
and `conv2d_maxpool_reference_backward` below. The step keeps its cache in itself; if the two
layers have since run on their own (a script calling layer.forward one layer at a time, as the
walkthrough does), their backward runs on its own too, from their caches.
"""
import numpy as np

from nncore.layers.base import Layer
from nncore.layers.conv import Conv2D, conv2d_reference_backward, conv2d_reference_forward
from nncore.layers.pool import MaxPool2D, maxpool2x2_reference_backward, maxpool2x2_reference_forward


def conv2d_maxpool_reference_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, relu: bool) -> np.ndarray:
    """The textbook forward: the convolution's, then the pooling's."""
    return maxpool2x2_reference_forward(conv2d_reference_forward(x, w, b, relu))


def conv2d_maxpool_reference_backward(dpooled: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray,
                                      relu: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The textbook backward: the pooling's, then the convolution's -> dx, dw, db."""
    out = conv2d_reference_forward(x, w, b, relu)
    return conv2d_reference_backward(maxpool2x2_reference_backward(dpooled, out), out, x, w, relu)


def fuse_conv_pool(layers: list[Layer]) -> list:
    """The steps that run `layers`: each layer on its own, except a Conv2D followed by a
    MaxPool2D, which run together as one ConvPool."""
    steps, k = [], 0
    while k < len(layers):
        if k + 1 < len(layers) and isinstance(layers[k], Conv2D) and isinstance(layers[k + 1], MaxPool2D):
            steps.append(ConvPool(layers[k], layers[k + 1]))
            k += 2
        else:
            steps.append(layers[k])
            k += 1
    return steps


class ConvPool:
    """Runs `conv` and then `pool` as one step; the parameters and gradients stay conv's."""

    def __init__(self, conv: Conv2D, pool: MaxPool2D) -> None:
        self.conv, self.pool = conv, pool
        self.params, self.grads = conv.params, conv.grads  # the same dicts: conv's
        self.winograd = conv.kernel_size == 3 and conv.method == "im2col"
        self.cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        # here, not at the top: see layers/base.py
        from nncore.kernels.conv_pool import conv2d_maxpool_forward
        from nncore.kernels.winograd import winograd_conv2d_maxpool_forward
        conv = self.conv
        relu = conv.activation == "relu"
        w, b = conv.params["weight"], conv.params["bias"]
        if self.winograd:
            pooled, argmax = winograd_conv2d_maxpool_forward(x, w, b, relu)
        else:
            pooled, argmax = conv2d_maxpool_forward(x, w, b, relu, conv.method == "taps")
        self.cache = (x, pooled, argmax)
        conv.cache = self.pool.cache = None  # they did not run on their own
        return pooled

    def backward(self, dpooled: np.ndarray) -> np.ndarray | None:
        conv = self.conv
        if conv.cache is not None:  # the two layers ran on their own since this step's forward
            return conv.backward(self.pool.backward(dpooled))
        from nncore.kernels.conv_pool import conv2d_maxpool_backward  # here, not at the top
        from nncore.kernels.winograd import winograd_conv2d_maxpool_backward
        x, pooled, argmax = self.cache
        relu, w = conv.activation == "relu", conv.params["weight"]
        if self.winograd:
            dx, dw, db = winograd_conv2d_maxpool_backward(dpooled, pooled, argmax, x, w, relu,
                                                          conv.needs_input_grad)
        else:
            dx, dw, db = conv2d_maxpool_backward(dpooled, pooled, argmax, x, w, relu,
                                                 conv.needs_input_grad, conv.method == "taps")
        conv.grads["weight"], conv.grads["bias"] = dw, db
        return dx if conv.needs_input_grad else None
