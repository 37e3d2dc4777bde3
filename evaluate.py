"""Recognise the handwritten digits in your own images with the trained CNN: every digit of a
number, left to right.

    python evaluate.py my_digits/*.png
    python evaluate.py scans/ --top-k 3
    python evaluate.py photo.jpg --json --save-preprocessed seen/
    python evaluate.py one_digit.png --single

Each image is cut into its digits (reader/segment.py), and each digit brought into MNIST's form
(reader/preprocess.py: light ink on black, scaled into a 20x20 box, centred by its centre of mass
in 28x28), then the network answers for all the digits of many images at once. An image found to
hold one digit is read exactly as with `--single`, where the whole image is one digit. With many
images, worker processes preprocess the next ones while the network answers for the last.

Nothing one image does stops the others: whatever goes wrong with it (a file that is not an
image, an error in preprocessing, a preprocessed copy that cannot be saved, a worker process
killed by the system) becomes that image's one error line, and the run goes on. Answers are
printed in input order as soon as their batch is recognised. Exit status: 0 when every image was
recognised, 1 when any could not be, 2 for a usage error or an unusable model file.
"""
import argparse
import functools
import json
import os
import signal
import sys
from collections import deque
from pathlib import Path

MODELS = Path(__file__).resolve().parent / "models"
SHIPPED_MODEL = MODELS / "shipped" / "mnist_cnn.npz"   # the model that comes with the project
TRAINED_MODEL = MODELS / "mnist_cnn.npz"               # what `python train.py` writes
# Digits recognised together. Not more: at 500 the network's temporaries grew so large that
# fresh memory from the system (page faults) cost as much time as the arithmetic.
BATCH = 200
# Up to this many images, the plain NumPy forward pass answers sooner than loading the compiled
# Numba kernels would take (about 0.3 s in a fresh process); past it, the kernels are faster.
NUMPY_MAX_IMAGES = 64
# From this many images on, worker processes preprocess them while this one runs the network.
# Starting them costs some tens of milliseconds; preprocessing an image 0.3 ms (28x28) to a few
# ms (a photo).
POOL_MIN_IMAGES = 200
WORKERS = 2
CHUNK = 20         # images handed to a worker at a time, ...
# ... and up to AHEAD chunks a worker handed out before their results are taken: enough for the
# workers to go on while this process loads the compiled kernels for its first batch (0.4 s);
# with 2 a worker, they sat idle then (1,000 photos took 2% longer). Results are small (28x28s).
AHEAD = 8
MAX_DEATHS = 5     # worker processes that may die (killed by the system) before the run gives up
NAME_MAX = 120  # bytes of an input's name kept in its preprocessed copy's (file names end at 255)
SINGLE = False     # --single: the whole image is one digit      } prepare()'s settings, given to
CLASSIFY = None    # 28x28s -> probabilities, to try cuts with   } each process by use_settings()


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Recognise the digits in each image, left to right (PNG, JPEG, GIF, BMP, TIFF, "
                    "WebP, ...).",
        epilog="Exit status: 0 all images recognised, 1 some could not be, 2 usage or model error.",
        allow_abbrev=False)
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="an image file, or a directory: its image files, recursively, in sorted order")
    parser.add_argument("--model", type=Path,
                        help="the model file to use, a model or a training checkpoint (default: "
                             "models/mnist_cnn.npz if `python train.py` made one, else the shipped "
                             "models/shipped/mnist_cnn.npz)")
    parser.add_argument("--json", action="store_true",
                        help="print JSON Lines: one object per image with the text read and, per digit, "
                             "digit, confidence, all ten probabilities and box; or an error")
    parser.add_argument("--top-k", type=int, default=1, metavar="K",
                        help="also show each digit's K-1 next most likely digits (1-10, default 1)")
    parser.add_argument("--save-preprocessed", type=Path, metavar="DIR",
                        help="write the 28x28 image the network saw for each digit into DIR, as PNG, "
                             "and for an image of several digits a copy with their boxes and digits")
    parser.add_argument("--single", action="store_true",
                        help="read each whole image as one digit (the default reads every digit)")
    args = parser.parse_args(argv)
    if not 1 <= args.top_k <= 10:
        parser.error("--top-k must be between 1 and 10")
    return args


