"""Softmax + categorical cross-entropy, as one loss on the network's logits.

Shapes:   logits z (N, K), labels y (N,) integers in [0, K)  ->  a scalar loss

Forward:  p = softmax(z) = exp(z - logsumexp(z)),   loss = -(1/N) sum_n log p[n, y[n]]
Backward: dL/dz = (p - one_hot(y)) / N

Fusing the two gives this short gradient and lets the forward work in log space (log-sum-exp),
so large logits never overflow. The kernel is in nncore/kernels/softmax.py.
"""
import numpy as np

from nncore.kernels.softmax import log_softmax, softmax_cross_entropy


class SoftmaxCrossEntropy:
    def __init__(self):
        self.cache = None

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """Mean loss over the batch; keeps dL/dlogits and the probabilities for later."""
        loss, dlogits, probs = softmax_cross_entropy(logits, labels.astype(np.int64))
        self.cache = (dlogits, probs)
        return float(loss)

    def backward(self) -> np.ndarray:
        return self.cache[0]

    @property
    def probabilities(self) -> np.ndarray:
        return self.cache[1]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities (N, K) from logits (N, K), computed stably."""
    return np.exp(log_softmax(logits))


def log_softmax_numpy(logits: np.ndarray) -> np.ndarray:
    """log p (N, K) = z - logsumexp(z), in plain NumPy (no kernel to load)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
