"""The layers of a CNN, each a forward and a backward pass: see each module's docstring, and
nncore/layers/base.py for what they share (and why their kernels are imported late)."""
from nncore.layers.base import Layer
from nncore.layers.conv import Conv2D
from nncore.layers.dense import Dense
from nncore.layers.dropout import Dropout
from nncore.layers.flatten import Flatten
from nncore.layers.pool import MaxPool2D
from nncore.layers.relu import ReLU

__all__ = ["Layer", "Conv2D", "MaxPool2D", "ReLU", "Flatten", "Dense", "Dropout"]
