"""Kernels for the parameter updates, applied in place to one parameter array at a time
(flattened: the update is the same for every entry, whatever the parameter's shape).

SGD with momentum:   v = momentum * v - lr * g;   p += v
Adam (Kingma & Ba):  m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
                     p -= lr_t * m / (sqrt(v) + eps),   lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
(the bias correction folded into the step size, as in the paper's section 2 and in Keras).

The hyperparameters are made np.float64 on entry: Numba types a Python float as float64, so the
updates are computed in float64 and rounded once into the float32 arrays; spelled out, plain
Python (NUMBA_DISABLE_JIT=1) computes them the same way instead of in float32.
Optimizations: one parallel loop over the entries.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def sgd_momentum_step(param: np.ndarray, grad: np.ndarray, velocity: np.ndarray, lr: float,
                      momentum: float) -> None:
    """param, grad, velocity: 1-D views of one parameter (updated in place)."""
    lr, momentum = np.float64(lr), np.float64(momentum)
    for k in prange(param.size):  # every entry is independent
        velocity[k] = momentum * velocity[k] - lr * grad[k]
        param[k] += velocity[k]


@njit(cache=True, parallel=True)
def adam_step(param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, lr_t: float,
              beta1: float, beta2: float, eps: float) -> None:
    """param, grad, m, v: 1-D views of one parameter and its moments (updated in place)."""
    lr_t, beta1, beta2, eps = np.float64(lr_t), np.float64(beta1), np.float64(beta2), np.float64(eps)
    for k in prange(param.size):  # every entry is independent
        m[k] = beta1 * m[k] + (1 - beta1) * grad[k]
        v[k] = beta2 * v[k] + (1 - beta2) * grad[k] * grad[k]
        param[k] -= lr_t * m[k] / (np.sqrt(v[k]) + eps)
