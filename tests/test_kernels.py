"""Each Numba kernel against the textbook version of its layer, forward and backward.

The textbook versions (`conv2d_reference_forward`, ...) live in the layers' own modules; they
compute in float64 here, so that they are the more exact side of every comparison. Tests whose
name contains "small" run on shapes small enough to run again with NUMBA_DISABLE_JIT=1 (the
kernels as plain Python): see test_the_kernels_run_as_plain_python.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import njit, prange

from nncore.kernels import winograd
from nncore.kernels.chunks import chunk_queue, take_chunk
from nncore.kernels.conv import conv2d_backward, conv2d_forward
from nncore.kernels.conv_pool import conv2d_maxpool_backward, conv2d_maxpool_forward
from nncore.kernels.dense import dense_backward, dense_forward
from nncore.kernels.dropout import dropout_mask, multiply
from nncore.kernels.optim import PARALLEL_MIN, adam_step, sgd_momentum_step
from nncore.kernels.pool import maxpool2x2_backward, maxpool2x2_forward
from nncore.kernels.relu import relu_backward, relu_forward
from nncore.kernels.softmax import softmax_cross_entropy
from nncore.layers.conv import conv2d_reference_backward, conv2d_reference_forward
from nncore.layers.conv_pool import conv2d_maxpool_reference_backward, conv2d_maxpool_reference_forward
from nncore.layers.dense import dense_reference_backward, dense_reference_forward
from nncore.layers.dropout import dropout_reference_backward, dropout_reference_forward
from nncore.layers.pool import maxpool2x2_reference_backward, maxpool2x2_reference_forward
from nncore.layers.relu import relu_reference_backward, relu_reference_forward
from nncore.loss import softmax_cross_entropy_reference

REPO_ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = {np.float32: 2e-5, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]
# A batch of 37 spans several chunks of 16 images, the last one partial; 150 rows span chunks of 64.
CONV_SHAPES = {"small-chunks": (37, 9, 11, 3, 5), "small-first-layer": (2, 28, 28, 1, 32),
               "second-layer": (5, 13, 13, 32, 64)}
LAYOUTS = {"im2col": False, "taps": True}
# A Conv2D and the MaxPool2D after it, as one: odd outputs (7x10: the pooling drops a row and a
# column) over several chunks, the first layer, the second layer (the Winograd blocks of 13x13x32).
CONV_POOL_SHAPES = {"small-odd-chunks": (37, 9, 12, 3, 5), "small-first-layer": (2, 28, 28, 1, 32),
                    "second-layer": (5, 13, 13, 32, 64)}
CONV_POOL_METHODS = ["taps", "im2col", "winograd"]


def close(actual, expected, dtype):
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=TOLERANCE[dtype] * scale)


def f64(*arrays):
    return [np.asarray(a, np.float64) for a in arrays]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("relu", [False, True], ids=["linear", "relu"])
@pytest.mark.parametrize("shape", CONV_SHAPES.values(), ids=CONV_SHAPES.keys())
@pytest.mark.parametrize("layout", LAYOUTS, ids=LAYOUTS.keys())
def test_conv2d_matches_reference(dtype, relu, shape, layout):
    """Both layouts of the patch matrix, im2col and taps, with and without the fused ReLU."""
    n, h, w, c, f = shape
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    weight = rng.standard_normal((3, 3, c, f)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    out = conv2d_forward(x, weight, bias, relu, LAYOUTS[layout])
    assert out.dtype == dtype and out.shape == (n, h - 2, w - 2, f)
    expected = conv2d_reference_forward(*f64(x, weight, bias), relu)
    close(out, expected, dtype)
    if relu:
        assert 0.3 < (out == 0).mean() < 0.7

    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = conv2d_backward(dout, out, x, weight, relu, True, LAYOUTS[layout])
    # the reference is given the kernel's out, so that both apply the same ReLU mask
    for actual, wanted in zip((dx, dw, db), conv2d_reference_backward(*f64(dout, out, x, weight), relu)):
        close(actual, wanted, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS, ids=LAYOUTS.keys())
def test_conv2d_backward_small_without_input_grad(dtype, layout):
    """Without input_grad: the same dw and db, and an empty dx."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((21, 8, 9, 2)).astype(dtype)
    weight = rng.standard_normal((3, 3, 2, 4)).astype(dtype)
    out = conv2d_forward(x, weight, rng.standard_normal(4).astype(dtype), True, LAYOUTS[layout])
    dout = rng.standard_normal(out.shape).astype(dtype)
    _, dw, db = conv2d_backward(dout, out, x, weight, True, True, LAYOUTS[layout])
    no_dx, dw_only, db_only = conv2d_backward(dout, out, x, weight, True, False, LAYOUTS[layout])
    np.testing.assert_array_equal(dw_only, dw)
    np.testing.assert_array_equal(db_only, db)
    assert no_dx.size == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_relu_small_is_relu_of_the_linear_output(dtype):
    """With relu=True each forward kernel returns exactly max(its relu=False output, 0), and the
    backward is exactly the plain one applied to dz = dout * [out > 0]."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((19, 10, 12, 2)).astype(dtype)
    weight = rng.standard_normal((3, 3, 2, 6)).astype(dtype)
    bias = rng.standard_normal(6).astype(dtype)
    for taps in LAYOUTS.values():
        linear = conv2d_forward(x, weight, bias, False, taps)
        assert (linear < 0).mean() > 0.3
        out = conv2d_forward(x, weight, bias, True, taps)
        np.testing.assert_array_equal(out, np.maximum(linear, 0))
        dout = rng.standard_normal(out.shape).astype(dtype)
        dz = np.where(out > 0, dout, 0)
        for actual, expected in zip(conv2d_backward(dout, out, x, weight, True, True, taps),
                                    conv2d_backward(dz, out, x, weight, False, True, taps)):
            np.testing.assert_array_equal(actual, expected)
    rows = x.reshape(19, -1)
    weight, bias = rng.standard_normal((240, 5)).astype(dtype), rng.standard_normal(5).astype(dtype)
    linear = dense_forward(rows, weight, bias, False)
    out = dense_forward(rows, weight, bias, True)
    np.testing.assert_array_equal(out, np.maximum(linear, 0))
    dout = rng.standard_normal(out.shape).astype(dtype)
    dz = np.where(out > 0, dout, 0)
    for actual, expected in zip(dense_backward(dout, out, rows, weight, True, True),
                                dense_backward(dz, out, rows, weight, False, True)):
        np.testing.assert_array_equal(actual, expected)


def conv_pool_kernels(method):
    """(forward, backward) of a Conv2D + MaxPool2D step's kernels, both called as
    forward(x, w, b, relu) -> (pooled, argmax) and backward(dpooled, pooled, argmax, x, w, relu,
    input_grad) -> (dx, dw, db)."""
    if method == "winograd":
        return winograd.winograd_conv2d_maxpool_forward, winograd.winograd_conv2d_maxpool_backward
    taps = LAYOUTS[method]
    return (lambda x, w, b, relu: conv2d_maxpool_forward(x, w, b, relu, taps),
            lambda *args: conv2d_maxpool_backward(*args, taps))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("relu", [False, True], ids=["linear", "relu"])
@pytest.mark.parametrize("shape", CONV_POOL_SHAPES.values(), ids=CONV_POOL_SHAPES.keys())
@pytest.mark.parametrize("method", CONV_POOL_METHODS)
def test_conv2d_maxpool_matches_reference(dtype, relu, shape, method):
    """The convolution and the pooling after it, as one step: the pooled output, and dx, dw, db
    from the pooled output's gradient, as the two layers' textbook versions give them."""
    n, h, w, c, f = shape
    rng = np.random.default_rng(12)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    weight = rng.standard_normal((3, 3, c, f)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    forward, backward = conv_pool_kernels(method)
    pooled, argmax = forward(x, weight, bias, relu)
    assert pooled.dtype == dtype and pooled.shape == argmax.shape == (n, (h - 2) // 2, (w - 2) // 2, f)
    close(pooled, conv2d_maxpool_reference_forward(*f64(x, weight, bias), relu), dtype)
    if relu:
        assert 0.05 < (pooled == 0).mean() < 0.5

    dpooled = rng.standard_normal(pooled.shape).astype(dtype)
    grads = backward(dpooled, pooled, argmax, x, weight, relu, True)
    for actual, wanted in zip(grads, conv2d_maxpool_reference_backward(*f64(dpooled, x, weight, bias), relu)):
        assert actual.dtype == dtype
        close(actual, wanted, dtype)
    no_dx, dw_only, db_only = backward(dpooled, pooled, argmax, x, weight, relu, False)
    assert no_dx.size == 0
    np.testing.assert_array_equal(dw_only, grads[1])
    np.testing.assert_array_equal(db_only, grads[2])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS, ids=LAYOUTS.keys())
def test_conv2d_maxpool_small_is_bit_identical_to_the_two_layers_kernels(dtype, layout):
    """As taps or im2col, the step runs the two layers' own kernel code a chunk at a time: the very
    same numbers as conv2d_forward then maxpool2x2_forward, and back."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((21, 9, 12, 2)).astype(dtype)
    weight = rng.standard_normal((3, 3, 2, 6)).astype(dtype)
    bias = rng.standard_normal(6).astype(dtype)
    taps = LAYOUTS[layout]
    out = conv2d_forward(x, weight, bias, True, taps)
    pooled_layers, argmax_layers = maxpool2x2_forward(out)
    pooled, argmax = conv2d_maxpool_forward(x, weight, bias, True, taps)
    np.testing.assert_array_equal(pooled, pooled_layers)
    np.testing.assert_array_equal(argmax, argmax_layers)
    dpooled = rng.standard_normal(pooled.shape).astype(dtype)
    layers = conv2d_backward(maxpool2x2_backward(dpooled, argmax, 7, 10), out, x, weight, True, True, taps)
    for actual, expected in zip(conv2d_maxpool_backward(dpooled, pooled, argmax, x, weight, True, True, taps),
                                layers):
        np.testing.assert_array_equal(actual, expected)


