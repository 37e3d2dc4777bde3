"""Hostile images: whatever a user hands `evaluate.py`, reading and preprocessing it gives a uint8
28x28 digit or one `ImageError` that names the image and says why, never another exception, and
never more than about 1 GB of memory.

The property tests feed `open_image` and `preprocess` images of every Pillow mode, 1 to 3,000 px a
side (most of them small), holding strokes, noise, constants or extreme values (NaN, infinities,
the type's minimum and maximum), both as PIL images and saved in every format Pillow writes
them in; TIFF files with any bit depth, sample format and colour space, written byte by byte;
and valid files with bytes flipped or cut off. The explicit tests check that every mode reads
as the same digit (ink in the alpha channel too), pin the message of each kind of degenerate
image, and measure the peak memory of a 9400x9400 RGBA PNG in a fresh process.
"""
import io
import re
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from reader.errors import ImageError
from reader.preprocess import _to_grey, _work_size, full_size, open_image, preprocess

REPO = Path(__file__).resolve().parent.parent
HOSTILE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
FORMATS = ["PNG", "TIFF", "JPEG", "BMP", "GIF", "WEBP"]
RAW = {"F": "<f4", "I": "<i4", "I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2", "I;16N": "=u2"}
TOP = {"F": 1.0, "I": 65535.0, "I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0,
       "I;16N": 65535.0}
EXTREMES = {"F": [np.nan, np.inf, -np.inf, 3e38, -3e38, 1e-45],
            "I": [-2**31, 2**31 - 1], "I;16": [0, 65535]}


def digit_or_error(read, name):
    """Run `read()`; it must return a uint8 (28, 28) array or raise a one-line ImageError that
    starts with the image's name. Returns the array, or None for an error."""
    try:
        digit = read()
    except ImageError as error:
        assert str(error).startswith(f"{name}: ") and "\n" not in str(error), str(error)
        # What was refused, for pytest --hypothesis-show-statistics:
        event(re.sub(r"\d+", "N", str(error)[len(name) + 2:].split(" (")[0]))
        return None
    assert isinstance(digit, np.ndarray) and digit.shape == (28, 28) and digit.dtype == np.uint8
    event("a digit")
    return digit


# --- Every mode, size, content and format ------------------------------------------------------

def _levels(kind: str, size: tuple, rng: np.random.Generator) -> np.ndarray:
    """float32 (height, width) levels in [0, 1]: pen strokes on paper, noise, or a constant."""
    width, height = size
    if kind == "strokes":
        page = Image.new("F", size, float(rng.uniform(0.0, 1.0)))
        pen = max(1, round(min(size) * rng.uniform(0.01, 0.3)))
        points = [tuple(p) for p in rng.uniform(0, 1, (int(rng.integers(2, 6)), 2)) * size]
        ImageDraw.Draw(page).line(points, fill=float(rng.uniform(0.0, 1.0)), width=pen)
        return np.asarray(page)
    if kind == "noise":
        return rng.random((height, width), dtype=np.float32)
    return np.full((height, width), rng.uniform(0.0, 1.0), np.float32)


def _image(mode: str, size: tuple, kind: str, rng: np.random.Generator) -> Image.Image:
    """An image of the mode whose bands carry the levels (alpha: the levels, or opaque), with
    extreme values poured in when `kind` is "extremes"."""
    levels = _levels("noise" if kind == "extremes" else kind, size, rng)
    if mode == "1":
        return Image.fromarray(levels > 0.5)
    bands = []
    for band in Image.new(mode, (1, 1)).getbands():
        if band == "A" and rng.random() < 0.5:
            bands.append(np.ones_like(levels))
        else:
            bands.append(levels if rng.random() < 0.7 else 1.0 - levels)
    pixels = np.stack(bands, axis=-1) * np.float32(TOP.get(mode, 255.0))
    if mode == "I":
        pixels = pixels * rng.choice([1 / 257, 1.0, 32768.0]) - rng.choice([0, 30000])
    if kind == "extremes":
        values = EXTREMES.get(mode[:4] if mode.startswith("I;16") else mode, [0, 255])
        chosen = rng.random(pixels.shape[:2]) < rng.choice([1e-4, 0.01, 0.5, 1.0])
        pixels[chosen] = rng.choice(values)
    if mode != "F":
        low, high = (-2**31, 2**31 - 1) if mode == "I" else (0, TOP.get(mode, 255.0))
        pixels = np.clip(np.nan_to_num(pixels), low, high)
    image = Image.frombytes(mode, size, pixels.astype(RAW.get(mode, np.uint8)).tobytes())
    if mode == "P":
        image.putpalette(rng.integers(0, 256, 768, dtype=np.uint8).tobytes())
        if rng.random() < 0.5:
            image.info["transparency"] = int(rng.integers(0, 256))
    elif mode in ("L", "RGB") and rng.random() < 0.3:
        image.info["transparency"] = 0 if mode == "L" else (0, 0, 0)
    return image


