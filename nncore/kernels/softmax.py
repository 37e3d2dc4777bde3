"""Kernels for softmax with categorical cross-entropy (nncore/loss.py), fused.

They compute what `softmax_cross_entropy_reference` in nncore/loss.py computes. For logits
z (N, K) and integer labels y (N,):

    log p[n, k] = z[n, k] - logsumexp(z[n])      logsumexp(z) = m + log sum_k exp(z[k] - m),
                                                  m = max_k z[k]  (so exp never overflows)
    loss        = -(1/N) sum_n log p[n, y[n]]
    dloss/dz    = (p - one_hot(y)) / N

Subtracting the row maximum keeps every exponent <= 0: logits of +-1e4 give a finite loss.
The sums (of exp over k, and the loss over n) are kept in float64, written np.float64(0.0)
rather than 0.0: Numba types both as float64, plain Python (NUMBA_DISABLE_JIT=1) only the first.
Optimizations: the loss, its gradient and the probabilities computed together, from one
log-softmax.
"""
import numpy as np
from numba import njit


@njit(cache=True)
def log_softmax(z: np.ndarray) -> np.ndarray:
    """z (N, K) -> log p (N, K)."""
    n_rows, n_classes = z.shape
    log_p = np.empty_like(z)
    for n in range(n_rows):
        m = z[n, 0]
        for k in range(1, n_classes):
            m = max(m, z[n, k])
        total = np.float64(0.0)
        for k in range(n_classes):
            total += np.exp(z[n, k] - m)
        log_sum = m + np.log(total)
        for k in range(n_classes):
            log_p[n, k] = z[n, k] - log_sum
    return log_p


@njit(cache=True)
def softmax_cross_entropy(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """z (N, K) logits, y (N,) labels -> (mean loss as float64, dz (N, K), p (N, K))."""
    n_rows, n_classes = z.shape
    log_p = log_softmax(z)
    p = np.exp(log_p)
    dz = p.copy()
    loss = np.float64(0.0)
    for n in range(n_rows):
        loss -= log_p[n, y[n]]
        dz[n, y[n]] -= 1.0
    for n in range(n_rows):
        for k in range(n_classes):
            dz[n, k] /= n_rows
    return loss / n_rows, dz, p
