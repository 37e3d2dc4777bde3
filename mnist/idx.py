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
"""
import gzip
import struct
import zlib
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


def read_decompressed(path, name=None) -> bytes:
    """The bytes of `path`, gunzipped first if they start with the gzip magic bytes.

    `name` is what error messages call the file (default: its file name).
    """
    path = Path(path)
    name = name or path.name
    try:
        data = path.read_bytes()
    except OSError as error:
        raise MnistError(f"{name}: cannot read {path}: {error.strerror}") from error
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise MnistError(f"{name}: corrupt gzip stream: {error}") from error


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzipped or raw) into a native-endian array of the stored shape."""
    name = Path(path).name
    data = read_decompressed(path)
    if not data:
        raise MnistError(f"{name}: empty: no bytes at all")
    if len(data) < 4:
        raise MnistError(f"{name}: truncated header: {len(data)} bytes, the magic alone takes 4")
    zero0, zero1, type_code, ndim = data[:4]
    if zero0 != 0 or zero1 != 0:
        raise MnistError(
            f"{name}: not an IDX file: magic bytes are {data[:4].hex(' ')}, "
            f"expected 00 00 <type code> <number of dimensions>"
        )
    if type_code not in DTYPES:
        known = ", ".join(f"0x{code:02X} {dtype.name}" for code, dtype in DTYPES.items())
        raise MnistError(f"{name}: unknown IDX type code 0x{type_code:02X} (known: {known})")
    if ndim == 0:
        raise MnistError(f"{name}: header declares 0 dimensions")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise MnistError(
            f"{name}: truncated header: {ndim} dimensions need {header_size} header bytes, "
            f"file holds {len(data)}"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_size])
    dtype = DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_size
    if actual != expected:
        sizes = " x ".join(str(size) for size in shape)
        if dtype.itemsize > 1:
            sizes += f" x {dtype.itemsize}-byte {dtype.name}"
        problem = "truncated" if actual < expected else f"{actual - expected:,} trailing bytes"
        raise MnistError(
            f"{name}: {problem}: header says {sizes} = {expected:,} bytes, file holds {actual:,}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a copy: writable and native-endian


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
