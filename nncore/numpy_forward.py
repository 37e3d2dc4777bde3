"""Old names of the reference path, kept until nncore/serialize.py and evaluate.py move over:

    forward(model, x)  is  model.reference_forward(x)
    predict(model, x)  is  model.predict(x, reference=True)
"""
import numpy as np


def forward(model, x: np.ndarray) -> np.ndarray:
    return model.reference_forward(x)


def predict(model, x: np.ndarray) -> np.ndarray:
    return model.predict(x, reference=True)
