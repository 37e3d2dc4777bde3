"""Find every digit in a picture of a number, left to right: segmentation.

A number is a line of marks. `read_number` finds them and hands each digit to the single-digit
steps of reader/preprocess.py, one step per function:

1. `find_ink` (reader/preprocess.py): the ink of the whole picture, exactly as for one digit
   (paper and uneven light subtracted, ruled lines and JPEG noise left out, either polarity), on
   the working image of at most 512 px.
2. `label`: the 8-connected marks of the ink above EDGE of its brightest, found as runs of ink
   along each row joined with those they touch in the next row (found by binary search, joined
   by hooking the roots of a forest of runs).
   What is no digit goes (reader/clutter.py): long horizontal strokes (an underline, a form's
   rule, the top and bottom of a box drawn round the number) leave the ink, and its marks are
   found again; so do thin vertical lines far taller than the rest (a notebook's margin, a
   table's border) or joined to a rule at both ends (a box's sides).
3. `_merge_pieces`: the pieces of one digit become one mark: marks whose columns overlap by
   OVERLAP of the narrower one (a 4 or 7 drawn in two strokes), marks one above the other that
   share columns (a 5's detached flag above its body, a broken 1), and short or light marks (under
   SHORT of the line height, under SPECK_MASS of the median mark's pixels) next to another one
   (a broken stroke). The median, not the biggest: that may be two digits that touch, beside
   which a 1 is light. A light mark itself in pieces (under BROKEN_MASS of the median's pixels)
   is a broken stroke too, joined from further away (BROKEN_NEAR): the left stroke of a 4 drawn
   apart from the rest in a dash and a dot, which else reads as a 1.
   The line height is the median height of the tall marks, so digits of different sizes and a
   sloping line are measured alike.
4. Specks, dots, dashes and ruled-line remnants, all shorter than SHORT of the line height (or
   than a dot of dust, `smallest_mark`), are no digit and are dropped: a page of nothing but
   ruled lines has no digit. So are faint strokes (`drop_faint`: a scratch, a stray pen line,
   the edge of a scanned card), whose ink is a small share of the median mark's. More than
   MAX_DIGITS marks left: not a number (a page of text, a photograph), an ImageError.
   4b. `_read_zoomed`: a number small in a large picture (under ZOOM_BELOW px tall in the
   working image) is read again, steps 1-7, from the picture cropped around its marks, where
   it is at least ZOOM_GAIN times finer: strokes a working image of the whole page blurs away
   are found there, and with them a faint digit lost beside the others. So is a row of
   several marks each shorter than a dot of dust on that picture would be (a lone one is a dot).
5. `split_mark` (reader/split.py): a mark wider than its height may hold touching digits. It
   is cut along paths through its thinnest ink into the parts the network reads most
   confidently (segmentation by recognition), the uncut mark included.
6. Left to right by the centre of each digit's columns, which a slope or jittered baseline does
   not reorder. A few digits found in a compact box (`_as_one`: no wider than ONE_ASPECT
   times its height) are one digit in pieces if the network reads the whole more confidently
   (a 5 with its flag apart, a 4 in two strokes): then the whole ink is that one digit.
7. Each digit's ink, with its anti-aliased edges, goes through `crop_to_ink` and `mnist_form`:
   scaled into 20x20, centred by its centre of mass in 28x28, as MNIST's digits were.
"""
import numpy as np

from reader.clutter import drop_faint, drop_lines, without_rules
from reader.errors import ImageError
from reader.ink import quantile, row_runs
from reader.preprocess import (
    EDGE,
    REDUCED_BY,
    WORK_SIDE,
    find_ink,
    full_size,
    ink_to_digit,
    shape_problem,
    smallest_mark,
)
from reader.split import split_mark

