"""reader/split.py: cutting touching digits apart, its parts read by the shipped model."""
import functools
from pathlib import Path

import numpy as np
from number_images import number

SHIPPED = Path(__file__).resolve().parent.parent / "models" / "shipped" / "mnist_cnn.npz"


def test_a_cut_path_takes_the_way_through_the_least_ink():
    """Ink everywhere but a gap that slopes one column per two rows: the path from a column
    near the gap's top follows it, crossing no ink, and never leaves its band."""
    from reader.split import _cut_paths
    weight = np.ones((40, 60), np.float32)
    gap = 20 + np.arange(40) // 2                                  # columns 20 .. 39
    weight[np.arange(40), gap] = 0.0
    for start, reach in ((21, 25), (18, 25)):
        path = _cut_paths(weight, [start], reach)[0]
        assert weight[np.arange(40), path].sum() == 0.0
        assert np.all(np.abs(np.diff(path)) <= 1)
    path = _cut_paths(weight, [21, 45], 3)                          # a narrow band cannot follow
    assert np.all(np.abs(path - np.array([[21], [45]])) <= 3)
    assert weight[np.arange(40), path[1]].sum() > 0


def test_a_mark_read_whole_with_confidence_is_never_cut(mnist_data):
    """split_mark skips the cuts of a wide mark that the network reads whole with a score of at
    least -CUT_COST, since no cutting can score more. Over generated numbers (clear and touching
    gaps), reading every mark as if the network were unsure of it when read alone (so that all
    its cuts are found and read) gives the very same digits and boxes; the skip was taken, and
    some marks were cut all the same."""
    import evaluate
    from nncore import load_model
    from reader.segment import read_number
    read = functools.partial(evaluate.read_parts, load_model(SHIPPED))
    batches = {"sure": 0, "unsure": 0}

    def sure(digits):
        batches["sure"] += len(digits) > 1
        return read(digits)

    def unsure_alone(digits):               # a mark read alone: as if nothing were sure
        batches["unsure"] += len(digits) > 1
        return np.full((1, 10), 0.1) if len(digits) == 1 else read(digits)
    rng, cut = np.random.default_rng(31), 0
    for k in range(30):
        chosen = rng.integers(0, len(mnist_data.test_images), int(rng.integers(2, 5)))
        image, _ = number(list(mnist_data.test_images[chosen]), rng, ("clear", "touching")[k % 2],
                          "dark_on_white")
        found = [(d.tobytes(), b) for d, b in read_number(image, "test.png", sure)]
        assert found == [(d.tobytes(), b) for d, b in read_number(image, "test.png", unsure_alone)]
        cut += len(found) > len(read_number(image, "test.png", None))
    assert batches["sure"] < batches["unsure"] and cut > 0, (batches, cut)
