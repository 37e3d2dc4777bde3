"""Recognise the handwritten digits in your own images with the trained CNN.

    python evaluate.py my_digits/*.png
    python evaluate.py scans/ --top-k 3
    python evaluate.py photo.jpg --json --save-preprocessed seen/

Each image is brought into MNIST's form first (mnist/preprocess.py: light ink on black, scaled
into a 20x20 box, centred by its centre of mass in 28x28), then the network answers. With many
images, worker processes preprocess the next ones while the network answers for the last. Exit
status: 0 when every image was recognised, 1 when any could not be, 2 for a usage error or an
unusable model file.
"""
import argparse
import functools
import itertools
import json
import signal
import sys
from pathlib import Path

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "mnist_cnn.npz"
# Images recognised together. Not more: at 500 the network's temporaries grew so large that
# fresh memory from the system (page faults) cost as much time as the arithmetic.
BATCH = 200
# Up to this many images, the plain NumPy forward pass answers sooner than loading the compiled
# Numba kernels would take (about 0.3 s in a fresh process); past it, the kernels are faster.
NUMPY_MAX_IMAGES = 64
# From this many images on, WORKERS processes preprocess them while this one runs the network.
# Starting them costs some tens of milliseconds; preprocessing an image 0.3 ms (28x28) to a few
# ms (a photo).
POOL_MIN_IMAGES = 200
WORKERS = 2
CHUNK = 50  # images handed to a worker at a time


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Recognise the digit in each image (PNG, JPEG, GIF, BMP, TIFF, WebP, ...).",
        epilog="Exit status: 0 all images recognised, 1 some could not be, 2 usage or model error.")
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="an image file, or a directory: its image files, recursively, in sorted order")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL,
                        help="the model file to use (default: the shipped models/mnist_cnn.npz)")
    parser.add_argument("--json", action="store_true",
                        help="print JSON Lines: one object per image with digit, confidence and all ten "
                             "probabilities, or an error")
    parser.add_argument("--top-k", type=int, default=1, metavar="K",
                        help="also show the K-1 next most likely digits (1-10, default 1)")
    parser.add_argument("--save-preprocessed", type=Path, metavar="DIR",
                        help="write the 28x28 image the network saw for each input into DIR, as PNG")
    args = parser.parse_args(argv)
    if not 1 <= args.top_k <= 10:
        parser.error("--top-k must be between 1 and 10")
    return args


def image_files(paths, extensions):
    """Yield (path, error) for every input: files as given, directories expanded recursively."""
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in extensions)
            if not found:
                yield path, f"{path}: directory holds no image files"
            yield from ((p, None) for p in found)
        elif path.exists():
            yield path, None
        else:
            yield path, f"{path}: no such file or directory"


def prepare(job, save_dir):
    """(index, path, error) -> (path, uint8 28x28 digit, None) or (path, None, error message).

    Runs in the worker processes when there are many images, so it takes and returns plain data.
    """
    index, path, error = job
    if error:
        return path, None, error
    from mnist.errors import MnistError
    from mnist.preprocess import open_image, preprocess
    try:
        digit = preprocess(open_image(path), name=str(path))
    except MnistError as error:
        return path, None, str(error)
    if save_dir is not None:
        from PIL import Image
        Image.fromarray(digit).save(save_dir / f"{index:05d}_{path.stem}.png")
    return path, digit, None


def ignore_interrupts():
    """Worker start-up: Ctrl-C is the main process's to handle (it stops the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def recognise_in_workers(predict, jobs, prepare_job, args):
    """Preprocess in WORKERS processes while this one runs the network; -> failures."""
    import numba
    from multiprocessing import Pool
    threads = numba.get_num_threads()
    # The workers keep the cores busy, so the network runs on this thread alone: parallel
    # threads would keep waiting for one another whenever one of them is not scheduled.
    numba.set_num_threads(1)
    try:
        with Pool(WORKERS, initializer=ignore_interrupts) as pool:   # leaving it stops the workers
            return recognise_all(predict, pool.imap(prepare_job, jobs, chunksize=CHUNK), args)
    finally:
        numba.set_num_threads(threads)


def report(path, probabilities, top_k, as_json):
    order = probabilities.argsort()[::-1]
    digit, confidence = int(order[0]), float(probabilities[order[0]])
    if as_json:
        print(json.dumps({"path": str(path), "digit": digit, "confidence": round(confidence, 6),
                          "probabilities": [round(float(p), 6) for p in probabilities]}))
        return
    line = f"{path}: {digit} ({100 * confidence:.1f}%)"
    if top_k > 1:
        line += "  then " + ", ".join(f"{int(k)} ({100 * probabilities[k]:.1f}%)" for k in order[1:top_k])
    print(line)


def report_error(path, message, as_json):
    if as_json:
        print(json.dumps({"path": str(path), "error": message}))
    print(f"error: {message}", file=sys.stderr)


def recognise(predict, prepared, args):
    """Recognise a batch of prepared (path, digit, error), report in input order; -> failures."""
    import numpy as np
    from mnist.normalize import to_model_input
    digits = [digit for _, digit, error in prepared if error is None]
    probabilities = iter(predict(to_model_input(np.stack(digits))) if digits else [])
    for path, _, error in prepared:
        if error is None:
            report(path, next(probabilities), args.top_k, args.json)
        else:
            report_error(path, error, args.json)
    sys.stdout.flush()
    return sum(error is not None for _, _, error in prepared)


def recognise_all(predict, prepared, args):
    """Recognise the prepared images BATCH at a time, as they come; -> failures."""
    failures = 0
    while batch := list(itertools.islice(prepared, BATCH)):
        failures += recognise(predict, batch, args)
    return failures


def main(argv=None):
    args = parse_args(argv)
    from nncore import ModelFileError, load_model
    try:
        model = load_model(args.model)
    except ModelFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.save_preprocessed is not None:
        args.save_preprocessed.mkdir(parents=True, exist_ok=True)

    from PIL import Image
    extensions = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}
    inputs = list(image_files(args.paths, extensions))
    if len(inputs) <= NUMPY_MAX_IMAGES:
        from nncore import numpy_forward
        predict = lambda x: numpy_forward.predict(model, x)  # noqa: E731
    else:
        predict = model.predict
    jobs = [(index, path, error) for index, (path, error) in enumerate(inputs)]
    prepare_job = functools.partial(prepare, save_dir=args.save_preprocessed)
    if len(jobs) < POOL_MIN_IMAGES:
        failures = recognise_all(predict, map(prepare_job, jobs), args)
    else:
        failures = recognise_in_workers(predict, jobs, prepare_job, args)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # e.g. piped into `head`
        sys.exit(1)
