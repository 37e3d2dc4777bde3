"""Every random number of a training run, from one tree of seeds.

A run's `--seed` is the root. Each random stream is NumPy's generator for the root extended by
the numbers that say which stream it is (a `numpy.random.SeedSequence` of those integers):

    [seed]                     the initial weights, `nncore.mnist_cnn(seed)`, which also draws the
                               Dropout layer's own seed from it
    [seed, epoch, 2]           the order of the batches in that epoch
    [seed, epoch, batch, 1]    the augmentation of that batch

Any number that ends a list names its stream: NumPy pads a short seed with zeros, so
[seed, epoch] would be [seed, 0] in the first epoch, which equals [seed], the weights' stream.
Because each stream depends only on where it is used, a run resumed in the middle of an epoch
draws exactly the numbers it would have drawn without the interruption.
"""
import numpy as np

SHUFFLE, AUGMENT = 2, 1


def shuffling(seed: int, epoch: int) -> np.random.Generator:
    """The generator of the batch order of `epoch`."""
    return np.random.default_rng([seed, epoch, SHUFFLE])


def augmentation(seed: int, epoch: int, batch: int) -> np.random.Generator:
    """The generator of the random shifts, rotations and scalings of one batch."""
    return np.random.default_rng([seed, epoch, batch, AUGMENT])
