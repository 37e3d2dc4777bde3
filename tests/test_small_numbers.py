"""A number small in a large picture (a few digits on a page, photographed whole) is read again
from a crop around it, where the working image is finer (reader/segment.py, step 4b)."""
import json
from pathlib import Path

import numpy as np
from number_images import line, render
from PIL import Image

import evaluate

SHIPPED = Path(__file__).resolve().parent.parent / "models" / "shipped" / "mnist_cnn.npz"


def small_on_a_page(digits, rng, page: tuple, shrink: float | None, tmp_path, name, tallest=None):
    """The digits as a number, `shrink` times smaller than number_images draws it (or its
    tallest digit `tallest` px tall), somewhere on a photo of a page (width, height) -> the
    JPEG's path, the picture's ink, the digits' boxes in its pixels."""
    ink, boxes = line(digits, rng, "clear")
    shrink = shrink or max(h for *_, h in boxes) / tallest
    small = Image.fromarray(ink).resize((round(ink.shape[1] / shrink), round(ink.shape[0] / shrink)),
                                        Image.Resampling.BOX)
    canvas = np.zeros(page[::-1], np.float32)
    top, left = int(rng.integers(0, page[1] - small.height)), int(rng.integers(0, page[0] - small.width))
    canvas[top: top + small.height, left: left + small.width] = np.asarray(small)
    path = tmp_path / f"{name}.jpg"
    render(canvas, rng, "photo").save(path, quality=95)
    boxes = [[left + x / shrink, top + y / shrink, w / shrink, h / shrink] for x, y, w, h in boxes]
    return path, canvas, boxes


def test_a_small_number_on_a_large_page_is_read_with_boxes_in_the_files_pixels(mnist_data, capsys, tmp_path):
    """Ten numbers of 2-5 digits, 20-44 px tall, on pages of 1600x1200 px (and one of 3200x2400,
    which is decoded at a quarter of its size): 7 of the 10 were read exactly from the working
    image alone (its digits 7-15 px tall, the finer strokes lost: "232" for 2326, "7" for 17),
    and one was "no digit found" (its dark ink taken for the light side of the page's uneven
    light); read from the crop, and the other way up where none was found, all 10. Each digit's
    box holds its ink, in the file's own pixels."""
    rng = np.random.default_rng(8)
    pages, truth = [], []
    for k in range(11):
        chosen = rng.integers(0, len(mnist_data.test_images), int(rng.integers(2, 6)))
        size, shrink = ((3200, 2400), 1.25) if k == 10 else ((1600, 1200), 2.5)
        pages.append(small_on_a_page(list(mnist_data.test_images[chosen]), rng, size, shrink, tmp_path, k))
        truth.append("".join(map(str, mnist_data.test_labels[chosen])))
    status = evaluate.main([str(path) for path, _, _ in pages] + ["--json", "--model", str(SHIPPED)])
    out, err = capsys.readouterr()
    records = [json.loads(row) for row in out.splitlines()]
    assert status == 0 and len(records) == len(pages), err
    exact = [record["text"] == text for record, text in zip(records, truth)]
    assert sum(exact[:10]) >= 9 and exact[10], [record["text"] for record in records]
    for record, (_, canvas, boxes), right in zip(records, pages, exact):
        if not right:
            continue
        for digit, (x, y, w, h) in zip(record["digits"], boxes):
            x0, y0 = int(x), int(y)
            rows, cols = np.nonzero(canvas[y0: int(np.ceil(y + h)), x0: int(np.ceil(x + w))] > 0.5)
            bx, by, bw, bh = digit["box"]
            slack = 2 if canvas.shape[1] == 1600 else 4                 # 4 file px a decoded pixel
            assert bx - slack <= x0 + cols.min() and x0 + cols.max() < bx + bw + slack, (digit["box"], x, y)
            assert by - slack <= y0 + rows.min() and y0 + rows.max() < by + bh + slack, (digit["box"], x, y)


def test_a_number_of_digits_each_the_size_of_a_dot_on_its_page_is_read(mnist_data, capsys, tmp_path):
    """Digits up to 26 px tall on a 2000x1500 page are under 1.5% of its longest side, the size
    below which a lone mark is a dot of dust (reader/preprocess.py `smallest_mark`). Several of
    them in a row are a number all the same, read from a crop around them; before, each page was
    read as one digit, from all its ink."""
    rng = np.random.default_rng(4)
    paths, truth = [], []
    for k in range(3):
        chosen = rng.integers(0, len(mnist_data.test_images), 3 + k)
        paths.append(small_on_a_page(list(mnist_data.test_images[chosen]), rng, (2000, 1500), None,
                                     tmp_path, f"dots{k}", tallest=26)[0])
        truth.append("".join(map(str, mnist_data.test_labels[chosen])))
    status = evaluate.main([str(path) for path in paths] + ["--json", "--model", str(SHIPPED)])
    records = [json.loads(row) for row in capsys.readouterr().out.splitlines()]
    assert status == 0 and [record["text"] for record in records] == truth
