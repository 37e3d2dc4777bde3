"""Softmax + categorical cross-entropy, as one loss on the network's logits.

Shapes:   logits z (N, K), labels y (N,) integers in [0, K)  ->  a scalar loss

Forward:  p = softmax(z) = exp(z - logsumexp(z)),   loss = -(1/N) sum_n log p[n, y[n]]
Backward: dL/dz = (p - one_hot(y)) / N

Fusing the two gives this short gradient and lets the forward work in log space (log-sum-exp),
so large logits never overflow. The textbook version is below; the kernels, which compute the
same in one pass, are in nncore/kernels/softmax.py (imported late: see nncore/layers/base.py).
"""
import numpy as np


def log_softmax_reference(logits: np.ndarray) -> np.ndarray:
    """The textbook log-softmax: log p (N, K) = z - logsumexp(z), the row maximum taken out first."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax_reference(logits: np.ndarray) -> np.ndarray:
    """The textbook softmax: probabilities (N, K) = exp(log_softmax(z))."""
    return np.exp(log_softmax_reference(logits))


def softmax_cross_entropy_reference(logits: np.ndarray,
                                    labels: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The textbook loss: logits (N, K), labels (N,) -> (mean loss, dL/dlogits (N, K), p (N, K))."""
    n = len(labels)
    log_p = log_softmax_reference(logits)
    p = np.exp(log_p)
    loss = -log_p[np.arange(n), labels].mean()
    one_hot = np.eye(logits.shape[1], dtype=logits.dtype)[labels]
    return float(loss), (p - one_hot) / n, p



class SoftmaxCrossEntropy:
    def __init__(self) -> None:
        self.cache = None

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """Mean loss over the batch; keeps dL/dlogits and the probabilities for later."""
        from nncore.kernels.softmax import softmax_cross_entropy
        loss, dlogits, probs = softmax_cross_entropy(logits, labels.astype(np.int64))
        self.cache = (dlogits, probs)
        return float(loss)

    def backward(self) -> np.ndarray:
        return self.cache[0]

    @property
    def probabilities(self) -> np.ndarray:
        return self.cache[1]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities (N, K) from logits (N, K), computed stably by the kernel."""
    from nncore.kernels.softmax import log_softmax
    return np.exp(log_softmax(logits))
