"""Cut a mark that holds touching digits into them: segmentation by recognition.

Step 5 of reader/segment.py. A mark wider than WIDE times its height (or the line's) may be two
or more digits that touch. `split_mark`:

1. Candidate cuts: the columns where the mark's ink, summed down each column, is thinnest (its
   local minima, at least PART of the line height apart and from the ends; the MAX_CUTS
   thinnest).
2. Each cut is a path from the mark's top to its bottom (`_cut_paths`): starting from its column
   it may wander up to REACH of the line height either way, one column per row at most, and
   takes the way through the least ink. Neighbours that overlap a little (the tail of a 7 over
   the next digit's top) are cut apart around the overlap, not through it.
3. The network reads every part between two cuts (`classify`, in batches). A cutting's score
   is the sum of its parts' log-confidences, less CUT_COST per stroke each cut crosses, and for
   a part broader than BROAD times its height, BROAD_COST per unit of aspect more: the network
   reads a single digit cut in two, and two digits squeezed into one box, confidently too. (The
   picture's only mark has costs of its own.)
4. The best cutting, the uncut mark included, is found by a dynamic programme over the cuts
   from left to right.

A mark the network reads whole with a score of at least -CUT_COST is never cut (every cutting
scores less: its parts' log-confidences are at most 0, and each cut costs CUT_COST or more), so
its cuts are neither found nor read: most wide marks are one wide digit.
"""
import numpy as np

from reader.ink import near
from reader.preprocess import EDGE, mnist_form

WIDE = 1.0         # marks wider than their height (or the line's) are tried for touching digits
PART = 0.15        # a part cut from a mark is at least 15% of the line height wide ...
MAX_PART = 1.3     # ... and at most 1.3 line heights wide, ...
PART_HEIGHT = (0.8, 0.6)  # ... and at least 80% (60%) of the line height tall
MAX_CUTS = 10      # the thinnest columns tried as cuts, per mark
REACH = 0.1        # a cut's path wanders at most 10% of the line height either side of its column
STEP = 0.02        # ... each sideways step costing 2% of the mark's brightest ink
CUT_COST = (1.0, 0.6)     # a cut must win this much log-confidence per stroke it crosses ...
BROAD = (1.0, 1.4)        # ... and a part wider than this times its height costs BROAD_COST
BROAD_COST = 3.0          # per unit of aspect more: the network reads two squeezed digits as one
# Each pair: for a mark in a line of several, then for a picture's only mark. Most pictures of
# one mark hold one digit, and 9% of MNIST's digits are wider than tall: the costs of a line,
# which cut more broad marks, would cut some of those. Chosen on 4,800 generated numbers
# (tests/number_images.py): touching ones read exactly 44% -> 49% (40% -> 50% on 1,800 others,
# not used to choose), clear gaps and the 10,000 MNIST test digits read as before.


def split_mark(ink: np.ndarray, labels: np.ndarray, mark: dict, height: float, classify,
               lone: bool = False) -> list:
    """The digits of one mark -> [(28x28, box [x, y, width, height]), ...], left to right: the
    mark whole, or cut into the parts the network reads most confidently. `height` is the
    line's; `classify(list of uint8 28x28) -> (n, 10) probabilities`, or None: never cut;
    `lone`: the mark is the picture's only one (the costs' second values)."""
    part_height, cut_cost, broad = PART_HEIGHT[lone], CUT_COST[lone], BROAD[lone]
    region = _mark_region(ink, labels, mark)
    crop, box = _part_ink(region)
    whole = mnist_form(crop)
    if (mark["x1"] - mark["x0"] <= WIDE * min(height, mark["y1"] - mark["y0"]) or classify is None
            or _scores([whole], [box], classify, broad)[0] >= -cut_cost):
        return [(whole, box)]
    top, left, own, _, region_ink = region
    inner = (slice(mark["y0"] - top, mark["y1"] - top), slice(mark["x0"] - left, mark["x1"] - left))
    weight = (own * region_ink)[inner]                     # the mark's own ink, in its box
    cuts = _candidate_cuts(weight.sum(axis=0), max(1, int(PART * height)))
    paths = _cut_paths(weight, cuts, int(REACH * height))
    # The paths, in the region's columns, over all its rows (those above and below the mark
    # take the path's ends); the region's edges bound the first and last parts.
    paths = np.pad(paths + inner[1].start, ((0, 0), (inner[0].start, len(own) - inner[0].stop)), mode="edge")
    bounds = [np.zeros(len(own), np.intp), *paths, np.full(len(own), own.shape[1])]
    starts = [0] + [inner[1].start + c for c in cuts] + [own.shape[1]]
    last = len(bounds) - 1
    spans = [(i, j) for i in range(last + 1) for j in range(i + 1, last + 1)
             if (i, j) == (0, last) or PART * height <= starts[j] - starts[i] <= MAX_PART * height]
    parts = {(i, j): _part_ink(region, bounds[i], bounds[j]) for i, j in spans}
    parts = {span: part for span, part in parts.items() if part is not None
             and (span == (0, last) or part[1][3] >= part_height * height)}
    spans = list(parts)
    digits = [mnist_form(parts[span][0]) for span in spans]
    scores = _scores(digits, [parts[span][1] for span in spans], classify, broad)
    rows = np.arange(len(own))
    strokes = [0] + [max(1, int(np.count_nonzero(np.diff(own[rows, path].astype(np.int8), prepend=0) == 1)))
                     for path in paths] + [0]
    chosen = _best_cutting(dict(zip(spans, scores)), cut_cost * np.array(strokes), last)
    return [(digits[spans.index(span)], parts[span][1]) for span in chosen]


