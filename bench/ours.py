"""Our side: the seed model (nncore) trained, run and profiled. Every function here is a job,
run in a fresh process by bench/runner.py, and returns plain numbers (JSON).

A training step is exactly what train.py does per batch: training.step.train_step (forward,
loss, backward, Adam update).
"""
import math
import time

import numba
import numpy as np

from bench import common
from nncore import Adam, SoftmaxCrossEntropy, mnist_cnn, save_model
from nncore.runtime import configure_for_kernels
from training.step import train_step


def _trainer(seed: int = 0):
    """The seed model, its loss and Adam (lr 1e-3), and a function doing one training step.
    Like train.py, it first applies the kernels' process settings (before any kernel runs)."""
    configure_for_kernels()
    model, loss_fn, optimizer = mnist_cnn(seed), SoftmaxCrossEntropy(), Adam(lr=1e-3)

    def step(x, y):
        train_step(model, loss_fn, optimizer, x, y)

    return model, loss_fn, optimizer, step


def forward_macs(model, image_shape=(28, 28, 1)) -> int:
    """Multiply-adds of one image's forward pass through the layers with a weight (the others
    only compare and copy). Such a layer applies its whole weight once per output position:
    a convolution's w (KH, KW, C, F) at each of its OH * OW output pixels, a dense layer's
    w (I, O) once. The shapes are followed through the model, so this is the architecture's own count."""
    shape, macs = tuple(image_shape), 0
    for layer in model.layers:
        shape = layer.output_shape(shape)
        if "weight" in layer.params:
            macs += math.prod(shape[:-1]) * layer.params["weight"].size
    return macs


def layer_label(layer) -> str:
    """'Conv2D(1, 32, 3, relu)', 'Dense(128, 10)', 'Flatten': the layer's type and constructor
    arguments (those that are not None)."""
    args = ", ".join(str(value) for value in layer.config().values() if value is not None)
    return f"{type(layer).__name__}({args})" if args else type(layer).__name__


def step_label(model, step) -> str:
    """'0 Conv2D(1, 32, 3, relu)', or for a Conv2D and the MaxPool2D after it run as one step
    (nncore/layers/conv_pool.py) '0 Conv2D(1, 32, 3, relu) + 1 MaxPool2D(2)': the layers it runs,
    numbered as in model.layers."""
    layers = [step.conv, step.pool] if hasattr(step, "conv") else [step]
    return " + ".join(f"{model.layers.index(layer)} {layer_label(layer)}" for layer in layers)


def layer_profile(model, loss_fn, optimizer, data: list, steps: int) -> list[dict]:
    """Median milliseconds, over `steps` training steps, of the forward and backward of each of
    the model's steps (its layers, a Conv2D and the MaxPool2D after it counting as one, as
    training runs them), the loss (softmax and its gradient, computed together) and the
    optimiser step. Rows in the order of the model, each with "total_ms"; "forward_ms" /
    "backward_ms" are None where a row has no such part."""
    n = len(model.steps)
    seconds = np.zeros((steps, 2 * n + 2))  # columns: n forwards, n backwards, loss, optimiser
    clock = time.perf_counter
    for s in range(steps):
        x, y = data[s % len(data)]
        h = x
        for k, step in enumerate(model.steps):
            start = clock()
            h = step.forward(h)
            seconds[s, k] = clock() - start
        start = clock()
        loss_fn.forward(h, y)
        grad = loss_fn.backward()
        seconds[s, 2 * n] = clock() - start
        for k in reversed(range(n)):
            start = clock()
            grad = model.steps[k].backward(grad)
            seconds[s, n + k] = clock() - start
        start = clock()
        optimizer.step(model)
        seconds[s, 2 * n + 1] = clock() - start
    ms = np.median(seconds, axis=0) * 1000
    rows = [{"name": step_label(model, step), "forward_ms": ms[k], "backward_ms": ms[n + k],
             "total_ms": ms[k] + ms[n + k]} for k, step in enumerate(model.steps)]
    rows.append({"name": "softmax cross-entropy (loss and gradient)", "forward_ms": ms[2 * n],
                 "backward_ms": None, "total_ms": ms[2 * n]})
    rows.append({"name": "Adam step", "forward_ms": None, "backward_ms": None, "total_ms": ms[2 * n + 1]})
    return rows


def training(warmup: int, reps: int, steps: int) -> dict:
    """Training rates (images/s) only: the under-load case."""
    *_, step = _trainer()
    x, y = common.random_mnist(common.TRAIN_POOL)
    return {"train": common.training_rates(step, common.batches(x, y), warmup, reps, steps),
            "threads": numba.get_num_threads()}


def timed(warmup: int, reps: int, steps: int, infer_reps: int, infer_images: int, profile_steps: int) -> dict:
    """Training rates (images/s), inference rates over `infer_images` images (at most 10,000) at
    each batch size of common.INFER_BATCHES, the per-layer profile."""
    model, loss_fn, optimizer, step = _trainer()
    x, y = common.random_mnist(common.TRAIN_POOL)
    data = common.batches(x, y)
    train = common.training_rates(step, data, warmup, reps, steps)
    profile = layer_profile(model, loss_fn, optimizer, data, profile_steps)
    inference = {str(batch): common.inference_rates(
        lambda images, batch=batch: model.predict(images, batch), x[:infer_images], infer_reps)
        for batch in common.INFER_BATCHES}
    return {"train": train, "inference": inference, "profile": profile,
            "forward_macs": forward_macs(model), "threads": numba.get_num_threads()}


def memory_run(steps: int) -> dict:
    """A training run as train.py makes one: 60,000 images held in memory, `steps` steps over
    them. Its peak memory is what the runner reports."""
    x, y = common.random_mnist(common.EPOCH_IMAGES)
    *_, step = _trainer()
    for xb, yb in common.batches(x, y)[:steps]:
        step(xb, yb)
    return {"steps": steps}


def first_step() -> dict:
    """One training step and one prediction, as a fresh process does them. Run with an empty
    NUMBA_CACHE_DIR, the runner's elapsed time is dominated by compiling every kernel."""
    x, y = common.random_mnist(common.BATCH)
    model, *_, step = _trainer()
    step(x, y)
    model.predict(x[:10])
    return {}


def save_seed_model(path: str) -> dict:
    """Write the seed model to `path`, so that PyTorch can start from the very same weights."""
    save_model(path, mnist_cnn(0))
    return {}
