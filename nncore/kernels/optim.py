"""Kernels for the parameter updates, applied in place to one parameter array at a time.

SGD with momentum:   v = momentum * v - lr * g;   p += v
Adam (Kingma & Ba):  m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
                     p -= lr_t * m / (sqrt(v) + eps),   lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
(the bias correction folded into the step size, as in the paper's section 2 and in Keras).
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def sgd_momentum_step(param, grad, velocity, lr, momentum):
    p, g, v = param.reshape(-1), grad.reshape(-1), velocity.reshape(-1)
    for k in prange(p.size):  # every entry is independent
        v[k] = momentum * v[k] - lr * g[k]
        p[k] += v[k]


@njit(cache=True, parallel=True)
def adam_step(param, grad, m, v, lr_t, beta1, beta2, eps):
    p, g, m1, v1 = param.reshape(-1), grad.reshape(-1), m.reshape(-1), v.reshape(-1)
    for k in prange(p.size):  # every entry is independent
        m1[k] = beta1 * m1[k] + (1 - beta1) * g[k]
        v1[k] = beta2 * v1[k] + (1 - beta2) * g[k] * g[k]
        p[k] -= lr_t * m1[k] / (np.sqrt(v1[k]) + eps)
