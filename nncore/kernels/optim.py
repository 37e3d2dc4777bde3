"""Kernels for the parameter updates, applied in place to one parameter array at a time
(flattened: the update is the same for every entry, whatever the parameter's shape).

SGD with momentum:   v = momentum * v - lr * g;   p += v
Adam (Kingma & Ba):  m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
                     p -= lr_t * m / (sqrt(v) + eps),   lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
(the bias correction folded into the step size, as in the paper's section 2 and in Keras).
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def sgd_momentum_step(param, grad, velocity, lr, momentum):
    """param, grad, velocity: 1-D views of one parameter (updated in place)."""
    for k in prange(param.size):  # every entry is independent
        velocity[k] = momentum * velocity[k] - lr * grad[k]
        param[k] += velocity[k]


@njit(cache=True, parallel=True)
def adam_step(param, grad, m, v, lr_t, beta1, beta2, eps):
    """param, grad, m, v: 1-D views of one parameter and its moments (updated in place)."""
    for k in prange(param.size):  # every entry is independent
        m[k] = beta1 * m[k] + (1 - beta1) * grad[k]
        v[k] = beta2 * v[k] + (1 - beta2) * grad[k] * grad[k]
        param[k] -= lr_t * m[k] / (np.sqrt(v[k]) + eps)