@njit(parallel=True)
def count_takes(chunks: int) -> np.ndarray:
    """How many times each chunk was taken from one queue by the workers of a parallel loop."""
    taken = np.zeros(chunks, dtype=np.int64)
    queue = chunk_queue()
    for _ in prange(chunks):
        chunk = take_chunk(queue)
        while chunk < chunks:
            taken[chunk] += 1  # only the thread that took the chunk writes here
            chunk = take_chunk(queue)
    return taken


def test_chunk_queue_small_gives_every_chunk_to_exactly_one_thread():
    """The threads take chunks from one queue: each chunk is taken once, never twice or not at all."""
    for chunks in (1, 7, 5000):
        np.testing.assert_array_equal(count_takes(chunks), np.ones(chunks))


def inner(a, b):
    return float(np.sum(np.asarray(a, np.float64) * np.asarray(b, np.float64)))


def test_winograd_small_f23_computes_the_two_sums():
    """F(2, 3) in one dimension: the outputs' transform of (inputs' transform * filter's
    transform) is the two 3-tap sums y0 = d0 g0 + d1 g1 + d2 g2, y1 = d1 g0 + d2 g1 + d3 g2."""
    rng = np.random.default_rng(14)
    for _ in range(20):
        d, g = rng.standard_normal(4), rng.standard_normal(3)
        products = np.array(winograd.inputs_1d(*d)) * (winograd.G @ g)
        np.testing.assert_allclose(winograd.outputs_1d(*products), [d[:3] @ g, d[1:] @ g], rtol=1e-12)


