"""Read and write IDX files, the format the MNIST files come in.

An IDX file is a tiny header followed by one array, row-major, every number big-endian:

    byte 0, 1   0x00 0x00          magic: two zero bytes
    byte 2      type code          0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                                   0x0D float32, 0x0E float64
    byte 3      ndim               the number of dimensions
    then        ndim x uint32      the size of each dimension
    then        the data           product(sizes) values of the type above

MNIST's training images are `00 00 08 03`, then 60000, 28, 28, then 47,040,000 pixel bytes;
its labels are `00 00 08 01`, then 60000, then one byte per label.

Files may be gzipped or not. We look at the content, not the name: a gzip stream starts with
the bytes 1f 8b. The reader trusts nothing: every way a file can be wrong (empty, cut short,
too long, not IDX at all, a corrupt gzip stream) raises `MnistError` with a message that names
the file and says what is wrong.

Nothing is ever read whole into memory. A file is read front to back in chunks, gunzipped as it
goes, and never more than MAX_CONTENT_BYTES of content: a 1 MB "gzip bomb" that would inflate
to 8 GB is refused after its first 48 MB, and a header that declares more data than that is
refused before anything is allocated. The array is then filled in place, chunk by chunk.
"""
import gzip
import math
import os
import struct
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from mnist.errors import MnistError

# Type code -> the big-endian dtype stored on disk.
DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"
IMAGE_SIZE = 28  # MNIST images are 28 x 28 pixels
LARGEST_MNIST_BYTES = 47_040_016  # train-images: a 16-byte header and 60000 x 28 x 28 pixels
MAX_CONTENT_BYTES = 48_000_000  # the most content we read from one file, a little above that
CHUNK_BYTES = 1 << 20  # read and inflate 1 MiB at a time


class Content:
    """The content of one open file, read front to back; made by `open_content`.

    `read(size)` returns the next `size` bytes (fewer only at the end); iterating yields the
    rest in chunks. Whatever goes wrong, a corrupt gzip stream or more than `max_bytes` of
    content, raises MnistError naming the file.
    """

    def __init__(self, stream, name, max_bytes, gzipped):
        self.stream, self.name, self.max_bytes, self.gzipped = stream, name, max_bytes, gzipped
        self.bytes_read = 0

    def read(self, size) -> bytes:
        try:
            data = self.stream.read(size)  # buffered: `size` bytes unless the content ends
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise MnistError(f"{self.name}: corrupt gzip stream: {error}") from error
        except OSError as error:
            raise MnistError(f"{self.name}: cannot read: {error.strerror or error}") from error
        self.bytes_read += len(data)
        if self.bytes_read > self.max_bytes:
            grows = "inflates to" if self.gzipped else "holds"
            raise MnistError(f"{self.name}: {grows} more than {self.max_bytes:,} bytes, "
                             f"the largest MNIST file is {LARGEST_MNIST_BYTES:,}")
        return data

    def __iter__(self):
        while chunk := self.read(CHUNK_BYTES):
            yield chunk


@contextmanager
def open_content(path, name=None, max_bytes=MAX_CONTENT_BYTES):
    """Open `path` to read its content, gunzipped on the fly if it starts with the gzip magic.

        with open_content(path) as content:
            magic = content.read(4)
            for chunk in content:        # the rest, CHUNK_BYTES at a time
                ...

    A raw file larger than `max_bytes` is refused by its size, a gzip stream as soon as it has
    inflated past `max_bytes`. `name` is what error messages call the file (default: its name).
    """
    path = Path(path)
    name = name or path.name
    try:
        file = path.open("rb")
    except OSError as error:
        raise MnistError(f"{name}: cannot read {path}: {error.strerror}") from error
    with file:
        gzipped = file.peek(2)[:2] == GZIP_MAGIC  # look without consuming
        if not gzipped:
            size = os.fstat(file.fileno()).st_size
            if size > max_bytes:
                raise MnistError(f"{name}: {size:,} bytes, more than {max_bytes:,}; "
                                 f"the largest MNIST file is {LARGEST_MNIST_BYTES:,}")
        stream = gzip.GzipFile(fileobj=file, mode="rb") if gzipped else file
        yield Content(stream, name, max_bytes, gzipped)


