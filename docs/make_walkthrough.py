"""Follow one MNIST test digit through the trained network: write WALKTHROUGH.md and its pictures.

    python docs/make_walkthrough.py                # docs/WALKTHROUGH.md and docs/walkthrough/*.png
    python docs/make_walkthrough.py --out DIR      # DIR/WALKTHROUGH.md and DIR/walkthrough/*.png
    python docs/make_walkthrough.py --index 123    # follow test image 123 instead of test image 0

Every number and picture in the document comes from this run: the whole markdown file is
written from the template in `write_markdown`, so nothing in it can go stale. Rerun the script
whenever the model or the code changes. It uses only the library's public API (`load_model`,
`model.layers`, `layer.forward`, `layer.backward`, `layer.needs_input_grad`,
`layer.params["weight"]`, `SoftmaxCrossEntropy`, `to_model_input`), draws with matplotlib's Agg
backend (no window) and stores each picture as an 8-bit palette PNG, so the output is small and
the same on every run.
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

SHIPPED_MODEL = ROOT / "models" / "shipped" / "mnist_cnn.npz"
PICTURES = "walkthrough"  # the PNGs' folder, beside the markdown


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


# --- Pictures ---------------------------------------------------------------------------------

def new_figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=80)
    FigureCanvasAgg(fig)
    return fig


def save(fig, path):
    """Render with Agg and store as a palette PNG: a few tens of KB, no timestamp, same bytes."""
    from PIL import Image

    fig.canvas.draw()
    rgb = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])
    rgb.quantize(colors=256).save(path, optimize=True)


def mosaic(maps, columns, gap, band):
    """maps (H, W, C) -> one image of C tiles, `columns` a row, NaN (drawn white) around them:
    `gap` columns between tiles, a `band` of rows above each tile for its number."""
    height, width, count = maps.shape
    rows = -(-count // columns)
    out = np.full((rows * (height + band), columns * (width + gap) - gap), np.nan)
    for c in range(count):
        top, left = (c // columns) * (height + band) + band, (c % columns) * (width + gap)
        out[top:top + height, left:left + width] = maps[:, :, c]
    return out


def draw_mosaic(path, maps, columns, title, cmap, vmin, vmax, label, width=7.2):
    """The maps as numbered tiles on one colour scale, with a colour bar."""
    import matplotlib

    height, tile_width, count = maps.shape
    pixel = 0.84 * width * 80 / (columns * tile_width)  # screen pixels per map pixel, about
    gap, band = max(1, round(4 / pixel)), max(1, round(12 / pixel))
    image = mosaic(maps, columns, gap, band)
    axes_height = 0.84 * width * image.shape[0] / image.shape[1]
    fig = new_figure(width, axes_height + 0.45)
    bottom, tall = 0.1 / (axes_height + 0.45), axes_height / (axes_height + 0.45)
    ax = fig.add_axes((0.02, bottom, 0.84, tall))
    colormap = matplotlib.colormaps[cmap].with_extremes(bad="white")
    shown = ax.imshow(image, cmap=colormap, vmin=vmin, vmax=vmax, interpolation="nearest",
                      aspect="auto")
    for c in range(count):
        ax.text((c % columns) * (tile_width + gap), (c // columns) * (height + band) + band - 0.6,
                str(c), fontsize=7, va="bottom")
    ax.set_axis_off()
    fig.text(0.45, 1 - 0.08 / (axes_height + 0.45), title, fontsize=10, ha="center", va="top")
    colorbar = fig.colorbar(shown, cax=fig.add_axes((0.89, bottom + 0.1 * tall, 0.025, 0.8 * tall)))
    colorbar.ax.tick_params(labelsize=8)
    colorbar.set_label(label, fontsize=8)
    save(fig, path)


def draw_digit(ax, image, title):
    ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([0, 9, 18, 27])
    ax.set_yticks([0, 9, 18, 27])
    ax.tick_params(labelsize=7)


def draw_saliency(ax, fig, saliency, digit, title, limit=None):
    """A map of slopes on a symmetric red-blue scale (red: more ink raises the loss), the
    digit's outline (ink = 0.5) drawn over it."""
    limit = float(limit or np.abs(saliency).max()) or 1.0
    image = ax.imshow(saliency, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.contour(digit, levels=[0.5], colors="0.3", linewidths=0.8)
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
    from matplotlib.ticker import FuncFormatter

    colorbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03,
                            format=FuncFormatter(lambda v, _: f"{v:.0e}" if v else "0"))
    colorbar.ax.tick_params(labelsize=7)