def decoded(text) -> str:
    """A path or message as text that any output can encode: the bytes of a file name that are
    not UTF-8 (which Python keeps as lone surrogates) become escapes such as \\xff."""
    text = os.fsdecode(text) if isinstance(text, Path) else text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def printable(text) -> str:
    """`decoded(text)` on one line: control characters become escapes too, so that a newline in
    a file name cannot forge a result line. (JSON output escapes them by itself.)"""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in decoded(text))


def image_extensions() -> set:
    """The file extensions of every format Pillow can open ({".png", ".jpg", ...}). Finding them
    imports all of Pillow's format plugins (a tenth of a second), so it is done only for a
    directory: a file given by name is opened whatever its name."""
    from PIL import Image
    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}


def image_files(paths):
    """Yield (path, error) for every input: files as given, directories expanded recursively."""
    extensions = None
    for path in map(Path, paths):
        if path.is_dir():
            extensions = extensions or image_extensions()
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in extensions)
            if not found:
                yield path, f"{printable(path)}: directory holds no image files"
            yield from ((p, None) for p in found)
        elif path.exists():
            yield path, None
        else:
            yield path, f"{printable(path)}: no such file or directory"


def prepare(job, save_dir):
    """(index, path, error) -> (path, [(uint8 28x28 digit, box), ...], None) or (path, None, error
    message): the image's digits, left to right, each with its box [x, y, width, height].

    The fault barrier of one image: any exception becomes its error message. Runs in the worker
    processes when there are many images, so it takes and returns plain data.
    """
    index, path, error = job
    if error:
        return path, None, error
    from reader.errors import ImageError
    from reader.preprocess import full_size, open_image, preprocess
    from reader.segment import read_number
    name = printable(path)
    try:
        image = open_image(path)
        if SINGLE:
            digits = [(preprocess(image, name=name), [0, 0, *full_size(image)])]
        else:
            digits = read_number(image, name, CLASSIFY)
    except ImageError as error:
        return path, None, printable(str(error))
    except Exception as error:   # a bug of ours, never the user's fault: say so, go on
        return path, None, f"{name}: internal error while preprocessing ({internal(error)}); please report"
    if save_dir is not None:
        for k, (digit, _) in enumerate(digits):
            target = copy_name(save_dir, index, path, "" if len(digits) == 1 else f"_{k + 1}")
            try:
                from PIL import Image
                Image.fromarray(digit).save(target)
            except Exception as error:   # a full disk, a read-only directory, ...
                return path, None, (f"{name}: could not save its preprocessed copy "
                                    f"{printable(target)} ({internal(error)})")
    return path, digits, None


def copy_name(save_dir, index, path, suffix):
    """DIR/00012_NAME{suffix}.png: a copy of input 12's, its name cut to NAME_MAX bytes."""
    stem = printable(path.stem).encode()[:NAME_MAX].decode(errors="ignore")
    return save_dir / f"{index:05d}_{stem}{suffix}.png"


def read_parts(model, digits):
    """The model's probabilities for a few 28x28 digits (candidate parts of touching digits), by
    the textbook forward pass: it runs in the worker processes too, without Numba."""
    import numpy as np

    from mnist.normalize import to_model_input
    return model.predict(to_model_input(np.stack(digits)), reference=True)


def internal(error: BaseException) -> str:
    """'IndexError: index 3 is out of bounds', on one printable line."""
    return printable(f"{type(error).__name__}: {error}".replace("\n", " "))


def use_settings(single, model):
    """Give prepare() its settings in this process: --single, and the model that reads the parts
    of a mark when reader/segment.py tries to cut it."""
    global SINGLE, CLASSIFY
    SINGLE, CLASSIFY = single, functools.partial(read_parts, model)