SIDES = st.integers(8, 64) | st.integers(8, 600) | st.integers(1, 3000)   # mostly small


@settings(HOSTILE, max_examples=200)
@given(mode=st.sampled_from(Image.MODES), width=SIDES, height=SIDES,
       kind=st.sampled_from(["strokes", "strokes", "noise", "constant", "extremes"]),
       format=st.sampled_from(FORMATS), seed=st.integers(0, 2**32 - 1))
def test_any_image_gives_a_digit_or_an_error(mode, width, height, kind, format, seed,
                                             tmp_path_factory):
    image = _image(mode, (width, height), kind, np.random.default_rng(seed))
    digit_or_error(lambda: preprocess(image, "given.img"), "given.img")
    path = tmp_path_factory.mktemp("hostile") / f"image.{format.lower()}"
    try:
        image.save(path, format=format)
    except (OSError, ValueError, KeyError, TypeError):   # Pillow cannot write this mode so
        return
    digit_or_error(lambda: preprocess(open_image(path), str(path)), str(path))


def tiff(width, height, bits, samples, sample_format, photometric, extra, big_endian, pixels):
    """An uncompressed one-strip TIFF, its tags as given: any bit depth, sample format (1 unsigned,
    2 signed, 3 float), photometric interpretation and extra samples, valid or not."""
    order = ">" if big_endian else "<"
    row = (width * samples * bits + 7) // 8
    data = (pixels * (row * height // max(len(pixels), 1) + 1))[: row * height]
    tags = [(256, 4, [width]), (257, 4, [height]), (258, 3, [bits] * samples), (259, 3, [1]),
            (262, 3, [photometric]), (273, 4, [0]), (277, 3, [samples]), (278, 4, [height]),
            (279, 4, [len(data)]), (284, 3, [1]), (339, 3, [sample_format] * samples)]
    if extra is not None:
        tags.append((338, 3, [extra]))
    if photometric == 3 and bits <= 8:                    # a palette: 3 * 2**bits 16-bit entries
        tags.append((320, 3, [(i * 4099) % 65536 for i in range(3 << bits)]))
    tags.sort()
    values = [struct.pack(order + ("H" if kind == 3 else "I") * len(v), *v) for _, kind, v in tags]
    ifd_end = 8 + 2 + 12 * len(tags) + 4
    offsets, position = [], ifd_end
    for value in values:                                  # values over 4 bytes follow the IFD
        offsets.append(position if len(value) > 4 else None)
        position += len(value) if len(value) > 4 else 0
    out = io.BytesIO()
    out.write((b"MM" if big_endian else b"II") + struct.pack(order + "HIH", 42, 8, len(tags)))
    for (tag, kind, v), value, offset in zip(tags, values, offsets):
        if tag == 273:                                    # the strip starts after everything
            value = struct.pack(order + "I", position)
        pointer = value.ljust(4, b"\0") if offset is None else struct.pack(order + "I", offset)
        out.write(struct.pack(order + "HHI", tag, kind, len(v)) + pointer)
    out.write(struct.pack(order + "I", 0))
    out.write(b"".join(value for value, offset in zip(values, offsets) if offset is not None))
    out.write(data)
    return out.getvalue()


# Layouts Pillow reads (bits per sample, samples per pixel, sample format, photometric, extra
# samples), and any other: the tags drawn are a readable layout half the time.
READABLE = [(1, 1, 1, 0, None), (1, 1, 1, 3, None), (4, 1, 1, 1, None), (8, 1, 1, 0, None),
            (8, 1, 1, 3, None), (8, 1, 2, 1, None), (8, 2, 1, 1, 0), (8, 2, 1, 1, 1),
            (8, 2, 1, 1, 2), (8, 2, 1, 3, 2), (8, 3, 1, 2, None), (8, 3, 1, 6, None),
            (8, 3, 1, 8, None), (8, 4, 1, 2, None), (8, 4, 1, 2, 1), (8, 4, 1, 5, None),
            (12, 1, 1, 1, None), (16, 1, 1, 1, None), (16, 1, 2, 1, None), (16, 3, 1, 2, None),
            (16, 4, 1, 2, 2), (32, 1, 1, 1, None), (32, 1, 2, 1, None), (32, 1, 3, 1, None)]
LAYOUTS = st.sampled_from(READABLE) | st.tuples(
    st.sampled_from([1, 2, 4, 8, 12, 16, 24, 32, 64]), st.integers(1, 5), st.sampled_from([1, 2, 3]),
    st.sampled_from([0, 1, 2, 3, 5, 6, 8]), st.sampled_from([None, 0, 1, 2]))


@settings(HOSTILE, max_examples=80)
@given(width=st.integers(1, 300), height=st.integers(1, 300), layout=LAYOUTS,
       big_endian=st.booleans(), pixels=st.binary(min_size=1, max_size=64))
def test_any_tiff_layout_gives_a_digit_or_an_error(width, height, layout, big_endian, pixels,
                                                   tmp_path_factory):
    bits, samples, sample_format, photometric, extra = layout
    path = tmp_path_factory.mktemp("tiff") / "odd.tiff"
    path.write_bytes(tiff(width, height, bits, samples, sample_format, photometric, extra,
                          big_endian, pixels))
    digit_or_error(lambda: preprocess(open_image(path), str(path)), str(path))


def _valid_file(format: str) -> bytes:
    page = Image.new("RGB", (60, 60), "white")
    ImageDraw.Draw(page).line([(15, 10), (45, 10), (25, 50)], fill="black", width=5)
    buffer = io.BytesIO()
    page.save(buffer, format=format)
    return buffer.getvalue()


VALID = {format: _valid_file(format) for format in FORMATS}


@settings(HOSTILE, max_examples=60)
@given(format=st.sampled_from(FORMATS), data=st.data())
def test_damaged_files_give_a_digit_or_an_error(format, data, tmp_path_factory):
    """Bytes flipped anywhere (the header too: sizes, bit depths, chunk lengths), or the end cut."""
    damaged = bytearray(VALID[format])
    for _ in range(data.draw(st.integers(0, 8))):
        damaged[data.draw(st.integers(0, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        damaged = damaged[: data.draw(st.integers(1, len(damaged)))]
    path = tmp_path_factory.mktemp("damaged") / f"damaged.{format.lower()}"
    path.write_bytes(bytes(damaged))
    digit_or_error(lambda: preprocess(open_image(path), str(path)), str(path))


# --- Every mode reads as the same digit ------------------------------------------------------

def _drawn_seven() -> Image.Image:
    page = Image.new("L", (90, 70), 255)
    ImageDraw.Draw(page).line([(20, 10), (70, 10), (40, 60)], fill=0, width=6)
    return page


def _in_mode(page: Image.Image, mode: str) -> Image.Image:
    """The page in `mode`: Pillow's conversion from L, RGB, RGBA or LA, or the 16-bit bytes."""
    if mode.startswith("I;16"):
        sixteen = np.asarray(page).astype(np.uint16) * 257
        return Image.frombytes(mode, page.size, sixteen.astype(RAW[mode]).tobytes())
    for source in (page, page.convert("RGB"), page.convert("RGBA"), page.convert("LA")):
        try:
            return source.convert(mode)
        except ValueError:   # no conversion from this source: the next one
            pass
    raise AssertionError(f"no way to make a {mode} image")


@pytest.mark.parametrize("mode", Image.MODES)
def test_every_mode_reads_as_the_same_digit(mode):
    page = _drawn_seven()
    image = _in_mode(page, mode)
    assert image.mode == mode
    assert np.array_equal(preprocess(image), preprocess(page))


@pytest.mark.parametrize("mode", ["LA", "La", "PA", "RGBA", "RGBa"])
def test_ink_in_the_alpha_channel_of_every_mode_with_alpha(mode):
    """Black everywhere, the digit in the alpha channel (premultiplied in La and RGBa)."""
    page = _drawn_seven()
    black_and_ink = np.stack([np.zeros_like(np.asarray(page)), 255 - np.asarray(page)], axis=-1)
    export = Image.frombytes("PA" if mode == "PA" else "LA", page.size, black_and_ink.tobytes())
    if mode == "PA":                                     # (Pillow's LA -> PA drops the alpha)
        export.putpalette([0, 0, 0] * 256)
    image = export.convert("RGBA").convert(mode) if mode == "RGBa" else export.convert(mode)
    assert np.array_equal(preprocess(image), preprocess(page))


# --- The degenerate images, one by one ---------------------------------------------------------

def _page_with_bar(size: tuple) -> Image.Image:
    """White paper with a black bar through the middle, along the long side."""
    width, height = size
    page = Image.new("L", size, 255)
    ImageDraw.Draw(page).rectangle([width // 4, height // 4, 3 * width // 4, 3 * height // 4],
                                   fill=0)
    return page


@pytest.mark.parametrize("size", [(1, 1), (1, 500), (500, 7), (7, 7)])
def test_an_image_too_small_for_a_digit(size, tmp_path):
    width, height = size
    message = rf"^small.png: image is {width}x{height} px; at least 8x8 px needed$"
    with pytest.raises(ImageError, match=message):
        preprocess(_page_with_bar(size), "small.png")
    _page_with_bar(size).save(tmp_path / "small.png")
    with pytest.raises(ImageError, match=message):
        preprocess(open_image(tmp_path / "small.png"), "small.png")


def test_a_strip_too_thin_to_shrink_is_refused():
    """20000x15 px would shrink to 512x0 px: refused before, with the rule in the message."""
    with pytest.raises(ImageError, match=r"^strip.png: image is 20000x15 px, too thin to hold a digit "
                                         r"\(its long side may be at most 64 times its short side\)$"):
        preprocess(_page_with_bar((20000, 15)), "strip.png")


@pytest.mark.parametrize("size", [(8, 8), (960, 15), (15, 512)])
def test_the_smallest_and_thinnest_images_accepted_hold_a_digit(size):
    digit = preprocess(_page_with_bar(size))
    assert digit.shape == (28, 28) and digit.max() == 255


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_float_tiff_with_nan_or_infinite_pixels(bad, tmp_path):
    pixels = np.asarray(_page_with_bar((60, 60)), np.float32) / 255
    pixels[5, 7] = bad
    Image.fromarray(pixels).save(tmp_path / "float.tiff")
    assert open_image(tmp_path / "float.tiff").mode == "F"
    with pytest.raises(ImageError, match=r"float.tiff: holds NaN or infinite pixel values$"):
        preprocess(open_image(tmp_path / "float.tiff"), str(tmp_path / "float.tiff"))


def test_a_float_tiff_with_finite_pixels_reads_as_its_grey_levels(tmp_path):
    pixels = np.asarray(_page_with_bar((60, 60)), np.float32) / 255
    Image.fromarray(pixels).save(tmp_path / "float.tiff")
    read = preprocess(open_image(tmp_path / "float.tiff"))
    assert np.array_equal(read, preprocess(_page_with_bar((60, 60))))


@pytest.mark.parametrize("size, dot, message", [
    ((28, 28), (14, 14, 1), "a dot of 1x1 px; a digit spans at least 5 px here"),
    ((200, 200), (100, 50, 3), "a dot of 3x3 px; a digit spans at least 5 px here"),
    ((500, 400), (300, 200, 7), "a dot of 7x7 px; a digit spans at least 8 px here"),
    ((4000, 3000), (1000, 2000, 40), r"a dot of about \d\dx\d\d px; a digit spans at least 62 px "
                                     r"here"),                     # 39x47: as shrunk to 512 px
])
def test_a_dot_is_no_digit(size, dot, message):
    """On white paper (a dark dot) and on black (a light one): no 0 made of a speck of dust."""
    row, col, side = dot
    page = np.full(size[::-1], 255, np.uint8)
    page[row: row + side, col: col + side] = 0
    for pixels in (page, 255 - page):
        with pytest.raises(ImageError, match=rf"^dot.png: no digit found \(the only mark is "
                                             rf"{message}\)$"):
            preprocess(Image.fromarray(pixels), "dot.png")


def test_a_small_digit_on_a_large_page_is_no_dot(mnist_data):
    """An MNIST digit drawn 30 px tall on a 1000x800 page (its ink 2% of the page) is found."""
    digit = mnist_data.test_images[0]
    page = np.full((800, 1000), 255, np.uint8)
    page[400:430, 600:630] = 255 - np.asarray(Image.fromarray(digit).resize((30, 30)))
    out = preprocess(Image.fromarray(page))        # 15 px tall as shrunk to 512 px: blurred
    assert np.abs(out.astype(float) - digit).mean() / 255 < 0.1   # 0.062; unrelated digits 0.157


# --- Large images: bounded memory, the same answer ---------------------------------------------

def test_tiled_shrinking_matches_shrinking_the_whole_image():
    """A 3001x2003 RGBA, read tile by tile and averaged in two stages, comes out as when the
    whole image is composited in floats and area-averaged in one go."""
    rng = np.random.default_rng(5)
    small = rng.random((22, 32, 4)).astype(np.float32)
    channels = [np.asarray(Image.fromarray(channel).resize((3001, 2003), Image.Resampling.BICUBIC))
                for channel in np.moveaxis(small, -1, 0)]
    rgba = np.clip(np.stack(channels, axis=-1) * 255, 0, 255).astype(np.uint8)
    floats = rgba.astype(np.float32) / 255
    grey, alpha = floats[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32), floats[..., 3]
    whole = Image.fromarray(grey * alpha + 1 - alpha).resize(_work_size(3001, 2003),
                                                             Image.Resampling.BOX)
    tiled = _to_grey(Image.fromarray(rgba), "big")
    assert tiled.shape == (342, 512)
    assert np.abs(tiled - np.asarray(whole)).mean() < 0.005      # measured 0.002


def test_a_large_jpeg_is_decoded_at_a_fraction_of_its_size(tmp_path):
    _page_with_bar((4000, 3000)).convert("RGB").save(tmp_path / "photo.jpg", quality=90)
    image = open_image(tmp_path / "photo.jpg")
    assert image.size == (1000, 750)                  # 1/4: the smallest draft of >= 512 px
    assert full_size(image) == (4000, 3000)
    small = preprocess(_page_with_bar((400, 300)))
    assert np.abs(preprocess(image).astype(float) - small).mean() / 255 < 0.01   # measured 0.002


MEASURE = textwrap.dedent("""
    import sys
    import numpy as np
    from reader.preprocess import open_image, preprocess
    digit = preprocess(open_image(sys.argv[1]), sys.argv[1])
    np.save(sys.argv[2], digit)
    # The peak of this process's own memory, in KiB (not ru_maxrss: Linux keeps across exec the
    # peak of the process this one was forked from, here the whole test session's)
    peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:")).split()[1]
    print(int(peak) * 1024)
""")


def _seven(side: int) -> Image.Image:
    """A transparent RGBA canvas with an opaque black 7 drawn in."""
    canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    s = side / 94
    ImageDraw.Draw(canvas).line([(20 * s, 15 * s), (74 * s, 15 * s), (40 * s, 80 * s)],
                                fill=(0, 0, 0, 255), width=round(5 * s), joint="curve")
    return canvas


def test_a_large_rgba_png_stays_under_1_gb(tmp_path):
    """9400x9400 (88 Mpx, just under Pillow's decompression-bomb limit), a few hundred KB as a
    PNG: decoding it takes 350 MB; when it was turned into floats whole, the peak was 3.0 GiB."""
    _seven(9400).save(tmp_path / "huge.png")
    assert (tmp_path / "huge.png").stat().st_size < 1_000_000
    command = [sys.executable, "-c", MEASURE, tmp_path / "huge.png", tmp_path / "out.npy"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    peak = int(result.stdout.split()[-1])
    assert peak < 1_000_000_000, f"peak memory {peak / 2**20:.0f} MiB"      # measured 425 MiB
    digit, small = np.load(tmp_path / "out.npy"), preprocess(_seven(470))
    assert np.abs(digit.astype(float) - small).mean() / 255 < 0.01     # measured 0.003
