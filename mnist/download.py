"""Fetch the four MNIST files, verify them, and keep them in the data directory.

`ensure_mnist()` makes sure the data directory holds the four files, each one verified: the
SHA-256 of its decompressed content must equal the published value below (decompressed,
because mirrors gzip the same bytes differently). A file that is missing or fails the check is
downloaded from the mirrors, tried in order. A mirror gets a second try only when its failure
may pass (a timeout, a 5xx server error); an unknown host, a refused connection, a 404 or a
bad file are not asked twice. Each failure is printed once, as it happens; when every mirror
has failed, the error says what to do instead.

A download never leaves a half-written file that could later be read as data: it goes to a
temporary file in the data directory, is verified, and only then renamed over the final name
(`os.replace` is atomic). On any failure, Ctrl-C included, the temporary file is removed.
Nothing is held whole in memory: responses are streamed to disk (and cut off past
MAX_DOWNLOAD_BYTES), content is hashed as it is inflated (and refused past
mnist.idx.MAX_CONTENT_BYTES, so a "gzip bomb" costs neither memory nor much time).

Settings, each an argument first, then an environment variable, then the default:
    data directory   data_dir=     MNIST_DATA_DIR   data/mnist (relative to the working directory)
    mirrors          mirrors=      MNIST_MIRRORS    DEFAULT_MIRRORS below
MNIST_MIRRORS holds base URLs separated by commas or spaces; http://, https:// and file://
all work (urllib opens each), so a local copy can serve as a mirror:
    MNIST_MIRRORS=file:///home/me/mnist/ python train.py
"""
import hashlib
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

from tqdm import tqdm

from mnist.errors import MnistError
from mnist.idx import open_content

# File name -> SHA-256 of its DEcompressed content, as published for the original files.
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# torchvision's mirror first, then the one TensorFlow's old MNIST tutorial used, then the
# original site (which answers 403 to many clients today).
DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
DEFAULT_DATA_DIR = "data/mnist"
TIMEOUT_S = 30  # for connecting and for each read from the socket
ATTEMPTS_PER_MIRROR = 2  # the second only after a timeout or a 5xx answer
RETRY_DELAY_S = 1.0
CHUNK_BYTES = 1 << 16
MAX_DOWNLOAD_BYTES = 20_000_000  # the largest gzipped MNIST file is 9.9 MB


def resolve_data_dir(data_dir=None) -> Path:
    """The data directory: the argument, else $MNIST_DATA_DIR, else data/mnist."""
    return Path(data_dir or os.environ.get("MNIST_DATA_DIR") or DEFAULT_DATA_DIR).expanduser()


def resolve_mirrors(mirrors=None) -> list[str]:
    """The mirror base URLs: the argument, else $MNIST_MIRRORS, else DEFAULT_MIRRORS."""
    if mirrors is None:
        mirrors = re.split(r"[,\s]+", os.environ.get("MNIST_MIRRORS", "").strip())
        mirrors = [url for url in mirrors if url] or DEFAULT_MIRRORS
    if not mirrors:
        raise MnistError("no mirrors to download the MNIST files from")
    for url in mirrors:
        if not url.startswith(("http://", "https://", "file://")):
            raise MnistError(f"mirror {url!r}: use an http://, https:// or file:// base URL")
    return [url if url.endswith("/") else url + "/" for url in mirrors]


def file_problem(path: Path, sha256: str, name=None):
    """None if `path` holds the expected content, else what is wrong with it.

    The content is hashed as it is read, a chunk at a time, and refused past
    MAX_CONTENT_BYTES. `name` is what the message calls the file (default: its file name).
    """
    name = name or path.name
    if not path.exists():
        return f"{name}: missing"
    digest = hashlib.sha256()
    try:
        with open_content(path, name) as content:
            for chunk in content:
                digest.update(chunk)
    except MnistError as error:
        return str(error)
    if digest.hexdigest() != sha256:
        return f"{name}: SHA-256 of the content is {digest.hexdigest()}, expected {sha256}"
    return None


def ensure_mnist(data_dir=None, mirrors=None, progress=True, checksums=None) -> dict[str, Path]:
    """Make sure the data directory holds verified MNIST files; return name -> path.

    `checksums` (file name -> SHA-256 of the decompressed content) defaults to MNIST_SHA256;
    tests pass their own to serve small synthetic files.
    """
    data_dir = resolve_data_dir(data_dir)
    mirrors = resolve_mirrors(mirrors)
    checksums = MNIST_SHA256 if checksums is None else checksums
    paths = {name: data_dir / name for name in checksums}
    problems = {name: file_problem(paths[name], sha256) for name, sha256 in checksums.items()}
    needed = [name for name, problem in problems.items() if problem]
    if needed:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise MnistError(f"{data_dir}: cannot create the data directory: {error}") from error
        if progress:
            files = "1 MNIST file" if len(needed) == 1 else f"{len(needed)} MNIST files"
            print(f"downloading {files} into {data_dir.resolve()}", file=sys.stderr)
    for index, name in enumerate(needed):
        if paths[name].exists():
            print(f"{problems[name]}; downloading it again", file=sys.stderr)
        served_by = _download_from_mirrors(name, paths[name], checksums[name], mirrors, progress)
        if served_by is None:
            raise MnistError(_give_up_message(name, len(mirrors), needed[index:], data_dir))
        # The mirror that served this file is asked first for the next one.
        mirrors = [served_by] + [base for base in mirrors if base != served_by]
    return paths


def verify_mnist(data_dir=None, checksums=None) -> dict[str, Path]:
    """Like `ensure_mnist` but never downloads: missing or corrupt files raise MnistError."""
    data_dir = resolve_data_dir(data_dir)
    checksums = MNIST_SHA256 if checksums is None else checksums
    paths = {name: data_dir / name for name in checksums}
    problems = [file_problem(paths[name], sha256) for name, sha256 in checksums.items()]
    problems = [problem for problem in problems if problem]
    if problems:
        raise MnistError(
            f"the MNIST files in {data_dir.resolve()} are not all there and intact:\n  "
            + "\n  ".join(problems)
            + "\nAllow downloading, or put the files there yourself."
        )
    return paths


def _download_from_mirrors(name, path, sha256, mirrors, progress):
    """Try each mirror in turn until `path` holds verified content; return that mirror or None.

    Each failure is printed once, as it happens.
    """
    for base in mirrors:
        url = base + name
        for attempt in range(1, ATTEMPTS_PER_MIRROR + 1):
            try:
                _download(url, path, sha256, progress)
                return base
            # urllib raises OSErrors (URLError, HTTPError, timeouts); http.client a few others.
            except (OSError, HTTPException, MnistError) as error:
                again = attempt < ATTEMPTS_PER_MIRROR and _may_pass(error)
                print(f"failed: {url}: {_reason(error)}"
                      + (f"; trying again in {RETRY_DELAY_S:g} s" if again else ""),
                      file=sys.stderr)
                if not again:
                    break
                time.sleep(RETRY_DELAY_S)
    return None


def _may_pass(error) -> bool:
    """Whether trying again could help: after a timeout or a server error (HTTP 5xx) only."""
    if isinstance(error, urllib.error.HTTPError):  # before URLError: it is one
        return error.code >= 500
    if isinstance(error, urllib.error.URLError):
        error = error.reason  # what went wrong underneath: a timeout, an unknown host...
    return isinstance(error, TimeoutError)


def _reason(error) -> str:
    """The error in a few words: 'HTTP Error 404: Not Found', '[Errno 111] Connection refused'."""
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        return str(error.reason)  # without urllib's '<urlopen error ...>' wrapping
    return str(error) or type(error).__name__


def _download(url, path, sha256, progress) -> None:
    """Fetch `url` into a temporary file beside `path`, verify it, then rename it to `path`."""
    descriptor, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    temp = Path(temp)
    try:
        with os.fdopen(descriptor, "wb") as out:
            with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
                length = response.headers.get("Content-Length")
                total = int(length) if length else None
                if total is not None and total > MAX_DOWNLOAD_BYTES:
                    raise MnistError(f"the response is {total:,} bytes, more than "
                                     f"{MAX_DOWNLOAD_BYTES:,}; not downloaded")
                received = 0
                with tqdm(total=total, unit="B", unit_scale=True, desc=path.name,
                          file=sys.stderr, disable=not progress) as bar:
                    while chunk := response.read(CHUNK_BYTES):
                        out.write(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
                        if received > MAX_DOWNLOAD_BYTES:
                            raise MnistError(f"the response goes on past {MAX_DOWNLOAD_BYTES:,} "
                                             f"bytes; aborted")
        if total is not None and received != total:
            raise MnistError(f"truncated response: {received:,} of {total:,} bytes")
        problem = file_problem(temp, sha256, name="the download")
        if problem is not None:
            raise MnistError(f"{problem}; rejected")
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)  # still there only if something went wrong


def _give_up_message(name, n_mirrors, missing, data_dir) -> str:
    """What to do when every mirror failed (each failure was printed as it happened)."""
    failed = "the mirror" if n_mirrors == 1 else f"all {n_mirrors} mirrors"
    return "\n".join(
        [f"could not download {name}: {failed} failed (see above).",
         "Get the MNIST files another way, then run again:",
         f"  - put these files in {data_dir.resolve()}:"]
        + [f"      {file}" for file in missing]
        + ["  - or keep them in another directory and point MNIST_DATA_DIR (train.py: --data-dir) "
           "at it",
           "  - or set MNIST_MIRRORS to base URLs that serve them, comma-separated; http://, "
           "https:// and file:// all work, e.g. MNIST_MIRRORS=file:///home/me/mnist/"]
    )
