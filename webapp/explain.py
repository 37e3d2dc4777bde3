"""What POST /api/explain answers: one digit's way through the network, as pictures to draw.

From `Network.trace` (webapp/network.py) come every layer's output and the saliency map; the
first convolution's trained filters come from its weights. Each becomes a *view*:

    {"name": "conv1", "layer": "Conv2D 32 3x3 + ReLU", "file": "nncore/layers/conv.py",
     "shape": [32, 26, 26], "scale": 2.71, "values": [[[0, 13, 255, ...], ...], ...]}

`values` are whole numbers in [-255, 255], the array divided by `scale` (its largest absolute
value) and times 255, rounded: enough for a picture, and short as JSON. A value v stands for
v / 255 * scale. A stack of feature maps (H, W, C) is sent channel first, [C][H][W], one picture
per channel. `file` is the module whose `forward` computes the view, so that a learner can go
from the picture to the code. The saliency map's `file` is the first layer's, whose `backward`
gives the gradient for the input at last, and its `files` all those whose `backward` ran, from
the last layer to the first; its `digit` is the class whose score it is the gradient of.

The layers shown are those whose output is new numbers: a Flatten reshapes its input and a
Dropout at inference passes it on unchanged, so they are left out. The layers are named by
kind and count, "conv1", "pool1", "conv2", "pool2", "dense1", "dense2"; the last one's output
is the logits, the ten scores that the softmax (nncore/loss.py) turns into probabilities.
"""
import numpy as np

from nncore.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D
from nncore.loss import softmax_reference

KINDS = {Conv2D: "conv", MaxPool2D: "pool", Dense: "dense"}   # any other layer: its class name
PASSED_ON = (Flatten, Dropout)     # at inference their output holds their input's numbers


def source_file(layer) -> str:
    """The module that defines the layer, as a path: "nncore/layers/conv.py"."""
    return type(layer).__module__.replace(".", "/") + ".py"


def view(name: str, layer: str, file: str, array: np.ndarray) -> dict:
    """An array as a view: its values scaled to whole numbers in [-255, 255]."""
    array = np.asarray(array, np.float64)
    scale = float(np.abs(array).max()) if array.size else 0.0
    values = np.rint(array * (255.0 / scale)) if scale > 0 else np.zeros_like(array)
    return {"name": name, "layer": layer, "file": file, "shape": list(array.shape),
            "scale": round(scale, 6), "values": values.astype(np.int16).tolist()}


def channels_first(array: np.ndarray) -> np.ndarray:
    """(H, W, C) -> (C, H, W): one picture per channel."""
    return array.transpose(2, 0, 1) if array.ndim == 3 else array


def layer_views(model, activations: list) -> list:
    """A view of each layer's output for one image (the batch axis dropped)."""
    views, counts = [], {}
    for layer, output in zip(model.layers, activations[1:]):
        if isinstance(layer, PASSED_ON):
            continue
        kind = KINDS.get(type(layer), type(layer).__name__.lower())
        counts[kind] = counts.get(kind, 0) + 1
        views.append(view(f"{kind}{counts[kind]}", layer.describe(), source_file(layer),
                          channels_first(output[0])))
    return views


def filters_view(model) -> dict:
    """The first convolution's trained filters, one picture per filter (per input channel):
    weight (KH, KW, C, F) -> [F * C][KH][KW]."""
    first = next(layer for layer in model.layers if isinstance(layer, Conv2D))
    weight = first.params["weight"]
    pictures = weight.transpose(3, 2, 0, 1).reshape(-1, *weight.shape[:2])
    return view("filters1", first.describe(), source_file(first), pictures)


def explanation(network, digit: np.ndarray) -> dict:
    """One uint8 (28, 28) digit -> the answer's "input", "digit", "probabilities", "layers",
    "filters" and "saliency"."""
    activations, saliency = network.trace(digit)
    probabilities = softmax_reference(activations[-1])[0]
    winner = int(probabilities.argmax())
    model = network.model
    backward = list(dict.fromkeys(source_file(layer) for layer in reversed(model.layers)))
    saliency_view = view("saliency", f"d(score of {winner}) / d(input)", backward[-1], saliency)
    saliency_view.update(digit=winner, files=backward)
    return {
        "input": digit.astype(int).tolist(),
        "digit": winner,
        "probabilities": [round(float(p), 6) for p in probabilities],
        "layers": layer_views(model, activations),
        "filters": filters_view(model),
        "saliency": saliency_view,
    }
