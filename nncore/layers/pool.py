"""MaxPool2D: max pooling over 2x2 windows with stride 2. NHWC layout.

Shapes:   x (N, H, W, C)  ->  out (N, H//2, W//2, C)   (an odd last row/column is dropped)

Forward:  out[n, i, j, c] = max_{a, b in {0,1}} x[n, 2i+a, 2j+b, c]
Backward: the gradient flows only to the input that was the maximum (the first one on ties):
          dx[n, 2i+a, 2j+b, c] = dout[n, i, j, c] if (a, b) won the window, else 0

The textbook version is below; the layer's forward and backward call the kernels of
nncore/kernels/pool.py, where the forward records each window's winner for the backward.
"""
import numpy as np

from nncore.layers.base import Layer


def windows_2x2(x: np.ndarray) -> np.ndarray:
    """x (N, H, W, C) -> (N, H//2, W//2, C, 4): the window of each output, entry k = 2a + b."""
    n, height, width, c = x.shape
    out_h, out_w = height // 2, width // 2
    blocks = x[:, :2 * out_h, :2 * out_w, :].reshape(n, out_h, 2, out_w, 2, c)
    return blocks.transpose(0, 1, 3, 5, 2, 4).reshape(n, out_h, out_w, c, 4)


def maxpool2x2_reference_forward(x: np.ndarray) -> np.ndarray:
    """The textbook forward: x (N, H, W, C) -> out (N, H//2, W//2, C), the largest of each
    window's four pixels (top left, top right, bottom left, bottom right)."""
    h, w = x.shape[1] // 2 * 2, x.shape[2] // 2 * 2
    top = np.maximum(x[:, 0:h:2, 0:w:2], x[:, 0:h:2, 1:w:2])
    return np.maximum(top, np.maximum(x[:, 1:h:2, 0:w:2], x[:, 1:h:2, 1:w:2]))


def maxpool2x2_reference_backward(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The textbook backward: dout (N, H//2, W//2, C), x (N, H, W, C) -> dx (N, H, W, C)."""
    out_h, out_w = dout.shape[1:3]
    winner = windows_2x2(x).argmax(axis=-1)  # argmax picks the first maximum on ties
    dx = np.zeros_like(x, dtype=dout.dtype)
    for a in range(2):
        for b in range(2):
            dx[:, a:2 * out_h:2, b:2 * out_w:2, :] = np.where(winner == 2 * a + b, dout, 0)
    return dx


class MaxPool2D(Layer):
    def __init__(self, pool_size: int = 2) -> None:
        super().__init__()
        if pool_size != 2:
            raise ValueError("MaxPool2D supports pool_size=2 (stride 2) only")
        self.pool_size = pool_size

    def forward(self, x: np.ndarray) -> np.ndarray:
        from nncore.kernels.pool import maxpool2x2_forward  # here, not at the top: see layers/base.py
        out, argmax = maxpool2x2_forward(x)
        self.cache = (x.shape, argmax)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        from nncore.kernels.pool import maxpool2x2_backward  # here, not at the top: see layers/base.py
        (_, height, width, _), argmax = self.cache
        return maxpool2x2_backward(dout, argmax, height, width)

    def reference_forward(self, x: np.ndarray) -> np.ndarray:
        return maxpool2x2_reference_forward(x)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        height, width, channels = input_shape
        return (height // 2, width // 2, channels)

    def describe(self) -> str:
        return "MaxPool2D 2x2"

    def config(self) -> dict:
        return {"pool_size": self.pool_size}
