"""Draw pictures of whole numbers from MNIST digits, the way people's pictures of numbers look.

`number(digits, rng, kind, style)` takes a list of 28x28 uint8 MNIST digits (light on black) and
returns (a PIL image decoded from the bytes of its file, the boxes [x, y, width, height] where
each digit's ink was put). Every digit gets its own height (0.85-1.15 of the line's), a jittered
baseline (up to 6% of the height) and the whole line a slope of up to 4 degrees. The gaps:

- `clear`: 25-60% of the height;
- `nearly`: 0-8% of the height (nearly touching);
- `touching`: neighbours' boxes overlap by 2-6% of the height.

The styles, as in tests/user_styles.py: `dark_on_white` (a grey PNG), `photo` (a JPEG of dark
ink on paper under uneven light, with noise), `ruled` (the photo on ruled paper) and
`light_on_dark` (light chalk on a dark board, a PNG with noise).
"""
import numpy as np
from PIL import Image
from user_styles import round_trip

KINDS = {"clear": (0.25, 0.6), "nearly": (0.0, 0.08), "touching": (-0.06, -0.02)}
STYLES = ("dark_on_white", "photo", "ruled", "light_on_dark")


def _scaled(digit: np.ndarray, height: int) -> np.ndarray:
    """The digit's ink box, scaled to `height` px (its aspect kept), as float ink in [0, 1]."""
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    box = digit[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1].astype(np.float32) / 255.0
    width = max(1, round(box.shape[1] * height / box.shape[0]))
    return np.clip(np.asarray(Image.fromarray(box).resize((width, height), Image.Resampling.BICUBIC)), 0, 1)


def line(digits: list, rng: np.random.Generator, kind: str) -> tuple:
    """-> (float ink in [0, 1] on a black canvas, the digits' boxes [x, y, width, height])."""
    height = int(rng.integers(50, 110))
    low, high = KINDS[kind]
    inks = [_scaled(d, round(height * rng.uniform(0.85, 1.15))) for d in digits]
    margin = height
    width = 2 * margin + sum(ink.shape[1] for ink in inks) + int(2 * height * len(inks))
    canvas = np.zeros((3 * height + 2 * margin, width), np.float32)
    slope = np.tan(np.radians(rng.uniform(-4, 4)))
    x, boxes = margin, []
    for ink in inks:
        baseline = 2 * height + margin + slope * (x - margin) + rng.uniform(-0.06, 0.06) * height
        top = int(round(baseline - ink.shape[0]))
        region = canvas[top: top + ink.shape[0], x: x + ink.shape[1]]
        np.maximum(region, ink, out=region)
        boxes.append([x, top, ink.shape[1], ink.shape[0]])
        x += ink.shape[1] + int(round(rng.uniform(low, high) * height))
    rows = np.flatnonzero(canvas.any(axis=1))
    top, bottom = max(0, rows[0] - height // 2), rows[-1] + height // 2
    right = x + height // 2
    boxes = [[bx - margin // 2, by - top, bw, bh] for bx, by, bw, bh in boxes]
    return canvas[top:bottom, margin // 2: right], boxes


def render(ink: np.ndarray, rng: np.random.Generator, style: str) -> Image.Image:
    """Float ink on black -> the picture in one of the STYLES."""
    if style == "dark_on_white":
        return round_trip(Image.fromarray(np.round(255 * (1 - ink)).astype(np.uint8)), "PNG")
    if style == "light_on_dark":
        board = rng.uniform(0.1, 0.25)
        pixels = board + (rng.uniform(0.75, 0.95) - board) * ink + rng.normal(0, 0.02, ink.shape)
        return round_trip(Image.fromarray(np.clip(pixels * 255 + 0.5, 0, 255).astype(np.uint8)), "PNG")
    rows, cols = np.mgrid[0:ink.shape[0], 0:ink.shape[1]] / max(ink.shape) - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    light = rng.uniform(0.75, 0.95) + rng.uniform(0, 0.15) * (np.cos(angle) * cols + np.sin(angle) * rows)
    paper = light[..., None] * np.array([1.0, 0.97, 0.92])
    if style == "ruled":
        paper[(np.arange(ink.shape[0]) % 30) < 2] -= 0.1
    level = rng.uniform(0.05, 0.25)
    pixels = paper * (1 - ink[..., None]) + level * ink[..., None] + rng.normal(0, 0.02, paper.shape)
    rgb = Image.fromarray(np.clip(pixels * 255 + 0.5, 0, 255).astype(np.uint8))
    return round_trip(rgb, "JPEG", quality=int(rng.integers(75, 91)))


def number(digits: list, rng: np.random.Generator, kind: str, style: str) -> tuple:
    """-> (the PIL picture of the digits as a number, their boxes [x, y, width, height])."""
    ink, boxes = line(digits, rng, kind)
    return render(ink, rng, style), boxes