def start_worker(single, model):
    """A worker process's start: prepare()'s settings; Ctrl-C is the main process's to handle
    (it stops the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    use_settings(single, model)


def recognise_in_workers(predict, jobs, prepare_job, args, settings):
    """Preprocess in worker processes while this one runs the network; -> failures."""
    import numba
    threads = numba.get_num_threads()
    # The workers keep the cores busy, so the network runs on this thread alone: parallel
    # threads would keep waiting for one another whenever one of them is not scheduled.
    numba.set_num_threads(1)
    try:
        return recognise_all(predict, prepare_in_workers(prepare_job, jobs, settings), args)
    finally:
        numba.set_num_threads(threads)


def prepare_chunk(prepare_job, chunk):
    return [prepare_job(job) for job in chunk]


def prepare_in_workers(prepare_job, jobs, settings):
    """Yield prepare_job(job) for every job, in order, computed CHUNK jobs at a time by WORKERS
    processes, up to AHEAD chunks a worker ahead of the consumer (so memory stays bounded).

    A worker that dies (the system's out-of-memory killer, a crash in a decoder) breaks the
    pool: every chunk not yet answered is lost. Those jobs are then done again one at a time in
    a pool of one worker, so that a job that kills its worker again is known for certain and
    gets an error line; then the rest go on in a fresh pool. `settings` are start_worker's
    arguments, given to every worker once. After MAX_DEATHS deaths the
    remaining jobs get an error line each instead: something is wrong with the machine.
    """
    from concurrent.futures import ProcessPoolExecutor  # here: importing it takes 40 ms
    from concurrent.futures.process import BrokenProcessPool
    todo, deaths = deque(jobs), 0
    while todo:
        lost = []
        with ProcessPoolExecutor(WORKERS, initializer=start_worker, initargs=settings) as pool:
            ahead = deque()
            while todo or ahead:
                while todo and len(ahead) < AHEAD * WORKERS:
                    chunk = [todo.popleft() for _ in range(min(CHUNK, len(todo)))]
                    ahead.append((chunk, submit(pool, prepare_chunk, prepare_job, chunk)))
                chunk, future = ahead.popleft()
                try:
                    results = future.result()
                except BrokenProcessPool:
                    lost = chunk + [job for chunk, _ in ahead for job in chunk]
                    break
                except Exception as error:   # e.g. a job that cannot be sent to a worker
                    why = f"internal error while preprocessing ({internal(error)}); please report"
                    results = [died(job, why) for job in chunk]
                yield from results
        deaths += bool(lost)
        for job in lost:   # one at a time, each in a pool of its own until one dies
            if deaths > MAX_DEATHS:
                yield died(job, "not preprocessed: worker processes keep dying")
                continue
            try:
                with ProcessPoolExecutor(1, initializer=start_worker, initargs=settings) as single:
                    yield single.submit(prepare_job, job).result()
            except BrokenProcessPool:
                deaths += 1
                yield died(job, "the worker process preparing it died (out of memory?)")
        if deaths > MAX_DEATHS:
            yield from (died(job, "not preprocessed: worker processes keep dying") for job in todo)
            return


def submit(pool, *call):
    """pool.submit(*call); when the pool has broken already (a worker died since the last
    call), a future that holds that BrokenProcessPool, so that it is handled like the others."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool
    try:
        return pool.submit(*call)
    except BrokenProcessPool as error:
        future = Future()
        future.set_exception(error)
        return future


def died(job, why):
    """The prepared result of a job whose worker process died."""
    _, path, error = job
    return path, None, error or f"{printable(path)}: {why}"


def report_error(path, message, as_json):
    if as_json:
        print(json.dumps({"path": decoded(path), "error": message}))
    print(f"error: {message}", file=sys.stderr)


def recognise(predict, prepared, args):
    """Recognise a batch of prepared (path, digits, error), report in input order; -> failures."""
    import numpy as np

    from mnist.normalize import to_model_input
    digits = [digit for _, found, error in prepared if error is None for digit, _ in found]
    try:
        probabilities = iter(predict(to_model_input(np.stack(digits))) if digits else [])
    except Exception as error:   # the whole batch gets the error; the next batch still runs
        failure = f"internal error while recognising ({internal(error)}); please report"
        prepared = [(path, None, error or f"{printable(path)}: {failure}") for path, _, error in prepared]
    failures = 0
    for path, found, error in prepared:
        if error is None:
            readings = [next(probabilities) for _ in found]
            error = answer(path, readings, [box for _, box in found], args)
        if error is not None:
            report_error(path, error, args.json)
            failures += 1
    sys.stdout.flush()
    return failures


def answer(path, readings, boxes, args):
    """Print the answer for one image (its digits' probabilities and boxes); -> None, or the
    error message that replaces it."""
    import numpy as np

    from reader.answers import json_line, text_line
    if not np.all(np.isfinite(readings)):
        return f"{printable(path)}: the network's output is not finite (is the model file broken?)"
    if args.save_preprocessed is not None and len(readings) > 1:
        problem = save_annotated(path, readings, boxes, args)
        if problem:
            return problem
    try:
        print(json_line(decoded(path), readings, boxes) if args.json
              else text_line(printable(path), readings, args.top_k))
    except (UnicodeError, ValueError) as error:
        return (f"{printable(path)}: internal error while printing its answer "
                f"({internal(error)}); please report")
    return None


def save_annotated(path, readings, boxes, args):
    """Write the image with its digits' boxes and the digits read; -> None, or the error."""
    from reader.answers import annotate
    from reader.preprocess import open_image
    target = copy_name(args.save_preprocessed, args.index_of[path], path, "_read")
    try:
        annotate(open_image(path, colour=True), readings, boxes).save(target)
    except Exception as error:
        return f"{printable(path)}: could not save its annotated copy {printable(target)} ({internal(error)})"
    return None


def recognise_all(predict, prepared, args):
    """Recognise the prepared images as they come, BATCH digits at a time or a few more (an
    image's digits stay together); -> failures."""
    failures, batch, count = 0, [], 0
    for item in prepared:
        batch.append(item)
        count += len(item[1]) if item[2] is None else 1
        if count >= BATCH:
            failures += recognise(predict, batch, args)
            batch, count = [], 0
    return failures + (recognise(predict, batch, args) if batch else 0)


def main(argv=None):
    args = parse_args(argv)
    # A name or message that the terminal's encoding cannot show is escaped, never a crash.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    # Single-threaded BLAS, set before NumPy loads it: the NumPy forward's products for a few
    # images are too small for threads to pay (the first one waited 30 ms for them to start),
    # and the kernels, for many images, want it so (nncore/runtime.py).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from nncore import ModelFileError, load_model
    if args.model is None:
        args.model = TRAINED_MODEL if TRAINED_MODEL.is_file() else SHIPPED_MODEL
        if args.model == TRAINED_MODEL:
            print("using the model trained here, models/mnist_cnn.npz (for the shipped one: "
                  "--model models/shipped/mnist_cnn.npz)", file=sys.stderr)
    try:
        model = load_model(args.model)
    except ModelFileError as error:
        print(f"error: {printable(str(error))}", file=sys.stderr)
        return 2
    if args.save_preprocessed is not None:
        try:
            args.save_preprocessed.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            print(f"error: --save-preprocessed {printable(args.save_preprocessed)}: cannot create "
                  f"the directory ({error.strerror})", file=sys.stderr)
            return 2

    inputs = list(image_files(args.paths))
    if len(inputs) <= NUMPY_MAX_IMAGES:
        predict = functools.partial(model.predict, reference=True)   # textbook NumPy: no Numba
    else:
        from nncore.runtime import configure_for_kernels
        configure_for_kernels()   # before the first kernel loads BLAS
        predict = model.predict
    jobs = [(index, path, error) for index, (path, error) in enumerate(inputs)]
    args.index_of = {path: index for index, path, _ in jobs}
    use_settings(args.single, model)
    prepare_job = functools.partial(prepare, save_dir=args.save_preprocessed)
    if len(jobs) < POOL_MIN_IMAGES:
        failures = recognise_all(predict, map(prepare_job, jobs), args)
    else:
        failures = recognise_in_workers(predict, jobs, prepare_job, args, (args.single, model))
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # e.g. piped into `head`
        sys.exit(1)