def test_winograd_small_backward_transforms_are_the_transposes():
    """Each backward transform is the transpose of its forward: <T a, b> = <a, T^T b> for random
    a and b, in one dimension and for the whole transforms of a batch (blocks overlapping)."""
    rng = np.random.default_rng(15)
    a, b = rng.standard_normal(4), rng.standard_normal(4)
    assert inner(winograd.inputs_1d(*a), b) == pytest.approx(inner(a, winograd.inputs_1d_backward(*b)))
    assert inner(winograd.outputs_1d(*a), b[:2]) == pytest.approx(
        inner(a, winograd.outputs_1d_backward(*b[:2])))
    x = rng.standard_normal((3, 9, 12, 2))
    v = np.empty((16, 3 * 3 * 5, 2))
    winograd.input_transform(x, v)
    dv, dx = rng.standard_normal(v.shape), np.empty_like(x)
    winograd.input_transform_backward(dv, dx)
    assert inner(v, dv) == pytest.approx(inner(x, dx), rel=1e-12)
    w, du = rng.standard_normal((3, 3, 2, 5)), rng.standard_normal((16, 2, 5))
    assert inner(winograd.filter_transform(w), du) == pytest.approx(
        inner(w, winograd.filter_transform_backward(du)), rel=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(37, 26, 26, 3), (3, 11, 11, 4), (2, 7, 8, 2)],
                         ids=["small-chunks", "small-odd", "small-odd-width"])
