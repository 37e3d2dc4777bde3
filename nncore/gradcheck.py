"""Numerical gradient checks: every layer's backward pass, and the whole network's, against
central differences, in float64, through the real kernels.

    python -m nncore.gradcheck            every check, as a table (2 s once compiled)
    python -m nncore.gradcheck Conv2D     only the checks whose name contains "Conv2D"

A check makes a scalar of the layer's output, L = sum(out * R) for a fixed random tensor R, so
that dL/dout = R; the analytic gradients from backward(R) must then match

    dL/dtheta ~ (L(theta + eps) - L(theta - eps)) / (2 eps)

for every input and parameter entry theta. The measure is CS231n's relative error,
|a - n| / max(|a| + |n|, 1e-8), whose maximum should be far below 1e-6 in float64.
The first run compiles the float64 kernels, which takes a minute more.
"""
import argparse
import time
from collections.abc import Callable, Iterator

import numba
import numpy as np

from nncore.layers import Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, ReLU
from nncore.layers.conv_pool import ConvPool
from nncore.loss import SoftmaxCrossEntropy
from nncore.model import mnist_cnn
from nncore.runtime import configure_for_kernels

MAX_ERROR = 1e-6


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-5,
                       indices=None) -> np.ndarray:
    """d f / d x by central differences; x (float64) is perturbed in place and restored.

    With `indices` (flat positions), only those entries are computed (others stay 0)."""
    grad = np.zeros_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    for k in range(x.size) if indices is None else indices:
        old = flat_x[k]
        flat_x[k] = old + eps
        plus = f()
        flat_x[k] = old - eps
        minus = f()
        flat_x[k] = old
        flat_grad[k] = (plus - minus) / (2 * eps)
    return grad


