"""Turn a person's image of a digit into a 28x28 image that looks like an MNIST digit.

The network only ever saw MNIST, so a user's image must be brought into MNIST's form first. The
MNIST page describes that form: the digits were "size normalized to fit in a 20x20 pixel box while
preserving their aspect ratio", the normalisation left grey levels from anti-aliasing, and they
were "centered in a 28x28 image by computing the center of mass of the pixels". The ink is light
(255) on a black (0) background.

A user's image is usually the opposite: dark ink on light paper, any size, off-centre, perhaps a
JPEG photo with uneven light, perhaps an RGBA export whose transparent background is black
underneath. `preprocess` undoes all that, one step per function:

1. `shape_problem`: an image smaller than 8x8 px, or too long and thin to keep 8 px on its short
   side once shrunk, cannot hold a digit and is refused.
2. `_to_grey`: alpha composited onto white paper, colour and 16-bit images to grey in [0, 1];
   images larger than `WORK_SIDE` are area-averaged down to it, tile by tile, so that a huge
   image never becomes a huge float array. NaN or infinite pixels (float TIFFs) are refused.
3. `_ink_light`: the border pixels are the paper; if they are the lighter side, invert, so that
   ink is light on dark from here on.
4. `isolate_ink` (in reader/ink.py): subtract the paper (a smooth surface fitted to the non-ink
   pixels, which removes uneven lighting), find the ink with Otsu's threshold, drop small specks
   far from the digit, and keep the grey levels of the ink and its anti-aliased edges; everything
   else is 0. Ink kept on over MAX_COVER of the picture is its paper (a page of only ruled
   lines, whose border told the sides wrong): the other side is then the ink. So is it when
   no ink is found at all, if there it is under FEW_INK of the picture (a few small digits on a
   page whose uneven light put its border on the wrong side of the middle).
5. `crop_to_ink`, `_fit_box`: crop to the ink's bounding box (a box too small for a digit is a
   dot of dust, `_dot_problem`, not a 0), bring strokes far thinner or bolder than MNIST's to
   its width (`_mnist_strokes`: a fine pen on a large canvas, a thick marker), and scale the
   longest side to 20 px.
6. `_centre`: paste into 28x28 so that the centre of mass lands on pixel (14, 14).
7. Stretch so that the brightest pixel is 255.

A digit already in MNIST form (28x28, light on dark, centred) passes through essentially
unchanged: over the first 1,000 MNIST test digits the mean absolute difference is 0.001 of full
scale, and 60% come back bit for bit. `open_image` reads a file and turns every way of failing
into one `ImageError`; `preprocess` is pure: image in, uint8 array out. `find_ink` (steps 1-4)
and `mnist_form` (steps 5-7, after `crop_to_ink`) serve reader/segment.py, which reads numbers.
"""
import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from reader.errors import ImageError
from reader.ink import MIN_CONTRAST, isolate_ink, pad, quantile, sample

SIZE = 28          # MNIST images are 28x28
BOX = 20           # ... with the digit scaled to fit a 20x20 box
CENTRE = 14.0      # ... and its centre of mass at row/column 14 (MNIST's lie in [13.5, 14.5])
WORK_SIDE = 512    # larger images are area-averaged down to this longest side first ...
TILE = 1024        # ... in tiles of about this side
REDUCED_BY = "reader.reduced_by"   # image.info's key for the factor a JPEG was decoded smaller by
OPAQUE_8BIT = ("1", "L", "P", "RGB", "CMYK", "YCbCr")   # modes without alpha, 8 bits a channel
MIN_SIDE = 8       # a smaller image cannot hold a digit (scikit-learn's digits are 8x8) ...
MAX_ASPECT = WORK_SIDE // MIN_SIDE   # ... nor can one whose short side would shrink below that
EDGE = 0.2         # the digit's box holds the pixels above 20% of its brightest
MAX_COVER = 0.6    # ink on over 60% of the picture is its paper (MNIST's digits: at most 40%)
FEW_INK = 0.01     # ink found only the other way up is a few small digits: under 1% of it
MIN_MARK = 5       # a box spanning fewer px than this, or ...
MARK_SHARE = 0.015 # ... than 1.5% of the image's longest side, is a dot, not a digit
THIN = 1.0         # strokes thinner than this (px, at the 20-px scale) are thickened ...
TYPICAL = 1.8      # ... to about this, MNIST's median stroke width; those bolder than
THICK = 3.0        # ... this are thinned ...
BOLD_TO = 2.6      # ... to this, MNIST's 90th percentile: bold digits stay as bold as its boldest


