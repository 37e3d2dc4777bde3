"""The normalisation that training and inference share.

MNIST pixels are uint8 grey levels, 0 = background (black), 255 = ink (white). The network sees
float32 in [0, 1] with an explicit channel axis: images of shape (N, 28, 28) become (N, 28, 28, 1),
the NHWC layout every layer in `nncore` uses. Training, evaluation and `evaluate.py` all call
this one function, so a user's image is scaled exactly like the training set was.
"""
import numpy as np


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, 28, 28) or one image (28, 28) -> float32 (N, 28, 28, 1) in [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[None]
    if images.dtype != np.uint8:
        raise TypeError(f"expected uint8 pixels, got {images.dtype}")
    return (images.astype(np.float32) / np.float32(255.0))[..., None]
