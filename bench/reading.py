"""python -m bench.reading [--photos 1000] [--runs 9] [--dir-runs 3] [--data-dir DIR]

How fast evaluate.py reads whole numbers, on photos like a phone's: 1000x300 JPEGs of six MNIST
test digits each, dark ink on paper under uneven light, with noise (`six_digit_photo`), written
into a temporary folder and deleted at the end. Two figures, in fresh processes with .pyc files
read and written as on a user's machine:

1. One photo: `python evaluate.py photo.jpg`, alternating with `python -c "import numpy,
   PIL.Image"` (the least any such program pays), --runs times each after one untimed run of
   each; the medians.
2. A directory: `python evaluate.py DIR` on all --photos photos, end to end (worker processes
   and the compiled kernels included), --dir-runs times; the median images/s, and how many
   numbers were read exactly.

Run it alone: another job on the machine's two cores would halve what it measures.
"""
import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from bench.runner import timed_run
from bench.user_level import AS_A_USER, data_dir
from mnist.dataset import load_mnist
from mnist.download import ensure_mnist
from mnist.errors import MnistError

SIZE = (1000, 300)  # width, height


def six_digit_photo(digits: list, rng: np.random.Generator) -> Image.Image:
    """Six 28x28 MNIST digits (light on black) -> a 1000x300 RGB photo of them written in a row:
    each digit 100-140 px tall (its aspect kept), the gaps 25-60% of that, the baseline jittered
    by up to 6 px, dark ink on yellowish paper lit unevenly, with noise."""
    height = int(rng.integers(100, 141))
    inks = []
    for digit in digits:
        rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
        box = Image.fromarray(digit[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1])
        width = max(1, round(box.width * height / box.height))
        inks.append(np.asarray(box.resize((width, height), Image.Resampling.BICUBIC), np.float32) / 255)
    gaps = [int(rng.uniform(0.25, 0.6) * height) for _ in inks[1:]]
    line = sum(ink.shape[1] for ink in inks) + sum(gaps)
    ink = np.zeros((SIZE[1], max(SIZE[0], line + 100)), np.float32)
    x = (ink.shape[1] - line) // 2
    for digit, gap in zip(inks, gaps + [0]):
        top = (SIZE[1] - height) // 2 + int(rng.integers(-6, 7))
        region = ink[top: top + height, x: x + digit.shape[1]]
        np.maximum(region, np.clip(digit, 0, 1), out=region)
        x += digit.shape[1] + gap
    ink = np.asarray(Image.fromarray(ink).resize(SIZE, Image.Resampling.BOX))
    rows, cols = np.mgrid[0:SIZE[1], 0:SIZE[0]] / SIZE[0] - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    light = rng.uniform(0.75, 0.95) + rng.uniform(0, 0.15) * (np.cos(angle) * cols + np.sin(angle) * rows)
    paper = light[..., None] * np.array([1.0, 0.97, 0.92])
    pixels = paper * (1 - ink[..., None]) + 0.15 * ink[..., None] + rng.normal(0, 0.02, paper.shape)
    return Image.fromarray(np.clip(pixels * 255 + 0.5, 0, 255).astype(np.uint8))


def write_photos(folder: Path, count: int, data) -> list:
    """`count` photos of six test digits, folder/0000.jpg ...; -> the numbers they show."""
    rng = np.random.default_rng(0)
    numbers = []
    for k in range(count):
        chosen = rng.integers(0, len(data.test_images), 6)
        six_digit_photo(list(data.test_images[chosen]), rng).save(folder / f"{k:04d}.jpg", quality=90)
        numbers.append("".join(map(str, data.test_labels[chosen])))
    return numbers


def read_exactly(stdout: str, numbers: list) -> int:
    """How many of evaluate.py's lines ("PATH: TEXT  (...)", in file order) read the number."""
    return sum(line.split(": ", 1)[1].split()[0] == number
               for line, number in zip(stdout.splitlines(), numbers))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=1000, help="photos in the directory (default 1000)")
    parser.add_argument("--runs", type=int, default=9, help="fresh runs on one photo, each way (default 9)")
    parser.add_argument("--dir-runs", type=int, default=3, help="runs over the directory (default 3)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="the MNIST directory (default: $MNIST_DATA_DIR, else data/mnist)")
    args = parser.parse_args(argv)
    if min(args.photos, args.runs, args.dir_runs) < 1:
        parser.error("--photos, --runs and --dir-runs must be at least 1")
    try:
        directory = args.data_dir or data_dir()
        ensure_mnist(directory, progress=False)   # downloaded and verified if missing
        data = load_mnist(directory, download=False)
    except MnistError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        print(f"writing {args.photos} photos of six digits ...", file=sys.stderr)
        numbers = write_photos(folder, args.photos, data)
        one = [python, "evaluate.py", str(folder / "0000.jpg")]
        imports = [python, "-c", "import numpy, PIL.Image"]
        timed_run(one, AS_A_USER), timed_run(imports, AS_A_USER)  # untimed: disk cache, .pyc files
        times = {"one": [], "imports": []}
        for _ in range(args.runs):
            times["one"].append(timed_run(one, AS_A_USER)[0])
            times["imports"].append(timed_run(imports, AS_A_USER)[0])
        rates, exact = [], 0
        for k in range(args.dir_runs):
            print(f"reading the directory, run {k + 1} of {args.dir_runs} ...", file=sys.stderr)
            seconds, stdout = timed_run([python, "evaluate.py", str(folder)], AS_A_USER)
            rates.append(args.photos / seconds)
            exact = read_exactly(stdout, numbers)
    one_s, imports_s = statistics.median(times["one"]), statistics.median(times["imports"])
    print("| reading numbers | median |")
    print("| --- | --- |")
    print(f"| `evaluate.py photo.jpg` (a 1000x300 photo of six digits), fresh process | {one_s:.3f} s |")
    print(f"| `python -c \"import numpy, PIL.Image\"` alone | {imports_s:.3f} s |")
    print(f"| `evaluate.py DIR` on {args.photos:,} such photos, end to end ({args.dir_runs} runs: "
          f"{', '.join(f'{r:.0f}' for r in rates)}) | {statistics.median(rates):.0f} images/s |")
    print(f"| numbers read exactly | {exact:,} of {args.photos:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
