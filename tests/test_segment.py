"""Reading whole numbers: pictures of numbers drawn from MNIST test digits (tests/number_images.py)
read by `evaluate.main([... "--json"])` with the shipped model, string by string.

The figures measured on these sets (the seeds below), whole strings read exactly, which the test
prints (pytest -s):

    kind                         dark_on_white  photo   ruled  light_on_dark
    clear, 2-6 digits (150 each)     96.7%      98.7%   97.3%     98.7%
    long, 7-10 digits (25 each)      92.0%      96.0%   92.0%     96.0%
    nearly touching (25 each)        92.0%      96.0%   96.0%     96.0%
    touching (25 each)               64.0%      60.0%   52.0%     56.0%

Most clear strings missed hold a digit the network misreads even as MNIST's own 28x28 (4 of
the 5 in dark_on_white, the fifth a 9 it reads there with 58%, both in photo). Cutting touching
digits along paths (reader/split.py) instead of straight down the columns took touching from
52/44/44/44% to 60/40/52/48%. Then two changes took the figures to those above: costs of their
own for a mark in a line of several (a broad part costs more, a cut must win more), and light
marks (merged into a neighbour as a piece of it) measured against the median mark instead of
the biggest, which may be two digits that touch. On five other such sets of numbers (seeds 5,
7, 31, 99 and 12 with 450 clear strings a style) they took touching from 41% to 53% of 500,
nearly touching from 90% to 94% of 500, and left clear gaps (one more of 4,200) and long alike.
Later changes left the figures above as they are and, on those five sets, took clear gaps from
4,110 to 4,117 of 4,200 (97.8-98.2% a style), nearly touching 469 -> 470, touching 264 -> 266,
long 465 alike: a light mark in pieces joins its neighbour (the detached stroke of a 4 read as
a 1), and a few marks are one digit only in a box up to 1.1 times as wide as tall.
"""
import json
import re
from pathlib import Path

import numpy as np
import pytest
from number_images import STYLES, line, number, render
from PIL import Image

import evaluate
from reader.preprocess import EDGE
from reader.segment import label

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "models" / "shipped" / "mnist_cnn.npz"
# kind: (strings per style, fewest and most digits, gaps of number_images.KINDS)
SETS = {"clear": (150, 2, 6, "clear"), "long": (25, 7, 10, "clear"),
        "nearly": (25, 2, 6, "nearly"), "touching": (25, 2, 6, "touching")}
# The least share of strings read exactly, per kind, in every style: what the shipped model
# reached on these sets (the table above), less a margin. The issue asks for 97% on clear gaps:
# not yet reached in the dark_on_white style.
ACCURACY = {"clear": 0.93, "long": 0.84, "nearly": 0.84, "touching": 0.44}


def run(capsys, *argv):
    status = evaluate.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def numbers(mnist_data, tmp_path_factory):
    """{(kind, style): [true strings]} and the folder of their pictures, kind/style/00000.png."""
    folder, truth = tmp_path_factory.mktemp("numbers"), {}
    rng = np.random.default_rng(12)
    for kind, (count, fewest, most, gaps) in SETS.items():
        for style in STYLES:
            (folder / kind / style).mkdir(parents=True)
            truth[kind, style] = []
            for k in range(count):
                chosen = rng.integers(0, len(mnist_data.test_images), int(rng.integers(fewest, most + 1)))
                image, _ = number(list(mnist_data.test_images[chosen]), rng, gaps, style)
                image.save(folder / kind / style / f"{k:05d}.png", compress_level=1)
                truth[kind, style].append("".join(map(str, mnist_data.test_labels[chosen])))
    return folder, truth


@pytest.fixture(scope="module")
def answers(numbers):
    """{(kind, style): [the text read, in order]}, one evaluate.py run over every picture."""
    import contextlib
    import io
    folder, _ = numbers
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = evaluate.main([str(folder), "--json", "--model", str(SHIPPED)])
    assert status == 0
    read = {}
    for record in map(json.loads, out.getvalue().splitlines()):
        path = Path(record["path"])
        read.setdefault((path.parent.parent.name, path.parent.name), []).append(record["text"])
    return read


def test_whole_strings_are_read_per_kind_and_style(numbers, answers):
    _, truth = numbers
    table = {key: np.mean([a == t for a, t in zip(answers[key], truth[key])]) for key in truth}
    print("\nkind       " + "  ".join(f"{style:>13}" for style in STYLES))
    for kind in SETS:
        print(f"{kind:10} " + "  ".join(f"{table[kind, style]:13.1%}" for style in STYLES))
    for (kind, style), accuracy in table.items():
        assert accuracy >= ACCURACY[kind], f"{kind} {style}: {accuracy:.1%} of the strings read exactly"


def test_the_digits_boxes_hold_their_ink(mnist_data, capsys, tmp_path):
    rng = np.random.default_rng(3)
    checked = 0
    for k in range(10):
        chosen = rng.integers(0, len(mnist_data.test_images), 4)
        ink, boxes = line(list(mnist_data.test_images[chosen]), rng, "clear")
        render(ink, rng, "dark_on_white").save(tmp_path / f"{k}.png")
        _, out, _ = run(capsys, tmp_path / f"{k}.png", "--json", "--model", SHIPPED)
        record = json.loads(out)
        if len(record["digits"]) != len(boxes):
            continue
        for digit, (x, y, w, h) in zip(record["digits"], boxes):
            rows, cols = np.nonzero(ink[y: y + h, x: x + w] > 0.5)    # the digit's strong ink
            bx, by, bw, bh = digit["box"]
            assert bx - 2 <= x + cols.min() and x + cols.max() < bx + bw + 2
            assert by - 2 <= y + rows.min() and y + rows.max() < by + bh + 2
            checked += 1
    assert checked >= 32


def test_boxes_of_a_large_jpeg_are_in_its_own_pixels(mnist_data, capsys, tmp_path):
    # A JPEG over twice the working size is decoded at a fraction of its size (open_image);
    # the boxes must still be the file's pixels, and the annotated copy must draw them there.
    chosen = [3, 2, 1, 18]
    image, _ = number(list(mnist_data.test_images[chosen]), np.random.default_rng(0), "clear", "photo")
    image = image.convert("RGB")
    image.save(tmp_path / "small.jpg", quality=95)
    image.resize((image.width * 4, image.height * 4)).save(tmp_path / "large.jpg", quality=95)
    _, out, _ = run(capsys, tmp_path / "small.jpg", tmp_path / "large.jpg", "--json",
                    "--save-preprocessed", tmp_path / "seen", "--model", SHIPPED)
    small, large = (json.loads(row) for row in out.splitlines())
    assert small["text"] == large["text"] == "0123"
    for a, b in zip(small["digits"], large["digits"]):
        assert np.abs(4 * np.array(a["box"]) - b["box"]).max() <= 12, (a["box"], b["box"])
    drawn = np.asarray(Image.open(tmp_path / "seen" / "00001_large_read.png"))
    factor = 4 * image.width // drawn.shape[1]                   # decoded at 1/4: 4 file px a pixel
    assert factor == 4
    x, y, w, h = (round(v / factor) for v in large["digits"][0]["box"])
    red = (drawn[..., 0] > 200) & (drawn[..., 1] < 60)
    assert red[y: y + h, x].mean() > 0.9 and red[y, x: x + w].mean() > 0.9   # the box's left and top


def test_json_schema_and_text_line_of_a_number(mnist_data, capsys, tmp_path):
    chosen = [3, 2, 1, 18]                                      # 0 1 2 3: well-written digits
    image, _ = number(list(mnist_data.test_images[chosen]), np.random.default_rng(0), "clear", "photo")
    image.save(tmp_path / "scan.jpg")
    _, out, _ = run(capsys, tmp_path / "scan.jpg", "--json", "--model", SHIPPED)
    record = json.loads(out)
    assert set(record) == {"path", "text", "digits"} and record["text"] == "0123"
    for digit in record["digits"]:
        assert set(digit) == {"digit", "confidence", "probabilities", "box"}
        assert digit["confidence"] == max(digit["probabilities"]) and len(digit["box"]) == 4
    assert "".join(str(d["digit"]) for d in record["digits"]) == record["text"]
    status, out, err = run(capsys, tmp_path / "scan.jpg", "--model", SHIPPED)
    assert status == 0 and err == ""
    digit = r"\d+\.\d%"
    assert re.fullmatch(rf"{tmp_path}/scan.jpg: 0123  \(0 {digit}, 1 {digit}, 2 {digit}, 3 {digit}\)\n", out)
    _, out, _ = run(capsys, tmp_path / "scan.jpg", "--model", SHIPPED, "--top-k", "2")
    assert out.count(" then ") == 4 and out.count("; ") == 3
    _, out, _ = run(capsys, tmp_path / "scan.jpg", "--model", SHIPPED, "--single", "--json")
    assert len(json.loads(out)["digits"]) == 1


def test_save_preprocessed_writes_each_digit_and_an_annotated_copy(mnist_data, capsys, tmp_path):
    image, _ = number(list(mnist_data.test_images[[3, 2, 1]]), np.random.default_rng(1), "clear",
                      "dark_on_white")
    image.save(tmp_path / "num.png")
    status, _, _ = run(capsys, tmp_path / "num.png", "--model", SHIPPED, "--save-preprocessed",
                       tmp_path / "seen")
    assert status == 0
    assert sorted(p.name for p in (tmp_path / "seen").iterdir()) == [
        "00000_num_1.png", "00000_num_2.png", "00000_num_3.png", "00000_num_read.png"]
    assert np.asarray(Image.open(tmp_path / "seen" / "00000_num_2.png")).shape == (28, 28)
    annotated = np.asarray(Image.open(tmp_path / "seen" / "00000_num_read.png")).astype(int)
    assert annotated.shape == (image.size[1], image.size[0], 3)
    red = (annotated[..., 0] > 200) & (annotated[..., 1] < 60)
    assert red.sum() > 100                                      # the boxes are drawn


def test_a_colour_jpeg_is_read_in_grey_and_annotated_in_colour(mnist_data, capsys, tmp_path):
    """open_image decodes a colour JPEG straight to grey, for reading; the annotated copy is
    the photo itself, in its colours (the paper of a "photo" is yellowish: less blue)."""
    from reader.preprocess import open_image
    image, _ = number(list(mnist_data.test_images[[3, 2, 1]]), np.random.default_rng(1), "clear", "photo")
    image.save(tmp_path / "num.jpg", quality=95)
    assert open_image(tmp_path / "num.jpg").mode == "L"
    status, out, _ = run(capsys, tmp_path / "num.jpg", "--model", SHIPPED, "--save-preprocessed",
                         tmp_path / "seen")
    assert status == 0 and out.split()[1] == "".join(map(str, mnist_data.test_labels[[3, 2, 1]]))
    annotated = np.asarray(Image.open(tmp_path / "seen" / "00000_num_read.png")).astype(int)
    paper = annotated[:10, :10].reshape(-1, 3).mean(axis=0)
    assert paper[0] - paper[2] > 8, paper                        # red above blue: still in colour


def test_digits_in_pieces_read_as_one_digit(mnist_data, capsys, tmp_path):
    pieces = [k for k in range(len(mnist_data.test_images))
              if len(label(mnist_data.test_images[k] > EDGE * 255)[1]) >= 2]
    assert len(pieces) == 257
    for k in pieces:
        Image.fromarray(mnist_data.test_images[k]).save(tmp_path / f"{k:05d}.png")
    _, out, _ = run(capsys, tmp_path, "--json", "--model", SHIPPED)
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == len(pieces)
    whole = np.mean([len(r["digits"]) == 1 for r in records])
    assert whole >= 0.98, f"{whole:.1%} read as one digit"     # measured: 256 of 257, 99.6%


def test_a_1_beside_two_touching_digits_is_no_piece_but_a_stray_stroke_is():
    """Light marks are pieces against the median mark's ink: a 1 (the marks of a generated
    "1050", its 5 and 0 touching) keeps its place; a 2's thin stray stroke (test digit 8112)
    still joins it. Against the biggest mark (the touching pair), the 1 was taken for a piece."""
    from reader.segment import _merge_pieces

    def marks(*boxes):
        return [{"ids": [k + 1], "x0": x0, "x1": x1, "y0": y0, "y1": y1, "mass": mass}
                for k, (x0, x1, y0, y1, mass) in enumerate(boxes)]
    number = marks((157, 328, 53, 173, 8223), (53, 74, 63, 170, 1573), (81, 156, 66, 173, 3296),
                   (334, 406, 73, 177, 3093))
    assert sorted(m["ids"] for m in _merge_pieces(number, 107.0)) == [[1], [2], [3], [4]]
    two = marks((7, 19, 4, 24, 200), (20, 21, 7, 24, 17))
    assert [m["ids"] for m in _merge_pieces(two, 18.5)] == [[1, 2]]


def test_a_4_whose_left_stroke_is_apart_in_pieces_is_one_digit(mnist_data, capsys, tmp_path):
    """Test digit 5676, a 4 whose left stroke stands apart as a dash and a dot, reads as one 4,
    alone and in a number; the stroke, light and in pieces, is joined from further away than a
    broken stroke's NEAR (it read "14" in both)."""
    rng = np.random.default_rng(4)
    Image.fromarray(mnist_data.test_images[5676]).save(tmp_path / "alone.png")
    chosen = [3, 5676, 2]
    ink, _ = line(list(mnist_data.test_images[chosen]), rng, "clear")
    render(ink, rng, "dark_on_white").save(tmp_path / "number.png")
    _, out, _ = run(capsys, tmp_path, "--json", "--model", SHIPPED)
    texts = {Path(r["path"]).stem: r["text"] for r in map(json.loads, out.splitlines())}
    assert texts == {"alone": "4", "number": "".join(map(str, mnist_data.test_labels[chosen]))}


def test_two_digits_in_a_box_wider_than_one_digit_are_not_joined(mnist_data, capsys, tmp_path):
    """Two nearly touching digits (test digits 9431 and 649) in a box wider than tall: the
    network reads the whole as one digit more confidently than the two, but a digit in pieces
    is seldom that wide (ONE_ASPECT). At the former 1.3 they read as one."""
    number(list(mnist_data.test_images[[9431, 649]]), np.random.default_rng(1), "nearly",
           "dark_on_white")[0].save(tmp_path / "pair.png")
    _, out, _ = run(capsys, tmp_path / "pair.png", "--json", "--model", SHIPPED)
    assert json.loads(out)["text"] == "".join(map(str, mnist_data.test_labels[[9431, 649]]))


def test_single_mnist_digits_still_read_as_one_digit_each(mnist_data, capsys, tmp_path):
    for k in range(2000):
        Image.fromarray(mnist_data.test_images[k]).save(tmp_path / f"{k:05d}.png", compress_level=1)
    status, out, _ = run(capsys, tmp_path, "--json", "--model", SHIPPED)
    records = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and len(records) == 2000 and all(len(r["digits"]) == 1 for r in records)
    accuracy = np.mean([r["digit"] for r in records] == mnist_data.test_labels[:2000])
    assert accuracy >= 0.99, f"{accuracy:.2%}"


def _flood_fill(mask: np.ndarray) -> list:
    """The 8-connected blobs of a boolean image, one set of (row, col) each, by breadth-first
    search: the plain way `label` must agree with."""
    seen, blobs = np.zeros_like(mask), []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        seen[start], blob, queue = True, set(), [start]
        while queue:
            r, c = queue.pop()
            blob.add((r, c))
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    n = (r + dr, c + dc)
                    if 0 <= n[0] < mask.shape[0] and 0 <= n[1] < mask.shape[1] and mask[n] and not seen[n]:
                        seen[n] = True
                        queue.append(n)
        blobs.append(frozenset(blob))
    return blobs


def test_label_finds_the_blobs_a_flood_fill_finds():
    rng = np.random.default_rng(4)
    for _ in range(300):
        mask = rng.random(tuple(rng.integers(1, 30, 2))) < rng.uniform(0.1, 0.6)
        labels, marks = label(mask)
        blobs = {frozenset(zip(*np.nonzero(labels == k + 1))) for k in range(len(marks))}
        assert blobs == set(_flood_fill(mask)) and not labels[~mask].any()
        for k, mark in enumerate(marks):
            rows, cols = np.nonzero(labels == k + 1)
            assert (mark["x0"], mark["x1"], mark["y0"], mark["y1"], mark["mass"]) == \
                (cols.min(), cols.max() + 1, rows.min(), rows.max() + 1, rows.size)


def test_touching_digits_are_cut_along_a_path_around_their_overlap(mnist_data, capsys, tmp_path,
                                                                   monkeypatch):
    """A 65, a 99 and a 92 whose neighbours touch and overlap a little (tests/number_images.py's
    "touching", seeds 22, 345 and 23): read right, and not by straight cuts (REACH 0), which
    leave a piece of one digit in the other."""
    import reader.split
    truth = []
    for seed in (22, 345, 23):
        rng = np.random.default_rng(seed)
        chosen = rng.integers(0, len(mnist_data.test_images), 2)
        number(list(mnist_data.test_images[chosen]), rng, "touching", "dark_on_white")[0].save(
            tmp_path / f"{seed:03d}.png")
        truth.append("".join(map(str, mnist_data.test_labels[chosen])))
    assert truth == ["65", "99", "92"]

    def texts():
        _, out, _ = run(capsys, tmp_path, "--json", "--model", SHIPPED)
        return [json.loads(row)["text"] for row in out.splitlines()]
    assert texts() == ["65", "92", "99"]                            # files in sorted order
    monkeypatch.setattr(reader.split, "REACH", 0.0)
    assert all(len(text) == 1 for text in texts())                 # straight cuts: one digit each


def test_row_runs_are_the_runs_a_scan_of_each_row_finds():
    from reader.ink import row_runs
    rng = np.random.default_rng(5)
    for _ in range(200):
        mask = rng.random(tuple(rng.integers(1, 40, 2))) < rng.uniform(0, 1)
        expected = []
        for r, row in enumerate(mask):
            c = 0
            while c < len(row):
                if row[c]:
                    start = c
                    while c < len(row) and row[c]:
                        c += 1
                    expected.append((r, start, c))
                c += 1
        assert list(zip(*(a.tolist() for a in row_runs(mask)))) == expected