def open_image(path, data: bytes | None = None, colour: bool = False) -> Image.Image:
    """Read any image file Pillow knows, fully decoded and turned upright by its EXIF orientation.

    A colour JPEG is decoded straight to grey (its luma channel, which is all that preprocessing
    reads: two thirds of the time of decoding it in colour), unless `colour` is true (the copy
    that `--save-preprocessed` annotates).

    A JPEG more than twice as large as `preprocess` works on is decoded at 1/2, 1/4 or 1/8 of its
    size instead (Pillow's `draft`: the JPEG decoder averages the blocks for free), to spare the
    memory of a full-size photo (other formats are decoded whole: an 88-Mpx RGBA PNG takes 350 MB,
    and `preprocess` reads it tile by tile); `image.info[REDUCED_BY]` then says by how much, so
    that boxes are given in the file's own pixels (`full_size`). A JPEG is not reduced further, to
    just under the working size: on 1,000 photos of six digits that cost 5 numbers read right for
    1 ms of the 23 each takes.

    Raises `ImageError` "PATH: problem" for a missing path, a directory, an empty file, a file that
    is not an image, a truncated or corrupt image, and an image over Pillow's decompression-bomb
    limit (`Image.MAX_IMAGE_PIXELS`; its warning, for images between one and two times the limit,
    counts as an error too). With `data`, the image is read from those bytes instead (an upload to
    serve.py), and `path` only names it.
    """
    path = Path(path)
    if data is None and not path.exists():
        raise ImageError(f"{path}: no such file")
    if data is None and path.is_dir():
        raise ImageError(f"{path}: is a directory, not an image file")
    if (path.stat().st_size if data is None else len(data)) == 0:
        raise ImageError(f"{path}: empty file")
    try:
        # Opened from our own file object, the image outlives the file (Pillow would invalidate
        # an image it opened itself on closing it), so it needs no full-size copy.
        with warnings.catch_warnings(), (open(path, "rb") if data is None else io.BytesIO(data)) as file:
            warnings.simplefilter("ignore")   # odd but readable files: "TIFF tag past the end"
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(file)
            width = image.size[0]
            if shape_problem(*image.size) is None:
                image.draft(None if colour else "L", _work_size(*image.size))   # JPEG only
            image.load()    # decode now, so a truncated file fails here
            if image.size[0] != width:
                image.info[REDUCED_BY] = round(width / image.size[0])   # 2, 4 or 8
            ImageOps.exif_transpose(image, in_place=True)
            return image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(f"{path}: image too large ({error})") from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file Pillow can read") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except Exception as error:  # Pillow's decoders raise OSError, SyntaxError, ValueError, ...
        raise ImageError(f"{path}: truncated or corrupt image ({error})") from None


def preprocess(image: Image.Image, name: str = "image") -> np.ndarray:
    """A PIL image of one digit -> uint8 (28, 28), light ink on black, centred like MNIST.

    `name` (usually the file's path) starts the message of the `ImageError` raised for an image
    that cannot hold a digit: smaller than MIN_SIDE or too long and thin ("NAME: image is 1x500
    px; ..."), with NaN or infinite pixels, with pixels Pillow cannot read, with no ink ("NAME: no
    digit found") or only a dot of it. Pass the result to `mnist.normalize.to_model_input`.
    """
    return ink_to_digit(*find_ink(image, name), name)


def ink_to_digit(ink: np.ndarray, px: float, name: str = "image") -> np.ndarray:
    """Steps 5-7 on what `find_ink` returned -> uint8 (28, 28); ImageError "NAME: no digit
    found (...)" when the ink is only a dot. reader/segment.py reads a one-digit image with it."""
    if not ink.any():   # all its ink was rules and lines (reader/clutter.py)
        raise ImageError(f"{name}: no digit found")
    crop = crop_to_ink(ink)
    problem = _dot_problem(crop, ink.shape, px)
    if problem:
        raise ImageError(f"{name}: no digit found ({problem})")
    return mnist_form(crop)