def draw_probabilities(ax, trace, title):
    colors = ["C0"] * 10
    colors[trace.label] = "C2"
    if trace.prediction != trace.label:
        colors[trace.prediction] = "C3"
    ax.bar(range(10), trace.probabilities, color=colors)
    ax.set_yscale("log")
    ax.set_ylim(10 ** np.floor(np.log10(trace.probabilities.min()) - 0.5), 2)
    ax.set_xticks(range(10))
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("digit", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", alpha=0.3)


def draw_pictures(folder, model, trace, other):
    """Write every PNG; returns {name: file name} for the markdown."""
    folder.mkdir(parents=True, exist_ok=True)
    acts = trace.activations
    names = {}

    def path(name):
        names[name] = f"{name}.png"
        return folder / names[name]

    fig = new_figure(3.4, 3.0)
    ax = fig.add_axes((0.12, 0.08, 0.7, 0.8))
    draw_digit(ax, acts[0][0, :, :, 0], f"input x: test image, label {trace.label}")
    colorbar = fig.colorbar(ax.images[0], cax=fig.add_axes((0.84, 0.1, 0.04, 0.76)))
    colorbar.ax.tick_params(labelsize=7)
    save(fig, path("input"))

    weights = model.layers[0].params["weight"][:, :, 0, :]  # (3, 3, 32)
    limit = float(np.abs(weights).max())
    draw_mosaic(path("filters1"), weights, 8, "first layer: 32 filters w[:, :, 0, f] (3x3)",
                "RdBu_r", -limit, limit, "weight")
    conv1, pool1, conv2, pool2 = (a[0] for a in acts[1:5])
    draw_mosaic(path("conv1"), conv1, 8, "conv 1 + ReLU: 32 maps, 26x26", "magma", 0,
                conv1.max(), "activation")
    draw_mosaic(path("pool1"), pool1, 8, "max pool 1: 32 maps, 13x13", "magma", 0,
                conv1.max(), "activation")
    draw_mosaic(path("conv2"), conv2, 8, "conv 2 + ReLU: 64 maps, 11x11", "magma", 0,
                conv2.max(), "activation")
    draw_mosaic(path("pool2"), pool2, 8, "max pool 2: 64 maps, 5x5", "magma", 0,
                conv2.max(), "activation")

    flat, dense = acts[5][0], acts[6][0]
    fig = new_figure(8, 4.2)
    top, bottom = fig.subplots(2, 1)
    top.vlines(np.arange(flat.size), 0, flat, color="C0", lw=0.8)  # 1600 bars, drawn as one collection
    top.set_ylim(0, None)
    for position in range(0, flat.size + 1, 64 * 5):
        top.axvline(position - 0.5, color="0.7", lw=0.6)
    top.set_xlim(-0.5, flat.size - 0.5)
    top.set_title("flatten: the 1600 numbers of 5x5x64 in a row "
                  "(index = (5i + j) * 64 + c; grey lines: each row i of the 5x5 grid)", fontsize=9)
    bottom.vlines(np.arange(dense.size), 0, dense, color="C1", lw=3)
    bottom.set_ylim(0, None)
    bottom.set_xlim(-0.5, dense.size - 0.5)
    bottom.set_title(f"dense 1 + ReLU: 128 numbers ({np.count_nonzero(dense)} of them non-zero)",
                     fontsize=9)
    for ax in (top, bottom):
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    save(fig, path("dense"))

    logits = acts[-1][0]
    fig = new_figure(8, 3.0)
    left, right = fig.subplots(1, 2)
    left.bar(range(10), logits, color=["C2" if k == trace.prediction else "C0" for k in range(10)])
    left.axhline(0, color="0.3", lw=0.6)
    left.set_xticks(range(10))
    left.set_title("logits z (dense 2, no ReLU)", fontsize=10)
    left.set_xlabel("digit", fontsize=9)
    left.tick_params(labelsize=8)
    draw_probabilities(right, trace, "probabilities softmax(z), log scale")
    fig.tight_layout()
    save(fig, path("output"))

    fig = new_figure(10, 3.0)
    left, middle, right = fig.subplots(1, 3)
    draw_digit(left, acts[0][0, :, :, 0], "input x")
    limit = max(np.abs(trace.saliency).max(), np.abs(trace.slopes).max())
    draw_saliency(middle, fig, trace.saliency, acts[0][0, :, :, 0],
                  "dL/dx by the backward pass", limit)
    draw_saliency(right, fig, trace.slopes, acts[0][0, :, :, 0],
                  "(L(x + h) - L(x)) / h, pixel by pixel", limit)
    fig.tight_layout()
    save(fig, path("saliency"))

    if other is not None:
        fig = new_figure(10, 3.0)
        left, middle, right = fig.subplots(1, 3)
        draw_digit(left, other.activations[0][0, :, :, 0], f"label {other.label}, "
                   f"predicted {other.prediction}")
        draw_probabilities(middle, other, "probabilities (green: true, red: predicted)")
        draw_saliency(right, fig, other.saliency, other.activations[0][0, :, :, 0],
                      f"dL/dx for the true label {other.label}")
        fig.tight_layout()
        save(fig, path("mistake"))
    return names


# --- The document -----------------------------------------------------------------------------

def tied_windows(maps):
    """(how many, of how many) 2 x 2 pooling windows of maps (H, W, C) have their positive
    maximum more than once."""
    height, width, channels = (maps.shape[0] // 2) * 2, (maps.shape[1] // 2) * 2, maps.shape[2]
    windows = maps[:height, :width].reshape(height // 2, 2, width // 2, 2, channels)
    largest = windows.max(axis=(1, 3), keepdims=True)
    tied = ((windows == largest).sum(axis=(1, 3)) > 1) & (largest[:, 0, :, 0] > 0)
    return int(tied.sum()), tied.size


def probability_text(p):
    return f"{p:.6f}" if p >= 1e-3 else f"{p:.1e}"


def shape_text(array):
    return " x ".join(str(d) for d in array.shape[1:])


def layer_name(layer):
    return type(layer).__name__


def write_markdown(path, model, trace, other, pictures, index, code):
    """The whole document, from the numbers of this run. `code` is the path from the markdown's
    folder to the repository root, for the links into the code."""
    acts, grads = trace.activations, trace.gradients
    x, conv1, pool1, conv2, pool2, flat, dense = (a[0] for a in acts[:7])
    logits = acts[-1][0]
    weights = model.layers[0].params["weight"][:, :, 0, :]
    balance = np.abs(weights.sum(axis=(0, 1))) / np.abs(weights).sum(axis=(0, 1))
    edge_like, blob_like = int(np.sum(balance < 0.3)), int(np.sum(balance > 0.7))
    dead1 = int(np.sum(conv1.max(axis=(0, 1)) == 0))
    dead2 = int(np.sum(conv2.max(axis=(0, 1)) == 0))
    zeros = {name: float(np.mean(a == 0)) for name, a in
             (("conv1", conv1), ("conv2", conv2), ("dense", dense), ("input", x))}
    link = {name: f"{code}/{target}" for name, target in {
        "normalize": "mnist/normalize.py", "conv": "nncore/layers/conv.py",
        "pool": "nncore/layers/pool.py", "flatten": "nncore/layers/flatten.py",
        "dense": "nncore/layers/dense.py", "dropout": "nncore/layers/dropout.py",
        "loss": "nncore/loss.py", "model": "nncore/model.py", "base": "nncore/layers/base.py",
        "gradients": "tests/test_gradients.py", "test": "tests/test_walkthrough.py",
        "script": "docs/make_walkthrough.py"}.items()}
    img = {name: f"{PICTURES}/{file}" for name, file in pictures.items()}

    rows = []
    for k, layer in enumerate(model.layers):
        params = sum(p.size for p in layer.params.values())
        rows.append(f"| {k} | `{layer!r}` | {shape_text(acts[k + 1])} | {params:,} |")
    total = sum(p.size for layer in model.layers for p in layer.params.values())
    digits = " | ".join(str(k) for k in range(10))
    ruler = " | ".join("---:" for _ in range(10))
    logit_row = " | ".join(f"{z:.2f}" for z in logits)
    prob_row = " | ".join(probability_text(p) for p in trace.probabilities)
    dlogit_row = " | ".join(f"{g:.1e}" for g in grads[0][0])
    back_rows = []
    for j, layer in enumerate(reversed(model.layers)):
        k = len(model.layers) - 1 - j
        g = grads[j + 1]
        back_rows.append(f"| {j + 1} | {k} {layer_name(layer)} | dL/d(input of layer {k}) | "
                         f"{shape_text(g)} | {np.abs(g).max():.2e} |")
    verdict = ("right" if trace.prediction == trace.label else "wrong")
    top2 = np.argsort(trace.probabilities)[::-1][:2]
    saliency = trace.saliency
    near = x[:, :, 0] > 0  # the ink, then grown by 2 pixels in each direction
    for _ in range(2):
        grown = near.copy()
        grown[1:] |= near[:-1]
        grown[:-1] |= near[1:]
        grown[:, 1:] |= near[:, :-1]
        grown[:, :-1] |= near[:, 1:]
        near = grown
    dense_params = sum(p.size for p in model.layers[5].params.values())
    ink = x[:, :, 0] > 0
    largest = max(np.abs(saliency).max(), np.abs(trace.slopes).max())
    agree_ink = int(np.sum(np.abs(saliency - trace.slopes)[ink] <= 0.01 * largest))
    (ties1, windows1), (ties2, windows2) = tied_windows(conv1), tied_windows(conv2)

    text = f"""# Walkthrough: one digit through the network, forward and back

This page follows one handwritten digit, **test image #{index}** of MNIST (true label
**{trace.label}**), through the trained network in [models/shipped/]({code}/models/shipped/):
every picture and every number below was computed by
[docs/make_walkthrough.py]({link["script"]}) from the real model, using the same layer code that
trains it. Each step links to the module that computes it; its docstring has the full formulas,
forward and backward. Regenerate this page with `python docs/make_walkthrough.py`.

The model's layers, `model.layers`, with the shape of each layer's output for one image (a
batch of N = 1 is left out of the shapes):

| layer | `model.layers[k]` | output shape | parameters |
| ---: | --- | --- | ---: |
| | input | {shape_text(acts[0])} | |
{chr(10).join(rows)}
| | | | **{total:,}** |

Shapes are NHWC: height x width x channels. "Valid" convolutions (no padding) shrink the image by
2 pixels in each direction (28 → 26, 13 → 11); pooling halves it, dropping an odd last row and
column (26 → 13, 11 → 5).

## 1. The input

![the input digit]({img["input"]})

The image is 28 x 28 grey levels, 0 (background) to 255 (ink). The network sees them divided by
255, as float32 in [0, 1] with a channel axis: x has shape 1 x 28 x 28 x 1
([mnist/normalize.py]({link["normalize"]}), `to_model_input`). Only {1 - zeros["input"]:.0%} of
the pixels carry any ink.

## 2. The first convolution: 32 filters of 3 x 3

![the 32 first-layer filters]({img["filters1"]})

The first layer ([nncore/layers/conv.py]({link["conv"]})) has 32 filters w[:, :, 0, f], each 3 x 3
weights (plus a bias b[f]). Each one slides over the image and, at every position, takes the dot
product of its 9 weights with the 9 pixels under it:

    z[i, j, f] = b[f] + sum over di, dj in 0..2 of  x[i+di, j+dj] * w[di, dj, f]
    out[i, j, f] = max(z[i, j, f], 0)                                   (the ReLU)

Red weights are positive, blue negative. A filter with red on one side and blue on the other
answers to an *edge*: ink on its red side and background on its blue side gives a large sum, the
reverse a negative one that the ReLU turns into 0. Here {edge_like} of the 32 filters are
balanced like that (their weights sum to less than 30 % of their absolute sum): edge detectors,
each for one direction. {blob_like} are mostly of one sign: they answer to ink itself, wherever a
stroke passes; the other {32 - edge_like - blob_like} are in between. Nobody designed these:
training found them.

![the 32 feature maps after the first convolution and its ReLU]({img["conv1"]})

The result is 32 *feature maps* of 26 x 26, map f made by filter f (same tile number above).
Each is the digit seen through one filter: some light up along the top or the bottom edges of
the strokes, some along their left or right sides, some on all of the ink. Black is exactly 0:
the ReLU has cut every negative sum, so **{zeros["conv1"]:.0%} of the 26 x 26 x 32 =
{conv1.size:,} numbers are zero**. That sparsity is typical: each filter reports only where its
pattern is present.
{f"{dead1} of the 32 maps are zero everywhere for this digit." if dead1 else ""}

## 3. Max pooling: 13 x 13 x 32

![after the first pooling]({img["pool1"]})

[nncore/layers/pool.py]({link["pool"]}) keeps the largest of each 2 x 2 block, in every map
separately:

    out[i, j, c] = max(x[2i, 2j, c], x[2i, 2j+1, c], x[2i+1, 2j, c], x[2i+1, 2j+1, c])

The maps keep their look at half the resolution. A quarter of the numbers remain, and the
network stops caring whether a feature sits one pixel to the left or the right: a little
shift-invariance.

## 4. The second convolution: 64 maps of 11 x 11

![the 64 feature maps after the second convolution and its ReLU]({img["conv2"]})

Same formula, but now each filter is 3 x 3 x **32**: it looks at a 3 x 3 window of *all 32*
maps of step 3 at once, 288 weights and a bias, so it combines first-layer features (an edge
here *and* a stroke there) into larger parts of digits: corners, curves, line ends. Each output
pixel sees an 8 x 8 window of the input image (3 x 3 pooled pixels come from 6 x 6 first-layer
pixels, which see 6 + 2 = 8 input pixels across). Compare the maps with those of step 2: many
now answer to one part of the digit only, a horizontal stroke, a slanted one, a line's end,
rather than to every edge. After the ReLU **{zeros["conv2"]:.0%} of the
{conv2.size:,} numbers are zero**{f", and {dead2} of the 64 maps are all zero" if dead2 else ""}:
the deeper the layer, the more specific, and the fewer features fire for any one digit.

## 5. Max pooling again: 5 x 5 x 64

![after the second pooling]({img["pool2"]})

The same 2 x 2 maximum; 11 x 11 becomes 5 x 5 (the 11th row and column are dropped). Each of
the 25 positions now stands for a region of about 10 x 10 input pixels.

## 6. Flatten and the dense layer: 1600 → 128

![the flattened vector and the 128 dense activations]({img["dense"]})

[nncore/layers/flatten.py]({link["flatten"]}) lays the 5 x 5 x 64 numbers out in a row, 1600 of
them, in memory order (all 64 channels of position (0, 0), then of (0, 1), ...). Nothing is
computed; the same numbers get a new shape. From here on position no longer has a special
meaning: the dense layer ([nncore/layers/dense.py]({link["dense"]})) connects every one of the
1600 inputs to every one of its 128 outputs through a 1600 x 128 weight matrix W:

    out = max(flat @ W + b, 0)                (1 x 1600) @ (1600 x 128) + (128)  →  1 x 128

This is where most of the parameters are ({dense_params:,} of the {total:,}). Each of the 128 numbers
answers "how much of my combination of parts is in this image?"; for this digit
{np.count_nonzero(dense)} of them are non-zero ({zeros["dense"]:.0%} zero after the ReLU).
The Dropout layer after it ([nncore/layers/dropout.py]({link["dropout"]})) zeroes half of
these at random while training, so that no single one can be relied on; at inference, as here,
it passes them through unchanged.

## 7. Logits and probabilities

![the logits and the probabilities]({img["output"]})

The last dense layer (128 x 10, no ReLU) gives ten *logits*, one score per digit. Softmax
([nncore/loss.py]({link["loss"]})) turns them into probabilities, positive and summing to 1:

    p[k] = exp(z[k]) / sum over m of exp(z[m])

| digit | {digits} |
| --- | {ruler} |
| logit z | {logit_row} |
| probability p | {prob_row} |

**Prediction: {trace.prediction}** (the largest logit), with probability
{probability_text(trace.probabilities[trace.prediction])}; the true label is {trace.label}, so
the network is {verdict}. The runner-up is {top2[1]} with
{probability_text(trace.probabilities[top2[1]])}. A logit ahead by d gives a probability e^d
times as large, which is why a lead of {logits[top2[0]] - logits[top2[1]]:.1f} makes the others
all but vanish (the right-hand plot is on a log scale so that they remain visible).

## 8. Backward: the gradient of the loss with respect to the input

Training needs the gradient of the loss with respect to every weight; the same backward pass
also gives it with respect to the input image. The loss for the true label y = {trace.label}
is the cross-entropy

    L = -log p[y] = {trace.loss:.3e}

and its gradient with respect to the logits is simply dL/dz = p - one_hot(y)
([nncore/loss.py]({link["loss"]})):

| digit | {digits} |
| --- | {ruler} |
| dL/dz | {dlogit_row} |

Then each layer, last first, turns the gradient with respect to its output into the gradient
with respect to its input (the chain rule), using what its forward pass cached. This is the loop
in `Sequential.backward` ([nncore/model.py]({link["model"]})), written out by the script to keep
every step:

```python
model.layers[0].needs_input_grad = True    # the first layer usually skips dx: nothing before it
activations = [x]
for layer in model.layers:
    activations.append(layer.forward(activations[-1]))
loss_fn = SoftmaxCrossEntropy()
loss = loss_fn.forward(activations[-1], np.array([label]))
grad = loss_fn.backward()                  # dL/dlogits = p - one_hot(y)
for layer in reversed(model.layers):
    grad = layer.backward(grad)            # dL/d(output)  ->  dL/d(input)
saliency = grad[0, :, :, 0]                # dL/dx, 28 x 28
```

| step | layer | gives | shape | largest absolute value |
| ---: | --- | --- | --- | ---: |
| 0 | softmax + cross-entropy | dL/dz | {shape_text(grads[0])} | {np.abs(grads[0]).max():.2e} |
{chr(10).join(back_rows)}

Each backward is the mirror of its forward ([nncore/layers/base.py]({link["base"]}) states the
contract): a dense layer multiplies by the transposed weights, dx = dz @ W.T; a ReLU lets the
gradient through only where its output was positive; max pooling sends each gradient to the one
input of its 2 x 2 block that won, and zero to the other three; a convolution spreads each
output's gradient back over the 3 x 3 window it came from, weighted by the filter.

![the gradient of the loss with respect to the input]({img["saliency"]})

The result, dL/dx (middle), is a *saliency map*: how fast the loss changes as one pixel gets
more ink. Blue (negative) is where more ink would make the network surer of {trace.label}, red
(positive) where it would make it less sure; the grey line is the digit's outline. It gathers
on and around the strokes: {np.abs(saliency[near]).sum() / np.abs(saliency).sum():.0%} of its
absolute sum lies on the ink or within 2 pixels of it, {near.mean():.0%} of the image. Its scale
is tiny, about {np.abs(saliency).max():.0e}, because the network is already sure:
dL/dz = p - one_hot(y) is nearly zero, and every gradient before it is a multiple of it. That is
also why a well-learnt example teaches the network little more during training.

The right-hand map was measured without any backward pass: each pixel in turn gets h = 1e-4
more ink and the loss is computed again, by forward passes of a float64 copy of the model.
Where the loss is smooth the two maps must agree, and they do on {agree_ink} of the
{ink.sum()} inked pixels (within 1 % of the largest value);
[tests/test_walkthrough.py]({link["test"]}) checks such pixels against central differences,
(L(x + h) - L(x - h)) / 2h, as [tests/test_gradients.py]({link["gradients"]}) does for every
layer. On much of the background they differ, and neither is wrong: max pooling has corners. A
2 x 2 block of identical patches (background, or the inside of a thick stroke) gives the
pooling four equal numbers: {ties1:,} of the {windows1:,} blocks after the first convolution hold
such a tie, and {ties2:,} of the {windows2:,} after the second. The backward pass sends the
gradient to the first of them ([nncore/layers/pool.py]({link["pool"]})), while extra ink makes
the number it raises win. At a tie the loss has a different slope on each side, and the
gradient reports one of them: read a saliency map's background with that in mind.
"""
    if other is not None:
        runner = np.argsort(other.probabilities)[::-1]
        text += f"""
## 9. For contrast: a digit the network gets wrong

![a misclassified test digit]({img["mistake"]})

The first test image the network gets wrong is **#{other.index}**: labelled
{other.label}, it is read as **{other.prediction}** with probability
{probability_text(other.probabilities[other.prediction])}, and {other.label} gets
{probability_text(other.probabilities[other.label])}{
    "" if runner[1] == other.label else f" ({runner[1]} is second)"}. The loss for the true
label is L = {other.loss:.2f}, and its gradient dL/dx (right) is about
{np.abs(other.saliency).max() / np.abs(saliency).max():,.0f} times as large as the one of step
8: this is the kind of example training learns from. The blue pixels are where more ink would
make it look more like a {other.label} to the network; the red ones are where more ink would
count against the {other.label}.
"""
    path.write_text(text)


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
