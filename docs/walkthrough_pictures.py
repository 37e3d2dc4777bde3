"""The walkthrough's pictures (docs/make_walkthrough.py draws them with these): an input digit,
mosaics of feature maps and filters, saliency maps and the output probabilities, drawn with
matplotlib's Agg backend (no window) and saved as 8-bit palette PNGs, small and the same on
every run."""
import numpy as np


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
