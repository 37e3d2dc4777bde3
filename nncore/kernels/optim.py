"""Kernels for the parameter updates, applied in place to one parameter array at a time
(flattened: the update is the same for every entry, whatever the parameter's shape).

SGD with momentum:   v = momentum * v - lr * g;   p += v
Adam (Kingma & Ba):  m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
                     p -= lr_t * m / (sqrt(v) + eps),   lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
(the bias correction folded into the step size, as in the paper's section 2 and in Keras).

The hyperparameters are made np.float64 on entry: Numba types a Python float as float64, so the
updates are computed in float64 and rounded once into the float32 arrays; spelled out, plain
Python (NUMBA_DISABLE_JIT=1) computes them the same way instead of in float32.
Optimizations: a parameter of PARALLEL_MIN entries or more is updated by a parallel loop over
chunks of its entries; a smaller one (the biases, the first convolution's 288 weights) by one
thread, for starting a parallel loop costs about 60 microseconds, more than one thread takes for
20,000 entries. Every entry is computed alike either way.
"""
import numpy as np
from numba import njit, prange

PARALLEL_MIN = 32768   # entries
CHUNK = 16384          # entries per chunk of the parallel loop


@njit(cache=True)
def _sgd_entries(param, grad, velocity, lr, momentum, start, stop):
    lr, momentum = np.float64(lr), np.float64(momentum)
    for k in range(start, stop):  # every entry is independent
        velocity[k] = momentum * velocity[k] - lr * grad[k]
        param[k] += velocity[k]


@njit(cache=True, parallel=True)
def _sgd_chunks(param, grad, velocity, lr, momentum):
    for c in prange((param.size + CHUNK - 1) // CHUNK):
        _sgd_entries(param, grad, velocity, lr, momentum, c * CHUNK, min(param.size, (c + 1) * CHUNK))


def sgd_momentum_step(param: np.ndarray, grad: np.ndarray, velocity: np.ndarray, lr: float,
                      momentum: float) -> None:
    """param, grad, velocity: 1-D views of one parameter (updated in place)."""
    if param.size < PARALLEL_MIN:
        _sgd_entries(param, grad, velocity, lr, momentum, 0, param.size)
    else:
        _sgd_chunks(param, grad, velocity, lr, momentum)


@njit(cache=True)
def _adam_entries(param, grad, m, v, lr_t, beta1, beta2, eps, start, stop):
    lr_t, beta1, beta2, eps = np.float64(lr_t), np.float64(beta1), np.float64(beta2), np.float64(eps)
    for k in range(start, stop):  # every entry is independent
        m[k] = beta1 * m[k] + (1 - beta1) * grad[k]
        v[k] = beta2 * v[k] + (1 - beta2) * grad[k] * grad[k]
        param[k] -= lr_t * m[k] / (np.sqrt(v[k]) + eps)


@njit(cache=True, parallel=True)
def _adam_chunks(param, grad, m, v, lr_t, beta1, beta2, eps):
    for c in prange((param.size + CHUNK - 1) // CHUNK):
        _adam_entries(param, grad, m, v, lr_t, beta1, beta2, eps, c * CHUNK, min(param.size, (c + 1) * CHUNK))


def adam_step(param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, lr_t: float,
              beta1: float, beta2: float, eps: float) -> None:
    """param, grad, m, v: 1-D views of one parameter and its moments (updated in place)."""
    if param.size < PARALLEL_MIN:
        _adam_entries(param, grad, m, v, lr_t, beta1, beta2, eps, 0, param.size)
    else:
        _adam_chunks(param, grad, m, v, lr_t, beta1, beta2, eps)
