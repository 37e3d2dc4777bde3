"""The training curves: a PNG for short and long runs, whole-epoch ticks, the test mark."""
import numpy as np
import pytest
from PIL import Image

from training.plots import plot_confusion_matrix, plot_curves


def fake_history(epochs):
    """Training below validation, as in a real run with dropout and augmentation."""
    return [{"epoch": e, "lr": 1e-3, "seconds": 8.0,
             "train_loss": 0.35 * e ** -0.8, "train_acc": 1 - 0.1 * e ** -0.8,
             "val_loss": 0.06 * e ** -0.5, "val_acc": 1 - 0.015 * e ** -0.4}
            for e in range(1, epochs + 1)]


@pytest.mark.parametrize("epochs", [1, 15])
def test_curves_are_written_with_whole_epoch_ticks_and_the_test_mark(tmp_path, epochs):
    path = tmp_path / "curves.png"
    fig = plot_curves(fake_history(epochs), path, test_accuracy=0.994)
    with Image.open(path) as image:
        width, height = image.size   # the caption's height rounds differently across Matplotlibs
        assert image.format == "PNG" and width == 1000 and 450 <= height <= 470
    for ax in fig.axes:
        low, high = ax.get_xlim()
        ticks = [tick for tick in ax.get_xticks() if low <= tick <= high]
        assert ticks and all(tick == round(tick) for tick in ticks)  # not 0.945 ... 1.050
        assert ticks == [1] if epochs == 1 else len(ticks) >= 5
        assert low < 1 and high > epochs  # every point inside the axis
    legend = [text.get_text() for text in fig.axes[1].get_legend().get_texts()]
    assert legend == ["training", "validation", "test, final model: 99.40%"]
    caption = " ".join(text.get_text() for text in fig.texts)
    assert "dropout and augmentation on" in caption and "below validation" in caption


def test_curves_without_test_accuracy_or_augmentation(tmp_path):
    fig = plot_curves(fake_history(3), tmp_path / "curves.png", augment=False)
    legend = [text.get_text() for text in fig.axes[1].get_legend().get_texts()]
    assert legend == ["training", "validation"]
    caption = " ".join(text.get_text() for text in fig.texts)
    assert "with dropout on" in caption and "augmentation" not in caption


def test_confusion_matrix_is_written(tmp_path):
    matrix = np.diag(np.full(10, 990)) + np.eye(10, k=1, dtype=np.int64) * 3
    plot_confusion_matrix(matrix, tmp_path / "matrix.png", "test set")
    with Image.open(tmp_path / "matrix.png") as image:
        assert image.format == "PNG"
