"""Write the example digit images in examples/, one per digit, each in a style people's images come in.

    python examples/make_examples.py        # rewrites examples/*.{png,jpg,gif,bmp,webp,tiff}

The digits are drawn here with Pillow's ImageDraw, pen strokes through points of a unit box, so
the script needs neither the MNIST files nor a font and gives the same images everywhere. The
file name says the true digit and the style, e.g. `two_photo.jpg`:

    zero_transparent.png       RGBA: black colour everywhere, the ink in the alpha channel
    one_white_on_black.png     light ink on a black canvas, off-centre
    two_photo.jpg              dark ink on paper under uneven light, sensor noise, JPEG
    three_16bit.png            16-bit greyscale PNG
    four_palette.gif           palette (indexed-colour) GIF
    five_ruled_paper.jpg       blue ballpoint on ruled notebook paper, JPEG
    six_thin_pen.bmp           1-bit BMP drawn with a 3-pixel pen, like a paint program
    seven_exif_rotated.jpg     a JPEG stored sideways, with the EXIF tag that turns it upright
    eight_thick_marker.webp    thick felt-tip strokes, WebP
    nine_pencil.tiff           pale pencil on grey paper, TIFF
"""
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent


def arc(cx, cy, rx, ry, start, end, steps=32):
    """Points along an ellipse from angle `start` to `end` (degrees, 0 = right, 90 = down)."""
    angles = np.deg2rad(np.linspace(start, end, steps))
    return list(zip(cx + rx * np.cos(angles), cy + ry * np.sin(angles)))


# Each digit: a list of pen strokes, each a list of (x, y) points in a unit box, y downwards.
STROKES = {
    0: [arc(0.5, 0.5, 0.3, 0.45, -90, 275)],
    1: [[(0.56, 0.05), (0.46, 0.95)]],
    2: [arc(0.5, 0.3, 0.27, 0.25, 195, 370) + [(0.22, 0.93), (0.82, 0.93)]],
    3: [arc(0.47, 0.28, 0.25, 0.22, 210, 450) + arc(0.47, 0.71, 0.29, 0.24, 270, 520)],
    4: [[(0.62, 0.05), (0.18, 0.65), (0.85, 0.65)], [(0.66, 0.32), (0.64, 0.95)]],
    5: [[(0.78, 0.06), (0.32, 0.06), (0.27, 0.46)] + arc(0.5, 0.68, 0.29, 0.26, 220, 510)],
    6: [arc(0.8, 0.62, 0.52, 0.58, 245, 180) + arc(0.5, 0.7, 0.22, 0.23, 180, 540)],
    7: [[(0.18, 0.07), (0.82, 0.07), (0.42, 0.95)]],
    8: [arc(0.5, 0.27, 0.21, 0.21, 0, 360), arc(0.5, 0.71, 0.25, 0.24, 0, 360)],
    9: [arc(0.5, 0.3, 0.25, 0.23, 0, 360), [(0.75, 0.3), (0.68, 0.95)]],
}
NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def ink(digit, canvas, height, left, top, pen, degrees=0.0):
    """float32 ink coverage in [0, 1] of a canvas (width, height): the digit drawn `height` px
    tall at (left, top) with a round pen `pen` px wide, turned `degrees` about its middle.

    Drawn at 4x the size and reduced, so the edges are anti-aliased like a photo's.
    """
    big = Image.new("L", (canvas[0] * 4, canvas[1] * 4), 0)
    draw = ImageDraw.Draw(big)
    radius = pen * 2
    for stroke in STROKES[digit]:
        points = [((left + x * height) * 4, (top + y * height) * 4) for x, y in stroke]
        draw.line(points, fill=255, width=pen * 4, joint="curve")
        for x, y in (points[0], points[-1]):                   # round pen ends
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=255)
    middle = ((left + height / 2) * 4, (top + height / 2) * 4)
    big = big.rotate(degrees, Image.Resampling.BICUBIC, center=middle)
    return np.asarray(big.reduce(4), dtype=np.float32) / 255.0


