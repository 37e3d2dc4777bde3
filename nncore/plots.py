"""PNG plots of a training run: the loss and accuracy curves, and a confusion matrix.

Matplotlib is imported inside the functions, so training code that never plots does not pay
for it, and the figures are drawn with the non-interactive Agg backend directly (no pyplot, no
window, works on a server without a display).

    plot_curves(history, "models/training_curves.png")
    plot_confusion_matrix(matrix, "models/confusion_matrix.png", "Test set: 99.4% correct")
"""
import numpy as np


def plot_curves(history: list[dict], path) -> None:
    """Loss and accuracy per epoch, training and validation side by side.

    `history` holds one dict per epoch with keys epoch, train_loss, train_acc, val_loss, val_acc.
    """
    from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullFormatter

    fig = _figure(figsize=(10, 4))
    epochs = [row["epoch"] for row in history]
    loss_ax, acc_ax = fig.subplots(1, 2)
    for split, style in (("train", "o-"), ("val", "s--")):
        loss_ax.plot(epochs, [row[f"{split}_loss"] for row in history], style, label=split)
        acc_ax.plot(epochs, [100 * row[f"{split}_acc"] for row in history], style, label=split)
    loss_ax.set(title="Cross-entropy loss", xlabel="epoch", ylabel="loss (log scale)", yscale="log")
    loss_ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))  # 0.02, 0.05, 0.1, 0.2 ...
    loss_ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))  # 0.05 rather than 5 x 10^-2
    loss_ax.yaxis.set_minor_formatter(NullFormatter())
    acc_ax.set(title="Accuracy", xlabel="epoch", ylabel="% correct")
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def plot_confusion_matrix(matrix: np.ndarray, path, title: str) -> None:
    """matrix[true, predicted] = count, drawn with each count written in its cell.

    The colour scale is logarithmic so the few mistakes off the diagonal stay visible beside the
    thousands of correct answers on it; empty cells are left white.
    """
    from matplotlib.colors import LogNorm

    fig = _figure(figsize=(7, 6))
    ax = fig.subplots()
    k = len(matrix)
    image = ax.imshow(np.ma.masked_equal(matrix, 0), cmap="Blues",
                      norm=LogNorm(vmin=0.5, vmax=max(matrix.max(), 2)))
    for true in range(k):
        for pred in range(k):
            count = matrix[true, pred]
            if count:
                dark = count > matrix.max() ** 0.5
                ax.text(pred, true, str(count), ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
    ax.set(title=title, xlabel="predicted digit", ylabel="true digit",
           xticks=range(k), yticks=range(k))
    fig.colorbar(image, ax=ax, label="images (log scale)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _figure(figsize):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig
