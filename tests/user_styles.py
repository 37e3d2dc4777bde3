"""Re-draw MNIST digits the way people's own images of digits look.

Each style takes one 28x28 uint8 MNIST digit (light ink on black) and a numpy Generator, and
returns a PIL image as a user would hand it to `evaluate.py`:

- `photo`: dark ink on a large sheet of white paper, scaled up, off-centre, slightly rotated,
  under uneven light, with sensor noise, saved as a JPEG (optionally on ruled paper);
- `rgba`: an RGBA export whose colour is black everywhere and whose alpha channel carries the
  ink, so the background is transparent black;
- `white_on_black`: light ink on a larger black canvas, scaled up and off-centre, as a PNG;
- `marker`: dark ink on white drawn with a thick felt marker, strokes about twice MNIST's width.

The images are decoded from bytes in memory, so they carry exactly what a file would.
"""
import io

import numpy as np
from PIL import Image, ImageFilter


def _enlarge(digit: np.ndarray, rng: np.random.Generator, scales, max_degrees: float) -> np.ndarray:
    """The digit as float ink in [0, 1], scaled up by a random factor and rotated a little."""
    scale = rng.uniform(*scales)
    side = round(28 * scale)
    ink = Image.fromarray(digit.astype(np.float32) / 255.0).resize((side, side), Image.Resampling.BICUBIC)
    ink = ink.rotate(rng.uniform(-max_degrees, max_degrees), Image.Resampling.BICUBIC, expand=True)
    return np.clip(np.asarray(ink), 0.0, 1.0)


def _place(ink: np.ndarray, canvas_side: int, rng: np.random.Generator) -> np.ndarray:
    """Paste the ink at a random position of a square black canvas (off-centre, fully inside)."""
    canvas = np.zeros((canvas_side, canvas_side), np.float32)
    top = rng.integers(0, canvas_side - ink.shape[0] + 1)
    left = rng.integers(0, canvas_side - ink.shape[1] + 1)
    canvas[top: top + ink.shape[0], left: left + ink.shape[1]] = ink
    return canvas


def round_trip(image: Image.Image, format: str, **options) -> Image.Image:
    """Save to bytes in the given format and read back, as a file on disk would be."""
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    buffer.seek(0)
    loaded = Image.open(buffer)
    loaded.load()
    return loaded


def photo(digit: np.ndarray, rng: np.random.Generator, ruled: bool = False) -> Image.Image:
    """A JPEG photo of the digit written in dark ink on white paper.

    200-400 px canvas, digit scaled 4-10x (and kept inside), rotated up to 8 degrees, paper
    brightness 0.75-0.95 with a linear light gradient of up to 0.15 across the sheet, a slightly
    warm paper tint, ink at 0.05-0.25, Gaussian noise of 2% and JPEG quality 75-90. With
    `ruled`, faint horizontal lines (contrast 0.1) every 30 px, like a school notebook.
    """
    side = int(rng.integers(200, 401))
    ink = _enlarge(digit, rng, (4.0, min(10.0, 0.85 * side / 28 / 1.2)), 8.0)
    ink = _place(ink, side, rng)
    rows, cols = np.mgrid[0:side, 0:side] / side - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    light = rng.uniform(0.75, 0.95) + rng.uniform(0, 0.15) * (np.cos(angle) * cols + np.sin(angle) * rows)
    paper = light[..., None] * np.array([1.0, 0.97, 0.92])             # slightly warm paper
    if ruled:
        paper[(np.arange(side) % 30) < 2] -= 0.1
    ink_level = rng.uniform(0.05, 0.25)
    pixels = paper * (1 - ink[..., None]) + ink_level * ink[..., None]
    pixels += rng.normal(0.0, 0.02, pixels.shape)
    rgb = Image.fromarray(np.clip(pixels * 255 + 0.5, 0, 255).astype(np.uint8))
    return round_trip(rgb, "JPEG", quality=int(rng.integers(75, 91)))


def rgba(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """An RGBA PNG: black RGB everywhere, the ink in the alpha channel.

    100-200 px canvas, digit scaled 2-5x (kept inside), rotated up to 5 degrees, off-centre.
    Shown on a white page it is dark ink; its "background" is transparent black.
    """
    side = int(rng.integers(100, 201))
    ink = _place(_enlarge(digit, rng, (2.0, min(5.0, 0.8 * side / 28 / 1.2)), 5.0), side, rng)
    pixels = np.zeros((side, side, 4), np.uint8)
    pixels[..., 3] = np.round(ink * 255).astype(np.uint8)
    return round_trip(Image.fromarray(pixels), "PNG")


def white_on_black(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A grey PNG of light ink on a black canvas of 100-300 px, digit scaled 2-6x, off-centre."""
    side = int(rng.integers(100, 301))
    ink = _place(_enlarge(digit, rng, (2.0, min(6.0, 0.8 * side / 28 / 1.2)), 5.0), side, rng)
    return round_trip(Image.fromarray(np.round(ink * 255).astype(np.uint8)), "PNG")


def marker(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A grey PNG of dark ink on a white canvas of 200-300 px, the digit scaled 4-7x and its
    strokes grown by 0.8-1.2 MNIST pixels on each side (the maximum over a square), as a thick
    felt marker draws: about twice MNIST's median stroke width."""
    side = int(rng.integers(200, 301))
    scale = rng.uniform(4.0, min(7.0, 0.75 * side / 28 / 1.2))
    ink = _enlarge(digit, rng, (scale, scale), 5.0)
    grow = 2 * round(rng.uniform(0.8, 1.2) * scale) + 1
    bold = Image.fromarray(np.round(ink * 255).astype(np.uint8)).filter(ImageFilter.MaxFilter(grow))
    ink = _place(np.asarray(bold, np.float32) / 255.0, side, rng)
    return round_trip(Image.fromarray(np.round(255 * (1 - ink)).astype(np.uint8)), "PNG")


STYLES = {"photo": photo, "rgba": rgba, "white_on_black": white_on_black, "marker": marker}
