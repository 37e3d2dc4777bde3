"""Turn a person's image of a digit into a 28x28 image that looks like an MNIST digit.

The network only ever saw MNIST, so a user's image must be brought into MNIST's form first. The
MNIST page describes that form: the digits were "size normalized to fit in a 20x20 pixel box while
preserving their aspect ratio", the normalisation left grey levels from anti-aliasing, and they
were "centered in a 28x28 image by computing the center of mass of the pixels". The ink is light
(255) on a black (0) background.

A user's image is usually the opposite: dark ink on light paper, any size, off-centre, perhaps a
JPEG photo with uneven light, perhaps an RGBA export whose transparent background is black
underneath. `preprocess` undoes all that, one step per function below:

1. `_to_grey`: alpha composited onto white paper, colour and 16-bit images to grey in [0, 1].
2. `_shrink`: images larger than `WORK_SIDE` are area-averaged down, to bound the work.
3. `_ink_light`: the border pixels are the paper; if they are the lighter side, invert, so that
   ink is light on dark from here on.
4. `_isolate_ink`: subtract the paper (a smooth surface fitted to the non-ink pixels, which
   removes uneven lighting), find the ink with Otsu's threshold, drop small specks far from the
   digit, and keep the grey levels of the ink and its anti-aliased edges; everything else is 0.
5. `_fit_box`: crop to the ink's bounding box, thicken strokes far thinner than MNIST's
   (`_thicken`: a fine pen on a large canvas), and scale the longest side to 20 px.
6. `_centre`: paste into 28x28 so that the centre of mass lands on pixel (14, 14).
7. Stretch so that the brightest pixel is 255.

A digit already in MNIST form (28x28, light on dark, centred) passes through essentially
unchanged: over the first 1,000 MNIST test digits the mean absolute difference is 0.001 of full
scale, and 60% come back bit for bit. `open_image` reads a file and turns every way of failing
into one `MnistError`; `preprocess` is pure: image in, uint8 array out.
"""
from pathlib import Path
import warnings

import numpy as np
from PIL import Image, ImageOps

from mnist.errors import MnistError

SIZE = 28          # MNIST images are 28x28
BOX = 20           # ... with the digit scaled to fit a 20x20 box
CENTRE = 14.0      # ... and its centre of mass at row/column 14 (MNIST's lie in [13.5, 14.5])
WORK_SIDE = 512    # larger images are area-averaged down to this longest side first
MIN_CONTRAST = 0.1 # ink less than 10% of full scale above the paper is not a digit
SPECK = 0.05       # blobs with less than 5% of the biggest blob's ink are specks ...
GRID = 16          # ... found on a grid of at most 16x16 cells
STRONG = 0.4       # strong ink reaches at least 40% of the ink's peak level
EDGE = 0.2         # the digit's box holds the pixels above 20% of its brightest
THIN = 1.0         # strokes thinner than this (px, at the 20-px scale) are thickened ...
TYPICAL = 1.8      # ... to about this, MNIST's median stroke width


def open_image(path) -> Image.Image:
    """Read any image file Pillow knows, fully decoded and turned upright by its EXIF orientation.

    Raises `MnistError` "PATH: problem" for a missing path, a directory, an empty file, a file
    that is not an image, a truncated or corrupt image, and an image over Pillow's
    decompression-bomb limit (`Image.MAX_IMAGE_PIXELS`; its warning, for images between one and
    two times the limit, counts as an error too).
    """
    path = Path(path)
    if not path.exists():
        raise MnistError(f"{path}: no such file")
    if path.is_dir():
        raise MnistError(f"{path}: is a directory, not an image file")
    if path.stat().st_size == 0:
        raise MnistError(f"{path}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()    # decode now, so a truncated file fails here
                return ImageOps.exif_transpose(image)   # a decoded, upright copy
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise MnistError(f"{path}: image too large ({error})") from None
    except Image.UnidentifiedImageError:
        raise MnistError(f"{path}: not an image file Pillow can read") from None
    except PermissionError:
        raise MnistError(f"{path}: permission denied") from None
    except Exception as error:  # Pillow's decoders raise OSError, SyntaxError, ValueError, ...
        raise MnistError(f"{path}: truncated or corrupt image ({error})") from None


def preprocess(image: Image.Image, name: str = "image") -> np.ndarray:
    """A PIL image of one digit -> uint8 (28, 28), light ink on black, centred like MNIST.

    `name` (usually the file's path) starts the message of the `MnistError` raised for an image
    with no ink ("NAME: no digit found") or in a colour mode Pillow cannot make grey (LAB).
    Pass the result to `mnist.normalize.to_model_input`.
    """
    try:
        grey = _to_grey(image)
    except ValueError as error:   # a colour mode Pillow cannot turn into grey, such as LAB
        raise MnistError(f"{name}: cannot convert its colours to grey ({error})") from None
    digit = _centre(_fit_box(_isolate_ink(_ink_light(_shrink(grey)), name)))
    return np.round(digit * (255.0 / digit.max())).astype(np.uint8)


def _to_grey(image: Image.Image) -> np.ndarray:
    """Any Pillow image -> float32 (H, W) grey levels in [0, 1], 1 = white.

    Transparent pixels become white paper, as the issue asks: the usual RGBA export has black RGB
    everywhere and the ink in the alpha channel, so on white it reads as dark ink. Only when that
    leaves no contrast at all (a light digit on a transparent background) is the paper black.
    """
    if image.mode.startswith("I") or image.mode == "F":   # 16- and 32-bit grey, and float
        pixels = np.asarray(image, dtype=np.float32)
        top = pixels.max()
        full = 1.0 if image.mode == "F" and top <= 1 else 255.0 if top <= 255 else 65535.0
        return np.clip(pixels / full, 0.0, 1.0)
    if image.mode not in ("RGBA", "LA", "PA") and "transparency" not in image.info:
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
    grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)   # as Pillow's "L"
    alpha = rgba[..., 3]
    on_white = grey * alpha + (1.0 - alpha)
    return on_white if np.ptp(on_white) >= MIN_CONTRAST else grey * alpha


def _shrink(grey: np.ndarray) -> np.ndarray:
    """Area-average an image larger than WORK_SIDE down to it; the digit ends at 20 px anyway."""
    height, width = grey.shape
    scale = WORK_SIDE / max(height, width)
    if scale >= 1:
        return grey
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(grey).resize(size, Image.Resampling.BOX))


def _ink_light(grey: np.ndarray) -> np.ndarray:
    """Invert the image if its background (the median border pixel) is the lighter side.

    "Lighter side" means above the middle of the image's own range (its 0.1% and 99.9% levels),
    so dark ink on grey paper is recognised as well as dark ink on white.
    """
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    low, high = _quantile(grey, 0.001), _quantile(grey, 0.999)
    return 1.0 - grey if _quantile(border, 0.5) > (low + high) / 2 else grey


def _isolate_ink(ink: np.ndarray, name: str) -> np.ndarray:
    """Light-on-dark image -> the ink's grey levels above the paper, exactly 0 everywhere else.

    The paper is a quadratic surface fitted to the pixels more than 2 px from anything above
    Otsu's threshold, twice (the second time on the flattened image): that removes a gradient of
    light. The noise level sigma comes from the differences of neighbouring pixels. "Strong" ink
    is above Otsu's threshold, 5 sigma, and STRONG times the ink's peak (the 99.9th percentile,
    which is ink when the digit covers 0.1% of the image or more); faint ruled lines and JPEG
    noise are not. The grey levels kept are those above 3 sigma within 2 px of strong ink: the
    anti-aliased edges of the strokes, but not a faint line running across the page.
    """
    signal = ink
    for _ in range(2):
        paper = _fit_paper(ink, ~_near(signal > _otsu(signal)))
        signal = ink - paper
        if paper.min() == paper.max():   # flat paper (a drawing, an MNIST digit): the same
            break                        # pixels would be found and fitted again
    steps = np.abs(np.diff(ink, axis=1)).ravel()
    sigma = 1.4826 * _quantile(steps, 0.5) / np.sqrt(2.0)   # robust std of the pixel noise
    peak = _quantile(signal, 0.999)
    strong = signal > max(_otsu(signal), 5 * sigma, STRONG * peak)
    if not strong.any() or _quantile(signal[strong], 0.9) < max(MIN_CONTRAST, 6 * sigma):
        raise MnistError(f"{name}: no digit found")
    strong = _drop_specks(strong, signal)
    keep = (signal > max(3 * sigma, 0.5 / 255)) & _near(strong)
    return np.where(keep, signal, 0.0).astype(np.float32)


def _quantile(values: np.ndarray, q: float) -> float:
    """np.quantile(values, q), the same linear interpolation between the two nearest ranks,
    found with one np.partition: a tenth of np.quantile's time on a 28x28 image."""
    flat = values.ravel()
    position = q * (flat.size - 1)
    below = int(position)
    above = min(below + 1, flat.size - 1)
    ranked = np.partition(flat, [below, above])
    return float(ranked[below] + (position - below) * (ranked[above] - ranked[below]))


def _near(mask: np.ndarray) -> np.ndarray:
    """The pixels within 2 px (a 5x5 square) of a true pixel: any of 5 rows, then of 5 columns."""
    padded = _pad(mask, 2)
    rows = np.logical_or.reduce([padded[dy: dy + mask.shape[0]] for dy in range(5)])
    return np.logical_or.reduce([rows[:, dx: dx + mask.shape[1]] for dx in range(5)])


def _dilate(image: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Grey (or binary) dilation: each pixel becomes the maximum of the pixels under the
    footprint, an odd-sized square boolean array centred on it; outside the image counts as 0."""
    height, width = image.shape
    padded = _pad(image, footprint.shape[0] // 2)
    out = np.zeros_like(image)
    for dy, dx in zip(*np.nonzero(footprint)):
        np.maximum(out, padded[dy: dy + height, dx: dx + width], out=out)
    return out


def _pad(image: np.ndarray, reach: int) -> np.ndarray:
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

    Solved through the 6x6 normal equations (A^T A) x = A^T y over a subsample of the paper.
    """
    values = image[paper]
    if values.size < 50 or values.min() == values.max():   # hardly any paper, or flat paper
        return np.full_like(image, _quantile(values, 0.5) if values.size else 0.0)
    height, width = image.shape
    rows, cols = np.nonzero(paper)
    step = max(1, rows.size // 5000)                        # plenty for 6 coefficients
    v = rows[::step] / max(height - 1, 1) * 2.0 - 1.0
    u = cols[::step] / max(width - 1, 1) * 2.0 - 1.0
    a = np.stack(_quadratic_terms(u, v), axis=1)
    coefficients = np.linalg.lstsq(a.T @ a, a.T @ values[::step].astype(np.float64), rcond=None)[0]
    u, v = np.linspace(-1.0, 1.0, width)[None, :], np.linspace(-1.0, 1.0, height)[:, None]
    surface = sum(c * term for c, term in zip(coefficients, _quadratic_terms(u, v)))
    return np.broadcast_to(surface, image.shape).astype(np.float32)


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
    ink[: strong.shape[0], : strong.shape[1]] = np.where(strong, signal, 0.0)
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


def _fit_box(ink: np.ndarray) -> np.ndarray:
    """Crop to the ink's bounding box and resize its longest side to BOX px, keeping the aspect.

    The box holds the pixels above EDGE times the brightest, so that a faint halo of blur around
    the strokes (a few pixels of a large image) does not make the digit smaller; MNIST's box was
    that of the sharp digit before anti-aliasing. Strokes too thin for MNIST are thickened first
    (`_thicken`). Pillow's BOX filter averages the area each new pixel covers, which is what
    anti-aliasing a drawing onto a coarser grid means; a box already the right size is kept as is.
    """
    inside = ink > EDGE * ink.max()
    rows = np.flatnonzero(inside.any(axis=1))
    cols = np.flatnonzero(inside.any(axis=0))
    crop = _thicken(ink[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1])
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return crop
    return np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BOX))


def _thicken(crop: np.ndarray) -> np.ndarray:
    """Widen strokes that would be thinner than nearly all of MNIST's once scaled to the box.

    A stroke of width w and length l has area w * l and outline 2 * l, so w = 2 * area / outline;
    with grey levels, area is the sum of the ink and outline its total variation (the sum of
    absolute differences between neighbours). Measured so, MNIST strokes are 1.1 px wide at
    their 1st percentile and 1.85 px at their median. A digit drawn with a fine pen on a large
    canvas comes out far thinner (0.3 px for a 3 px pen on a 200 px digit) and is no longer an
    MNIST-like digit; below THIN px its strokes are grown to about TYPICAL px, by a grey dilation
    (the maximum over a disc) at the crop's own resolution, before the anti-aliased shrinking.
    """
    padded = _pad(crop, 1)
    outline = np.abs(np.diff(padded, axis=0)).sum() + np.abs(np.diff(padded, axis=1)).sum()
    scale = BOX / max(crop.shape)
    stroke = 2 * crop.sum() / outline * scale     # stroke width in pixels of the 20-px box
    if stroke >= THIN:
        return crop
    radius = (TYPICAL - stroke) / 2 / scale       # grow each side by half the missing width
    reach = int(np.ceil(radius))
    dy, dx = np.ogrid[-reach: reach + 1, -reach: reach + 1]
    disc = dy * dy + dx * dx <= radius * radius
    return _dilate(_pad(crop, reach), disc)


def _centre(box: np.ndarray) -> np.ndarray:
    """Paste the box into a black 28x28 so that its centre of mass lands nearest (14, 14).

    The shift is a whole number of pixels, as in MNIST (whose centres of mass lie within half a
    pixel of 14), so no interpolation blurs the digit. Ink shifted past the edge is cut off.
    """
    row_ink, col_ink = box.sum(axis=1, dtype=np.float64), box.sum(axis=0, dtype=np.float64)
    top = int(np.round(CENTRE - row_ink @ np.arange(box.shape[0]) / row_ink.sum()))
    left = int(np.round(CENTRE - col_ink @ np.arange(box.shape[1]) / col_ink.sum()))
    canvas = np.zeros((SIZE + 2 * BOX, SIZE + 2 * BOX), np.float32)   # room for any shift
    canvas[BOX + top: BOX + top + box.shape[0], BOX + left: BOX + left + box.shape[1]] = box
    return canvas[BOX: BOX + SIZE, BOX: BOX + SIZE]
