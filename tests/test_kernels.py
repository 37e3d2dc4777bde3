"""Each Numba kernel against the straightforward NumPy reference, forward and backward."""
import numpy as np
import pytest

import reference as ref
from nncore.kernels.activation import relu_backward, relu_forward
from nncore.kernels.conv import conv2d_backward, conv2d_forward
from nncore.kernels.conv_taps import conv2d_taps_backward, conv2d_taps_forward
from nncore.kernels.dense import dense_backward, dense_forward
from nncore.kernels.dropout import dropout_mask, multiply
from nncore.kernels.pool import maxpool2x2_backward, maxpool2x2_forward
from nncore.kernels.softmax import softmax_cross_entropy

# A batch of 37 spans several chunks of 16 images, the last one partial; 150 rows span chunks of 64.
TOLERANCE = {np.float32: 2e-5, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]


def close(actual, expected, dtype):
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=TOLERANCE[dtype] * scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(37, 9, 11, 3, 5), (2, 28, 28, 1, 32), (5, 13, 13, 32, 64)])
@pytest.mark.parametrize("forward, backward", [(conv2d_forward, conv2d_backward),
                                               (conv2d_taps_forward, conv2d_taps_backward)],
                         ids=["im2col", "taps"])
def test_conv2d_kernels_match_reference(dtype, shape, forward, backward):
    """Both layouts of the patch matrix, im2col and taps, against the reference."""
    n, h, w, c, f = shape
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    weight = rng.standard_normal((3, 3, c, f)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    out = forward(x, weight, bias, False)
    assert out.dtype == dtype and out.shape == (n, h - 2, w - 2, f)
    close(out, ref.conv2d_forward(x, weight, bias), dtype)

    dout = rng.standard_normal(out.shape).astype(dtype)
    dw, db, dx = backward(dout, out, False, x, weight, True)
    dx_ref, dw_ref, db_ref = ref.conv2d_backward(dout, x, weight)
    close(dx, dx_ref, dtype)
    close(dw, dw_ref, dtype)
    close(db, db_ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backward", [conv2d_backward, conv2d_taps_backward], ids=["im2col", "taps"])
def test_conv2d_backward_through_the_relu(dtype, backward):
    """With relu=True the backward is the plain one applied to dz = dout * (out > 0); without
    input_grad it gives the same dw and db and an empty dx."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((21, 8, 9, 2)).astype(dtype)
    weight = rng.standard_normal((3, 3, 2, 4)).astype(dtype)
    out = conv2d_forward(x, weight, rng.standard_normal(4).astype(dtype), True)
    assert 0.3 < (out == 0).mean() < 0.7
    dout = rng.standard_normal(out.shape).astype(dtype)
    dw, db, dx = backward(dout, out, True, x, weight, True)
    for actual, expected in zip((dw, db, dx), backward(np.where(out > 0, dout, 0), out, False, x, weight, True)):
        np.testing.assert_array_equal(actual, expected)
    dw_only, db_only, no_dx = backward(dout, out, True, x, weight, False)
    np.testing.assert_array_equal(dw_only, dw)
    np.testing.assert_array_equal(db_only, db)
    assert no_dx.size == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_relu_is_relu_of_the_linear_output(dtype):
    """With relu=True, each forward kernel returns exactly max(its relu=False output, 0)."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((19, 10, 12, 2)).astype(dtype)
    weight = rng.standard_normal((3, 3, 2, 6)).astype(dtype)
    bias = rng.standard_normal(6).astype(dtype)
    for conv in (conv2d_forward, conv2d_taps_forward):
        linear = conv(x, weight, bias, False)
        assert (linear < 0).mean() > 0.3
        np.testing.assert_array_equal(conv(x, weight, bias, True), np.maximum(linear, 0))
    rows = x.reshape(19, -1)
    dense_weight, dense_bias = rng.standard_normal((240, 5)).astype(dtype), rng.standard_normal(5).astype(dtype)
    linear = dense_forward(rows, dense_weight, dense_bias, False)
    np.testing.assert_array_equal(dense_forward(rows, dense_weight, dense_bias, True), np.maximum(linear, 0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(37, 26, 26, 3), (3, 11, 11, 4), (2, 7, 8, 2)])
def test_maxpool_matches_reference(dtype, shape):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(dtype)
    out, argmax = maxpool2x2_forward(x)
    np.testing.assert_array_equal(out, ref.maxpool_forward(x))
    dout = rng.standard_normal(out.shape).astype(dtype)
    np.testing.assert_array_equal(maxpool2x2_backward(dout, argmax, shape[1], shape[2]),
                                  ref.maxpool_backward(dout, x).astype(dtype))


def test_maxpool_ties_send_the_gradient_to_exactly_one_input():
    x = np.zeros((2, 4, 6, 3), dtype=np.float32)  # every window is a four-way tie
    out, argmax = maxpool2x2_forward(x)
    dx = maxpool2x2_backward(np.ones_like(out), argmax, 4, 6)
    windows = dx.reshape(2, 2, 2, 3, 2, 3).transpose(0, 1, 3, 5, 2, 4).reshape(2, 2, 3, 3, 4)
    assert np.all(windows.sum(axis=-1) == 1) and np.all((windows == 0) | (windows == 1))


def test_maxpool_floors_odd_sizes_and_zeroes_the_dropped_edge():
    x = np.random.default_rng(3).standard_normal((2, 11, 11, 3)).astype(np.float32)
    out, argmax = maxpool2x2_forward(x)
    assert out.shape == (2, 5, 5, 3)
    dx = maxpool2x2_backward(np.ones_like(out), argmax, 11, 11)
    assert dx.shape == x.shape
    assert np.all(dx[:, 10, :, :] == 0) and np.all(dx[:, :, 10, :] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_matches_reference(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 6, 7, 3)).astype(dtype)
    out = relu_forward(x)
    np.testing.assert_array_equal(out, np.maximum(x, 0))
    dout = rng.standard_normal(x.shape).astype(dtype)
    np.testing.assert_array_equal(relu_backward(dout, out), np.where(x > 0, dout, 0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_matches_reference(dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((150, 20)).astype(dtype)
    w = rng.standard_normal((20, 7)).astype(dtype)
    b = rng.standard_normal(7).astype(dtype)
    close(dense_forward(x, w, b, False), ref.dense_forward(x, w, b), dtype)
    dout = rng.standard_normal((150, 7)).astype(dtype)
    dx_ref, dw_ref, db_ref = ref.dense_backward(dout, x, w)
    out = dense_forward(x, w, b, False)
    dw, db, dx = dense_backward(dout, out, False, x, w, True)
    close(dx, dx_ref, dtype)
    close(dw, dw_ref, dtype)
    close(db, db_ref, dtype)
    # Through the ReLU: the same as the plain backward of dz = dout * (out > 0).
    relu_out = dense_forward(x, w, b, True)
    dz = np.where(relu_out > 0, dout, 0)
    for actual, expected in zip(dense_backward(dout, relu_out, True, x, w, True),
                                dense_backward(dz, relu_out, False, x, w, True)):
        np.testing.assert_array_equal(actual, expected)
    assert dense_backward(dout, out, False, x, w, False)[2].size == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_mask_and_multiply(dtype):
    uniform = np.random.default_rng(6).random((50, 40)).astype(dtype)
    mask = dropout_mask(uniform, 0.25)
    np.testing.assert_array_equal(mask, np.where(uniform >= 0.25, dtype(1 / 0.75), 0).astype(dtype))
    x = np.random.default_rng(7).standard_normal((50, 40)).astype(dtype)
    np.testing.assert_array_equal(multiply(x, mask), x * mask)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_matches_reference(dtype):
    rng = np.random.default_rng(8)
    z = (3 * rng.standard_normal((37, 10))).astype(dtype)
    y = rng.integers(0, 10, 37)
    loss, dz, p = softmax_cross_entropy(z, y)
    loss_ref, dz_ref, p_ref = ref.softmax_cross_entropy(z, y)
    assert abs(loss - loss_ref) < 10 * TOLERANCE[dtype]
    close(dz, dz_ref, dtype)
    close(p, p_ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_is_finite_for_huge_logits(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    y = np.array([1, 2, 0])
    loss, dz, p = softmax_cross_entropy(z, y)
    assert np.isfinite(loss) and np.all(np.isfinite(dz)) and np.all(np.isfinite(p))
    assert loss == pytest.approx((2e4 + 0 + np.log(2)) / 3, rel=1e-6)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
