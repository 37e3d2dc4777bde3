"""Find the digit's ink in a light-on-dark image: its grey levels above the paper, 0 elsewhere.

`isolate_ink` is step 4 of `reader.preprocess`: it subtracts the paper (a smooth surface fitted
to the pixels away from the ink, which removes uneven light), keeps the ink that stands well above
both the paper and the noise, drops specks far from the digit, and keeps the faint anti-aliased
edges of the strokes. The helpers do with NumPy alone, and fast on small images, what a library
would: quantiles, padding, Otsu's threshold, a least-squares quadratic surface and the labelling
of connected blobs. `quantile`, `sample` and `pad` serve `reader.preprocess` too, and `near`
(the pixels within 2 px of a mask) `reader.split`.
"""
import numpy as np

from reader.errors import ImageError

MIN_CONTRAST = 0.1 # ink less than 10% of full scale above the paper is not a digit
SPECK = 0.05       # blobs with less than 5% of the biggest blob's ink are specks ...
GRID = 16          # ... found on a grid of at most 16x16 cells
STRONG = 0.4       # strong ink reaches at least 40% of the ink's peak level
SAMPLE = 20000     # levels, noise and thresholds are measured on about this many pixels
MIN_PAPER = 50     # fewer paper pixels than this: no surface is fitted to them
TINY = 20          # ... or, for a small digit on a large page, its peak among the 20 brightest


def isolate_ink(ink: np.ndarray, name: str) -> np.ndarray:
    """Light-on-dark image -> the ink's grey levels above the paper, exactly 0 everywhere else.

    The paper is a quadratic surface fitted to the pixels more than 2 px from anything above
    Otsu's threshold (to those below it, where that leaves no paper: a page of noise), twice
    (the second time on the flattened image): that removes a gradient of light. The noise level
    sigma comes from the differences of neighbouring pixels. "Strong" ink is above Otsu's
    threshold, 5 sigma, and STRONG times the ink's peak (the 99.9th percentile, which is ink
    when the digit covers 0.1% of the image or more; if that finds no ink, the level of the
    TINY brightest pixels); faint ruled lines and JPEG noise are not. The grey levels kept are
    those above 3 sigma within 2 px of strong ink: the anti-aliased edges of the strokes, but
    not a faint line running across the page.
    """
    signal = ink
    for _ in range(2):
        above = signal > _otsu(sample(signal))
        paper = ~near(above)
        if np.count_nonzero(paper) < MIN_PAPER:   # "ink" everywhere: Otsu split a page of noise
            paper = ~above
        paper = _fit_paper(ink, paper)
        signal = ink - paper
        if paper.min() == paper.max():   # flat paper (a drawing, an MNIST digit): the same
            break                        # pixels would be found and fitted again
    steps = np.abs(np.diff(sample(ink), axis=1)).ravel()
    sigma = 1.4826 * quantile(steps, 0.5) / np.sqrt(2.0)   # robust std of the pixel noise
    levels = sample(signal)
    peak = quantile(levels, 0.999)
    strong = signal > max(_otsu(levels), 5 * sigma, STRONG * peak)
    if not _is_ink(signal, strong, sigma):
        # A small number on a large page (under 0.1% of it, on ruled paper): the peak was the
        # page's lines. The ink's peak is then among the TINY brightest pixels of the image.
        peak = quantile(signal, 1.0 - TINY / signal.size)
        strong = signal > max(5 * sigma, STRONG * peak)
        if not _is_ink(signal, strong, sigma):
            raise ImageError(f"{name}: no digit found")
    strong = _drop_specks(strong, signal)
    keep = (signal > max(3 * sigma, 0.5 / 255)) & near(strong)
    if not keep.any():   # the strong ink was all at or below the noise level
        raise ImageError(f"{name}: no digit found")
    return np.where(keep, signal, np.float32(0.0)).astype(np.float32, copy=False)


def _is_ink(signal: np.ndarray, strong: np.ndarray, sigma: float) -> bool:
    """Whether the strong pixels are ink: most of them MIN_CONTRAST and 6 sigma above the paper."""
    return bool(strong.any()) and quantile(signal[strong], 0.9) >= max(MIN_CONTRAST, 6 * sigma)


