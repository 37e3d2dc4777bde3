"""The yardstick: the same model, data, batch and optimiser in PyTorch, on the CPU.

`build_model()` has the same layers as our `mnist_cnn()`, except that PyTorch writes each ReLU
as a layer of its own where ours is the `activation` of a Conv2D or Dense; `TORCH_INDEX` maps
our parameterised layers to theirs, and our weights load straight in (`copy_weights`). Only
the layouts differ: PyTorch is NCHW, ours NHWC. Every function below
the helpers is a job, run in a fresh process by bench/runner.py with torch.set_num_threads.
This is the only module that imports torch.
"""
import numpy as np
import torch
from torch import nn

from bench import common

FLAT_HWC = (5, 5, 64)  # what Flatten receives, in our (height, width, channels) order
FIRST_DENSE = 5        # our layer after Flatten
TORCH_INDEX = {0: 0, 2: 3, 5: 7, 7: 10}  # our Conv2D, Conv2D, Dense, Dense -> PyTorch's layer


def build_model() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(int(np.prod(FLAT_HWC)), 128), nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(128, 10),
    )


def _torch_layout(k: int, array: np.ndarray) -> np.ndarray:
    """One of our parameters of layer k, rearranged into PyTorch's layout."""
    if array.ndim == 4:     # convolution kernel: (KH, KW, C, F) -> (F, C, KH, KW)
        return array.transpose(3, 2, 0, 1)
    if array.ndim == 2 and k == FIRST_DENSE:  # rows in our flatten order (h, w, c) -> columns in (c, h, w)
        return array.reshape(*FLAT_HWC, -1).transpose(3, 2, 0, 1).reshape(array.shape[1], -1)
    if array.ndim == 2:     # dense: (I, O) -> (O, I)
        return array.T
    return array            # biases


def copy_weights(model: nn.Sequential, params: dict) -> None:
    """Load our parameters {"k.weight": array, "k.bias": array} into the PyTorch mirror."""
    with torch.no_grad():
        for name, array in params.items():
            k, key = name.split(".")
            target = getattr(model[TORCH_INDEX[int(k)]], key)
            target.copy_(torch.from_numpy(np.ascontiguousarray(_torch_layout(int(k), array))))


def _setup(threads: int, weights: str | None):
    """The model (with our seed weights if a model file is given), the loss, Adam with our
    hyper-parameters, and a function doing one training step."""
    torch.set_num_threads(threads)
    model = build_model()
    if weights:
        with np.load(weights, allow_pickle=False) as f:
            copy_weights(model, {name: f[name] for name in f.files if name != "__model__"})
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)

    def step(x, y):
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()

    return model, step


def _tensors(x: np.ndarray, y: np.ndarray):
    """Our NHWC images and labels as PyTorch NCHW tensors."""
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), torch.from_numpy(y)


def timed(warmup: int, reps: int, steps: int, infer_reps: int, infer_images: int, threads: int,
          weights: str | None = None) -> dict:
    """Training rates (images/s), and inference rates over `infer_images` images (at most 10,000)
    at each batch size of common.INFER_BATCHES, as in bench/ours.py."""
    model, step = _setup(threads, weights)
    x, y = _tensors(*common.random_mnist(common.TRAIN_POOL))
    model.train()
    train = common.training_rates(step, common.batches(x, y), warmup, reps, steps)
    model.eval()

    def predict(images, batch):
        with torch.inference_mode():
            return torch.cat([torch.softmax(model(images[i:i + batch]), dim=1)
                              for i in range(0, len(images), batch)])

    inference = {str(batch): common.inference_rates(lambda images, batch=batch: predict(images, batch),
                                                    x[:infer_images], infer_reps)
                 for batch in common.INFER_BATCHES}
    return {"train": train, "inference": inference, "threads": torch.get_num_threads()}


def memory_run(steps: int, threads: int) -> dict:
    """A training run holding 60,000 images, `steps` steps; the runner reports its peak memory."""
    model, step = _setup(threads, None)
    x, y = _tensors(*common.random_mnist(common.EPOCH_IMAGES))
    model.train()
    for xb, yb in common.batches(x, y)[:steps]:
        step(xb, yb)
    return {"steps": steps}
