"""Kernel for softmax with categorical cross-entropy, fused.

For logits z (N, K) and integer labels y (N,):

    log p[n, k] = z[n, k] - logsumexp(z[n])      logsumexp(z) = m + log sum_k exp(z[k] - m),
                                                  m = max_k z[k]  (so exp never overflows)
    loss        = -(1/N) sum_n log p[n, y[n]]
    dloss/dz    = (p - one_hot(y)) / N

Subtracting the row maximum keeps every exponent <= 0: logits of +-1e4 give a finite loss.
"""
import numpy as np
from numba import njit


@njit(cache=True)
def log_softmax(z):
    """z (N, K) -> log p (N, K)."""
    n_rows, n_classes = z.shape
    log_p = np.empty_like(z)
    for n in range(n_rows):
        m = z[n, 0]
        for k in range(1, n_classes):
            m = max(m, z[n, k])
        total = 0.0
        for k in range(n_classes):
            total += np.exp(z[n, k] - m)
        log_sum = m + np.log(total)
        for k in range(n_classes):
            log_p[n, k] = z[n, k] - log_sum
    return log_p


@njit(cache=True)
def softmax_cross_entropy(z, y):
    """z (N, K) logits, y (N,) labels -> (mean loss as float64, dz (N, K), p (N, K))."""
    n_rows, n_classes = z.shape
    log_p = log_softmax(z)
    p = np.exp(log_p)
    dz = p.copy()
    loss = 0.0
    for n in range(n_rows):
        loss -= log_p[n, y[n]]
        dz[n, y[n]] -= 1.0
    for n in range(n_rows):
        for k in range(n_classes):
            dz[n, k] /= n_rows
    return loss / n_rows, dz, p
