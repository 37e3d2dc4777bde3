"""What both sides of the benchmark share: the data, the batch sizes, and how rates are timed.

A rate is always taken the same way for both frameworks: a few untimed warm-up calls (caches,
allocators, thread pools settle), then several timed repetitions, each long enough to be well
above the clock's resolution; the caller reports the median, which shrugs off a repetition
disturbed by something else on the machine.
"""
import time

import numpy as np

BATCH = 128              # training batch
INFER_BATCHES = (256, 1000)  # inference batches, for every framework: 256 is predict()'s default
INFER_IMAGES = 10_000    # images per inference run (a full run's): the size of MNIST's test set
TRAIN_POOL = 10_000      # distinct images the timed training steps cycle through
EPOCH_IMAGES = 60_000    # images the memory run holds: the size of MNIST's training set


def random_mnist(n: int, seed: int = 0):
    """n MNIST-shaped images (n, 28, 28, 1) float32 in [0, 1), and labels (n,) int64 in 0..9.

    The time a step takes does not depend on the pixel values, so random ones do, and the
    benchmark needs no download."""
    rng = np.random.default_rng(seed)
    return rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n)


def batches(x, y, size: int = BATCH) -> list:
    """Consecutive full batches (x[i:i+size], y[i:i+size]): views, nothing is copied."""
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(x) - size + 1, size)]


def training_rates(step, data: list, warmup: int, reps: int, steps: int) -> list[float]:
    """Images per second of `reps` timed runs of `steps` calls step(x, y) each, cycling
    through the batches in `data`, after `warmup` untimed calls."""
    for i in range(warmup):
        step(*data[i % len(data)])
    rates = []
    for _ in range(reps):
        start = time.perf_counter()
        for i in range(steps):
            step(*data[i % len(data)])
        rates.append(steps * len(data[0][0]) / (time.perf_counter() - start))
    return rates


def inference_rates(predict, x, reps: int) -> list[float]:
    """Images per second of `reps` timed calls predict(x), after one untimed call."""
    predict(x)
    rates = []
    for _ in range(reps):
        start = time.perf_counter()
        predict(x)
        rates.append(len(x) / (time.perf_counter() - start))
    return rates