OVERLAP = 0.45     # marks whose columns overlap by 45% of the narrower one are one digit, ...
STACKED = 0.5      # ... and so are marks one above the other (rows shared: under 50% of the shorter)
TALLEST = 2.0      # ... unless together they are over twice as tall as the tallest (two lines)
SHORT = 0.4        # a mark under 40% of the line height is a piece of a digit, or no digit
NEAR = 0.15        # ... a piece, if it is within 15% of the line height of a taller mark
SPECK_MASS = 0.25  # so is a mark with under 25% of the median mark's ink pixels
BROKEN_MASS = 0.5  # and a mark in pieces with under half of them, ...
BROKEN_NEAR = 0.3  # ... within 30% of the line height of a taller mark
MAX_DIGITS = 20    # more marks than this are not a number
ZOOM_BELOW = 32    # a line under 32 px tall in the working image is read again from a crop ...
ZOOM_MARGIN = (4.0, 1.5)  # ... this many line heights wider (either side) and taller than its marks,
ZOOM_GAIN = 1.5    # ... if the crop's working image is at least 1.5 times finer
ONE_ASPECT = 1.1   # up to ONE_MAX_PARTS marks in a box at most 1.1 times as wide as tall ...
ONE_MAX_PARTS = 3  # ... are read as one digit too, and are that digit if the network reads the
ONE_BONUS = 0.4    # whole with this much more log-confidence than all the parts together, ...
UNEVEN = 0.72      # ... if a part is under 72% of the box's height ...
NARROW = 0.7       # ... or the box is under 0.7 times as wide as tall


def read_number(image, name: str, classify, zoom: bool = True) -> list:
    """A PIL image of a number -> [(uint8 (28, 28) digit, [x, y, width, height]), ...], left to
    right, the box in the image's own pixels. `classify(list of uint8 28x28) -> (n, 10)
    probabilities` reads candidate parts of touching digits. With one digit or none tall
    enough, the whole ink is that one digit, exactly as `preprocess` reads it (ImageError for
    only a dot); ImageError "NAME: no digit found" without ink, or for far too many marks.
    `zoom`: a number small in a large picture is read again from a crop around it (step 4b)."""
    ink, px = find_ink(image, name)
    mask = ink > EDGE * ink.max()
    runs = row_runs(mask)
    labels, marks = label(mask, runs)
    ink, rules = without_rules(ink, labels, marks, runs)
    if rules is not None:                   # the marks again, without the rules
        labels, marks = label(ink > EDGE * ink.max())
    marks, ink = drop_lines(marks, labels, ink, rules)
    height = _line_height(marks)
    merged = _merge_pieces(marks, height)
    shortest = max(SHORT * height, smallest_mark(ink.shape))   # shorter: a piece, a dot, no digit
    marks = [mark for mark in merged if mark["y1"] - mark["y0"] >= shortest]
    if not marks and rules is not None:
        raise ImageError(f"{name}: no digit found (only ruled lines)")
    marks = drop_faint(marks, labels, ink)
    if len(marks) > MAX_DIGITS:
        raise ImageError(f"{name}: {len(marks)} separate marks, more than a number has (at most "
                         f"{MAX_DIGITS} digits are read); is it a picture of a number?")
    if zoom and height < ZOOM_BELOW:
        # Without a mark the size of a digit, a row of several as tall as one another is still a
        # number, one too small for the whole picture (a dot of dust comes alone): zoom into it.
        row = marks or drop_faint([mark for mark in merged if mark["y1"] - mark["y0"] >= SHORT * height],
                                  labels, ink)
        if marks or len(row) > 1:
            zoomed = _read_zoomed(image, ink.shape, row, height, name, classify)
            if zoomed is not None:
                return zoomed
    lone = len(marks) == 1
    parts = [part for mark in marks for part in split_mark(ink, labels, mark, height, classify, lone)]
    parts.sort(key=lambda part: part[1][0] + part[1][2] / 2)
    digits = [(digit, [round(v * px) for v in box]) for digit, box in parts]
    if len(digits) <= 1:   # one digit (or a dot): read from the whole ink, exactly as preprocess()
        return [(ink_to_digit(ink, px, name), digits[0][1] if digits else [0, 0, *full_size(image)])]
    whole = _as_one(ink, px, name, digits, classify)
    return [(whole, _union(digits))] if whole is not None else digits