def max_relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max |a - n| / max(|a| + |n|, 1e-8) over all entries (CS231n's measure)."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    return float(np.max(np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-8)))


def check_layer(layer: Layer, x: np.ndarray, before_forward: Callable[[], None] = lambda: None) -> float:
    """The worst relative error of dL/dx and of every dL/dparam of `layer` at input x.
    `before_forward` runs before every forward (Dropout: the same mask every time)."""
    projection = np.random.default_rng(0).standard_normal(layer.forward(x).shape)

    def loss():
        before_forward()
        return float(np.sum(layer.forward(x) * projection))

    loss()
    errors = [max_relative_error(layer.backward(projection), numerical_gradient(loss, x))]
    for key, param in layer.params.items():
        errors.append(max_relative_error(layer.grads[key], numerical_gradient(loss, param)))
    return max(errors)


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...], margin: float = 0.05) -> np.ndarray:
    """Random values with |x| >= margin, so a +-eps step never crosses a ReLU kink."""
    return rng.uniform(margin, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def conv2d(method: str, activation: str | None = None) -> float:
    rng = np.random.default_rng(1 if activation is None else 10)
    layer = Conv2D(3, 4, 3, activation=activation, rng=rng, dtype=np.float64, method=method)
    layer.params["bias"][:] = 0.1 * rng.standard_normal(4)
    x = rng.standard_normal((2, 7, 9, 3))
    if activation == "relu":
        assert np.mean(layer.forward(x) == 0) > 0.2  # the ReLU really cuts some outputs
    return check_layer(layer, x)


def conv2d_5x5_one_channel(method: str) -> float:
    rng = np.random.default_rng(2)
    return check_layer(Conv2D(1, 3, 5, rng=rng, dtype=np.float64, method=method),
                       rng.standard_normal((3, 9, 7, 1)))


def conv2d_maxpool(method: str, kernel_size: int = 3) -> float:
    """A Conv2D + ReLU and the MaxPool2D after it, run as one step as the model runs them (3x3 as
    im2col: by Winograd's F(2x2, 3x3)). Odd sizes: the pooling drops a row of outputs."""
    rng = np.random.default_rng(12)
    conv = Conv2D(3, 4, kernel_size, activation="relu", rng=rng, dtype=np.float64, method=method)
    conv.params["bias"][:] = 0.1 * rng.standard_normal(4)
    step = ConvPool(conv, MaxPool2D(2))
    return check_layer(step, rng.standard_normal((2, 9, 8 + kernel_size, 3)))


def maxpool2d() -> float:
    # A permutation keeps every value distinct: no ties within eps of each other. Odd sizes.
    x = np.random.default_rng(3).permutation(3 * 7 * 9 * 2).reshape(3, 7, 9, 2) / (3 * 7 * 9 * 2)
    return check_layer(MaxPool2D(2), x)


def dense(activation: str | None = None) -> float:
    rng = np.random.default_rng(6 if activation is None else 11)
    layer = Dense(11, 7, activation=activation, rng=rng, dtype=np.float64)
    layer.params["bias"][:] = 0.1 * rng.standard_normal(7)
    x = rng.standard_normal((5, 11))
    if activation == "relu":
        assert np.mean(layer.forward(x) == 0) > 0.2
    return check_layer(layer, x)


def dropout() -> float:
    layer = Dropout(0.5)

    def same_mask_every_time():
        layer.rng = np.random.default_rng(42)

    return check_layer(layer, np.random.default_rng(7).standard_normal((4, 9)), same_mask_every_time)


def softmax_cross_entropy() -> float:
    rng = np.random.default_rng(8)
    logits, labels = rng.standard_normal((6, 10)), rng.integers(0, 10, 6)
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(logits, labels)
    analytic = loss_fn.backward()
    return max_relative_error(analytic, numerical_gradient(lambda: loss_fn.forward(logits, labels), logits))


def whole_network() -> float:
    """The seed model end to end, on a batch of two, checked on 12 entries of every parameter."""
    rng = np.random.default_rng(9)
    model = mnist_cnn(seed=3, dtype=np.float64)
    for _, param, _ in model.parameters():
        if param.ndim == 1:
            param[:] = 0.1 * rng.standard_normal(param.shape)  # non-zero biases get checked too
    x, labels = rng.random((2, 28, 28, 1)), np.array([3, 7])
    loss_fn = SoftmaxCrossEntropy()
    dropout_layer = model.layers[6]

    def loss():
        dropout_layer.rng = np.random.default_rng(1)  # the same mask every time
        return loss_fn.forward(model.forward(x), labels)

    loss()
    model.backward(loss_fn.backward())
    worst = 0.0
    for _, param, grad in model.parameters():
        picked = rng.choice(param.size, size=min(param.size, 12), replace=False)
        numeric = numerical_gradient(loss, param, indices=picked)
        worst = max(worst, max_relative_error(grad.reshape(-1)[picked], numeric.reshape(-1)[picked]))
    return worst


CHECKS: dict[str, Callable[[], float]] = {
    "Conv2D 3x3 im2col": lambda: conv2d("im2col"),
    "Conv2D 3x3 taps": lambda: conv2d("taps"),
    "Conv2D 3x3 + ReLU im2col": lambda: conv2d("im2col", "relu"),
    "Conv2D 3x3 + ReLU taps": lambda: conv2d("taps", "relu"),
    "Conv2D 5x5, 1 channel, im2col": lambda: conv2d_5x5_one_channel("im2col"),
    "Conv2D 5x5, 1 channel, taps": lambda: conv2d_5x5_one_channel("taps"),
    "MaxPool2D 2x2, odd sizes": maxpool2d,
    "Conv2D 3x3 + ReLU + MaxPool2D, Winograd": lambda: conv2d_maxpool("im2col"),
    "Conv2D 3x3 + ReLU + MaxPool2D, taps": lambda: conv2d_maxpool("taps"),
    "Conv2D 5x5 + ReLU + MaxPool2D, im2col": lambda: conv2d_maxpool("im2col", 5),
    "ReLU": lambda: check_layer(ReLU(), away_from_zero(np.random.default_rng(4), (3, 5, 7, 2))),
    "Flatten": lambda: check_layer(Flatten(), np.random.default_rng(5).standard_normal((3, 5, 7, 2))),
    "Dense": dense,
    "Dense + ReLU": lambda: dense("relu"),
    "Dropout 0.5, fixed mask": dropout,
    "SoftmaxCrossEntropy": softmax_cross_entropy,
    "whole network (mnist_cnn)": whole_network,
}


def run_checks(names: list[str]) -> Iterator[tuple[str, float, float]]:
    """(name, max relative error, seconds) of each named check, in order, as each one ends.

    The checks run on one thread: they call thousands of kernels on a few numbers each, where
    waking more threads costs more than it saves (on an idle 2-core machine, 1.0 s on two threads
    and 0.3 s on one; far more on a busy one). The kernels give the same results on any number
    of threads."""
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        for name in names:
            start = time.perf_counter()
            error = CHECKS[name]()
            yield name, error, time.perf_counter() - start
    finally:
        numba.set_num_threads(threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nncore.gradcheck", description=(
        "Check every layer's backward pass, and the whole network's, against central differences."))
    parser.add_argument("only", nargs="*", help="run only the checks whose name contains one of these")
    args = parser.parse_args(argv)
    configure_for_kernels()
    names = [name for name in CHECKS if not args.only or any(part in name for part in args.only)]
    if not names:
        parser.error(f"no check matches {args.only}; the checks: {', '.join(CHECKS)}")
    width = max(map(len, names))
    print(f"{'layer':<{width}}  max relative error  seconds")
    failed = 0
    for name, error, seconds in run_checks(names):
        verdict = "ok" if error < MAX_ERROR else f"FAIL (>= {MAX_ERROR:g})"
        print(f"{name:<{width}}  {error:18.2e}  {seconds:7.2f}  {verdict}", flush=True)
        failed += error >= MAX_ERROR
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
