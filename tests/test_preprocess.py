"""Preprocessing of people's images: MNIST digits re-drawn as users draw them come back close to
the original; MNIST-form digits pass through; every format opens; every bad input is one
`ImageError` naming the file.

The closeness measure is the mean absolute pixel difference (MAD) between the preprocessed
28x28 and the original MNIST digit, both scaled to [0, 1]. For scale: two unrelated MNIST test
digits differ by about 0.157; the three styles below come back at 0.037-0.041 (most of that is
the re-drawing's own rotation and re-sampling), MNIST-form digits at 0.001.
"""
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw
from user_styles import STYLES, photo

from reader.errors import ImageError
from reader.ink import _label, _otsu, near, quantile
from reader.preprocess import open_image, preprocess


def mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 images, in units of full scale."""
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean() / 255.0)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


@pytest.fixture(scope="module")
def digits(mnist_data):
    """The first 200 MNIST test digits, uint8 (200, 28, 28)."""
    return mnist_data.test_images[:200]


def test_mnist_form_digits_pass_through_essentially_unchanged(mnist_data):
    originals = mnist_data.test_images[:1000]
    outputs = [preprocess(Image.fromarray(digit)) for digit in originals]
    differences = np.array([mad(out, digit) for out, digit in zip(outputs, originals)])
    assert all(out.shape == (28, 28) and out.dtype == np.uint8 for out in outputs)
    assert differences.mean() < 0.002                   # measured: 0.0010
    assert np.quantile(differences, 0.95) < 0.002       # most change by a rounding at most
    assert np.mean([np.array_equal(o, d) for o, d in zip(outputs, originals)]) > 0.5


@pytest.mark.parametrize("style", sorted(set(STYLES) - {"marker"}))   # those that disguise only
def test_user_styles_come_back_close_to_the_original(style, digits):
    rng = np.random.default_rng(2024)
    outputs = np.array([preprocess(STYLES[style](digit, rng)) for digit in digits])
    differences = np.array([mad(out, digit) for out, digit in zip(outputs, digits)])
    correlations = np.array([correlation(out, digit) for out, digit in zip(outputs, digits)])
    assert differences.mean() < 0.05            # measured 0.037-0.041; unrelated digits: 0.157
    assert correlations.mean() > 0.87           # measured 0.89-0.91
    # Each output is nearer its own original than almost any of the 199 other digits.
    table = np.abs(outputs[:, None].astype(np.float32) - digits[None]).mean(axis=(2, 3))
    assert np.mean(table.argmin(axis=1) == np.arange(len(digits))) > 0.8   # measured 0.88-0.94


def test_a_thick_markers_strokes_are_thinned_to_mnists(digits):
    """Digits drawn with a thick marker (strokes about twice MNIST's width) come back nearer
    their originals once their strokes are thinned (measured: 0.072 of full scale on average;
    0.085 when they were not)."""
    rng = np.random.default_rng(2024)
    outputs = np.array([preprocess(STYLES["marker"](digit, rng)) for digit in digits])
    assert np.mean([mad(out, digit) for out, digit in zip(outputs, digits)]) < 0.078


def test_photo_on_ruled_paper_loses_the_lines(digits):
    """The same photos (same seed, so the same placement, light and noise) with and without
    faint ruled lines preprocess to nearly the same 28x28s."""
    ruled, plain = np.random.default_rng(7), np.random.default_rng(7)
    differences = [mad(preprocess(photo(digit, ruled, ruled=True)), preprocess(photo(digit, plain)))
                   for digit in digits[:100]]
    assert np.mean(differences) < 0.015    # measured 0.009


def test_light_digit_on_transparent_background_is_kept(digits):
    """White ink whose alpha carries the digit would vanish on white paper: black is used."""
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3] = digits[0]
    assert mad(preprocess(Image.fromarray(rgba)), digits[0]) < 0.01


def test_dark_ink_on_grey_paper_is_inverted(digits):
    grey = (0.45 - 0.35 * digits[0] / 255.0) * 255     # paper 0.45, ink 0.10: both darkish
    out = preprocess(Image.fromarray(np.round(grey).astype(np.uint8)))
    assert mad(out, digits[0]) < 0.01


def test_a_speck_far_from_the_digit_is_ignored(digits):
    canvas = np.full((200, 200), 255, np.uint8)
    canvas[40:152, 40:152] = 255 - np.asarray(Image.fromarray(digits[0]).resize((112, 112)))
    canvas[190:193, 5:8] = 0                                     # a 3x3 speck of dust
    with_speck = preprocess(Image.fromarray(canvas))
    canvas[190:193, 5:8] = 255
    assert np.array_equal(with_speck, preprocess(Image.fromarray(canvas)))


def test_ink_on_under_a_thousandth_of_the_page_is_still_the_ink():
    """A 1 drawn 3 px wide and 200 px tall on a 2000x2000 page: shrunk to 512 px it covers 0.02%
    of the pixels, so the 0.1% level is paper too; the page must still count as the paper (it
    used to come out as a filled square: the whole page taken for ink)."""
    page = Image.new("L", (2000, 2000), 255)
    ImageDraw.Draw(page).line([(1000, 900), (1000, 1100)], fill=0, width=3)
    rows, cols = np.nonzero(preprocess(page) > 128)
    assert rows.max() - rows.min() >= 17 and cols.max() - cols.min() <= 3     # a bar: 19 x 2


@pytest.mark.parametrize("pixels", [np.full((50, 80), 255), np.zeros((28, 28)), np.full((9, 9), 128)])
def test_blank_image_has_no_digit(pixels):
    with pytest.raises(ImageError, match=r"^blank.png: no digit found$"):
        preprocess(Image.fromarray(pixels.astype(np.uint8)), "blank.png")


def test_photo_of_blank_paper_has_no_digit():
    rng = np.random.default_rng(3)
    blank = photo(np.zeros((28, 28), np.uint8), rng)
    with pytest.raises(ImageError, match="no digit found"):
        preprocess(blank, "page.jpg")


# --- The helpers written for speed compute what their slower textbook forms do ---------------

def test_quantile_is_numpys():
    rng = np.random.default_rng(0)
    for size in [1, 2, 7, 784, 10_001]:
        values = rng.random(size).astype(np.float32)
        for q in [0.0, 0.001, 0.5, 0.9, 0.999, 1.0]:
            assert quantile(values, q) == pytest.approx(float(np.quantile(values, q)), rel=1e-6)


def test_near_is_the_5x5_neighbourhood_and_label_counts_blobs():
    mask = np.random.default_rng(1).random((30, 41)) > 0.97
    reference = np.zeros_like(mask)
    for row, col in zip(*np.nonzero(mask)):
        reference[max(row - 2, 0): row + 3, max(col - 2, 0): col + 3] = True
    assert np.array_equal(near(mask), reference)
    grid = np.zeros((6, 6), bool)
    grid[0, 0] = grid[1, 1] = grid[2, 2] = True                 # diagonal: one blob
    grid[0, 4:] = grid[5, 5] = True                             # two more
    labels = _label(grid)
    assert labels.max() == 3 and len({labels[0, 0], labels[2, 2]}) == 1
    assert np.array_equal(labels > 0, grid)


def test_otsu_separates_two_levels():
    noise = np.random.default_rng(2).normal(0, 0.01, 400)
    values = (np.r_[np.full(300, 0.1), np.full(100, 0.8)] + noise).astype(np.float32)
    threshold = _otsu(values)
    assert values[:300].max() <= threshold < values[300:].min()
    assert _otsu(np.full(9, 0.5, np.float32)) == 0.5


# --- Formats -----------------------------------------------------------------------------------

def _drawn(digit: np.ndarray) -> Image.Image:
    """Dark ink on a white 140x140 page, the digit scaled 4x and off-centre: RGB."""
    page = np.full((140, 140), 255, np.uint8)
    big = np.asarray(Image.fromarray(digit).resize((112, 112), Image.Resampling.BICUBIC))
    page[20:132, 8:120] = 255 - big
    return Image.fromarray(page).convert("RGB")


def _save_rgba(image, path):
    """The classic export: RGB black everywhere, the ink in the alpha channel."""
    rgba = np.zeros((image.height, image.width, 4), np.uint8)
    rgba[..., 3] = 255 - np.asarray(image.convert("L"))
    Image.fromarray(rgba).save(path)


def _save_transparent_palette(image, path):
    """A 16-colour palette PNG whose paper colour is marked transparent."""
    paletted = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    paletted.save(path, transparency=paletted.getpixel((0, 0)))


def _save_16_bit(image, path):
    grey = np.asarray(image.convert("L")).astype(np.uint16) * 257
    Image.fromarray(grey).save(path)                   # mode I;16: a 16-bit greyscale PNG


def _save_gif_with_two_frames(image, path):
    other = Image.new("RGB", image.size, "white")      # the second frame is blank
    image.save(path, save_all=True, append_images=[other])


def _save_exif_rotated(image, path):
    exif = Image.Exif()
    exif[0x0112] = 6                                   # "rotate 90 degrees clockwise to view"
    image.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif.tobytes(), quality=95)


SAVERS = {
    "grey.png": lambda image, path: image.convert("L").save(path),
    "sixteen.png": _save_16_bit,
    "palette.png": lambda image, path: image.convert("P", palette=Image.Palette.ADAPTIVE).save(path),
    "transparent_palette.png": _save_transparent_palette,
    "rgba.png": _save_rgba,
    "la.png": lambda image, path: image.convert("LA").save(path),
    "photo.jpg": lambda image, path: image.save(path, quality=85),
    "cmyk.jpg": lambda image, path: image.convert("CMYK").save(path, quality=90),
    "frames.gif": _save_gif_with_two_frames,
    "bitmap.bmp": lambda image, path: image.save(path),
    "scan.tiff": lambda image, path: image.save(path, compression="tiff_lzw"),
    "web.webp": lambda image, path: image.save(path, quality=90),
    "rotated.jpg": _save_exif_rotated,
}


@pytest.mark.parametrize("name", sorted(SAVERS))
def test_every_format_opens_and_comes_back_close(name, digits, tmp_path):
    drawn = _drawn(digits[0])
    path = tmp_path / name
    SAVERS[name](drawn, path)
    out = preprocess(open_image(path), str(path))
    reference = preprocess(drawn)
    assert mad(out, reference) < 0.02, "differs from the same drawing read from memory"
    assert mad(out, digits[0]) < 0.06


def test_sixteen_bit_png_really_is_sixteen_bit(digits, tmp_path):
    _save_16_bit(_drawn(digits[0]), tmp_path / "deep.png")
    assert open_image(tmp_path / "deep.png").mode.startswith("I")


def test_exif_orientation_is_applied(digits, tmp_path):
    _save_exif_rotated(_drawn(digits[0]), tmp_path / "rotated.jpg")
    with Image.open(tmp_path / "rotated.jpg") as raw:    # without the EXIF turn it is sideways
        sideways = preprocess(raw.convert("RGB"))
    upright = preprocess(open_image(tmp_path / "rotated.jpg"))
    assert mad(upright, digits[0]) < 0.06 < mad(sideways, digits[0])


# --- Bad input ---------------------------------------------------------------------------------

def _encoded(format: str, digits) -> bytes:
    buffer = io.BytesIO()
    _drawn(digits[0]).save(buffer, format=format)
    return buffer.getvalue()


def _expect_error(path, pattern):
    with pytest.raises(ImageError) as caught:
        open_image(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert pattern in message


def test_missing_file(tmp_path):
    _expect_error(tmp_path / "nothing.png", "no such file")


def test_directory(tmp_path):
    _expect_error(tmp_path, "is a directory")


def test_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    _expect_error(tmp_path / "empty.png", "empty file")


def test_not_an_image(tmp_path):
    (tmp_path / "notes.png").write_text("this is a shopping list, not a digit\n")
    _expect_error(tmp_path / "notes.png", "not an image")


@pytest.mark.parametrize("format, suffix", [("PNG", "png"), ("JPEG", "jpg")])
def test_truncated_image(format, suffix, digits, tmp_path):
    data = _encoded(format, digits)
    path = tmp_path / f"cut.{suffix}"
    path.write_bytes(data[: len(data) // 2])
    _expect_error(path, "truncated or corrupt")


@pytest.mark.parametrize("side", [100, 40])   # 10,000 px: over twice the limit; 1,600: the warning
def test_decompression_bomb(side, tmp_path, monkeypatch):
    Image.new("L", (side, side), 255).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    _expect_error(tmp_path / "bomb.png", "image too large")


def test_a_fine_pen_on_a_large_canvas_is_thickened_to_mnist_strokes():
    """A 7 drawn 3 px wide, 200 px tall, would shrink to strokes 0.3 px wide and faint; it comes
    out with about as much ink as the same 7 drawn with a felt-tip 20 px wide."""
    def seven(pen):
        page = Image.new("L", (280, 280), 255)
        ImageDraw.Draw(page).line([(60, 40), (220, 40), (120, 240)], fill=0, width=pen, joint="curve")
        return preprocess(page)
    thin, thick = seven(3), seven(20)
    assert thin.sum() > 0.6 * thick.sum()
    assert np.count_nonzero(thin > 128) > 0.6 * np.count_nonzero(thick > 128)
