"""Numerical gradients by central differences, and the relative error used to compare them."""
import numpy as np


def numerical_gradient(f, x, eps=1e-5, indices=None):
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


def max_relative_error(analytic, numeric):
    """max |a - n| / max(|a| + |n|, 1e-8) over all entries (CS231n's measure)."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    return float(np.max(np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-8)))