def read_idx(path, max_bytes=MAX_CONTENT_BYTES) -> np.ndarray:
    """Read an IDX file (gzipped or raw) into a native-endian array of the stored shape.

    `max_bytes` caps the content (header and data); the default fits every MNIST file.
    """
    name = Path(path).name
    with open_content(path, name, max_bytes) as content:
        shape, dtype = _read_header(content, name)
        header_size = 4 + 4 * len(shape)
        expected = math.prod(shape) * dtype.itemsize
        if header_size + expected > max_bytes:
            raise MnistError(
                f"{name}: header says {_describe(shape, dtype)} = {expected:,} bytes, more than "
                f"{max_bytes:,}; the largest MNIST file is {LARGEST_MNIST_BYTES:,}"
            )
        array = np.empty(shape, dtype)
        filled = _fill(array, content)
        actual = filled + sum(len(chunk) for chunk in content)  # reading on checks the CRC
    if actual != expected:
        problem = "truncated" if actual < expected else f"{actual - expected:,} trailing bytes"
        raise MnistError(f"{name}: {problem}: header says {_describe(shape, dtype)} = "
                         f"{expected:,} bytes, file holds {actual:,}")
    return array.astype(dtype.newbyteorder("="), copy=False)  # native-endian, writable


def _read_header(content, name) -> tuple[tuple[int, ...], np.dtype]:
    """Read and check the magic and the sizes; return (shape, on-disk dtype)."""
    magic = content.read(4)
    if not magic:
        raise MnistError(f"{name}: empty: no bytes at all")
    if len(magic) < 4:
        raise MnistError(f"{name}: truncated header: {len(magic)} bytes, the magic alone takes 4")
    zero0, zero1, type_code, ndim = magic
    if zero0 != 0 or zero1 != 0:
        raise MnistError(
            f"{name}: not an IDX file: magic bytes are {magic.hex(' ')}, "
            f"expected 00 00 <type code> <number of dimensions>"
        )
    if type_code not in DTYPES:
        known = ", ".join(f"0x{code:02X} {dtype.name}" for code, dtype in DTYPES.items())
        raise MnistError(f"{name}: unknown IDX type code 0x{type_code:02X} (known: {known})")
    if ndim == 0:
        raise MnistError(f"{name}: header declares 0 dimensions")
    sizes = content.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise MnistError(
            f"{name}: truncated header: {ndim} dimensions need {4 + 4 * ndim} header bytes, "
            f"file holds {4 + len(sizes)}"
        )
    return struct.unpack(f">{ndim}I", sizes), DTYPES[type_code]


def _fill(array, content) -> int:
    """Copy the content into `array`'s bytes, chunk by chunk; return how many bytes it held."""
    flat = array.reshape(-1).view(np.uint8)  # the same memory, one byte per element
    filled = 0
    while filled < len(flat):
        chunk = content.read(min(CHUNK_BYTES, len(flat) - filled))
        if not chunk:
            break
        flat[filled:filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        filled += len(chunk)
    return filled


def _describe(shape, dtype) -> str:
    """'10000 x 28 x 28', with ' x 4-byte int32' added for types wider than a byte."""
    sizes = " x ".join(str(size) for size in shape)
    if dtype.itemsize > 1:
        sizes += f" x {dtype.itemsize}-byte {dtype.name}"
    return sizes


def write_idx(path, array, compress=False) -> None:
    """Write `array` as an IDX file; gzip it if `compress`. The dtype picks the type code."""
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        supported = ", ".join(dtype.name for dtype in DTYPES.values())
        raise TypeError(f"IDX cannot store {array.dtype}; supported: {supported}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX stores 1 to 255 dimensions, got {array.ndim}")
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    content = header + array.astype(DTYPES[code]).tobytes()
    if compress:
        content = gzip.compress(content, compresslevel=6, mtime=0)
    Path(path).write_bytes(content)


def read_images_and_labels(images_path, labels_path) -> tuple[np.ndarray, np.ndarray]:
    """Read one MNIST pair: images uint8 (N, 28, 28) and labels uint8 (N,) in 0..9."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    images_name, labels_name = Path(images_path).name, Path(labels_path).name
    if images.dtype != np.uint8 or images.ndim != 3:
        raise MnistError(
            f"{images_name}: expected uint8 images (N x 28 x 28), "
            f"found {images.dtype} with shape {' x '.join(map(str, images.shape))}"
        )
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise MnistError(
            f"{images_name}: images are {images.shape[1]} x {images.shape[2]} pixels, "
            f"expected {IMAGE_SIZE} x {IMAGE_SIZE}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise MnistError(
            f"{labels_name}: expected uint8 labels (one dimension), "
            f"found {labels.dtype} with shape {' x '.join(map(str, labels.shape))}"
        )
    if len(images) != len(labels):
        raise MnistError(
            f"{images_name} holds {len(images):,} images but {labels_name} holds "
            f"{len(labels):,} labels: the counts must agree"
        )
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise MnistError(
            f"{labels_name}: a label of {labels[bad[0]]} at index {bad[0]} "
            f"({bad.size:,} labels outside 0-9); digits are 0-9"
        )
    return images, labels
