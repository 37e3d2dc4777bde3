"""Optimisers: they, not the layers, update the parameters.

Each `step(model)` reads every (name, param, grad) of the model and updates param in place
with a kernel from nncore/kernels/optim.py. Their per-parameter state (velocities, moments) is
kept by name, so it can be saved in a checkpoint and restored with `load_state`.

`load_state` trusts nothing it is given (a checkpoint file may be hostile, and the kernels do
no bounds checks): every array must have exactly the name, shape and dtype `state_layout` says,
with finite values, or it raises ValueError and keeps the optimiser's state as it was.
"""
import numpy as np

MAX_STEPS = 10**9  # Adam's step count t; a full training run takes about 6,000
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def parameter_layout(model) -> dict:
    """{name: (shape, dtype)} of every parameter of `model`."""
    return {name: (param.shape, param.dtype) for name, param, _ in model.parameters()}


def layout_from(state: dict, prefix: str) -> dict:
    """Without a model to compare with: the parameters as the arrays under `prefix` describe them."""
    layout = {}
    for key, value in state.items():
        if isinstance(key, str) and key.startswith(prefix):
            if not isinstance(value, np.ndarray) or value.dtype not in FLOAT_DTYPES:
                raise ValueError(f"{key} is not a float32 or float64 array")
            layout[key[len(prefix):]] = (value.shape, value.dtype)
    return layout


def check_state(state: dict, layout: dict) -> None:
    """ValueError unless `state` holds exactly the arrays of `layout` {name: (shape, dtype)},
    floating-point ones all finite."""
    if not isinstance(state, dict) or set(state) != set(layout):
        keys = set(state) if isinstance(state, dict) else set()
        missing, unexpected = sorted(set(layout) - keys), sorted(map(str, keys - set(layout)))
        raise ValueError(f"missing {missing[:4]}{'...' if len(missing) > 4 else ''}, "
                         f"unexpected {unexpected[:4]}{'...' if len(unexpected) > 4 else ''}")
    for key, (shape, dtype) in layout.items():
        value = state[key]
        if not isinstance(value, np.ndarray) or value.shape != shape or value.dtype != dtype:
            found = f"{value.dtype} {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__
            raise ValueError(f"{key} is {found}, expected {dtype} {shape}")
        if dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise ValueError(f"{key} holds NaN or infinite values")


class SGD:
    """v = momentum * v - lr * g;  p += v   (plain SGD when momentum = 0)."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum = lr, momentum
        self.velocity: dict[str, np.ndarray] = {}

    def step(self, model):
        from nncore.kernels.optim import sgd_momentum_step  # here: see nncore/layers/base.py
        for name, param, grad in model.parameters():
            if name not in self.velocity:
                self.velocity[name] = np.zeros_like(param)
            sgd_momentum_step(param.reshape(-1), grad.reshape(-1), self.velocity[name].reshape(-1),
                              self.lr, self.momentum)

    def state(self) -> dict[str, np.ndarray]:
        return {f"velocity/{name}": v for name, v in self.velocity.items()}

    def state_layout(self, params: dict) -> dict:
        """What state() holds for parameters {name: (shape, dtype)}: a velocity for each."""
        return {f"velocity/{name}": spec for name, spec in params.items()}

    def load_state(self, state: dict[str, np.ndarray], model=None):
        """Restore what state() returned; with `model`, a velocity of each of its parameters'
        shapes and dtypes is required. ValueError, and nothing changed, if anything is off."""
        params = parameter_layout(model) if model is not None else layout_from(state, "velocity/")
        check_state(state, self.state_layout(params))
        self.velocity = {name: np.array(state[f"velocity/{name}"], order="C") for name in params}


class Adam:
    """Adam with Keras' defaults: lr 0.001, beta1 0.9, beta2 0.999, eps 1e-7."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t = 0
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}

    def step(self, model):
        from nncore.kernels.optim import adam_step  # here: see nncore/layers/base.py
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

    def state_layout(self, params: dict) -> dict:
        """What state() holds for parameters {name: (shape, dtype)}: t, and m and v for each."""
        layout = {"t": ((), np.dtype(np.int64))}
        layout.update({f"m/{name}": spec for name, spec in params.items()})
        layout.update({f"v/{name}": spec for name, spec in params.items()})
        return layout

    def load_state(self, state: dict[str, np.ndarray], model=None):
        """Restore what state() returned; with `model`, moments of each of its parameters'
        shapes and dtypes are required. ValueError, and nothing changed, if anything is off."""
        params = parameter_layout(model) if model is not None else layout_from(state, "m/")
        check_state(state, self.state_layout(params))
        t = int(state["t"])
        if not 0 <= t <= MAX_STEPS:
            raise ValueError(f"the step count t is {t}, not between 0 and {MAX_STEPS:,}")
        if any(np.any(state[f"v/{name}"] < 0) for name in params):
            raise ValueError("a second moment v holds negative values")
        self.t = t
        self.m = {name: np.array(state[f"m/{name}"], order="C") for name in params}
        self.v = {name: np.array(state[f"v/{name}"], order="C") for name in params}