def find_ink(image: Image.Image, name: str = "image") -> tuple:
    """Steps 1-4: a PIL image -> (its ink, light on 0, at most WORK_SIDE px long; the size of one
    of its pixels in the file's own pixels, over 1 if it was shrunk). reader/segment.py finds
    the ink of a whole number with it."""
    problem = shape_problem(*image.size)
    if problem:
        raise ImageError(f"{name}: {problem}")
    grey = _to_grey(image, name)
    light = _ink_light(grey)
    px = max(full_size(image)) / max(grey.shape)
    try:
        ink = isolate_ink(light, name)
    except ImageError as error:
        # No ink this way up. A few small digits on a page under uneven light: the page's border
        # may lie on either side of the middle of its levels, and the digits be the other way up.
        # They are a small share of the page (not the parts of a blank ruled page found so).
        ink = isolate_ink(1.0 - light, name)
        if np.count_nonzero(ink) > FEW_INK * ink.size:
            raise error
        return ink, px
    if np.count_nonzero(ink) > MAX_COVER * ink.size:   # the paper, taken for the ink
        ink = isolate_ink(1.0 - light, name)
    return ink, px


def full_size(image: Image.Image) -> tuple:
    """(width, height) in the file's own pixels: image.size, unless open_image decoded a JPEG at
    a reduced scale."""
    factor = image.info.get(REDUCED_BY, 1)
    return image.size[0] * factor, image.size[1] * factor


def mnist_form(crop: np.ndarray) -> np.ndarray:
    """Steps 5-7 for the ink's box of one digit: scaled into the 20x20 box, centred by its centre
    of mass in 28x28, stretched to 255 -> uint8 (28, 28)."""
    digit = _centre(_fit_box(crop))
    return np.round(digit * (255.0 / digit.max())).astype(np.uint8)


def shape_problem(width: int, height: int):
    """Why an image of this size cannot hold a digit, or None. Shrunk to WORK_SIDE, an image up to
    MAX_ASPECT times as long as wide keeps at least MIN_SIDE px on its short side."""
    if min(width, height) < MIN_SIDE:
        return f"image is {width}x{height} px; at least {MIN_SIDE}x{MIN_SIDE} px needed"
    if max(width, height) > MAX_ASPECT * min(width, height):
        return (f"image is {width}x{height} px, too thin to hold a digit (its long side may be at "
                f"most {MAX_ASPECT} times its short side)")
    return None


