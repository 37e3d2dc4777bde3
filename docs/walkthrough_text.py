"""The walkthrough's text (docs/make_walkthrough.py writes it with `write_markdown`): the whole of
WALKTHROUGH.md, a template filled with the numbers of one run, so that nothing in it can go
stale."""
import numpy as np

PICTURES = "walkthrough"  # the PNGs' folder, beside the markdown


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