def _read_zoomed(image, shape: tuple, marks: list, height: float, name: str, classify):
    """Step 4b: the digits read again from the picture cropped around the marks, or None (not
    enough to gain, or the crop does not read). A number under ZOOM_BELOW px tall in the
    working image (a few digits on a large page) has lost the finer strokes there; in a crop of
    ZOOM_MARGIN line heights around its marks (room for a digit too faint to be found yet) the
    working image is at least ZOOM_GAIN times finer. The boxes stay in the file's own pixels."""
    scale = image.size[0] / shape[1]             # the decoded image's px per working px
    across, down = ZOOM_MARGIN[0] * height, ZOOM_MARGIN[1] * height
    left = max(0, int((min(mark["x0"] for mark in marks) - across) * scale))
    top = max(0, int((min(mark["y0"] for mark in marks) - down) * scale))
    right = min(image.size[0], int(np.ceil((max(mark["x1"] for mark in marks) + across) * scale)))
    bottom = min(image.size[1], int(np.ceil((max(mark["y1"] for mark in marks) + down) * scale)))
    finer = min(1.0, WORK_SIDE / max(right - left, bottom - top)) * scale
    if finer < ZOOM_GAIN or shape_problem(right - left, bottom - top) is not None:
        return None
    try:
        digits = read_number(image.crop((left, top, right, bottom)), name, classify, zoom=False)
    except ImageError:
        return None
    factor = image.info.get(REDUCED_BY, 1)       # a JPEG decoded at a reduced scale
    return [(digit, [x + left * factor, y + top * factor, w, h]) for digit, (x, y, w, h) in digits]


def _union(digits: list) -> list:
    """The box [x, y, width, height] around every digit's box."""
    x0, y0 = min(b[0] for _, b in digits), min(b[1] for _, b in digits)
    x1, y1 = max(b[0] + b[2] for _, b in digits), max(b[1] + b[3] for _, b in digits)
    return [x0, y0, x1 - x0, y1 - y0]


def _as_one(ink, px, name, digits, classify):
    """Step 6b: the whole ink as one digit (uint8 28x28, as preprocess() reads it), or None:
    whether a few marks in a compact box (at most ONE_ASPECT times as wide as
    tall) are one digit in pieces -- a 5 whose flag stands apart, a 1 with a stray stroke or
    drawn twice -- rather than that many digits. Digits side by side each span most of their
    box's height, so only a box with a part under UNEVEN of its height, or one narrower than
    NARROW times its height, is a candidate; it is one digit if the network reads the whole more
    confidently than all the parts together, given ONE_BONUS of log-confidence. (The network
    reads two digits squeezed into one box confidently too, so confidence alone cannot say.)
    The MNIST test digits so joined are at most 1.05 times as wide as tall; two or three
    digits of a number wrongly joined were 1.18-1.29 times (at the former 1.3)."""
    x, y, width, height = _union(digits)
    if classify is None or len(digits) > ONE_MAX_PARTS or width > ONE_ASPECT * height:
        return None
    if min(box[3] for _, box in digits) >= UNEVEN * height and width >= NARROW * height:
        return None
    whole = ink_to_digit(ink, px, name)
    top = np.asarray(classify([whole] + [digit for digit, _ in digits])).max(axis=1)
    scores = np.log(np.maximum(top, 1e-9))
    return whole if scores[0] + ONE_BONUS > scores[1:].sum() else None


def label(mask: np.ndarray, runs: tuple | None = None) -> tuple:
    """8-connected marks of a boolean image -> (labels: 0 outside, k + 1 on mark k; marks: a
    list of dicts with the mark's `ids` (its label numbers), its box x0, x1, y0, y1 (ends
    excluded) and `mass`, its number of pixels). `runs`: row_runs(mask), if already found.

    Each row's runs of true pixels are found at once by NumPy (`reader.ink.row_runs`).
    A run touches the runs of the row above that end at or after its start and start at or before
    its end (ends excluded, so a diagonal step counts): a contiguous range of that row's runs,
    found for every run at once by a binary search. The runs that touch form the marks: each run
    points to a smaller run of its mark, or to itself (a root); every round, each touching pair
    hooks the larger of its two roots onto the smaller, and then each run jumps to its root. When
    a round changes nothing, every run points to the first run of its mark.
    """
    height, width = mask.shape
    rows, starts, ends = row_runs(mask) if runs is None else runs
    line = width + 2                                  # row * line + column: sorted like the runs
    above = (rows - 1) * line
    low = np.searchsorted(rows * line + ends, above + starts)           # first that ends late enough
    high = np.searchsorted(rows * line + starts, above + ends, "right")  # past the last starting early
    count = high - low
    below = np.repeat(np.arange(len(rows)), count)                      # touching pairs: (upper, below)
    upper = np.repeat(low - np.cumsum(count) + count, count) + np.arange(count.sum())
    roots = np.arange(len(rows))
    while True:
        hooked = roots.copy()
        smaller = np.minimum(roots[upper], roots[below])
        np.minimum.at(hooked, roots[upper], smaller)
        np.minimum.at(hooked, roots[below], smaller)
        while not np.array_equal(hooked, hooked[hooked]):
            hooked = hooked[hooked]
        if np.array_equal(hooked, roots):
            break
        roots = hooked
    ids, run_label = np.unique(roots, return_inverse=True)
    labels = np.zeros(height * width, np.int32)
    lengths = ends - starts
    offsets = np.repeat(rows * width + starts - np.cumsum(lengths) + lengths, lengths)
    labels[offsets + np.arange(lengths.sum())] = np.repeat(run_label + 1, lengths)
    labels = labels.reshape(height, width)
    x0, x1 = np.full(len(ids), width), np.zeros(len(ids), np.intp)   # each mark's box, from
    y0, y1 = np.full(len(ids), height), np.zeros(len(ids), np.intp)  # its runs' ends
    np.minimum.at(x0, run_label, starts)
    np.maximum.at(x1, run_label, ends)
    np.minimum.at(y0, run_label, rows)
    np.maximum.at(y1, run_label, rows + 1)
    mass = np.bincount(run_label, weights=lengths, minlength=len(ids))
    marks = [{"ids": [k + 1], "x0": int(x0[k]), "x1": int(x1[k]), "y0": int(y0[k]), "y1": int(y1[k]),
              "mass": int(mass[k])} for k in range(len(ids))]
    return labels, marks