def _work_size(width: int, height: int) -> tuple:
    """(width, height) scaled so that the longest side is at most WORK_SIDE."""
    scale = min(1.0, WORK_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _to_grey(image: Image.Image, name: str) -> np.ndarray:
    """Any Pillow image -> float32 grey levels in [0, 1], 1 = white, at most WORK_SIDE px long.

    Transparent pixels become white paper, as the issue asks: the usual RGBA export has black RGB
    everywhere and the ink in the alpha channel, so on white it reads as dark ink. Only when that
    leaves no contrast at all (a light digit on a transparent background) is the paper black.
    Compositing is linear in (grey * alpha, alpha), so those two are what get averaged down.

    A large image is never turned into floats as a whole: tile by tile (about TILE px square),
    its pixels become grey and are averaged over blocks of `factor` x `factor` px, which leaves at
    least 2 * WORK_SIDE px; Pillow's BOX filter (the average of the area each new pixel covers)
    then brings that to WORK_SIDE. An image of up to 2 * WORK_SIDE px is read in one piece.
    """
    factor = max(1, max(image.size) // (2 * WORK_SIDE))
    if factor == 1 and _opaque_8bit(image):
        # The usual photo, scan or drawing, opaque and small enough to read whole: the same
        # sums, all in Pillow (no alpha to carry), in an eighth of the time.
        try:
            grey = image.convert("L").convert("F")
            size = _work_size(*image.size)
            grey = grey if grey.size == size else grey.resize(size, Image.Resampling.BOX)
        except (OSError, ValueError) as error:
            raise ImageError(f"{name}: cannot read its pixels ({error})") from None
        return np.asarray(grey, np.float32) / np.float32(255.0)
    boxes = _tiles(image.size, factor * max(1, TILE // factor))
    try:
        full = _full_scale(image, boxes)
        rows = [np.concatenate([_block_mean(_grey_and_alpha(image.crop(box), full, name), factor)
                                for box in row], axis=2) for row in boxes]
    except (OSError, ValueError) as error:   # say, an image opened lazily that fails to decode
        raise ImageError(f"{name}: cannot read its pixels ({error})") from None
    levels, size = np.concatenate(rows, axis=1), _work_size(*image.size)
    if (levels.shape[2], levels.shape[1]) != size:
        levels = np.stack([np.asarray(Image.fromarray(channel).resize(size, Image.Resampling.BOX))
                           for channel in levels])
    grey_alpha, alpha = levels
    on_white = grey_alpha + (1.0 - alpha)
    return on_white if np.ptp(on_white) >= MIN_CONTRAST else grey_alpha


def _opaque_8bit(image: Image.Image) -> bool:
    """Whether every pixel is opaque, in a mode of 8 bits a channel: no transparency, or an
    alpha channel at 255 everywhere (a drawing exported from a canvas)."""
    if image.mode in ("RGBA", "LA"):
        return image.getchannel("A").getextrema() == (255, 255)
    return image.mode in OPAQUE_8BIT and "transparency" not in image.info


def _tiles(size: tuple, step: int) -> list:
    """The (left, top, right, bottom) boxes that cut an image into rows of step x step tiles."""
    width, height = size
    return [[(left, top, min(left + step, width), min(top + step, height))
             for left in range(0, width, step)] for top in range(0, height, step)]


def _full_scale(image: Image.Image, boxes: list):
    """The level that is white in a 16- or 32-bit grey or a float image: 1 for floats up to 1,
    255 for values up to 255, 65535 otherwise. None for the 8-bit modes."""
    if not (image.mode.startswith("I") or image.mode == "F"):
        return None
    top = max(np.asarray(image.crop(box)).max() for row in boxes for box in row)
    return 1.0 if image.mode == "F" and top <= 1 else 255.0 if top <= 255 else 65535.0


def _grey_and_alpha(tile: Image.Image, full, name: str) -> np.ndarray:
    """A tile -> float32 (2, h, w): its grey level times its alpha, and its alpha, in [0, 1]."""
    if full is not None:                                   # 16- and 32-bit grey, and float
        pixels = np.asarray(tile, dtype=np.float32)
        if not np.isfinite(pixels).all():
            raise ImageError(f"{name}: holds NaN or infinite pixel values")
        grey = np.clip(pixels / full, 0.0, 1.0)
    elif tile.mode == "LAB":                               # its L band is the lightness
        grey = np.asarray(tile.getchannel("L"), dtype=np.float32) / 255.0
    elif tile.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in tile.info:
        tile = tile.convert("LA") if tile.mode == "La" else tile   # Pillow has no La -> RGBA
        rgba = np.asarray(tile.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3]
        grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)   # as Pillow's "L"
        return np.stack([grey * alpha, alpha])
    else:
        grey = np.asarray(tile.convert("L"), dtype=np.float32) / 255.0
    return np.stack([grey, np.ones_like(grey)])


def _block_mean(levels: np.ndarray, factor: int) -> np.ndarray:
    """(c, h, w) -> the mean of each factor x factor block of each channel, by Pillow's `reduce`
    (the blocks at the right and bottom edges may be smaller)."""
    if factor == 1:
        return levels
    return np.stack([np.asarray(Image.fromarray(channel).reduce(factor)) for channel in levels])


def _ink_light(grey: np.ndarray) -> np.ndarray:
    """Invert the image if its background (the median border pixel) is the lighter side.

    "Lighter side" means above the middle of the image's own range (its 0.1% and 99.9% levels),
    so dark ink on grey paper is recognised as well as dark ink on white. Ink on under 0.1% of
    the pixels (a dot, a fine pen on a large page) leaves that range empty: then it is the full
    range, from the darkest pixel to the lightest.
    """
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    levels = sample(grey)
    low, high = quantile(levels, 0.001), quantile(levels, 0.999)
    if high - low < MIN_CONTRAST:
        low, high = float(grey.min()), float(grey.max())
    return 1.0 - grey if quantile(border, 0.5) > (low + high) / 2 else grey


def crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """The ink's bounding box: that of the pixels above EDGE times the brightest, so that a faint
    halo of blur around the strokes (a few pixels of a large image) does not make the digit
    smaller; MNIST's box was that of the sharp digit before anti-aliasing."""
    inside = ink > EDGE * ink.max()
    rows = np.flatnonzero(inside.any(axis=1))
    cols = np.flatnonzero(inside.any(axis=0))
    return ink[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]


def smallest_mark(shape: tuple) -> int:
    """The fewest px a digit spans in an image of `shape` (`_dot_problem`): MIN_MARK, or
    MARK_SHARE of its longest side."""
    return max(MIN_MARK, int(np.ceil(MARK_SHARE * max(shape))))


def _dot_problem(crop: np.ndarray, shape: tuple, px: float):
    """Why the ink's box `crop` of an image of `shape` is a dot rather than a digit, or None.

    Scaled to MNIST's 20-px box, a mark spanning under MIN_MARK px would be magnified more than
    four times: a speck of dust or a stray pixel would come out as a bold 0. On a large page,
    where a digit spans a few percent of the width or more, a mark under MARK_SHARE of its
    longest side is dust too (MNIST's digits span 14-20 px of 28, photos' 15% or more of the
    page). `px` is one pixel here in the user's image's pixels (over 1 if it was shrunk).
    """
    need = smallest_mark(shape)
    if max(crop.shape) >= need:
        return None
    height, width = (round(side * px) for side in crop.shape)
    return (f"the only mark is a dot of {'' if px == 1 else 'about '}{width}x{height} px; a digit "
            f"spans at least {round(need * px)} px here")


def _fit_box(crop: np.ndarray) -> np.ndarray:
    """Resize the ink's box so that its longest side is BOX px, keeping the aspect.

    Strokes too thin or too bold for MNIST are brought to its width first (`_mnist_strokes`).
    Pillow's BOX filter averages the area each new pixel covers, which is what anti-aliasing a
    drawing onto a coarser grid means; a box already the right size is kept as is.
    """
    crop = _mnist_strokes(crop)
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return crop
    return np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BOX))


def _mnist_strokes(crop: np.ndarray) -> np.ndarray:
    """Widen strokes that would be thinner than nearly all of MNIST's once scaled to the box, and
    thin those that would be bolder than nearly all.

    A stroke of width w and length l has area w * l and outline 2 * l, so w = 2 * area / outline;
    with grey levels, area is the sum of the ink and outline its total variation (the sum of
    absolute differences between neighbours). Measured so, MNIST strokes are 1.1 px wide at
    their 1st percentile, 1.85 px at their median, 2.6 px at their 90th and 3.4 px at their
    99th. A digit drawn with a fine pen on a large canvas comes out far thinner (0.3 px for a
    3 px pen on a 200 px digit), one drawn with a thick marker bolder (3.4 px and more), and
    neither is an MNIST-like digit: below THIN px its strokes are grown to about TYPICAL px, above
    THICK px thinned to BOLD_TO px, by a grey dilation or erosion (the maximum or minimum over
    a disc) at the crop's own resolution, before the anti-aliased shrinking.
    """
    padded = pad(crop, 1)
    outline = np.abs(np.diff(padded, axis=0)).sum() + np.abs(np.diff(padded, axis=1)).sum()
    scale = BOX / max(crop.shape)
    stroke = 2 * crop.sum() / outline * scale     # stroke width in pixels of the 20-px box
    if THIN <= stroke <= THICK:
        return crop
    # Each side grows or shrinks by half the width to gain or lose.
    radius = ((TYPICAL - stroke) if stroke < THIN else (stroke - BOLD_TO)) / 2 / scale
    reach = int(np.ceil(radius))
    dy, dx = np.ogrid[-reach: reach + 1, -reach: reach + 1]
    disc = dy * dy + dx * dx <= radius * radius
    if stroke < THIN:
        return _morphology(pad(crop, reach), disc, np.maximum)
    return _morphology(crop, disc, np.minimum)


def _morphology(image: np.ndarray, footprint: np.ndarray, combine) -> np.ndarray:
    """Grey dilation (`combine` np.maximum) or erosion (np.minimum): each pixel becomes the
    maximum or minimum of the pixels under the footprint, an odd-sized square boolean array
    centred on it; outside the image counts as 0."""
    height, width = image.shape
    padded = pad(image, footprint.shape[0] // 2)
    out = image.copy()
    for dy, dx in zip(*np.nonzero(footprint)):
        combine(out, padded[dy: dy + height, dx: dx + width], out=out)
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