def _scores(digits: list, boxes: list, classify, broad: float) -> np.ndarray:
    """The parts' scores: the log of the network's confidence in each 28x28, less BROAD_COST
    per unit of its box's aspect (width / height) above `broad`."""
    scores = np.log(np.maximum(np.asarray(classify(digits)).max(axis=1), 1e-9))
    aspects = np.array([width / height for _, _, width, height in boxes])
    return scores - BROAD_COST * np.maximum(0.0, aspects - broad)


def _mark_region(ink: np.ndarray, labels: np.ndarray, mark: dict) -> tuple:
    """The mark's box grown by 2 px each way -> (its top row, its left column, and over it: the
    mark's own pixels, the pixels of no mark, the ink)."""
    top, bottom = max(0, mark["y0"] - 2), min(ink.shape[0], mark["y1"] + 2)
    left, right = max(0, mark["x0"] - 2), min(ink.shape[1], mark["x1"] + 2)
    region = labels[top:bottom, left:right]
    is_own = np.zeros(region.max() + 1, bool)          # a lookup table: labels are small ints
    is_own[mark["ids"]] = True
    own = is_own[region]
    return top, left, own, region == 0, ink[top:bottom, left:right]


def _part_ink(region: tuple, x0=None, x1=None) -> tuple:
    """The mark's ink, or only its columns from x0 up to x1 (a cut's column for each row of the
    region), with the faint edges within 2 px of it that belong to no other mark -> (crop_to_ink
    of it, its box [x, y, width, height] in the image), or None if nothing is left."""
    top, left, own, free, ink = region
    if x0 is not None:
        columns = np.arange(own.shape[1])
        between = (columns >= x0[:, None]) & (columns < x1[:, None])
        own, free = own & between, free & between
    part = np.where(own | (free & near(own)), ink, np.float32(0.0)).astype(np.float32, copy=False)
    if part.max() <= 0:
        return None
    inside = part > EDGE * part.max()                  # its box, as crop_to_ink finds it
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    box = [left + cols[0], top + rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1]
    return part[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1], box


def _candidate_cuts(column_ink: np.ndarray, edge: int) -> list:
    """The thinnest columns, left to right: local minima of the column sums (smoothed over 3
    columns), at least `edge` from both ends and from each other, the thinnest first, at most
    MAX_CUTS of them."""
    columns = np.convolve(column_ink, np.ones(3) / 3, mode="same")
    inner = np.arange(edge, len(columns) - edge)
    minima = inner[(columns[inner] <= columns[inner - 1]) & (columns[inner] <= columns[inner + 1])]
    cuts = []
    for c in minima[np.argsort(columns[minima], kind="stable")]:
        if all(abs(c - other) >= edge for other in cuts):
            cuts.append(int(c))
        if len(cuts) == MAX_CUTS:
            break
    return sorted(cuts)


def _cut_paths(weight: np.ndarray, columns: list, reach: int) -> np.ndarray:
    """The cheapest path from the top row of `weight` (the mark's ink) to its bottom within each
    column c's band c - reach .. c + reach, one column per row, moving at most one column from a
    row to the next -> (len(columns), rows) columns. A path costs the ink it crosses, and STEP
    of the brightest ink per sideways move.

    A dynamic programme over the rows, all cuts at once: cost[y, k, b] is the cheapest way from
    the top to row y at place b of cut k's band (walled either side by infinite cost), and the
    path is traced back from the bottom row's cheapest place, each row from the cheapest of the
    three places above it.
    """
    height = weight.shape[0]
    starts = np.asarray(columns, np.intp)[:, None]
    band = np.clip(starts + np.arange(-reach, reach + 1), 0, weight.shape[1] - 1)   # (cuts, places)
    step = STEP * weight.max()
    banded = weight[:, band]                               # (rows, cuts, places): the ink there
    cost = np.full((height, len(columns), band.shape[1] + 2), np.inf)
    cost[0, :, 1:-1] = banded[0]
    for y in range(1, height):
        above = cost[y - 1]
        sideways = np.minimum(above[:, :-2], above[:, 2:]) + step
        cost[y, :, 1:-1] = banded[y] + np.minimum(above[:, 1:-1], sideways)
    cuts, paths = np.arange(len(columns)), np.empty((len(columns), height), np.intp)
    at = cost[-1].argmin(axis=1)          # places in the walled band: 1 .. band's width
    moves = np.array([step, 0.0, step])
    for y in range(height - 1, 0, -1):
        paths[:, y] = band[cuts, at - 1]
        came = cost[y - 1][cuts[:, None], at[:, None] + np.arange(-1, 2)] + moves
        at = at + came.argmin(axis=1) - 1
    paths[:, 0] = band[cuts, at - 1]
    return paths


def _best_cutting(score: dict, cut_costs: np.ndarray, last: int) -> list:
    """The spans (i, j) from cut 0 (the mark's left edge) to cut `last` (its right edge) whose
    scores, less the costs of the cuts between them, add up to the most: best[j] is the best
    total up to cut j and the cut before it."""
    best = [(0.0, None)] + [(-np.inf, None)] * last
    for j in range(1, last + 1):
        for i in range(j):
            if (i, j) in score and best[i][0] > -np.inf:
                total = best[i][0] + score[i, j] - cut_costs[i]
                if total > best[j][0]:
                    best[j] = (total, i)
    chosen, j = [], last
    while j > 0:
        chosen.append((best[j][1], j))
        j = best[j][1]
    return chosen[::-1]
