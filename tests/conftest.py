"""Shared fixtures: the real MNIST files, found and fetched the way the program does it.

The data directory is the program's own: $MNIST_DATA_DIR, else data/mnist (here relative to the
repository root, so the tests find the same files from any working directory). Files missing
there are fetched by the project's verified download, `ensure_mnist`, from $MNIST_MIRRORS or
the public mirrors: on a fresh clone the first `python -m pytest` downloads about 11 MB into
data/mnist/ (gitignored), once. CI points MNIST_MIRRORS at a local copy (`.ci/run`).

Also here: gzip bombs and a way to measure a subprocess's peak memory, for the tests that
check a hostile file costs neither memory nor time.
"""
import gzip
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from mnist.dataset import load_mnist
from mnist.download import DEFAULT_DATA_DIR, ensure_mnist, resolve_data_dir
from mnist.errors import MnistError
from nncore.runtime import configure_for_kernels

# As train.py and evaluate.py do, before any kernel runs: one level of threads (the kernels'
# own), BLAS single-threaded inside them. Without it the suite runs several times slower.
configure_for_kernels()

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mnist_data_dir() -> Path:
    """The program's data directory, holding the four verified MNIST files."""
    if os.environ.get("MNIST_DATA_DIR"):
        data_dir = resolve_data_dir()  # as train.py takes it: relative to where you run it
    else:
        data_dir = REPO_ROOT / DEFAULT_DATA_DIR
    try:
        ensure_mnist(data_dir, progress=False)
        return data_dir
    except MnistError as error:
        problem = str(error)
    pytest.fail(f"the tests need the real MNIST files:\n{problem}", pytrace=False)


@pytest.fixture(scope="session")
def mnist_data(mnist_data_dir):
    """The real MNIST arrays, loaded once for the session."""
    return load_mnist(mnist_data_dir, download=False)


BOMB_MEMBER_MIB = 64  # each gzip member inflates to this many MiB of zeros
TRAIN_IMAGES_HEADER = bytes([0, 0, 8, 3]) + (60000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2


@pytest.fixture(scope="session")
def gzip_bombs(tmp_path_factory) -> dict[int, Path]:
    """GiB -> a train-images-idx3-ubyte.gz that inflates to that much: 1 GiB (~1 MB) and 8 GiB.

    The content is the real file's header, then zeros. It is built without ever holding it:
    one gzip member of 64 MiB of zeros is compressed once, in 1 MiB pieces, and written again
    and again. (A gzip file may hold several members; gunzip reads them as one stream.)
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip member
    zeros = bytes(1 << 20)
    member = b"".join(compressor.compress(zeros) for _ in range(BOMB_MEMBER_MIB))
    member += compressor.flush()
    bombs = {}
    for gibibytes in (1, 8):
        path = tmp_path_factory.mktemp(f"bomb{gibibytes}") / "train-images-idx3-ubyte.gz"
        with path.open("wb") as out:
            out.write(gzip.compress(TRAIN_IMAGES_HEADER))
            for _ in range(gibibytes * 1024 // BOMB_MEMBER_MIB):
                out.write(member)
        bombs[gibibytes] = path
    return bombs


MEASURED = """
import time
def status(field):  # KiB, of this process's own address space (ru_maxrss would include the
    # peak of the process it was forked from: Linux keeps that across exec)
    return int(next(line for line in open("/proc/self/status") if line.startswith(field)).split()[1])
{imports}
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak (VmHWM) to the present size
baseline = status("VmRSS:")
started = time.perf_counter()
try:
{body}
except MnistError as error:
    print(error)
seconds = time.perf_counter() - started
peak = status("VmHWM:")
print(f"measured {{baseline}} {{peak}} {{seconds}}")
"""


def run_measured(imports: str, body: str, env=None):
    """Run `body` in a fresh Python process; return (its stdout, its stderr, MiB, seconds).

    The MiB are the process's peak resident memory (VmHWM) minus its size right after
    `imports`: what running `body` cost (Linux only: /proc/self). A MnistError from `body` is
    printed, not raised. `env` adds environment variables.
    """
    code = MEASURED.format(imports=imports, body="\n".join("    " + line
                                                           for line in body.splitlines()))
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                            text=True, env={**os.environ, **(env or {})}, timeout=120)
    assert result.returncode == 0, result.stderr
    output, _, last = result.stdout.rstrip("\n").rpartition("\n")
    _, baseline_kib, peak_kib, seconds = last.split()
    return output, result.stderr, (int(peak_kib) - int(baseline_kib)) / 1024, float(seconds)


@pytest.fixture
def measured():
    """`run_measured`: measured(imports, body, env) -> (stdout, stderr, MiB, seconds)."""
    return run_measured