def test_maxpool_matches_reference(dtype, shape):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(dtype)
    out, argmax = maxpool2x2_forward(x)
    np.testing.assert_array_equal(out, maxpool2x2_reference_forward(x))
    dout = rng.standard_normal(out.shape).astype(dtype)
    np.testing.assert_array_equal(maxpool2x2_backward(dout, argmax, shape[1], shape[2]),
                                  maxpool2x2_reference_backward(dout, x))


def test_maxpool_small_ties_send_the_gradient_to_exactly_one_input():
    x = np.zeros((2, 4, 6, 3), dtype=np.float32)  # every window is a four-way tie
    out, argmax = maxpool2x2_forward(x)
    dx = maxpool2x2_backward(np.ones_like(out), argmax, 4, 6)
    windows = dx.reshape(2, 2, 2, 3, 2, 3).transpose(0, 1, 3, 5, 2, 4).reshape(2, 2, 3, 3, 4)
    assert np.all(windows.sum(axis=-1) == 1) and np.all((windows == 0) | (windows == 1))
    np.testing.assert_array_equal(dx, maxpool2x2_reference_backward(np.ones_like(out), x))


def test_maxpool_small_floors_odd_sizes_and_zeroes_the_dropped_edge():
    x = np.random.default_rng(3).standard_normal((2, 11, 11, 3)).astype(np.float32)
    out, argmax = maxpool2x2_forward(x)
    assert out.shape == (2, 5, 5, 3)
    dx = maxpool2x2_backward(np.ones_like(out), argmax, 11, 11)
    assert dx.shape == x.shape
    assert np.all(dx[:, 10, :, :] == 0) and np.all(dx[:, :, 10, :] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_small_matches_reference(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 6, 7, 3)).astype(dtype)
    out = relu_forward(x)
    np.testing.assert_array_equal(out, relu_reference_forward(x))
    dout = rng.standard_normal(x.shape).astype(dtype)
    np.testing.assert_array_equal(relu_backward(dout, out), relu_reference_backward(dout, out))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("relu", [False, True], ids=["linear", "relu"])
