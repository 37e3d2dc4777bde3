"""Optimisers: they, not the layers, update the parameters.

Each `step(model)` reads every (name, param, grad) of the model and updates param in place
with a kernel from nncore/kernels/optim.py. Their per-parameter state (velocities, moments) is
kept by name, so it can be saved in a checkpoint and restored with `load_state`.
"""
import numpy as np

from nncore.kernels.optim import adam_step, sgd_momentum_step


class SGD:
    """v = momentum * v - lr * g;  p += v   (plain SGD when momentum = 0)."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum = lr, momentum
        self.velocity: dict[str, np.ndarray] = {}

    def step(self, model):
        for name, param, grad in model.parameters():
            if name not in self.velocity:
                self.velocity[name] = np.zeros_like(param)
            sgd_momentum_step(param.reshape(-1), grad.reshape(-1), self.velocity[name].reshape(-1),
                              self.lr, self.momentum)

    def state(self) -> dict[str, np.ndarray]:
        return {f"velocity/{name}": v for name, v in self.velocity.items()}

    def load_state(self, state: dict[str, np.ndarray]):
        self.velocity = {key.split("/", 1)[1]: v.copy() for key, v in state.items()}


class Adam:
    """Adam with Keras' defaults: lr 0.001, beta1 0.9, beta2 0.999, eps 1e-7."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t = 0
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}

    def step(self, model):
        self.t += 1
        lr_t = self.lr * np.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)
        for name, param, grad in model.parameters():
            if name not in self.m:
                self.m[name] = np.zeros_like(param)
                self.v[name] = np.zeros_like(param)
            adam_step(param.reshape(-1), grad.reshape(-1), self.m[name].reshape(-1), self.v[name].reshape(-1),
                      lr_t, self.beta1, self.beta2, self.eps)

    def state(self) -> dict[str, np.ndarray]:
        arrays = {"t": np.array(self.t)}
        arrays.update({f"m/{name}": m for name, m in self.m.items()})
        arrays.update({f"v/{name}": v for name, v in self.v.items()})
        return arrays

    def load_state(self, state: dict[str, np.ndarray]):
        self.t = int(state["t"])
        self.m = {key[2:]: a.copy() for key, a in state.items() if key.startswith("m/")}
        self.v = {key[2:]: a.copy() for key, a in state.items() if key.startswith("v/")}