def on_paper(coverage, paper, ink_colour):
    """Mix a paper image (H, W, 3) and an ink colour (3,) by the coverage: uint8 RGB."""
    mixed = paper * (1 - coverage[..., None]) + np.asarray(ink_colour, np.float32) * coverage[..., None]
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def lit_paper(width, height, rng, colour=(245, 240, 228)):
    """Paper lit unevenly (brighter towards one corner) with a little sensor noise: float (H, W, 3)."""
    rows, cols = np.mgrid[0:height, 0:width]
    light = 0.78 + 0.2 * (cols / width + rows / height) / 2
    noise = rng.normal(0.0, 3.0, (height, width, 1))
    return light[..., None] * np.asarray(colour, np.float32) + noise


def main():
    rng = np.random.default_rng(2024)
    written = {}

    coverage = ink(0, (160, 160), 100, 40, 35, 10, degrees=4)
    rgba = np.zeros((160, 160, 4), np.uint8)
    rgba[..., 3] = np.round(coverage * 255).astype(np.uint8)
    written["zero_transparent.png"] = Image.fromarray(rgba)

    coverage = ink(1, (200, 200), 110, 30, 60, 11, degrees=-6)
    written["one_white_on_black.png"] = Image.fromarray(np.round(coverage * 255).astype(np.uint8))

    coverage = ink(2, (320, 240), 150, 140, 50, 13, degrees=5)
    written["two_photo.jpg"] = Image.fromarray(on_paper(coverage, lit_paper(320, 240, rng), (40, 38, 45)))

    coverage = ink(3, (180, 180), 130, 30, 25, 12, degrees=-3)
    written["three_16bit.png"] = Image.fromarray(np.round((1 - 0.9 * coverage) * 65535).astype(np.uint16))

    coverage = ink(4, (160, 160), 120, 20, 20, 12)
    page = on_paper(coverage, np.full((160, 160, 3), 250, np.float32), (20, 20, 20))
    written["four_palette.gif"] = Image.fromarray(page).convert("P", palette=Image.Palette.ADAPTIVE,
                                                                colors=16)

    paper = lit_paper(280, 280, rng)
    paper[(np.arange(280) % 28) < 2] -= (60, 40, 10)                 # faint blue ruled lines
    coverage = ink(5, (280, 280), 150, 70, 60, 9, degrees=7)
    written["five_ruled_paper.jpg"] = Image.fromarray(on_paper(coverage, paper, (30, 45, 140)))

    coverage = ink(6, (280, 280), 200, 40, 40, 3)
    written["six_thin_pen.bmp"] = Image.fromarray(coverage < 0.5).convert("1")

    coverage = ink(7, (240, 300), 160, 50, 90, 14, degrees=-4)
    upright = Image.fromarray(on_paper(coverage, lit_paper(240, 300, rng), (25, 25, 30)))
    written["seven_exif_rotated.jpg"] = upright.transpose(Image.Transpose.ROTATE_90)   # stored sideways

    coverage = ink(8, (200, 200), 150, 30, 25, 26)
    paper = np.full((200, 200, 3), 252.0)
    written["eight_thick_marker.webp"] = Image.fromarray(on_paper(coverage, paper, (10, 10, 10)))

    coverage = ink(9, (200, 200), 140, 35, 30, 6, degrees=3)
    pencil = 205 - 75 * coverage + rng.normal(0.0, 4.0, coverage.shape)
    written["nine_pencil.tiff"] = Image.fromarray(np.clip(pencil, 0, 255).astype(np.uint8))

    for name, image in written.items():
        path = HERE / name
        if name.endswith(".jpg"):
            exif = Image.Exif()
            if "exif" in name:
                exif[0x0112] = 6       # Orientation: rotate 90 degrees clockwise to view
            image.save(path, quality=80, exif=exif.tobytes())
        elif name.endswith(".webp"):
            image.save(path, quality=80)
        elif name.endswith(".tiff"):
            image.save(path, compression="tiff_adobe_deflate")
        else:
            image.save(path)
        print(f"{path.relative_to(HERE.parent)}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