def _line_height(marks: list) -> float:
    """The median height of the marks at least half as tall as the tallest: the digits', not
    the specks' or the pieces'."""
    if not marks:
        return 1.0
    heights = np.array([mark["y1"] - mark["y0"] for mark in marks])
    return quantile(heights[heights >= 0.5 * heights.max()], 0.5)


def _joined(a: dict, b: dict) -> dict:
    return {"ids": a["ids"] + b["ids"], "mass": a["mass"] + b["mass"],
            **{k: min(a[k], b[k]) for k in ("x0", "y0")}, **{k: max(a[k], b[k]) for k in ("x1", "y1")}}


def _merge_pieces(marks: list, height: float) -> list:
    """Join the marks that overlap in columns by OVERLAP of the narrower or that are stacked (share
    columns, but hardly any rows: STACKED of the shorter) and are not taller than TALLEST times
    the tallest mark together, then each short or light mark
    to the nearest taller one within NEAR line heights (its boxes' gap, across or down), or
    within BROKEN_NEAR if it is light and itself in pieces."""
    marks = sorted(marks, key=lambda mark: mark["x0"])
    tallest = max((mark["y1"] - mark["y0"] for mark in marks), default=0)
    merged = True
    while merged:
        merged = False
        for i in range(len(marks)):
            for j in range(i + 1, len(marks)):
                a, b = marks[i], marks[j]
                overlap = min(a["x1"], b["x1"]) - max(a["x0"], b["x0"])
                rows = min(a["y1"], b["y1"]) - max(a["y0"], b["y0"])
                tall = max(a["y1"], b["y1"]) - min(a["y0"], b["y0"]) <= TALLEST * tallest
                if tall and (overlap >= OVERLAP * min(a["x1"] - a["x0"], b["x1"] - b["x0"]) or
                             overlap > 0 and rows <= STACKED * min(a["y1"] - a["y0"], b["y1"] - b["y0"])):
                    marks[i] = _joined(a, b)
                    del marks[j]
                    merged = True
                    break
            if merged:
                break
    typical = quantile(np.array([mark["mass"] for mark in marks]), 0.5) if marks else 0.0
    broken = [len(mark["ids"]) > 1 and mark["mass"] < BROKEN_MASS * typical for mark in marks]
    piece = [mark["y1"] - mark["y0"] < SHORT * height or mark["mass"] < SPECK_MASS * typical or
             in_pieces for mark, in_pieces in zip(marks, broken)]
    tall = [mark for mark, small in zip(marks, piece) if not small]
    for mark, small, in_pieces in zip(marks, piece, broken):
        if not small:
            continue
        gaps = [max(t["x0"] - mark["x1"], mark["x0"] - t["x1"], t["y0"] - mark["y1"],
                    mark["y0"] - t["y1"], 0) for t in tall]
        if gaps and min(gaps) <= (BROKEN_NEAR if in_pieces else NEAR) * height:
            k = int(np.argmin(gaps))
            tall[k] = _joined(tall[k], mark)
        else:
            tall.append(mark)                          # dropped as too short, unless joined
    return tall
