"""Marks in a picture of a number that are no digit: rules, lines and faint strokes, found by
reader/segment.py's steps 2 and 4.

    ink, rules = without_rules(ink, labels, marks, runs) # long horizontal strokes leave the ink
    marks, ink = drop_lines(marks, labels, ink, rules)   # margins, borders, a box's sides
    marks = drop_faint(marks, labels, ink)               # scratches, stray pen lines

`labels` and `marks` are what `reader.segment.label` finds in the ink, from the ink's `runs`
along the rows. A rule is told from a digit's bar by its length, a line from a 1 by its height
beside the other marks or by the rules at its ends, a faint stroke from a digit by its share of
the ink: on the generated numbers the faintest digit, a thin 1 beside bold digits, has 24% of the
median mark's ink, the stray strokes that MNIST digits carry at their edge under 10%.
"""
import numpy as np

from reader.ink import quantile

RULE_RUN = 12.0    # a run of ink along a row 12 times the median run's length ...
RULE_LONG = 1.3    # ... and 1.3 times as long as its mark is tall is a rule or an underline
LINE = 8.0         # a mark 8 times as tall as wide is a line ...
TALL_LINE = 1.5    # ... no digit if 1.5 times as tall as any other mark, or a box's side
FAINT = 0.15       # a mark with under 15% of the median mark's ink (its summed grey levels) is no digit


def without_rules(ink: np.ndarray, labels: np.ndarray, marks: list, runs: tuple) -> tuple:
    """The ink without its long horizontal strokes (an underline, a form's rule, a box's top and
    bottom) -> (that ink, the mask of what was taken out), or (ink, None) if it has none.

    A rule is every run of ink along a row at least RULE_RUN times as long as the median run
    (about a stroke's width: most runs cross a stroke) and RULE_LONG times as long as its mark is
    tall; its pixels go, with those up to 2 px above and below (its anti-aliased edges). The
    longest bar of a digit (a 7's, a 2's) is shorter than the digit is tall. `runs` are the
    runs of the marks' pixels along the rows (`reader.ink.row_runs`), which `label` joined."""
    rows, starts, ends = runs
    lengths = ends - starts
    if not lengths.size:
        return ink, None
    tall = np.array([mark["y1"] - mark["y0"] for mark in marks])[labels[rows, starts] - 1]
    long = (lengths >= RULE_RUN * quantile(lengths, 0.5)) & (lengths >= RULE_LONG * tall)
    if not long.any():
        return ink, None
    rule = np.zeros(ink.shape, bool)
    for row, start, end in zip(rows[long], starts[long], ends[long]):
        rule[max(0, row - 2): row + 3, start:end] = True
    return np.where(rule, 0.0, ink).astype(np.float32), rule


def drop_lines(marks: list, labels: np.ndarray, ink: np.ndarray, rules) -> tuple:
    """Thin vertical lines, marks at least LINE times as tall as they are wide, that are no digit:
    a notebook's margin or a table's border, TALL_LINE times as tall as every other mark, and the
    side of a box round the number, whose top and bottom ends touch `rules` (what `without_rules`
    took out, or None). -> (the other marks, the ink without the lines')."""
    lines = [mark for mark in marks if mark["y1"] - mark["y0"] >= LINE * (mark["x1"] - mark["x0"])]
    others = [mark for mark in marks if mark not in lines]
    if not lines or not others:
        return marks, ink
    tallest = max(mark["y1"] - mark["y0"] for mark in others)
    lines = [mark for mark in lines if mark["y1"] - mark["y0"] >= TALL_LINE * tallest
             or rules is not None and _boxed(mark, rules)]
    if not lines:
        return marks, ink
    ink = np.where(np.isin(labels, [k for mark in lines for k in mark["ids"]]), 0.0, ink)
    return [mark for mark in marks if mark not in lines], ink.astype(np.float32)


def _boxed(mark: dict, rules: np.ndarray) -> bool:
    """Whether rules were taken out just above the mark's top and just below its bottom."""
    left, right = max(0, mark["x0"] - 2), mark["x1"] + 2
    return bool(rules[max(0, mark["y0"] - 3): mark["y0"], left:right].any()
                and rules[mark["y1"]: mark["y1"] + 3, left:right].any())


def drop_faint(marks: list, labels: np.ndarray, ink: np.ndarray) -> list:
    """The marks whose ink (the sum of their grey levels) is at least FAINT times the median
    mark's."""
    if len(marks) < 2:
        return marks
    inked = np.flatnonzero(ink > 0)   # the sums over the pixels with ink: the others add 0
    per_label = np.bincount(labels.ravel()[inked], weights=ink.ravel()[inked])
    amounts = np.array([per_label[mark["ids"]].sum() for mark in marks])
    least = FAINT * quantile(amounts, 0.5)   # the median, without np.median's 40 ms import of numpy.ma
    return [mark for mark, amount in zip(marks, amounts) if amount >= least]
