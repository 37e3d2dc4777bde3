"""Numerical gradient checks (central differences, float64) of every layer and the loss.

Each check projects the layer's output onto a fixed random tensor R, so that the scalar
L = sum(out * R) has dL/dout = R; the analytic gradients from backward(R) must then match
(L(theta + eps) - L(theta - eps)) / 2 eps for every input and parameter entry.
"""
import numpy as np
import pytest

from gradcheck import max_relative_error, numerical_gradient
from nncore import Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, SoftmaxCrossEntropy, mnist_cnn

MAX_ERROR = 1e-6
WORST = {}  # worst error per check, printed at the end with -s


def away_from_zero(rng, shape, margin=0.05):
    """Random values with |x| >= margin, so a +-eps step never crosses a ReLU kink."""
    x = rng.uniform(margin, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return x.astype(np.float64)


def check_layer(name, layer, x, fresh_forward=lambda: None):
    rng = np.random.default_rng(0)
    fresh_forward()
    out = layer.forward(x)
    projection = rng.standard_normal(out.shape)

    def loss():
        fresh_forward()
        return float(np.sum(layer.forward(x) * projection))

    fresh_forward()
    layer.forward(x)
    dx = layer.backward(projection)
    errors = {"input": max_relative_error(dx, numerical_gradient(loss, x))}
    for key, param in layer.params.items():
        errors[key] = max_relative_error(layer.grads[key], numerical_gradient(loss, param))
    WORST[name] = max(errors.values())
    assert all(e < MAX_ERROR for e in errors.values()), errors


@pytest.mark.parametrize("method", ["im2col", "taps"])
def test_conv2d_gradients(method):
    rng = np.random.default_rng(1)
    layer = Conv2D(3, 4, 3, rng=rng, dtype=np.float64, method=method)
    layer.params["bias"][:] = rng.standard_normal(4)
    check_layer(f"Conv2D {method}", layer, rng.standard_normal((2, 7, 9, 3)))


@pytest.mark.parametrize("method", ["im2col", "taps"])
def test_conv2d_gradients_with_a_bigger_kernel_and_one_channel(method):
    rng = np.random.default_rng(2)
    layer = Conv2D(1, 3, 5, rng=rng, dtype=np.float64, method=method)
    check_layer(f"Conv2D 5x5 {method}", layer, rng.standard_normal((3, 9, 7, 1)))


@pytest.mark.parametrize("method", ["im2col", "taps"])
def test_conv2d_gradients_with_its_relu(method):
    rng = np.random.default_rng(10)
    layer = Conv2D(2, 5, 3, activation="relu", rng=rng, dtype=np.float64, method=method)
    layer.params["bias"][:] = 0.1 * rng.standard_normal(5)
    x = rng.standard_normal((2, 8, 7, 2))
    assert np.mean(layer.forward(x) == 0) > 0.2  # the ReLU really cuts some outputs
    check_layer(f"Conv2D+ReLU {method}", layer, x)


def test_maxpool_gradients_on_odd_sizes():
    rng = np.random.default_rng(3)
    # A permutation keeps every value distinct: no ties within eps of each other.
    x = rng.permutation(3 * 7 * 9 * 2).reshape(3, 7, 9, 2) / (3 * 7 * 9 * 2)
    check_layer("MaxPool2D", MaxPool2D(2), x)


def test_relu_gradients():
    rng = np.random.default_rng(4)
    check_layer("ReLU", ReLU(), away_from_zero(rng, (3, 5, 7, 2)))


def test_flatten_gradients():
    rng = np.random.default_rng(5)
    check_layer("Flatten", Flatten(), rng.standard_normal((3, 5, 7, 2)))


def test_dense_gradients():
    rng = np.random.default_rng(6)
    layer = Dense(11, 7, rng=rng, dtype=np.float64)
    layer.params["bias"][:] = rng.standard_normal(7)
    check_layer("Dense", layer, rng.standard_normal((5, 11)))


def test_dense_gradients_with_its_relu():
    rng = np.random.default_rng(11)
    layer = Dense(11, 7, activation="relu", rng=rng, dtype=np.float64)
    layer.params["bias"][:] = 0.1 * rng.standard_normal(7)
    x = rng.standard_normal((5, 11))
    assert np.mean(layer.forward(x) == 0) > 0.2
    check_layer("Dense+ReLU", layer, x)


def test_dropout_gradients_with_a_fixed_mask():
    rng = np.random.default_rng(7)
    layer = Dropout(0.5)

    def same_mask_every_time():
        layer.rng = np.random.default_rng(42)

    check_layer("Dropout", layer, rng.standard_normal((4, 9)), same_mask_every_time)


def test_softmax_cross_entropy_gradient():
    rng = np.random.default_rng(8)
    logits = rng.standard_normal((6, 10))
    labels = rng.integers(0, 10, 6)
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(logits, labels)
    analytic = loss_fn.backward()
    numeric = numerical_gradient(lambda: loss_fn.forward(logits, labels), logits)
    WORST["SoftmaxCrossEntropy"] = max_relative_error(analytic, numeric)
    assert WORST["SoftmaxCrossEntropy"] < MAX_ERROR


def test_whole_network_gradients():
    """The seed model end to end, on a tiny batch, checked on a sample of every parameter."""
    rng = np.random.default_rng(9)
    model = mnist_cnn(seed=3, dtype=np.float64)
    for _, param, _ in model.parameters():
        if param.ndim == 1:
            param[:] = 0.1 * rng.standard_normal(param.shape)  # non-zero biases get checked too
    x = rng.random((2, 28, 28, 1))
    labels = np.array([3, 7])
    loss_fn = SoftmaxCrossEntropy()
    dropout = model.layers[6]

    def loss():
        dropout.rng = np.random.default_rng(1)
        return loss_fn.forward(model.forward(x), labels)

    loss()
    model.backward(loss_fn.backward())
    worst = 0.0
    for name, param, grad in model.parameters():
        picked = rng.choice(param.size, size=min(param.size, 12), replace=False)
        numeric = numerical_gradient(loss, param, indices=picked)
        error = max_relative_error(grad.reshape(-1)[picked], numeric.reshape(-1)[picked])
        assert error < MAX_ERROR, (name, error)
        worst = max(worst, error)
    WORST["whole network"] = worst


@pytest.fixture(scope="module", autouse=True)
def report_worst_errors():
    yield
    for name, error in sorted(WORST.items(), key=lambda item: -item[1]):
        print(f"\n  gradient check {name:22s} max relative error {error:.2e}", end="")