def quantile(values: np.ndarray, q: float) -> float:
    """np.quantile(values, q), the same linear interpolation between the two nearest ranks,
    found with one np.partition: a tenth of np.quantile's time on a 28x28 image."""
    flat = values.ravel()
    position = q * (flat.size - 1)
    below = int(position)
    above = min(below + 1, flat.size - 1)
    ranked = np.partition(flat, [below, above])
    return float(ranked[below] + (position - below) * (ranked[above] - ranked[below]))


def sample(image: np.ndarray) -> np.ndarray:
    """Every k-th row of a large image, about SAMPLE pixels in all (a small image whole): its
    levels, noise and Otsu's threshold, measured on these rows, are those of the whole image
    within a fraction of a grey level, for a fraction of the time."""
    return image[:: max(1, image.size // SAMPLE)] if image.ndim == 2 else image


def row_runs(mask: np.ndarray) -> tuple:
    """The runs of true pixels along each row of a boolean image, in row-major order -> (rows,
    starts, ends), ends excluded: where each row, padded with False, steps up and down (one pass
    for the steps of both kinds)."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    padded[:, 1:-1] = mask
    steps = np.diff(padded, axis=1)            # +1 where a run starts, -1 just past its end
    at = np.flatnonzero(steps)
    up = steps.ravel()[at] == 1
    rows, starts = np.divmod(at[up], steps.shape[1])
    return rows, starts, at[~up] % steps.shape[1]


def near(mask: np.ndarray) -> np.ndarray:
    """The pixels within 2 px (a 5x5 square) of a true pixel: any of 5 rows, then of 5 columns."""
    padded = pad(mask, 2)
    rows = padded[:mask.shape[0]].copy()
    for dy in range(1, 5):
        rows |= padded[dy: dy + mask.shape[0]]
    near = rows[:, :mask.shape[1]].copy()
    for dx in range(1, 5):
        near |= rows[:, dx: dx + mask.shape[1]]
    return near


def pad(image: np.ndarray, reach: int) -> np.ndarray:
    """The image inside a border of `reach` zeros: np.pad(image, reach) in a tenth of its time."""
    height, width = image.shape
    padded = np.zeros((height + 2 * reach, width + 2 * reach), image.dtype)
    padded[reach: reach + height, reach: reach + width] = image
    return padded


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold: the level that splits the values into two classes with the largest
    between-class variance w0 * w1 * (mean0 - mean1)^2, over a 256-bin histogram.

    The histogram is counted with np.bincount (np.histogram takes ten times as long on a small
    image), and the levels are the bin numbers 0..255: scaling and shifting the levels scales
    the variance and moves no maximum.
    """
    low, high = float(values.min()), float(values.max())
    if low == high:
        return high   # nothing to split: no value lies above the threshold
    width = (high - low) / 256
    counts = np.bincount(np.minimum(((values.ravel() - low) / width).astype(np.intp), 255), minlength=256)
    w0 = np.cumsum(counts)
    w1 = w0[-1] - w0
    sum0 = np.cumsum(counts * np.arange(256))
    mean0 = sum0 / np.maximum(w0, 1)
    mean1 = (sum0[-1] - sum0) / np.maximum(w1, 1)
    return low + width * (np.argmax(w0 * w1 * (mean0 - mean1) ** 2) + 1)


def _fit_paper(image: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """Least-squares fit of a + b*u + c*v + d*u^2 + e*u*v + f*v^2 to the pixels where `paper` is
    true (u, v: column, row scaled to [-1, 1]); returns the surface over the whole image.

    Solved through the 6x6 normal equations (A^T A) x = A^T y over the paper pixels of every
    step-th row and column, about 5,000 of them. Hardly any paper (under MIN_PAPER pixels), or paper
    all of one level (a drawing): the surface is flat, at the paper's median.
    """
    count = np.count_nonzero(paper)
    if count < MIN_PAPER:
        return np.full_like(image, quantile(image[paper], 0.5) if count else 0.0)
    height, width = image.shape
    step = max(1, int(np.sqrt(count / 5000)))               # every step-th row and column of
    rows, cols = np.nonzero(paper[::step, ::step])          # the paper: plenty for 6 coefficients
    y = image[::step, ::step][rows, cols].astype(np.float64)
    if y.size and y.min() == y.max():   # levels that differ among these rows differ among all
        values = image[paper]
        if values.min() == values.max():
            return np.full_like(image, values[0])
    v = rows * step / max(height - 1, 1) * 2.0 - 1.0
    u = cols * step / max(width - 1, 1) * 2.0 - 1.0
    a = np.stack(_quadratic_terms(u, v), axis=1)
    c = np.linalg.lstsq(a.T @ a, a.T @ y, rcond=None)[0]
    # The surface as a row, a column and one product of the two: three passes over the image.
    u, v = np.linspace(-1.0, 1.0, width), np.linspace(-1.0, 1.0, height)
    across = (c[0] + c[1] * u + c[3] * u * u).astype(np.float32)     # the terms in u alone
    down = (c[2] * v + c[5] * v * v).astype(np.float32)              # ... in v alone
    surface = np.multiply.outer((c[4] * v).astype(np.float32), u.astype(np.float32))   # e*u*v
    surface += across[None, :]
    surface += down[:, None]
    return surface


def _quadratic_terms(u: np.ndarray, v: np.ndarray) -> list:
    """The six terms 1, u, v, u^2, u*v, v^2 of a quadratic surface."""
    return [np.ones_like(u * v), u, v, u * u, u * v, v * v]


def _drop_specks(strong: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """Remove blobs of ink with less than SPECK times the ink of the biggest blob.

    Blobs are found on a coarse grid of at most GRID x GRID cells (8-connected), so the pieces of
    a broken stroke, in the same or neighbouring cells, join their digit and only specks well
    away from it stand alone.
    """
    cell = -(-max(strong.shape) // GRID)                       # ceil: cells of cell x cell px
    rows, cols = -(-strong.shape[0] // cell), -(-strong.shape[1] // cell)
    ink = np.zeros((rows * cell, cols * cell))
    np.multiply(signal, strong, out=ink[: strong.shape[0], : strong.shape[1]])
    mass = ink.reshape(rows, cell, cols, cell).sum(axis=(1, 3))
    labels = _label(mass > 0)
    if labels.max() == 1:
        return strong                                         # one blob: no specks
    blob_mass = np.bincount(labels.ravel(), weights=mass.ravel())
    blob_mass[0] = 0.0                                        # label 0 is the background
    keep_cell = (blob_mass >= SPECK * blob_mass.max())[labels]
    keep = np.repeat(np.repeat(keep_cell, cell, axis=0), cell, axis=1)
    return strong & keep[: strong.shape[0], : strong.shape[1]]


def _label(mask: np.ndarray) -> np.ndarray:
    """Number the 8-connected blobs of a small boolean grid 1, 2, ...; 0 outside them.

    The true cells still to number are a set of cell numbers row * width + col, counted with one
    spare column so that no step to a neighbour wraps from one row's end onto the next row's
    start. Each blob starts from any one of them and grows, while it is walked, by the
    neighbours still in the set. (Python ints and sets: on a grid this small, several times
    faster than indexing NumPy arrays cell by cell.)
    """
    width = mask.shape[1] + 1
    steps = (-width - 1, -width, -width + 1, -1, 1, width - 1, width, width + 1)
    rows, cols = np.nonzero(mask)
    todo = set((rows * width + cols).tolist())
    labels = np.zeros(mask.shape, np.int64)
    number = 0
    while todo:
        number += 1
        blob = [todo.pop()]
        for cell in blob:                                     # blob grows as it is walked
            for step in steps:
                if cell + step in todo:
                    todo.remove(cell + step)
                    blob.append(cell + step)
        blob = np.array(blob)
        labels[blob // width, blob % width] = number
    return labels
