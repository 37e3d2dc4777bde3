"""nncore: a small neural-network library, every forward and backward pass written out.

    from nncore import Conv2D, MaxPool2D, ReLU, Flatten, Dense, Dropout, Sequential, Adam, SGD

Layers (nncore/layers/) say what each computes and hold its textbook version in NumPy; kernels
(nncore/kernels/) compute it with Numba. `python -m nncore.gradcheck` checks every backward
pass against numerical derivatives. Importing nncore changes no setting of the process: a
program that trains calls `nncore.runtime.configure_for_kernels()` first.
"""
from nncore.layers import Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, ReLU
from nncore.loss import SoftmaxCrossEntropy, softmax
from nncore.model import Sequential, mnist_cnn
from nncore.optim import SGD, Adam
from nncore.serialize import ModelFileError, load_model, read_model_file, save_model

__all__ = [
    "Conv2D", "MaxPool2D", "ReLU", "Flatten", "Dense", "Dropout", "Layer", "Sequential", "mnist_cnn",
    "SoftmaxCrossEntropy", "softmax", "Adam", "SGD",
    "save_model", "load_model", "read_model_file", "ModelFileError",
]
