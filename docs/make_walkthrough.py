"""Follow one MNIST test digit through the trained network: write WALKTHROUGH.md and its pictures.

    python docs/make_walkthrough.py                # docs/WALKTHROUGH.md and docs/walkthrough/*.png
    python docs/make_walkthrough.py --out DIR      # DIR/WALKTHROUGH.md and DIR/walkthrough/*.png
    python docs/make_walkthrough.py --index 123    # follow test image 123 instead of test image 0

Every number and picture in the document comes from this run: this file computes them (one
image's way through the network, forward and back), docs/walkthrough_pictures.py draws the
pictures and docs/walkthrough_text.py writes the whole markdown file from its template, so
nothing in it can go stale. Rerun the script whenever the model or the code changes. It uses
only the library's public API (`load_model`, `model.layers`, `layer.forward`, `layer.backward`,
`layer.needs_input_grad`, `layer.params["weight"]`, `SoftmaxCrossEntropy`, `to_model_input`).
"""
import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python docs/make_walkthrough.py` without `pip install -e .`
    sys.path.insert(0, str(ROOT))

from mnist.dataset import load_mnist  # noqa: E402
from mnist.normalize import to_model_input  # noqa: E402
from nncore import SoftmaxCrossEntropy, load_model, mnist_cnn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))   # its two halves, beside it
from walkthrough_pictures import draw_pictures  # noqa: E402
from walkthrough_text import PICTURES, write_markdown  # noqa: E402

SHIPPED_MODEL = ROOT / "models" / "shipped" / "mnist_cnn.npz"


# --- The computation: a forward pass that keeps every activation, then the backward pass ------

@dataclass
class Trace:
    """One image's way through the network, forward and back.

    activations[0] is the input x (1, 28, 28, 1); activations[k + 1] is layer k's output, the
    last one the logits (1, 10). gradients[0] is dL/dlogits; gradients[j + 1] is what the j-th
    layer from the end returned, dL/d(its input); the last one is dL/dx, the saliency map.
    """
    label: int
    activations: list
    loss: float
    probabilities: np.ndarray  # (10,)
    gradients: list
    index: int | None = None  # which test image, when it is one
    slopes: np.ndarray | None = None  # (28, 28) from `ink_slopes`, when measured

    @property
    def prediction(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def saliency(self) -> np.ndarray:
        return self.gradients[-1][0, :, :, 0]


def follow(model, x, label) -> Trace:
    """Run x (1, 28, 28, 1) forward layer by layer, the loss for `label`, and back again.

    The backward loop is the chain rule: each layer turns dL/d(its output) into dL/d(its
    input). `Sequential.backward` runs the same loop; it is written out here to keep each step's
    gradient. The first layer normally skips dx (nothing comes before it); we ask for it.
    """
    first = model.layers[0]
    saved = first.needs_input_grad
    first.needs_input_grad = True
    try:
        activations = [x]
        for layer in model.layers:
            activations.append(layer.forward(activations[-1]))
        loss_fn = SoftmaxCrossEntropy()
        loss = loss_fn.forward(activations[-1], np.array([label]))
        gradients = [loss_fn.backward()]
        for layer in reversed(model.layers):
            gradients.append(layer.backward(gradients[-1]))
    finally:
        first.needs_input_grad = saved
    return Trace(int(label), activations, loss, loss_fn.probabilities[0].astype(np.float64),
                 gradients)


def float64_copy(model):
    """The same network with float64 weights, to measure slopes free of float32's rounding."""
    copy = mnist_cnn(dtype=np.float64)
    if repr(copy) != repr(model):
        raise ValueError(f"expected the MNIST CNN of nncore.mnist_cnn, got {model!r}")
    for mine, theirs in zip(copy.layers, model.layers):
        for key, param in theirs.params.items():
            mine.params[key][...] = param
    copy.eval()
    return copy


def ink_slopes(model, x, label, h=1e-4, chunk=196):
    """(L(x + h e_p) - L(x)) / h for every pixel p: how the loss changes when pixel p alone gets
    a little more ink, measured with forward passes only (no backward, no calculus)."""
    def losses(batch):
        logits = model.forward(batch)
        return np.array([SoftmaxCrossEntropy().forward(logits[k:k + 1], np.array([label]))
                         for k in range(len(batch))])

    base = losses(x)[0]
    pixels = x.size
    slopes = np.empty(pixels)
    for start in range(0, pixels, chunk):
        count = min(chunk, pixels - start)
        batch = np.repeat(x, count, axis=0)  # image k of the batch gets pixel start + k raised
        batch.reshape(count, pixels)[np.arange(count), start + np.arange(count)] += h
        slopes[start:start + count] = (losses(batch) - base) / h
    return slopes.reshape(x.shape[1:3])


def first_mistake(model, images, labels, skip=(), batch=500):
    """The index of the first test image (in file order) the model gets wrong, or None."""
    for start in range(0, len(images), batch):
        predicted = model.predict(to_model_input(images[start:start + batch])).argmax(axis=1)
        for k in np.flatnonzero(predicted != labels[start:start + batch]):
            if start + k not in skip:
                return int(start + k)
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs",
                        help="folder for WALKTHROUGH.md and walkthrough/*.png (default: docs/)")
    parser.add_argument("--index", type=int, default=0, help="the test image to follow (default 0)")
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL,
                        help="model file (default: models/shipped/mnist_cnn.npz)")
    parser.add_argument("--data-dir", default=None,
                        help="MNIST folder (default: $MNIST_DATA_DIR, else data/mnist)")
    args = parser.parse_args(argv)

    model = load_model(args.model)
    data = load_mnist(args.data_dir)
    if not 0 <= args.index < len(data.test_images):
        parser.error(f"--index must be in [0, {len(data.test_images)})")
    images, labels = data.test_images, data.test_labels
    trace = follow(model, to_model_input(images[args.index]), labels[args.index])
    trace.slopes = ink_slopes(float64_copy(model), to_model_input(images[args.index]).astype(np.float64),
                              labels[args.index])
    wrong = first_mistake(model, images, labels, skip={args.index})
    other = None
    if wrong is not None:
        other = follow(model, to_model_input(images[wrong]), labels[wrong])
        other.index = wrong

    args.out.mkdir(parents=True, exist_ok=True)
    pictures = draw_pictures(args.out / PICTURES, model, trace, other)
    code = Path(os.path.relpath(ROOT, args.out.resolve())).as_posix()
    markdown = args.out / "WALKTHROUGH.md"
    write_markdown(markdown, model, trace, other, pictures, args.index, code)
    print(f"wrote {markdown} and {len(pictures)} pictures in {args.out / PICTURES}")


if __name__ == "__main__":
    main()
