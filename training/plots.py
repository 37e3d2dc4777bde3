"""PNG plots of a training run: the loss and accuracy curves, and a confusion matrix.

Matplotlib is imported inside the functions, so training code that never plots does not pay
for it, and the figures are drawn with the non-interactive Agg backend directly (no pyplot, no
window, works on a server without a display).

    plot_curves(history, "models/training_curves.png", test_accuracy=0.994)
    plot_confusion_matrix(matrix, "models/confusion_matrix.png", "Test set: 99.4% correct")
"""
import numpy as np


def plot_curves(history: list[dict], path, test_accuracy=None, augment=True):
    """Loss and accuracy per epoch, training and validation side by side; returns the figure.

    `history` holds one dict per epoch with keys epoch, train_loss, train_acc, val_loss, val_acc.
    `test_accuracy` (a fraction), if given, is marked at the last epoch: the final model's
    score on the test set. `augment` says whether training used augmentation (for the caption).

    The two curves are measured differently, and a caption under the plots says so: the
    training figures are averaged over the epoch's batches, while the model is still learning,
    with dropout (and augmentation) on; validation scores the model at the end of the epoch with
    both off. That is why the training curve lies below the validation curve.
    """
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    fig = _figure(figsize=(10, 4.6))
    epochs = [row["epoch"] for row in history]
    loss_ax, acc_ax = fig.subplots(1, 2)
    for split, label, style in (("train", "training", "o-"), ("val", "validation", "s--")):
        loss_ax.plot(epochs, [row[f"{split}_loss"] for row in history], style, label=label)
        acc_ax.plot(epochs, [100 * row[f"{split}_acc"] for row in history], style, label=label)
    if test_accuracy is not None:
        acc_ax.plot(epochs[-1], 100 * test_accuracy, "*", color="C2", markersize=14,
                    label=f"test, final model: {test_accuracy:.2%}")
    loss_ax.set(title="Cross-entropy loss", xlabel="epoch", ylabel="loss (log scale)", yscale="log")
    loss_ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))  # 0.02, 0.05, 0.1, 0.2 ...
    low, high = loss_ax.get_ylim()
    loss_ax.set_ylim(low / 1.6, high * 1.6)   # room for a labelled tick below and above the data
    loss_ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))  # 0.05 rather than 5 x 10^-2
    loss_ax.yaxis.set_minor_formatter(NullFormatter())
    acc_ax.set(title="Accuracy", xlabel="epoch", ylabel="% correct")
    for ax in (loss_ax, acc_ax):
        _whole_epochs(ax, epochs)
        ax.grid(alpha=0.3)
        ax.legend()
    noise = "dropout and augmentation" if augment else "dropout"
    caption = (f"Training figures are averaged over each epoch while the model learns, with "
               f"{noise} on;\nvalidation and test score the model at the end of the epoch "
               f"without {noise}, which is why training lies below validation.")
    fig.text(0.5, 0.02, caption, ha="center", va="bottom", fontsize=9, color="0.25")
    fig.tight_layout(rect=(0, 0.09, 1, 1))  # leave the bottom for the caption
    fig.savefig(path, dpi=100)
    return fig


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


def _whole_epochs(ax, epochs) -> None:
    """An epoch axis with ticks at whole epochs only, half an epoch of margin at each end.

    (Left to itself, Matplotlib labels a one-epoch run 0.945, 0.960, ... 1.050.)
    """
    from matplotlib.ticker import MaxNLocator

    ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def _figure(figsize):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig
