"""Turn a person's image of a digit into a 28x28 image that looks like an MNIST digit.

The network only ever saw MNIST, so a user's image must be brought into MNIST's form first. The
MNIST page describes that form: the digits were "size normalized to fit in a 20x20 pixel box while
preserving their aspect ratio", the normalisation left grey levels from anti-aliasing, and they
were "centered in a 28x28 image by computing the center of mass of the pixels". The ink is light
(255) on a black (0) background.

A user's image is usually the opposite: dark ink on light paper, any size, off-centre, perhaps a
JPEG photo with uneven light, perhaps an RGBA export whose transparent background is black
underneath. `preprocess` undoes all that, one step per function:

1. `_to_grey`: alpha composited onto white paper, colour and 16-bit images to grey in [0, 1].
2. `_shrink`: images larger than `WORK_SIDE` are area-averaged down, to bound the work.
3. `_ink_light`: the border pixels are the paper; if they are the lighter side, invert, so that
   ink is light on dark from here on.
4. `isolate_ink` (in mnist/ink.py): subtract the paper (a smooth surface fitted to the non-ink
   pixels, which removes uneven lighting), find the ink with Otsu's threshold, drop small specks
   far from the digit, and keep the grey levels of the ink and its anti-aliased edges; everything
   else is 0.
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
from mnist.ink import MIN_CONTRAST, isolate_ink, pad, quantile

SIZE = 28          # MNIST images are 28x28
BOX = 20           # ... with the digit scaled to fit a 20x20 box
CENTRE = 14.0      # ... and its centre of mass at row/column 14 (MNIST's lie in [13.5, 14.5])
WORK_SIDE = 512    # larger images are area-averaged down to this longest side first
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
    digit = _centre(_fit_box(isolate_ink(_ink_light(_shrink(grey)), name)))
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
    low, high = quantile(grey, 0.001), quantile(grey, 0.999)
    return 1.0 - grey if quantile(border, 0.5) > (low + high) / 2 else grey


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
    padded = pad(crop, 1)
    outline = np.abs(np.diff(padded, axis=0)).sum() + np.abs(np.diff(padded, axis=1)).sum()
    scale = BOX / max(crop.shape)
    stroke = 2 * crop.sum() / outline * scale     # stroke width in pixels of the 20-px box
    if stroke >= THIN:
        return crop
    radius = (TYPICAL - stroke) / 2 / scale       # grow each side by half the missing width
    reach = int(np.ceil(radius))
    dy, dx = np.ogrid[-reach: reach + 1, -reach: reach + 1]
    disc = dy * dy + dx * dx <= radius * radius
    return _dilate(pad(crop, reach), disc)


def _dilate(image: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Grey (or binary) dilation: each pixel becomes the maximum of the pixels under the
    footprint, an odd-sized square boolean array centred on it; outside the image counts as 0."""
    height, width = image.shape
    padded = pad(image, footprint.shape[0] // 2)
    out = np.zeros_like(image)
    for dy, dx in zip(*np.nonzero(footprint)):
        np.maximum(out, padded[dy: dy + height, dx: dx + width], out=out)
    return out


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