def test_dense_small_matches_reference(dtype, relu):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((150, 20)).astype(dtype)
    w = rng.standard_normal((20, 7)).astype(dtype)
    b = rng.standard_normal(7).astype(dtype)
    out = dense_forward(x, w, b, relu)
    close(out, dense_reference_forward(*f64(x, w, b), relu), dtype)
    dout = rng.standard_normal((150, 7)).astype(dtype)
    dx, dw, db = dense_backward(dout, out, x, w, relu, True)
    for actual, expected in zip((dx, dw, db), dense_reference_backward(*f64(dout, out, x, w), relu)):
        close(actual, expected, dtype)
    no_dx, dw_only, _ = dense_backward(dout, out, x, w, relu, False)
    assert no_dx.size == 0
    np.testing.assert_array_equal(dw_only, dw)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_small_matches_reference(dtype):
    uniform = np.random.default_rng(6).random((50, 40)).astype(dtype)
    x = np.random.default_rng(7).standard_normal((50, 40)).astype(dtype)
    out_ref, mask_ref = dropout_reference_forward(x, uniform, 0.25)
    mask = dropout_mask(uniform, 0.25)
    np.testing.assert_array_equal(mask, mask_ref)
    assert set(np.unique(mask)) == {0, dtype(1 / 0.75)}
    np.testing.assert_array_equal(multiply(x, mask), out_ref)
    np.testing.assert_array_equal(multiply(x, mask), dropout_reference_backward(x, mask_ref))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_small_matches_reference(dtype):
    rng = np.random.default_rng(8)
    z = (3 * rng.standard_normal((37, 10))).astype(dtype)
    y = rng.integers(0, 10, 37)
    loss, dz, p = softmax_cross_entropy(z, y)
    loss_ref, dz_ref, p_ref = softmax_cross_entropy_reference(z.astype(np.float64), y)
    assert abs(loss - loss_ref) < 10 * TOLERANCE[dtype]
    close(dz, dz_ref, dtype)
    close(p, p_ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_small_is_finite_for_huge_logits(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    y = np.array([1, 2, 0])
    loss, dz, p = softmax_cross_entropy(z, y)
    assert np.isfinite(loss) and np.all(np.isfinite(dz)) and np.all(np.isfinite(p))
    assert loss == pytest.approx((2e4 + 0 + np.log(2)) / 3, rel=1e-6)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("size", [300, 2 * PARALLEL_MIN + 5])   # one thread; chunks in parallel
def test_optimizer_steps_small_compute_in_float64_and_round_once(size):
    """On float32 parameters, each update is the formula in float64, rounded once into float32
    (with the JIT and without it alike), for a small parameter as for a large one."""
    rng = np.random.default_rng(11)
    p, g, m, v = (rng.standard_normal(size).astype(np.float32) for _ in range(4))
    v = np.abs(v)
    lr_t, beta1, beta2, eps = np.float64(1e-3) * np.sqrt(1 - 0.999**2) / (1 - 0.9**2), 0.9, 0.999, 1e-7
    p64, g64, m64, v64 = (a.astype(np.float64) for a in (p, g, m, v))
    m_new = (beta1 * m64 + (1 - beta1) * g64).astype(np.float32)
    v_new = (beta2 * v64 + (1 - beta2) * g64 * g64).astype(np.float32)
    sqrt_v = np.sqrt(v_new).astype(np.float64)  # the square root of the float32 v, as the kernel takes it
    p_new = (p64 - lr_t * m_new.astype(np.float64) / (sqrt_v + eps)).astype(np.float32)
    adam_step(p, g, m, v, lr_t, beta1, beta2, eps)
    for actual, expected in zip((p, m, v), (p_new, m_new, v_new)):
        np.testing.assert_array_equal(actual, expected)

    velocity = rng.standard_normal(size).astype(np.float32)
    v_new = (0.9 * velocity.astype(np.float64) - 0.1 * g64).astype(np.float32)
    p_new = p + v_new
    sgd_momentum_step(p, g, velocity, 0.1, 0.9)
    np.testing.assert_array_equal(velocity, v_new)
    np.testing.assert_array_equal(p, p_new)


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="already without the JIT")
def test_the_kernels_run_as_plain_python():
    """NUMBA_DISABLE_JIT=1 runs every kernel as the Python it is written in, for a debugger:
    the small-shape tests above pass that way too."""
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(Path(__file__)), "-k", "small"],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
