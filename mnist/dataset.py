"""The MNIST dataset as arrays: load it once, hold out a validation set, serve shuffled batches.

    data = load_mnist()                  # downloads and verifies the files the first time
    data.train_images                    # (60000, 28, 28) uint8, 0 = background, 255 = ink
    data.train_labels                    # (60000,) uint8, digits 0-9
    x_train, y_train, x_val, y_val = split_validation(data.train_images, data.train_labels, 0.1)
    for epoch in range(epochs):
        for batch in iterate_batches(len(x_train), 128, seeds.shuffling(seed, epoch)):
            images, labels = x_train[batch], y_train[batch]

The network's input is `mnist.normalize.to_model_input(images)`: float32 in [0, 1], shape
(N, 28, 28, 1).
"""
from dataclasses import dataclass

import numpy as np

from mnist.download import ensure_mnist, resolve_data_dir, verify_mnist
from mnist.idx import read_images_and_labels


@dataclass(frozen=True)
class MnistData:
    """The four MNIST arrays. They are shared by every caller, so they are read-only."""

    train_images: np.ndarray  # (60000, 28, 28) uint8
    train_labels: np.ndarray  # (60000,) uint8
    test_images: np.ndarray  # (10000, 28, 28) uint8
    test_labels: np.ndarray  # (10000,) uint8


_loaded: dict = {}  # resolved data directory -> MnistData, so each process reads the files once


def load_mnist(data_dir=None, download=True) -> MnistData:
    """Load MNIST from `data_dir` (see `mnist.download` for the default), verified.

    With `download=True`, missing or corrupt files are fetched first; with `download=False`
    they raise `MnistError`. Later calls for the same directory return the same arrays.
    """
    key = resolve_data_dir(data_dir).resolve()
    if key not in _loaded:
        paths = ensure_mnist(key) if download else verify_mnist(key)
        train = read_images_and_labels(
            paths["train-images-idx3-ubyte.gz"], paths["train-labels-idx1-ubyte.gz"]
        )
        test = read_images_and_labels(
            paths["t10k-images-idx3-ubyte.gz"], paths["t10k-labels-idx1-ubyte.gz"]
        )
        for array in train + test:
            array.flags.writeable = False
        _loaded[key] = MnistData(*train, *test)
    return _loaded[key]


def split_validation(images, labels, fraction):
    """Hold out the LAST `fraction` of the samples, as Keras' `validation_split` does.

    Returns (train_images, train_labels, val_images, val_labels); the validation part is the
    last round(fraction * N) samples. No shuffling and no seed: the split is the same on every
    run, so a resumed training run validates on the same images. (MNIST's training file is not
    sorted by digit, so its tail is a fair sample.) The results are views, not copies.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    n_train = len(images) - round(fraction * len(images))
    return images[:n_train], labels[:n_train], images[n_train:], labels[n_train:]


def iterate_batches(n_samples, batch_size, rng: np.random.Generator):
    """Yield index arrays that cover range(n_samples) once, in the order of one permutation
    drawn from `rng` (training/seeds.py gives each epoch its own generator).

    To resume an epoch after k batches, draw from a generator in the same state and skip the
    first k (`itertools.islice(iterate_batches(...), k, None)`): the rest comes out identical.
    The last batch holds the remainder when batch_size does not divide n_samples.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = rng.permutation(n_samples)
    for start in range(0, n_samples, batch_size):
        yield order[start:start + batch_size]
